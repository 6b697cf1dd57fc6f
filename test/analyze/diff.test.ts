/**
 * `ckpt diff` on two real CRIU dumps of one live process tree (the "step" workload), taken before and
 * after a step that makes known changes: a new child, a new thread, a new open file, a file position
 * moved on, a new TCP
 * connection, one page of a known mapping written, a mapping unmapped, one made read-only, a new
 * shared mapping, a changed command line and credentials in the child (groups, a capability, its
 * filesystem uid and gid), and a changed variable in the leader's environment area; a variable the
 * leader sets with setenv is not in that area, and the diff says that such changes are not seen.
 * Packed as CRI-O and containerd archives, the dumps also carry root FS changes (a changed text file,
 * a new file, a deleted one). The diff must report exactly those; a checkpoint against itself reports
 * nothing; two separate runs pair up by command line, and two replicas of a C program (other
 * addresses everywhere, one page apart) pair their VMAs by what they map.
 *
 * What cannot be pinned down is said where it is asserted: the Python interpreter writes its heap,
 * stacks and data pages all the time, so memory changes are checked for the known page, for the
 * mappings that must not change, and for code, not as a complete list.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, rmSync, truncateSync, writeFileSync, statSync, cpSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { diffCheckpoints, ENVIRONMENT_NOTE } from "../../src/analyze/diff/diff-checkpoints.js";
import { isEmptyDiff, type CheckpointDiff, type ProcessChange } from "../../src/analyze/diff/diff-types.js";
import { unifiedDiff } from "../../src/analyze/diff/unified-diff.js";
import { Checkpoint } from "../../src/checkpoint/checkpoint.js";
import { buildArchive, packTar } from "../support/archives.js";
import { ensureCliBuilt, expectOneLineError, runCkpt } from "../support/ckpt-cli.js";
import { haveRealStack, startProgram, startWorkload, type LiveWorkload, type WorkloadDump } from "../support/criu-dump.js";

const PAGE = 4096;
const hex = (n: number) => "0x" + n.toString(16);

async function diffPaths(a: string, b: string, opts: { replicas?: boolean } = {}): Promise<CheckpointDiff> {
  const ca = await Checkpoint.open(a);
  const cb = await Checkpoint.open(b);
  try {
    return await diffCheckpoints(ca, cb, opts);
  } finally {
    ca.close();
    cb.close();
  }
}

/** The diff without the two paths, to compare diffs of the same dumps in other containers. */
function content(d: CheckpointDiff): Omit<CheckpointDiff, "a" | "b"> {
  const { a: _a, b: _b, ...rest } = d;
  return rest;
}

const APP_CONF_A = ["# app", "mode=fast", "workers=2", "log=info", "a", "b", "c", "d", "e", "f", "tail=1", ""].join("\n");
const APP_CONF_B = ["# app", "mode=safe", "workers=2", "log=info", "a", "b", "c", "d", "e", "f", "tail=1", "extra=yes", ""].join("\n");

interface Steps {
  ready: LiveWorkload["ready"] & { fds: Record<string, number>; addresses: Record<string, number>; tids: Record<string, number> };
  step: { pids: Record<string, number>; tids: Record<string, number>; fds: Record<string, number>; addresses: Record<string, number> };
  pids: Record<string, number>;
  workDir: string;
}


/** An anonymous VMA that only grew or shrank at its end: a heap or an arena, changing as any process runs. */
const grewOnly = (c: { file: string; changes: Array<{ field: string }> }) => c.file === "" && c.changes.every((f) => f.field === "size" || f.field === "end");

describe.runIf(haveRealStack())("ckpt diff of two dumps of a live tree, before and after a known step", () => {
  let tmp: string;
  let dumpA: WorkloadDump;
  let dumpB: WorkloadDump;
  let s: Steps;
  let dirs: CheckpointDiff;
  let leader: ProcessChange;
  let child: ProcessChange;

  beforeAll(async () => {
    ensureCliBuilt();
    tmp = mkdtempSync(join(tmpdir(), "ckpt-diff-"));
    const live = await startWorkload("step", { env: { CKPT_STEP_STATE: "initial" } });
    try {
      dumpA = await live.dump();
      const step = (await live.step()) as Steps["step"];
      dumpB = await live.dump();
      s = { ready: live.ready as Steps["ready"], step, pids: live.pids, workDir: live.workDir };
    } finally {
      await live.stop();
    }
    dirs = await diffPaths(dumpA.dir, dumpB.dir);
    leader = dirs.processes.changed.find((p) => p.pid === s.pids.leader)!;
    child = dirs.processes.changed.find((p) => p.pid === s.pids.child)!;
  }, 180_000);

  afterAll(async () => {
    await dumpA?.cleanup();
    await dumpB?.cleanup();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  it("finds the new child, and only it, among the processes", () => {
    expect(dirs.processes.added.map((p) => [p.pid, p.ppid, p.command, p.task_state])).toEqual([[s.step.pids.late, s.pids.leader, "step-late", "Alive"]]);
    expect(dirs.processes.removed).toEqual([]);
    expect(dirs.processes.changed.map((p) => [p.pid, p.matched_by]).sort()).toEqual([[s.pids.child, "pid"], [s.pids.leader, "pid"]].sort());
  });

  it("finds the leader's new thread, new file, moved file position and new TCP connection, and its changed environment variable", () => {
    expect(leader.changes).toEqual([]);
    // One run of the program: its VMAs pair by address.
    expect(leader.vma_match).toBeUndefined();
    expect(leader.threads).toEqual({ added: [{ tid: s.step.tids["step-worker-2"], name: "step-worker-2" }], removed: [] });
    expect(leader.environment).toEqual({ added: {}, removed: {}, changed: { CKPT_STEP_STATE: { a: "initial", b: "stepped" } } });
    expect(leader.files.removed).toEqual([]);
    expect(leader.files.changed.map((c) => [c.fd, c.changes])).toEqual([[String(s.ready.fds.kept), [{ field: "pos", a: "26", b: "46" }]]]);
    const added = Object.fromEntries(leader.files.added.map((f) => [f.fd, f]));
    expect(Object.keys(added).sort()).toEqual([s.step.fds.opened, s.step.fds.client, s.step.fds.server].map(String).sort());
    expect(added[s.step.fds.opened]).toMatchObject({ type: "REG", path: join(s.workDir, "opened-at-step.txt"), pos: 19 });
    expect(added[s.step.fds.opened]!.flags).toMatch(/O_RDWR \| O_APPEND/);
    const client = added[s.step.fds.client]!.socket!;
    const server = added[s.step.fds.server]!.socket!;
    expect(client).toMatchObject({ proto: "tcp", state: "ESTABLISHED", peer: "127.0.0.1:7431" });
    expect(server).toMatchObject({ proto: "tcp", state: "ESTABLISHED", local: "127.0.0.1:7431", peer: client.local });
  });

  it("finds the unmapped, the re-protected and the new mapping; every other new VMA is anonymous (a thread's stack and arena)", () => {
    const { doomed, locked } = s.ready.addresses;
    expect(leader.vmas.removed).toEqual([{ start: hex(doomed!), end: hex(doomed! + 2 * PAGE), size: 2 * PAGE, prot: "rw-", file: "" }]);
    // Besides it, only anonymous memory may have grown (the heap, an arena): by its end alone.
    expect(leader.vmas.changed.filter((c) => !grewOnly(c)).map((c) => [c.start, c.changes])).toEqual([[hex(locked!), [{ field: "prot", a: "rw-", b: "r--" }]]]);
    const fresh = leader.vmas.added.find((v) => v.start === hex(s.step.addresses.fresh!));
    expect(fresh).toEqual({ start: hex(s.step.addresses.fresh!), end: hex(s.step.addresses.fresh! + 3 * PAGE), size: 3 * PAGE, prot: "rw-", file: "shared anonymous memory" });
    for (const v of leader.vmas.added.filter((x) => x !== fresh)) expect(v.file, v.start).toBe("");
    expect(dirs.shared_memory.added.map((m) => [m.label, m.pages])).toEqual([["shared anonymous memory", 3]]);
    expect(dirs.shared_memory.removed).toEqual([]);
    expect(dirs.shared_memory.changed).toEqual([]);
  });

  it("finds exactly the written page of the known mapping, and no change in code or in the re-protected mapping", () => {
    const { buffer, locked } = s.ready.addresses;
    const area = leader.memory.find((m) => m.area.start === hex(buffer!));
    expect(area).toEqual({
      area: { start: hex(buffer!), end: hex(buffer! + 4 * PAGE), size: 4 * PAGE, prot: "rw-", file: "" },
      changed_pages: 1,
      added_pages: 0,
      removed_pages: 0,
      first_changed: [hex(buffer! + 2 * PAGE)],
    });
    expect(leader.memory.find((m) => m.area.start === hex(locked!))).toBeUndefined();
    for (const p of dirs.processes.changed) {
      for (const m of p.memory) expect(m.area.prot, `${p.pid} ${m.area.start} ${m.area.file}`).toMatch(/w/);
    }
  });

  it("finds the child's rewritten command line, its new groups and filesystem ids and the capability it dropped, and nothing else of it", () => {
    const argv = (phase: string) => `/usr/bin/python3 -B ${join(import.meta.dirname, "../support/workloads/step.py")} ${s.workDir} ${phase}`;
    const changes = Object.fromEntries(child.changes.map((c) => [c.field, c]));
    expect(Object.keys(changes).sort()).toEqual(["cap_bnd", "cap_eff", "cap_prm", "cmdline", "gids (real effective saved fs)", "groups", "uids (real effective saved fs)"]);
    expect(changes.cmdline).toEqual({ field: "cmdline", a: argv("initial"), b: argv("stepped") });
    expect(changes.groups).toEqual({ field: "groups", a: "", b: "4242" });
    expect(changes["uids (real effective saved fs)"]).toEqual({ field: "uids (real effective saved fs)", a: "0 0 0 0", b: "0 0 0 4242" });
    expect(changes["gids (real effective saved fs)"]).toEqual({ field: "gids (real effective saved fs)", a: "0 0 0 0", b: "0 0 0 4242" });
    for (const cap of ["cap_bnd", "cap_prm"]) {
      expect(changes[cap]!.detail).toBe("-CAP_SYS_BOOT");
      expect(BigInt(changes[cap]!.a) & ~BigInt(changes[cap]!.b)).toBe(1n << 22n);
    }
    // A filesystem uid other than 0 also takes the file capabilities out of the effective set (the
    // kernel's CAP_FS_MASK: CHOWN, DAC_OVERRIDE, DAC_READ_SEARCH, FOWNER, FSETID, LINUX_IMMUTABLE,
    // MKNOD, MAC_OVERRIDE), those of them the child had.
    const FS_MASK = (1n << 0n) | (1n << 1n) | (1n << 2n) | (1n << 3n) | (1n << 4n) | (1n << 9n) | (1n << 27n) | (1n << 32n);
    const eff = changes.cap_eff!;
    expect(BigInt(eff.b) & ~BigInt(eff.a)).toBe(0n);
    expect(BigInt(eff.a) & ~BigInt(eff.b)).toBe((1n << 22n) | (BigInt(eff.a) & FS_MASK));
    expect(eff.detail).toMatch(/-CAP_CHOWN .*-CAP_SYS_BOOT/);
    expect(child.threads).toEqual({ added: [], removed: [] });
    expect(child.environment).toEqual({ added: {}, removed: {}, changed: {} });
    expect(child.files).toEqual({ added: [], removed: [], changed: [] });
    expect(child.vmas).toEqual({ added: [], removed: [], changed: [] });
    expect(dirs.rootfs).toEqual({ added: [], changed: [], deleted: [], reverted: [] });
    expect(dirs.notes).toEqual([ENVIRONMENT_NOTE]);
  });

  it("does not see a variable set with setenv after the start (it is in the heap, not the environment area), and says so", () => {
    expect(leader.environment.added).toEqual({});
    // The variable is there, in B's memory, just not in the area the environment diff reads.
    const found = runCkpt(["memparse", dumpB.dir, "-p", String(s.pids.leader), "-s", "CKPT_SET_AFTER_START=set-after-start", "--format", "json"]);
    expect(found.status, found.stderr).toBe(0);
    const matches = (JSON.parse(found.stdout) as { matches: Array<{ vma: { resource: string } }> }).matches;
    expect(matches.length).toBeGreaterThan(0);
    expect(matches.every((m) => !m.vma.resource.startsWith("[stack"))).toBe(true);
    expect(dirs.notes).toContain(ENVIRONMENT_NOTE);
    const tree = runCkpt(["diff", dumpA.dir, dumpB.dir]);
    expect(tree.stdout).toContain(`Not compared\n    └── ${ENVIRONMENT_NOTE}\n`);
  });

  it("reports nothing for a checkpoint against itself, in JSON and as a tree", async () => {
    const self = await diffPaths(dumpB.dir, dumpB.dir);
    expect(isEmptyDiff(self)).toBe(true);
    expect(self.notes).toEqual([ENVIRONMENT_NOTE]);
    const tree = runCkpt(["diff", dumpA.dir, dumpA.dir]);
    expect(tree.status, tree.stderr).toBe(0);
    expect(tree.stdout).toBe(`No differences\n├── A: ${dumpA.dir}\n├── B: ${dumpA.dir}\n└── Not compared\n    └── ${ENVIRONMENT_NOTE}\n`);
  });

  describe("as archives with root FS changes", () => {
    let crioA: string;
    let crioB: string;

    beforeAll(async () => {
      const rootfsA = join(tmp, "rootfs-a.tar");
      const rootfsB = join(tmp, "rootfs-b.tar");
      const binary = Buffer.from([0, 1, 2, 3, 255, 0, 7]);
      writeFileSync(rootfsA, packTar([{ name: "etc/app.conf", data: Buffer.from(APP_CONF_A) }, { name: "usr/bin/tool", data: binary, mode: 0o755 }]));
      writeFileSync(
        rootfsB,
        packTar([{ name: "etc/app.conf", data: Buffer.from(APP_CONF_B) }, { name: "usr/bin/tool", data: binary, mode: 0o755 }, { name: "var/new.txt", data: Buffer.from("new\n") }]),
      );
      crioA = await buildArchive({ layout: "crio", imagesDir: dumpA.dir, out: join(tmp, "a.tar"), rootfsDiff: rootfsA, deletedFiles: [] });
      crioB = await buildArchive({ layout: "crio", imagesDir: dumpB.dir, out: join(tmp, "b.tar"), rootfsDiff: rootfsB, deletedFiles: ["/etc/motd"] });
    }, 60_000);

    const expectedRootfs = () => ({
      added: [{ path: "/var/new.txt", type: "file", size: 4 }],
      changed: [
        {
          path: "/etc/app.conf",
          changes: [
            { field: "size", a: String(APP_CONF_A.length), b: String(APP_CONF_B.length) },
            expect.objectContaining({ field: "content" }),
          ],
          unified_diff: "--- a/etc/app.conf\n+++ b/etc/app.conf\n" + unifiedDiff(APP_CONF_A, APP_CONF_B)!.join("\n") + "\n",
        },
      ],
      deleted: ["/etc/motd"],
      reverted: [],
    });

    it("CRI-O archives: the same process changes as the image directories, plus the changed, new and deleted files", async () => {
      const d = await diffPaths(crioA, crioB);
      expect(d.processes).toEqual(dirs.processes);
      expect(d.shared_memory).toEqual(dirs.shared_memory);
      expect(d.rootfs).toEqual(expectedRootfs());
      // The hunk as GNU diff writes it.
      const files = [join(tmp, "app-a.conf"), join(tmp, "app-b.conf")];
      writeFileSync(files[0]!, APP_CONF_A);
      writeFileSync(files[1]!, APP_CONF_B);
      const gnu = spawnSync("diff", ["-u", ...files], { encoding: "utf8" }).stdout.split("\n").slice(2).join("\n");
      expect(d.rootfs.changed[0]!.unified_diff!.split("\n").slice(2).join("\n")).toBe(gnu);
    });

    it("containerd archives (gzip layer with whiteouts) and gzip'd archives (memory streamed) give the same diff", async () => {
      const rootfsA = join(tmp, "rootfs-a.tar");
      const rootfsB = join(tmp, "rootfs-b.tar");
      const ctrA = await buildArchive({ layout: "containerd", imagesDir: dumpA.dir, out: join(tmp, "a-ctr.tar"), rootfsDiff: rootfsA });
      const ctrB = await buildArchive({ layout: "containerd", imagesDir: dumpB.dir, out: join(tmp, "b-ctr.tar.gz"), rootfsDiff: rootfsB, deletedFiles: ["/etc/motd"], compression: "gzip" });
      const d = await diffPaths(ctrA, ctrB);
      expect(d.processes).toEqual(dirs.processes);
      // containerd's layer carries the parent directories of its files: /var is new there too.
      const expected = expectedRootfs();
      expect(d.rootfs).toEqual({ ...expected, added: [{ path: "/var", type: "directory", size: 0 }, ...expected.added] });
    }, 60_000);

    it("the CLI prints the same JSON and a tree naming each change", () => {
      const json = runCkpt(["diff", crioA, crioB, "--format", "json"]);
      expect(json.status, json.stderr).toBe(0);
      expect(json.stderr).toBe("");
      const printed = JSON.parse(json.stdout) as CheckpointDiff;
      expect(content(printed).processes).toEqual(JSON.parse(JSON.stringify(dirs.processes)));
      const tree = runCkpt(["diff", crioA, crioB]);
      expect(tree.status, tree.stderr).toBe(0);
      const lines = tree.stdout.split("\n").map((l) => l.replace(/^[│├└─\s]+/, ""));
      expect(lines[0]).toBe("Differences");
      expect(lines).toContain(`[+ ${s.step.pids.late}]  step-late (${printed.processes.added[0]!.cmdline})`);
      expect(lines).toContain(`[+ ${s.step.tids["step-worker-2"]}]  step-worker-2`);
      expect(lines).toContain("[~]  CKPT_STEP_STATE=initial → stepped");
      expect(lines).toContain(`[+ ${s.step.fds.opened}]  ${join(s.workDir, "opened-at-step.txt")} (O_RDWR | O_APPEND | O_LARGEFILE, pos 19)`);
      expect(lines.some((l) => l.startsWith(`[+ ${s.step.fds.client}]  tcp 127.0.0.1:`) && l.endsWith(" -> 127.0.0.1:7431 (ESTABLISHED)"))).toBe(true);
      expect(lines).toContain(`[${hex(s.ready.addresses.buffer!)}-${hex(s.ready.addresses.buffer! + 4 * PAGE)} rw- (anonymous) (16.0 KiB)]  1 changed page(s) at ${hex(s.ready.addresses.buffer! + 2 * PAGE)}`);
      expect(lines.some((l) => /^cap_bnd: 0x[0-9a-f]{16} → 0x[0-9a-f]{16} \(-CAP_SYS_BOOT\)$/.test(l))).toBe(true);
      expect(lines).toContain("uids (real effective saved fs): 0 0 0 0 → 0 0 0 4242");
      expect(lines).toContain("[+]  /var/new.txt (file, 4 B)");
      expect(lines).toContain("-mode=fast");
      expect(lines).toContain("+mode=safe");
      expect(lines).toContain("[-]  /etc/motd (deleted)");
    });
  });

  describe("bad input", () => {
    it("a pages file shorter than its pagemap: one line naming the file", () => {
      const broken = join(tmp, "short-pages");
      cpSync(dumpB.dir, broken, { recursive: true });
      const pages = readdirSync(broken).filter((n) => n.startsWith("pages-")).map((n) => join(broken, n)).sort((x, y) => statSync(y).size - statSync(x).size)[0]!;
      truncateSync(pages, statSync(pages).size - PAGE);
      const r = runCkpt(["diff", dumpA.dir, broken]);
      expectOneLineError(r, pages.slice(broken.length + 1));
      // Found by the argv/environment read when the cut reaches them, else by the page pass.
      expect(r.stderr).toMatch(/pages-\d+\.img: (range \d+\+\d+ is outside its \d+ bytes|\d+ bytes, but the pagemap)/);
    });

    it("a corrupt image: one line naming the file and the offset", () => {
      const broken = join(tmp, "bad-pstree");
      cpSync(dumpA.dir, broken, { recursive: true });
      const pstree = join(broken, "pstree.img");
      const size = statSync(pstree).size;
      truncateSync(pstree, size - 3);
      const r = runCkpt(["diff", broken, dumpB.dir, "--format", "json"]);
      expectOneLineError(r, "pstree.img");
      expect(r.stderr).toMatch(/offset \d+/);
    });

    it("not a checkpoint: one line naming the file and offset 0", () => {
      const junk = join(tmp, "junk.tar");
      writeFileSync(junk, Buffer.alloc(4096, "not a tar "));
      expectOneLineError(runCkpt(["diff", junk, dumpB.dir]), junk, 0);
    });

    it("an unknown format: one line", () => {
      const r = runCkpt(["diff", dumpA.dir, dumpB.dir, "--format", "yaml"]);
      expectOneLineError(r, "yaml");
    });
  });
});

describe.runIf(haveRealStack())("ckpt diff of two separate runs (replicas): processes pair up by command line", () => {
  it("pairs leader with leader and child with child under other PIDs, and finds what differs", async () => {
    const workDir = mkdtempSync(join(tmpdir(), "ckpt-replica-"));
    const dumps: WorkloadDump[] = [];
    try {
      const pids: Array<Record<string, number>> = [];
      for (let run = 0; run < 2; run++) {
        // The same (empty) working directory each run: the same command lines.
        mkdirSync(workDir, { recursive: true });
        const live = await startWorkload("step", { env: { CKPT_STEP_STATE: `run-${run}00` }, workDir });
        try {
          dumps.push(await live.dump());
          pids.push(live.pids);
        } finally {
          await live.stop();
        }
      }
      const d = await diffPaths(dumps[0]!.dir, dumps[1]!.dir);
      expect(d.processes.added).toEqual([]);
      expect(d.processes.removed).toEqual([]);
      const pairs = d.processes.changed.map((p) => [p.pid_a, p.pid, p.matched_by]);
      expect(pairs.sort()).toEqual([[pids[0]!.leader, pids[1]!.leader, "cmdline"], [pids[0]!.child, pids[1]!.child, "cmdline"]].sort());
      const leader = d.processes.changed.find((p) => p.pid === pids[1]!.leader)!;
      expect(leader.environment.changed.CKPT_STEP_STATE).toEqual({ a: "run-000", b: "run-100" });
      // The interpreter is built without PIE and stays where it is; its libraries moved.
      expect(leader.vma_match).toBe("mapping");
      // Only anonymous memory may differ (the heap of one run grew further than the other's).
      expect(leader.vmas.changed.filter((c) => !grewOnly(c))).toEqual([]);
    } finally {
      for (const dump of dumps) await dump.cleanup();
      rmSync(workDir, { recursive: true, force: true });
    }
  }, 180_000);
});

describe.runIf(haveRealStack())("ckpt diff of two replicas of a C program: VMAs paired by what they map", () => {
  const PROGRAM = join(import.meta.dirname, "../support/programs/replica.c");
  let tmp: string;
  const dumps: WorkloadDump[] = [];
  const buffers: number[] = [];
  const pids: number[] = [];
  let d: CheckpointDiff;

  beforeAll(async () => {
    tmp = mkdtempSync(join(tmpdir(), "ckpt-replicas-"));
    const exe = join(tmp, "replica");
    execFileSync("gcc", ["-O1", "-o", exe, PROGRAM]);
    const workDir = join(tmp, "work");
    for (const fill of ["0x41", "0x42"]) {
      // The same (empty) working directory each run: the same command line.
      mkdirSync(workDir, { recursive: true });
      const live = await startProgram("replica", (dir) => [exe, dir], { env: { CKPT_REPLICA_FILL: fill }, workDir });
      try {
        dumps.push(await live.dump());
        buffers.push(live.ready.buffer as number);
        pids.push(live.pids.leader!);
      } finally {
        await live.stop();
      }
    }
    d = await diffPaths(dumps[0]!.dir, dumps[1]!.dir);
  }, 120_000);

  afterAll(async () => {
    for (const dump of dumps) await dump.cleanup();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  it("pairs the two by command line, sees they lie at other addresses, and finds no VMA added, removed or changed", () => {
    expect(buffers[0]).not.toBe(buffers[1]);
    expect(d.processes.added).toEqual([]);
    expect(d.processes.removed).toEqual([]);
    expect(d.processes.changed).toHaveLength(1);
    const p = d.processes.changed[0]!;
    expect([p.pid_a, p.pid, p.matched_by, p.vma_match]).toEqual([pids[0], pids[1], "cmdline", "mapping"]);
    expect(p.vmas).toEqual({ added: [], removed: [], changed: [] });
    expect(p.changes).toEqual([]);
    expect(p.files).toEqual({ added: [], removed: [], changed: [] });
  });

  it("finds the one page the replicas were given apart, at its offset in the buffer, and no change in code", () => {
    const p = d.processes.changed[0]!;
    const buffer = p.memory.find((m) => m.area.start === hex(buffers[1]!));
    expect(buffer).toEqual({
      area: { start: hex(buffers[1]!), end: hex(buffers[1]! + 4 * PAGE), size: 4 * PAGE, prot: "rw-", file: "" },
      changed_pages: 1,
      added_pages: 0,
      removed_pages: 0,
      first_changed: [hex(buffers[1]! + 2 * PAGE)],
    });
    // The rest that differs holds addresses (stacks, the relocated GOTs, libc's data), never code.
    for (const m of p.memory) expect(m.area.prot, `${m.area.start} ${m.area.file}`).not.toMatch(/x/);
  });

  it("--replicas forces the same pairing; the tree says how the VMAs were paired", async () => {
    expect(await diffPaths(dumps[0]!.dir, dumps[1]!.dir, { replicas: true })).toEqual(d);
    const tree = runCkpt(["diff", dumps[0]!.dir, dumps[1]!.dir, "--replicas"]);
    expect(tree.status, tree.stderr).toBe(0);
    expect(tree.stdout).toContain("laid out at other addresses (replicas): VMAs paired by what they map, pages compared at the same offset in each");
    expect(tree.stdout).toContain(`[${hex(buffers[1]!)}-${hex(buffers[1]! + 4 * PAGE)} rw- (anonymous) (16.0 KiB)]  1 changed page(s) at ${hex(buffers[1]! + 2 * PAGE)}`);
  });
});
