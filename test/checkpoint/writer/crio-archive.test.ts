/**
 * writeCrioArchive on real CRIU dumps — the shared runc-counter fixture and a "mix" dump made now
 * with the real CRIU 4.2.1 — laid out as runc leaves an image directory without --work-path
 * (stats-dump and dump.log inside it). The archive must have the members, order and bytes of the
 * test suite's CRI-O builder for the same input, and be read alike by the real checkpointctl 1.3.0
 * (show, inspect --all), by Checkpoint.open and by `bin/ckpt show`.
 */
import { createHash } from "node:crypto";
import { copyFileSync, cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { showRow } from "../../../src/analyze/show.js";
import { Checkpoint } from "../../../src/checkpoint/checkpoint.js";
import { listProcesses } from "../../../src/criu-images/index.js";
import { CRIO_LOG_MEMBER, parseSpecJson, writeCrioArchive, type CrioArchiveInput } from "../../../src/checkpoint/writer/index.js";
import { buildArchive, criLog, DEFAULT_CONTAINER, readArchive, tarNamesOf, type BindMount, type TarEntry } from "../../support/archives.js";
import { checkpointctl, expectRowAsCheckpointctl, haveCheckpointctl } from "../../support/checkpointctl.js";
import { ensureCliBuilt, runCkpt } from "../../support/ckpt-cli.js";
import { dumpWorkload, haveRealStack, type WorkloadDump } from "../../support/criu-dump.js";
import { FIXTURES, haveFixtures } from "../../support/fixtures.js";

const COUNTER = join(FIXTURES, "runc-counter");
const work = mkdtempSync(join(tmpdir(), "ckpt-writer-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- JSON read back from two tools
type Json = Record<string, any>;

const member = (entries: TarEntry[], name: string): Buffer => {
  const e = entries.find((x) => x.name === name);
  if (!e?.data) throw new Error(`no member ${name}`);
  return e.data;
};

/** The archive builder's CRI-O archive for this input, and ours made from the same facts: the
 * builder's own config.dump and spec.dump, parsed back, are what our writer is given. */
async function bothArchives(name: string, imagesDir: string, extra: { rootfsDiff?: string; deletedFiles?: string[]; bindMounts?: BindMount[]; spec?: object; log: string }) {
  const ref = join(work, `${name}-builder.tar`);
  await buildArchive({
    layout: "crio",
    imagesDir,
    out: ref,
    containerLog: extra.log,
    ...(extra.spec ? { spec: extra.spec } : {}),
    ...(extra.rootfsDiff ? { rootfsDiff: extra.rootfsDiff } : {}),
    ...(extra.deletedFiles ? { deletedFiles: extra.deletedFiles } : {}),
    ...(extra.bindMounts ? { bindMounts: extra.bindMounts } : {}),
  });
  const refEntries = await readArchive(ref);
  const logFile = join(work, `${name}-0.log`);
  writeFileSync(logFile, extra.log);
  const input: CrioArchiveInput = {
    imagesDir,
    config: JSON.parse(member(refEntries, "config.dump").toString()),
    spec: parseSpecJson(member(refEntries, "spec.dump").toString()),
    bindMounts: extra.bindMounts ?? [],
    containerLog: logFile,
    ...(extra.rootfsDiff ? { rootfsDiffTar: extra.rootfsDiff } : {}),
    ...(extra.deletedFiles ? { deletedFiles: extra.deletedFiles } : {}),
  };
  const ours = await writeCrioArchive(join(work, "out", `${name}.tar`), input);
  return { ref, refEntries, ours, input };
}

/** Our reading of the archive against checkpointctl's, value by value. */
function agreeWithCheckpointctl(path: string): { ctl: Json; table: Record<string, string> } {
  const cli = runCkpt(["show", path, "--format", "json"]);
  expect(cli.status, cli.stderr).toBe(0);
  const { ctl, table } = expectRowAsCheckpointctl(JSON.parse(cli.stdout)[0], path);
  expect(table.ENGINE).toBe("CRI-O");
  return { ctl, table };
}

describe.runIf(haveFixtures() && haveCheckpointctl())("writeCrioArchive: the runc-counter fixture", () => {
  let images: string;
  let both: Awaited<ReturnType<typeof bothArchives>>;
  let ourEntries: TarEntry[];
  const bind: BindMount = { source: "/var/lib/kubelet/pods/p/volumes/data", destination: "/data", file_type: "directory", permissions: 0o755 };

  beforeAll(async () => {
    ensureCliBuilt();
    // What `runc checkpoint --image-path DIR` (no --work-path) leaves: images, descriptors.json,
    // and CRIU's stats-dump and dump.log in the same directory.
    images = join(work, "counter-images");
    cpSync(join(COUNTER, "checkpoint"), images, { recursive: true });
    copyFileSync(join(COUNTER, "stats-dump"), join(images, "stats-dump"));
    copyFileSync(join(COUNTER, "dump.log"), join(images, "dump.log"));
    const spec = JSON.parse(readFileSync(join(COUNTER, "spec.json"), "utf8"));
    both = await bothArchives("counter", images, {
      spec,
      rootfsDiff: join(COUNTER, "rootfs-diff.tar"),
      deletedFiles: ["/etc/motd", "/home/counter/<old>&"],
      bindMounts: [bind],
      log: criLog(["count 1", "count 2"], DEFAULT_CONTAINER.created),
    });
    ourEntries = await readArchive(both.ours.path);
  });

  it("has the builder's members in the builder's order: work files on top, the log under CRI-O's odd name", async () => {
    const names = await tarNamesOf(both.ours.path);
    expect(names).toEqual(await tarNamesOf(both.ref));
    expect(names.slice(0, 3)).toEqual(["stats-dump", "dump.log", "checkpoint/"]);
    expect(names.slice(-6)).toEqual(["config.dump", "spec.dump", "bind.mounts", "rootfs-diff.tar", "deleted.files", CRIO_LOG_MEMBER]);
    expect(names).toContain("checkpoint/descriptors.json");
    expect(names).not.toContain("checkpoint/stats-dump");
    expect(names).not.toContain("checkpoint/dump.log");
  });

  it("every member has the builder's bytes: Go's JSON formatting, the images, the log", () => {
    for (const e of both.refEntries) {
      if (e.type !== "file") continue;
      expect(member(ourEntries, e.name).equals(e.data!), e.name).toBe(true);
    }
    expect(member(ourEntries, "deleted.files").toString()).toBe('[\n  "/etc/motd",\n  "/home/counter/\\u003cold\\u003e\\u0026"\n]');
    expect(member(ourEntries, "bind.mounts").toString()).toContain('"file_type": "directory",\n    "permissions": 493\n');
  });

  it("is an uncompressed tar of the size reported, mode 0600, JSON members 0600 and owned by root", () => {
    const bytes = readFileSync(both.ours.path);
    expect(bytes.length).toBe(both.ours.bytes);
    expect(bytes.subarray(257, 262).toString()).toBe("ustar");
    for (const name of ["config.dump", "spec.dump", "bind.mounts", "deleted.files"]) {
      expect(ourEntries.find((e) => e.name === name)).toMatchObject({ mode: 0o600, uid: 0, gid: 0 });
    }
  });

  it("with sha256, reports the digest of the bytes it wrote (without, none)", async () => {
    expect(both.ours.sha256).toBeUndefined();
    const hashed = await writeCrioArchive(join(work, "out", "counter-hashed.tar"), both.input, { sha256: true });
    expect(hashed.sha256).toBe(createHash("sha256").update(readFileSync(hashed.path)).digest("hex"));
    expect(hashed.bytes).toBe(both.ours.bytes);
  });

  it("checkpointctl 1.3.0 show and inspect --stats, bin/ckpt show and Checkpoint.open agree", async () => {
    const { ctl, table } = agreeWithCheckpointctl(both.ours.path);
    expect(ctl.engine).toBe("CRI-O");
    expect(ctl.container_name).toBe(DEFAULT_CONTAINER.name);
    expect(ctl.ip).toBe(DEFAULT_CONTAINER.ip);
    expect(table.IP).toBe(DEFAULT_CONTAINER.ip);
    expect(table["ROOT FS DIFF SIZE"]).toBe("10.0 KiB");
    expect(ctl.statistics).toEqual({ freezing_time: 101201, frozen_time: 193080, memdump_time: 5529, memwrite_time: 475, pages_scanned: 119, pages_written: 84 });
    const cp = await Checkpoint.open(both.ours.path);
    try {
      const row = showRow(cp);
      expect(row).toMatchObject({ container: ctl.container_name, engine: "CRI-O", ip: ctl.ip, checkpointSize: ctl.checkpoint_size.total_size, rootfsDiffSize: 10240 });
      expect(cp.archive.refused).toEqual([]);
      expect(listProcesses(cp.images).map((p) => p.pid).sort((a, b) => a - b)).toEqual([1, 6, 7, 8, 29]);
    } finally {
      cp.close();
    }
  });

  it("checkpointctl 1.3.0 inspect --all reads it, and ckpt inspect --all says the same", () => {
    const r = checkpointctl(["inspect", "--all", "--format", "json", both.ours.path]);
    expect(r.code, r.stderr).toBe(0);
    const ctl = JSON.parse(r.stdout)[0] as Json;
    const cli = runCkpt(["inspect", both.ours.path, "--all", "--format", "json"]);
    expect(cli.status, cli.stderr).toBe(0);
    const ours = JSON.parse(cli.stdout)[0] as Json;
    for (const k of ["container_name", "engine", "ip", "id", "image", "created", "checkpoint_size", "statistics", "mounts"]) expect(ours[k], k).toEqual(ctl[k]);
    expect(ctl.process_tree.pid).toBe(1);
    expect(ours.deleted_files).toEqual(["/etc/motd", "/home/counter/<old>&"]);
    expect(ours.rootfs_diff_files).toEqual([
      { path: "home/counter/logfile", type: "file", size: 135 },
      { path: "home/counter/test-file", type: "file", size: 10 },
    ]);
  });
});

describe.runIf(haveRealStack() && haveCheckpointctl())("writeCrioArchive: a dump made now by the real CRIU", () => {
  let mix: WorkloadDump;
  let both: Awaited<ReturnType<typeof bothArchives>>;

  beforeAll(async () => {
    ensureCliBuilt();
    mix = await dumpWorkload("mix");
    both = await bothArchives("mix", mix.dir, { log: criLog(["started"], DEFAULT_CONTAINER.created) });
  });
  afterAll(async () => {
    await mix?.cleanup();
  });

  it("has the builder's member names, order and bytes (no bind.mounts, rootfs diff or deleted files: none given)", async () => {
    const names = await tarNamesOf(both.ours.path);
    expect(names).toEqual(await tarNamesOf(both.ref));
    expect(names.filter((n) => !n.startsWith("checkpoint/"))).toEqual(["stats-dump", "dump.log", "config.dump", "spec.dump", CRIO_LOG_MEMBER]);
    const ours = await readArchive(both.ours.path);
    for (const e of both.refEntries) if (e.type === "file") expect(member(ours, e.name).equals(e.data!), e.name).toBe(true);
  });

  it("checkpointctl 1.3.0 shows it as CRI-O with the pod IP, and its process tree is the dumped one", async () => {
    const { ctl } = agreeWithCheckpointctl(both.ours.path);
    expect(ctl.ip).toBe(DEFAULT_CONTAINER.ip);
    const r = checkpointctl(["inspect", "--ps-tree", "--stats", "--mounts", "--format", "json", both.ours.path]);
    expect(r.code, r.stderr).toBe(0);
    const tree = JSON.parse(r.stdout)[0].process_tree as Json;
    expect(tree.pid).toBe(mix.rootPid);
    expect(tree.children.map((c: Json) => c.pid).sort()).toEqual([mix.pids.child, mix.pids.zombie].sort());
    const cp = await Checkpoint.open(both.ours.path);
    try {
      const pids = listProcesses(cp.images).map((p) => p.pid);
      expect(pids).toContain(mix.rootPid);
      expect(pids).toContain(mix.pids.zombie);
      expect(cp.dumpStats()).toBeDefined();
    } finally {
      cp.close();
    }
  });
});
