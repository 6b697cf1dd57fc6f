/**
 * `ckpt inspect` against the real checkpointctl 1.3.0, field by field, on CRI-O, containerd and Podman
 * archives (plain, gzip, zstd) of the runc-counter fixture and of a dump made now (the "mix" workload,
 * with a zombie that 1.3.0 cannot get past); then the keys checkpointctl lacks, against known facts.
 *
 * Where the two deliberately differ the test says how: 1.3.0 reads CRIU 4.x pagemaps through the old
 * nr_pages field, finds no page, and prints argv as one space per byte and no environment; ckpt prints
 * the real ones. Children of a process come in random order from 1.3.0 (a Go map) and sorted by PID
 * from ckpt, so they are compared as sets.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildArchive, DEFAULT_CONTAINER, HOSTILE_MEMBER, hostileArchive, type ArchiveCompression, type ArchiveLayout } from "../support/archives.js";
import { ensureCliBuilt, expectOneLineError, runCkpt } from "../support/ckpt-cli.js";
import { dumpWorkload, haveRealStack, type WorkloadDump } from "../support/criu-dump.js";
import { FIXTURES, haveFixtures } from "../support/fixtures.js";

const CHECKPOINTCTL = process.env.CKPT_CHECKPOINTCTL ?? "/opt/ckpt-tools/bin/checkpointctl";
const COUNTER = join(FIXTURES, "runc-counter");
const haveCheckpointctl = existsSync(CHECKPOINTCTL);
const ready = haveFixtures() && haveCheckpointctl;

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- JSON read back from two tools
type Json = Record<string, any>;

/** Keys ckpt adds; none of them is a checkpointctl 1.3.0 key. */
const CKPT_TOP_KEYS = ["metadata", "deleted_files", "rootfs_diff_files", "ghost_files", "refused_members"];
const CKPT_PROCESS_KEYS = ["task_state", "threads", "environment_malformed"];
const CKPT_SOCKET_KEYS = ["fd", "inode", "socket_type", "queued_recv_bytes", "queued_send_bytes", "queued_packets"];

function checkpointctl(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(CHECKPOINTCTL, args, { encoding: "utf8", maxBuffer: 64 << 20 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function ctlJson(args: string[]): Json[] {
  const r = checkpointctl(["inspect", ...args, "--format", "json"]);
  expect(r.status, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as Json[];
}

function ckptJson(args: string[]): Json[] {
  const r = runCkpt(["inspect", ...args, "--format", "json"]);
  expect(r.status, r.stderr).toBe(0);
  expect(r.stderr).toBe("");
  return JSON.parse(r.stdout) as Json[];
}

function without(o: Json, keys: readonly string[]): Json {
  return Object.fromEntries(Object.entries(o).filter(([k]) => !keys.includes(k)));
}

/** One process node and its subtree, checkpointctl's value against ckpt's. */
function compareProcess(ours: Json, ctl: Json, where: string): void {
  const at = `${where} pid ${ctl.pid}`;
  for (const k of CKPT_PROCESS_KEYS.filter((k) => k !== "environment_malformed")) expect(ours, at).toHaveProperty(k);
  expect(ours.pid, at).toBe(ctl.pid);
  expect(ours.command, at).toBe(ctl.command);
  if ("cmdline" in ctl) {
    expect(typeof ours.cmdline, at).toBe("string");
    if (/^ +$/.test(ctl.cmdline)) {
      // 1.3.0 found no page: every byte of argv (NULs included) became a space.
      expect(ctl.cmdline.length, at).toBe(Buffer.byteLength(ours.cmdline));
      expect(ours.cmdline.trim(), at).not.toBe("");
    } else expect(ours.cmdline, at).toBe(ctl.cmdline);
  } else expect(ours.cmdline, at).toBeUndefined();
  if ("environment_variables" in ctl) expect(ours.environment_variables, at).toEqual(ctl.environment_variables);
  const ourKeys = Object.keys(without(ours, [...CKPT_PROCESS_KEYS, "cmdline", "environment_variables"])).sort();
  expect(ourKeys, at).toEqual(Object.keys(without(ctl, ["cmdline", "environment_variables"])).sort());
  const byPid = (a: Json, b: Json) => a.pid - b.pid;
  const ourKids = [...(ours.children ?? [])].sort(byPid);
  const ctlKids = [...(ctl.children ?? [])].sort(byPid);
  expect(ourKids.map((c) => c.pid), at).toEqual(ctlKids.map((c) => c.pid));
  ourKids.forEach((c, i) => compareProcess(c, ctlKids[i]!, where));
}

/** ckpt's object for one archive against checkpointctl's, key by key. */
function compareInspect(ours: Json, ctl: Json, where: string): void {
  const extra = Object.keys(ours).filter((k) => !(k in ctl));
  for (const k of extra) expect(CKPT_TOP_KEYS, `${where}: key ${k} only in ckpt`).toContain(k);
  for (const k of Object.keys(ctl)) expect(ours, `${where}: key ${k}`).toHaveProperty(k);
  for (const k of Object.keys(ctl)) {
    if (k === "process_tree") compareProcess(ours.process_tree, ctl.process_tree, where);
    else if (k === "sockets") {
      const stripped = (ours.sockets as Json[]).map((s) => ({ ...s, open_sockets: s.open_sockets?.map((o: Json) => without(o, CKPT_SOCKET_KEYS)) }));
      expect(stripped, `${where}: sockets`).toEqual(ctl.sockets);
    } else expect(ours[k], `${where}: ${k}`).toEqual(ctl[k]);
  }
}

function allProcesses(root: Json): Json[] {
  return [root, ...(root.children ?? []).flatMap(allProcesses)];
}

/** Tree lines without their edges ("│   ├── x" → "x"). */
function treeValues(text: string): string[] {
  return text.split("\n").map((l) => l.replace(/^[│├└─\s]+/, "").trimEnd()).filter((l) => l !== "");
}

interface Built {
  layout: ArchiveLayout;
  compression: ArchiveCompression;
  path: string;
}

const LAYOUTS: ArchiveLayout[] = ["crio", "containerd", "podman"];
const COMPRESSIONS: ArchiveCompression[] = ["none", "gzip", "zstd"];
const FLAG_SETS = [["--all"], ["--ps-tree", "--files", "--sockets", "--mounts", "--stats"]];
const COUNTER_PROCESSES: Record<number, string> = { 1: "sh", 6: "httpd", 7: "counter.sh", 29: "sleep", 8: "tee" };

describe.runIf(ready)("ckpt inspect vs checkpointctl 1.3.0: runc-counter archives", () => {
  let tmp: string;
  const built: Built[] = [];
  const spec = () => JSON.parse(readFileSync(join(COUNTER, "spec.json"), "utf8")) as Json;

  beforeAll(async () => {
    ensureCliBuilt();
    tmp = mkdtempSync(join(tmpdir(), "ckpt-inspect-"));
    for (const layout of LAYOUTS) {
      for (const compression of COMPRESSIONS) {
        const path = join(tmp, `counter-${layout}.tar${compression === "gzip" ? ".gz" : compression === "zstd" ? ".zst" : ""}`);
        await buildArchive({
          layout,
          compression,
          imagesDir: join(COUNTER, "checkpoint"),
          out: path,
          spec: spec(),
          rootfsDiff: join(COUNTER, "rootfs-diff.tar"),
          deletedFiles: ["/etc/motd"],
          statsDump: join(COUNTER, "stats-dump"),
          dumpLog: join(COUNTER, "dump.log"),
        });
        built.push({ layout, compression, path });
      }
    }
  });
  afterAll(() => {
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  const cases = LAYOUTS.flatMap((layout) => COMPRESSIONS.flatMap((compression) => FLAG_SETS.map((flags) => ({ layout, compression, flags }))));

  it.each(cases)("$layout / $compression: inspect $flags --format json matches checkpointctl", ({ layout, compression, flags }) => {
    const b = built.find((x) => x.layout === layout && x.compression === compression)!;
    const [ctl] = ctlJson([b.path, ...flags]);
    const [ours] = ckptJson([b.path, ...flags]);
    compareInspect(ours!, ctl!, `${layout}/${compression} ${flags.join(" ")}`);
    // The values checkpointctl prints for this container, as the archive builder wrote them.
    expect(ours!.container_name).toBe(DEFAULT_CONTAINER.name);
    expect(ours!.engine).toBe({ crio: "CRI-O", containerd: "containerd", podman: "Podman" }[layout]);
    expect(ours!.checkpoint_size.root_fs_diff_size).toBeGreaterThan(0);
    expect(ours!.statistics).toEqual({ freezing_time: 101201, frozen_time: 193080, memdump_time: 5529, memwrite_time: 475, pages_scanned: 119, pages_written: 84 });
    expect(ours!.sockets).toEqual([
      {
        pid: 6,
        open_sockets: [
          {
            protocol: "TCP",
            data: { type: "TCP", state: "LISTEN", src: "::", src_port: 8088, dst: "::", send_buf: "16.0 KB", recv_buf: "128.0 KB" },
            fd: 3,
            inode: 88325,
            socket_type: "STREAM",
          },
        ],
      },
    ]);
  });

  it.each(LAYOUTS.flatMap((layout) => COMPRESSIONS.map((compression) => ({ layout, compression }))))(
    "$layout / $compression: threads, task states, argv, environment, rootfs diff and deleted files",
    ({ layout, compression }) => {
      const b = built.find((x) => x.layout === layout && x.compression === compression)!;
      const [ours] = ckptJson([b.path, "--all"]);
      const procs = allProcesses(ours!.process_tree);
      expect(procs.map((p) => p.pid).sort((a, b) => a - b)).toEqual([1, 6, 7, 8, 29]);
      for (const p of procs) {
        expect(p.command).toBe(COUNTER_PROCESSES[p.pid]);
        expect(p.task_state).toBe("Alive");
        expect(p.threads).toEqual([{ tid: p.pid, name: COUNTER_PROCESSES[p.pid] }]);
        expect(p.environment_variables.COUNTER_MODE).toBe("forensic");
        expect(p.environment_variables.PATH).toBe("/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
      }
      const cmd = Object.fromEntries(procs.map((p) => [p.pid, p.cmdline]));
      // argv NUL-separated with NULs as spaces (checkpointctl's form): the spec's args for pid 1.
      expect(cmd[1]).toBe((spec().process.args as string[]).join(" ") + " ");
      expect(cmd[6]).toBe("/bin/httpd -f -p 8088 -h /www ");
      expect(cmd[7]).toBe("/bin/sh /bin/counter.sh ");
      expect(cmd[29]).toBe("sleep 0.2 ");
      expect(cmd[8]).toBe("/bin/tee /home/counter/logfile ");

      const files = (ours!.rootfs_diff_files as Json[]).filter((f) => f.type === "file" && !f.path.split("/").pop()!.startsWith(".wh."));
      expect(files).toEqual([
        { path: "home/counter/logfile", type: "file", size: 135 },
        { path: "home/counter/test-file", type: "file", size: 10 },
      ]);
      if (layout === "containerd") {
        // The gzip'd rw layer: parent directories and a whiteout instead of deleted.files.
        expect(ours!.deleted_files).toBeUndefined();
        expect(ours!.rootfs_diff_files).toContainEqual({ path: "home/counter", type: "directory", size: 0 });
        expect(ours!.rootfs_diff_files).toContainEqual({ path: "etc/.wh.motd", type: "file", size: 0 });
      } else {
        expect(ours!.deleted_files).toEqual(["/etc/motd"]);
        expect(ours!.rootfs_diff_files).toHaveLength(2);
      }
      expect(ours!.ghost_files).toBeUndefined();
      expect(ours!.refused_members).toBeUndefined();
      expect(ours!.metadata.pod_name).toBe(layout === "podman" ? undefined : DEFAULT_CONTAINER.pod);
      expect(ours!.metadata.annotations["io.container.manager"]).toBe({ crio: "cri-o", containerd: undefined, podman: "libpod" }[layout]);
    },
  );

  it("an unpacked archive (a directory, which checkpointctl refuses) gives the same result as the tar", () => {
    const b = built.find((x) => x.layout === "crio" && x.compression === "none")!;
    const dir = join(tmp, "unpacked-crio");
    mkdirSync(dir);
    const untar = spawnSync("tar", ["-xf", b.path, "-C", dir], { encoding: "utf8" });
    expect(untar.status, untar.stderr).toBe(0);
    const ctl = checkpointctl(["inspect", dir]);
    expect(ctl.status).toBe(1);
    expect(ctl.stderr).toContain("not a regular file");
    const [fromDir] = ckptJson([dir, "--all"]);
    const [fromTar] = ckptJson([b.path, "--all"]);
    expect(fromDir).toEqual(fromTar);
    expect(fromDir!.rootfs_diff_files).toHaveLength(2);
  });

  it("-p prunes the process tree as checkpointctl does (and only the tree)", () => {
    const b = built.find((x) => x.layout === "crio" && x.compression === "none")!;
    for (const pid of ["7", "29", "1"]) {
      const flags = [b.path, "-p", pid, "--files", "--sockets"];
      const [ctl] = ctlJson(flags);
      const [ours] = ckptJson(flags);
      compareInspect(ours!, ctl!, `-p ${pid}`);
      expect(ours!.process_tree.pid).toBe(Number(pid));
      expect((ours!.file_descriptors as Json[]).map((f) => f.pid)).toEqual([1, 6, 7, 29, 8]);
    }
    expect(allProcesses(ckptJson([b.path, "-p", "7"])[0]!.process_tree).map((p) => p.pid)).toEqual([7, 29]);
  });

  it("several archives give one object each, in argument order", () => {
    const paths = ["crio", "podman"].map((l) => built.find((x) => x.layout === l && x.compression === "gzip")!.path);
    const ctl = ctlJson([...paths, "--ps-tree", "--mounts"]);
    const ours = ckptJson([...paths, "--ps-tree", "--mounts"]);
    expect(ours).toHaveLength(2);
    ours.forEach((o, i) => compareInspect(o, ctl[i]!, paths[i]!));
    expect(ours.map((o) => o.engine)).toEqual(["CRI-O", "Podman"]);
  });

  it.each(["crio", "containerd", "podman"] as const)("%s: the tree view holds every value of checkpointctl's tree", (layout) => {
    const b = built.find((x) => x.layout === layout && x.compression === "zstd")!;
    const flags = ["--ps-tree", "--files", "--sockets", "--mounts", "--stats", "--metadata"];
    const ctl = checkpointctl(["inspect", b.path, ...flags]);
    expect(ctl.status, ctl.stderr).toBe(0);
    const ours = runCkpt(["inspect", b.path, ...flags]);
    expect(ours.status, ours.stderr).toBe(0);
    const mine = new Set(treeValues(ours.stdout));
    const missing = treeValues(ctl.stdout).filter((l) => !mine.has(l));
    expect(missing).toEqual([]);
    // The same heading and edges as checkpointctl; ckpt's additions are more lines, not other ones.
    expect(ours.stdout.startsWith(`\nDisplaying container checkpoint tree view from ${b.path}\n\n${DEFAULT_CONTAINER.name}\n├── Image: `)).toBe(true);
    expect(ours.stdout).toContain("│       │   └── Open sockets\n│       │       └── [TCP (LISTEN)]  :::8088 -> :::0 (↑ 16.0 KB ↓ 128.0 KB)\n");
    expect(ours.stdout).toContain("│   ├── [file]  home/counter/logfile (135 B)\n");
    expect(ours.stdout).toContain("│   ├── Freezing time: 101.2 ms\n");
  });

  it("the tree with --ps-tree-cmd and --ps-tree-env shows the real argv and environment", () => {
    const b = built.find((x) => x.layout === "podman" && x.compression === "zstd")!;
    const r = runCkpt(["inspect", b.path, "--ps-tree-cmd", "--ps-tree-env", "-p", "7"]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain("└── Process tree\n    └── [7]  /bin/sh /bin/counter.sh \n        ├── Environment variables\n");
    expect(r.stdout).toContain("│   ├── COUNTER_MODE=forensic\n");
    expect(r.stdout).toContain("        └── [29]  sleep 0.2 \n");
  });

  it("--all without stats-dump: checkpointctl fails, ckpt leaves statistics out; --stats alone is an error", async () => {
    const path = join(tmp, "no-stats.tar");
    await buildArchive({ layout: "crio", imagesDir: join(COUNTER, "checkpoint"), out: path, spec: spec(), omit: ["stats-dump"] });
    const ctl = checkpointctl(["inspect", path, "--all", "--format", "json"]);
    expect(ctl.status).toBe(1);
    expect(ctl.stderr).toMatch(/stats-dump/);
    const [ours] = ckptJson([path, "--all"]);
    expect(ours!.statistics).toBeUndefined();
    expect(allProcesses(ours!.process_tree)).toHaveLength(5);
    const [ctlRest] = ctlJson([path, "--ps-tree-cmd", "--ps-tree-env", "--files", "--sockets", "--mounts"]);
    compareInspect(without(ours!, ["statistics"]), ctlRest!, "no stats-dump --all");
    expectOneLineError(runCkpt(["inspect", path, "--stats"]), path);
  });
});

describe.runIf(ready)("ckpt inspect: hostile archives and errors", () => {
  let tmp: string;
  beforeAll(() => {
    ensureCliBuilt();
    tmp = mkdtempSync(join(tmpdir(), "ckpt-inspect-bad-"));
  });
  afterAll(() => {
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  it.each(["dotdot", "absolute", "symlink-out", "device"] as const)("%s: the refused member is reported, nothing else changes", async (kind) => {
    const path = await hostileArchive(kind, join(tmp, `${kind}.tar`));
    const [ours] = ckptJson([path]);
    const reason = { dotdot: /climbs out/, absolute: /absolute path/, "symlink-out": /symbolic link to \/etc\/passwd/, device: /character device/ }[kind];
    expect(ours!.refused_members).toHaveLength(1);
    expect(ours!.refused_members[0].name).toBe(HOSTILE_MEMBER[kind]);
    expect(ours!.refused_members[0].reason).toMatch(reason);
    expect(ours!.container_name).toBe(DEFAULT_CONTAINER.name);
  });

  it("errors are one line: missing archive, bad format, unknown PID, bad PID, no checkpoint directory", async () => {
    const sample = join(tmp, "ok.tar");
    await buildArchive({ layout: "crio", imagesDir: join(COUNTER, "checkpoint"), out: sample });
    expectOneLineError(runCkpt(["inspect", join(tmp, "missing.tar")]), "missing.tar");
    expectOneLineError(runCkpt(["inspect", sample, "--format", "xml"]), "invalid output format: xml");
    const unknown = expectOneLineError(runCkpt(["inspect", sample, "-p", "4242", "--format", "json"]), sample);
    expect(unknown).toContain("no process with PID 4242");
    expectOneLineError(runCkpt(["inspect", sample, "-p", "seven"]), "seven");
    const noDir = await hostileArchive("no-checkpoint-dir", join(tmp, "nodir.tar"));
    expect(expectOneLineError(runCkpt(["inspect", noDir]), noDir)).toMatch(/checkpoint directory is missing/);
  });
});

describe.runIf(ready && haveRealStack())("ckpt inspect vs checkpointctl 1.3.0: a live dump with a zombie", () => {
  let mix: WorkloadDump;
  let tmp: string;
  let plain: string;
  let zstd: string;
  let all: Json;

  beforeAll(async () => {
    ensureCliBuilt();
    mix = await dumpWorkload("mix");
    tmp = mkdtempSync(join(tmpdir(), "ckpt-inspect-mix-"));
    plain = await buildArchive({ layout: "crio", imagesDir: mix.dir, out: join(tmp, "mix-crio.tar") });
    zstd = await buildArchive({ layout: "podman", imagesDir: mix.dir, out: join(tmp, "mix-podman.tar.zst"), compression: "zstd" });
    all = ckptJson([plain, "--all"])[0]!;
  });
  afterAll(async () => {
    await mix?.cleanup();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  it.each([
    ["--files", "ids"],
    ["--sockets", "ids"],
    ["--ps-tree-cmd", "pagemap"],
  ])("checkpointctl %s fails on the zombie's missing %s image; ckpt does not", (flag, image) => {
    const ctl = checkpointctl(["inspect", plain, flag!, "--format", "json"]);
    expect(ctl.status).toBe(1);
    expect(ctl.stderr).toContain(`${image}-${mix.pids.zombie}.img: no such file or directory`);
    for (const format of ["json", "tree"]) {
      const r = runCkpt(["inspect", plain, flag!, "--format", format]);
      expect(r.status, r.stderr).toBe(0);
      expect(r.stdout).toContain(String(mix.pids.zombie));
    }
  });

  it("--ps-tree --stats --mounts matches checkpointctl field by field (zombie included)", () => {
    for (const path of [plain, zstd]) {
      const flags = [path, "--ps-tree", "--stats", "--mounts"];
      const [ctl] = ctlJson(flags);
      const [ours] = ckptJson(flags);
      compareInspect(ours!, ctl!, path);
      expect(ctl!.process_tree.children.map((c: Json) => c.command).sort()).toEqual(["mix-child", "mix-zombie"]);
    }
  });

  it("the zombie is listed as Dead, with no threads, files, argv or sockets", () => {
    const zombie = allProcesses(all.process_tree).find((p) => p.pid === mix.pids.zombie)!;
    expect(zombie).toEqual({ pid: mix.pids.zombie, command: "mix-zombie", task_state: "Dead", threads: [] });
    expect((all.file_descriptors as Json[]).find((f) => f.pid === mix.pids.zombie)).toEqual({ pid: mix.pids.zombie });
    expect((all.sockets as Json[]).map((s) => s.pid)).toEqual([mix.pids.leader, mix.pids.child]);
  });

  it("threads of each process, with their names", () => {
    const procs = allProcesses(all.process_tree);
    const leader = procs.find((p) => p.pid === mix.pids.leader)!;
    expect([...leader.threads].sort((a: Json, b: Json) => a.tid - b.tid)).toEqual(
      [
        { tid: mix.pids.leader, name: "mix-leader" },
        { tid: mix.pids.thread1, name: "mix-worker-1" },
        { tid: mix.pids.thread2, name: "mix-worker-2" },
      ].sort((a, b) => a.tid - b.tid),
    );
    expect(procs.find((p) => p.pid === mix.pids.child)!.threads).toEqual([{ tid: mix.pids.child, name: "mix-child" }]);
    expect(leader.task_state).toBe("Alive");
  });

  it("argv and environment of the live tasks come from their memory", () => {
    for (const pid of [mix.pids.leader, mix.pids.child]) {
      const p = allProcesses(all.process_tree).find((x) => x.pid === pid)!;
      expect(p.cmdline).toBe(`/usr/bin/python3 -B ${join(import.meta.dirname, "../support/workloads/mix.py")} ${mix.workDir} `);
      expect(p.environment_variables.CKPT_WORKLOAD_ENV).toBe(mix.markers.env);
    }
  });

  it("ghost files: both deleted-open files, their sizes and who holds them", () => {
    const ghosts = all.ghost_files as Json[];
    expect(ghosts.map((g) => g.path).sort()).toEqual([join(mix.workDir, "ghost-big.bin"), join(mix.workDir, "ghost-small.txt")]);
    const small = ghosts.find((g) => g.path.endsWith("ghost-small.txt"))!;
    const big = ghosts.find((g) => g.path.endsWith("ghost-big.bin"))!;
    expect(small.size).toBe(mix.markers.ghostSmall!.length + 1); // marker + "\n"
    expect(big.size).toBe(256 * 1024);
    for (const g of [small, big]) {
      expect(g.image).toMatch(/^ghost-file-[0-9a-f]+\.img$/);
      expect(g.mode).toBe(0o100644);
      expect(g.open_by).toHaveLength(1);
      expect(g.open_by[0].pid).toBe(mix.pids.leader);
      const fds = (all.file_descriptors as Json[]).find((f) => f.pid === mix.pids.leader)!.open_files as Json[];
      expect(fds).toContainEqual({ type: "REG", fd: `REG ${g.open_by[0].fd}`, path: g.path });
    }
  });

  it("bytes queued in TCP and unix sockets", () => {
    const socks = (pid: number) => ((all.sockets as Json[]).find((s) => s.pid === pid)!.open_sockets as Json[]);
    const leaderTcp = socks(mix.pids.leader).find((s) => s.data.state === "ESTABLISHED")!;
    expect(leaderTcp.data.src_port).toBe(7411);
    expect(leaderTcp.queued_recv_bytes).toBe(mix.markers.tcpC2L!.length);
    expect(leaderTcp.queued_send_bytes).toBeGreaterThan(0);
    const childTcp = socks(mix.pids.child).find((s) => s.protocol === "TCP")!;
    expect(childTcp.data.dst_port).toBe(7411);
    expect(childTcp.queued_recv_bytes).toBeGreaterThanOrEqual(mix.markers.tcpL2C!.length);
    const stream = (pid: number) => socks(pid).find((s) => s.data.type === "UNIX" && s.socket_type === "STREAM")!;
    expect(stream(mix.pids.child)).toMatchObject({ queued_recv_bytes: mix.markers.unixL2C!.length, queued_packets: 1 });
    expect(stream(mix.pids.leader)).toMatchObject({ queued_recv_bytes: mix.markers.unixC2L!.length, queued_packets: 1 });
    const abstract = socks(mix.pids.leader).find((s) => s.data.address === "\0ckpt-mix-abstract")!;
    expect(abstract).toMatchObject({ socket_type: "DGRAM", queued_recv_bytes: mix.markers.dgram!.length, queued_packets: 1 });
  });

  it("a zstd archive (pages fetched in one extra pass) gives the same processes, files, sockets and ghosts", () => {
    const [z] = ckptJson([zstd, "--all"]);
    for (const k of ["process_tree", "file_descriptors", "sockets", "ghost_files", "statistics", "checkpoint_size"]) expect(z![k], k).toEqual(all[k]);
  });

  it("the tree marks the zombie and lists the threads", () => {
    const r = runCkpt(["inspect", plain, "--ps-tree", "--sockets"]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain(`── [${mix.pids.zombie} (Dead)]  mix-zombie\n`);
    expect(r.stdout).toContain(`── [${mix.pids.thread1}]  mix-worker-1\n`);
    expect(r.stdout).toContain(`[UNIX (DGRAM)]  @ckpt-mix-abstract [queued: ${mix.markers.dgram!.length} B to read in 1 packet]\n`);
  });
});
