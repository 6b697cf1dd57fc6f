/**
 * writeCrioArchive never leaves a partial archive under the target's name and never leaves a temp
 * file behind on failure: aborts, input files that vanish or turn into symlinks while the archive
 * is written, a name that is taken (also by a concurrent writer), a killed process (its temp file is
 * what cleanStaleTempFiles removes); and the modes: directory 0700, archive and temp file 0600.
 */
import { spawn } from "node:child_process";
import { cpSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, unlinkSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { pathToFileURL } from "node:url";
import { dirname, join } from "node:path";
import { afterAll, beforeEach, describe, expect, it } from "vitest";
import {
  CheckpointAbortError,
  CheckpointWriteError,
  cleanStaleTempFiles,
  isTempName,
  TargetExistsError,
  tempNameFor,
  writeCrioArchive,
  type CrioArchiveInput,
} from "../../../src/checkpoint/writer/index.js";
import { FIXTURE_DIRS, haveFixtures, FIXTURES } from "../../support/fixtures.js";

const work = mkdtempSync(join(tmpdir(), "ckpt-atomic-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

let n = 0;
let images: string;
let outDir: string;

function input(overrides: Partial<CrioArchiveInput> = {}): CrioArchiveInput {
  return {
    imagesDir: images,
    config: { id: "c".repeat(64), name: "k8s_counter_counters_default_uid_0", runtime: "runc", createdTime: "2026-01-01T00:00:00.5+01:00" },
    spec: { ociVersion: "1.0.2", annotations: { "io.container.manager": "cri-o", "io.kubernetes.cri-o.Metadata": '{"name":"counter"}' } },
    bindMounts: [],
    ...overrides,
  };
}

const leftovers = (dir: string) => (existsSync(dir) ? readdirSync(dir) : []);

describe.runIf(haveFixtures())("writeCrioArchive is atomic", () => {
  beforeEach(() => {
    n++;
    images = join(work, `images-${n}`);
    cpSync(FIXTURE_DIRS.runcCounter, images, { recursive: true });
    cpSync(join(FIXTURES, "runc-counter/stats-dump"), join(images, "stats-dump"));
    outDir = join(work, `out-${n}`, "checkpoints");
  });

  it("creates the missing directory 0700 and the archive 0600, whatever the umask", async () => {
    const old = process.umask(0);
    try {
      const r = await writeCrioArchive(join(outDir, "a.tar"), input());
      expect(statSync(outDir).mode & 0o777).toBe(0o700);
      expect(statSync(join(outDir, "..")).mode & 0o777).toBe(0o700);
      expect(lstatSync(r.path).mode & 0o777).toBe(0o600);
      expect(r.bytes).toBe(statSync(r.path).size);
      expect(leftovers(outDir)).toEqual(["a.tar"]);
    } finally {
      process.umask(old);
    }
  });

  it("writes into a hidden temp file of mode 0600 beside the target, visible only while it is written", async () => {
    const target = join(outDir, "checkpoint-counters_default-counter-2026-01-01T00:00:00Z.tar");
    const seen: Array<{ names: string[]; mode: number }> = [];
    await writeCrioArchive(target, input(), {
      onEntry(name) {
        if (name !== "config.dump") return;
        const names = readdirSync(outDir);
        seen.push({ names, mode: lstatSync(join(outDir, names[0]!)).mode & 0o777 });
      },
    });
    expect(seen).toHaveLength(1);
    expect(seen[0]!.names).toHaveLength(1);
    expect(seen[0]!.names[0]).toMatch(/^\.checkpoint-counters_default-counter-2026-01-01T00:00:00Z\.tar\.tmp-[0-9a-f]{16}$/);
    expect(isTempName(seen[0]!.names[0]!)).toBe(true);
    expect(seen[0]!.mode).toBe(0o600);
    expect(leftovers(outDir)).toEqual(["checkpoint-counters_default-counter-2026-01-01T00:00:00Z.tar"]);
  });

  it("refuses an existing target with EEXIST and leaves it untouched; overwrite replaces it", async () => {
    const target = join(outDir, "taken.tar");
    mkdirSync(outDir, { recursive: true, mode: 0o700 });
    writeFileSync(target, "earlier archive");
    const err = await writeCrioArchive(target, input()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TargetExistsError);
    expect(err).toMatchObject({ code: "EEXIST", path: target });
    expect((err as Error).message).toContain(target);
    expect(readFileSync(target, "utf8")).toBe("earlier archive");
    expect(leftovers(outDir)).toEqual(["taken.tar"]);
    const r = await writeCrioArchive(target, input(), { overwrite: true });
    expect(statSync(target).size).toBe(r.bytes);
    expect(leftovers(outDir)).toEqual(["taken.tar"]);
  });

  it("two writers of the same name in the same second: one archive, one EEXIST, nothing clobbered", async () => {
    const target = join(outDir, "same-second.tar");
    const results = await Promise.allSettled([writeCrioArchive(target, input()), writeCrioArchive(target, input({ deletedFiles: ["/second"] }))]);
    const ok = results.filter((r) => r.status === "fulfilled");
    const failed = results.filter((r): r is PromiseRejectedResult => r.status === "rejected");
    expect(ok).toHaveLength(1);
    expect(failed).toHaveLength(1);
    expect(failed[0]!.reason).toMatchObject({ code: "EEXIST" });
    expect(statSync(target).size).toBe((ok[0] as PromiseFulfilledResult<{ bytes: number }>).value.bytes);
    expect(leftovers(outDir)).toEqual(["same-second.tar"]);
  });

  it("an abort in the middle of the page data removes the temp file and names the target", async () => {
    const target = join(outDir, "aborted.tar");
    const ac = new AbortController();
    const err = await writeCrioArchive(target, input(), {
      signal: ac.signal,
      onEntry: (name) => name === "checkpoint/pages-2.img" && ac.abort(new Error("kubelet gave up")),
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CheckpointAbortError);
    expect(err).toMatchObject({ name: "AbortError", code: "ABORT_ERR", path: target });
    expect(((err as Error).cause as Error).message).toBe("kubelet gave up");
    expect(leftovers(outDir)).toEqual([]);
  });

  it("a directory name taken by a file is ENOTDIR, never EEXIST (which tells the caller to pick another name)", async () => {
    mkdirSync(dirname(outDir), { recursive: true });
    writeFileSync(outDir, "a file where the directory should be");
    // With overwrite the existence check is skipped and mkdir meets the file itself.
    for (const overwrite of [false, true]) {
      const err = await writeCrioArchive(join(outDir, "a.tar"), input(), { overwrite }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(CheckpointWriteError);
      expect(err).not.toBeInstanceOf(TargetExistsError);
      expect(err).toMatchObject({ code: "ENOTDIR" });
    }
    expect(readdirSync(dirname(outDir))).toEqual(["checkpoints"]);
  });

  it("an already aborted signal writes nothing, not even the directory", async () => {
    const err = await writeCrioArchive(join(outDir, "never.tar"), input(), { signal: AbortSignal.abort() }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: "ABORT_ERR" });
    expect(existsSync(outDir)).toBe(false);
  });

  it("an input file that disappears while the archive is written: the error names it, nothing is left", async () => {
    const target = join(outDir, "vanished.tar");
    const victim = join(images, "pages-5.img");
    const err = await writeCrioArchive(target, input(), { onEntry: (name) => name === "checkpoint/pages-1.img" && unlinkSync(victim) }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CheckpointWriteError);
    expect(err).toMatchObject({ code: "ENOENT", path: target });
    expect((err as Error).message).toContain(target);
    expect((err as Error).message).toContain(victim);
    expect(leftovers(outDir)).toEqual([]);
  });

  it("an input file replaced by a symlink is not followed", async () => {
    const target = join(outDir, "symlinked.tar");
    const victim = join(images, "pstree.img");
    const err = await writeCrioArchive(target, input(), {
      onEntry: (name) => {
        if (name !== "checkpoint/cgroup.img") return;
        unlinkSync(victim);
        symlinkSync("/etc/passwd", victim);
      },
    }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: "ELOOP" });
    expect((err as Error).message).toContain(`${victim}: is a symbolic link`);
    expect(leftovers(outDir)).toEqual([]);
  });

  it("a missing optional input and a bad input fail before anything is written", async () => {
    const missing = join(work, "no-such.log");
    const e1 = await writeCrioArchive(join(outDir, "x.tar"), input({ containerLog: missing })).catch((e: unknown) => e);
    expect(e1).toMatchObject({ code: "ENOENT" });
    expect((e1 as Error).message).toContain(missing);
    const e2 = await writeCrioArchive(join(outDir, "x.tar"), input({ imagesDir: "relative/dir" })).catch((e: unknown) => e);
    expect(e2).toMatchObject({ code: "EINVAL" });
    expect((e2 as Error).message).toContain("imagesDir: must be an absolute path");
    const e3 = await writeCrioArchive(join(outDir, "x.tar"), input({ config: { id: "x", name: "x", createdTime: "yesterday" } })).catch((e: unknown) => e);
    expect((e3 as Error).message).toContain('config.createdTime: not an RFC 3339 time: "yesterday"');
    const e4 = await writeCrioArchive(join(outDir, "x.tar"), input({ spec: { linux: { resources: { memory: { limit: 2 ** 64 } } } } })).catch((e: unknown) => e);
    expect((e4 as Error).message).toContain("$.linux.resources.memory.limit: 18446744073709552000 is beyond 2^53");
    unlinkSync(join(images, "inventory.img"));
    const e5 = await writeCrioArchive(join(outDir, "x.tar"), input()).catch((e: unknown) => e);
    expect((e5 as Error).message).toContain(`${images}: has no inventory.img`);
    expect(leftovers(outDir)).toEqual([]);
  });

  it("a killed writer leaves only its temp file, which cleanStaleTempFiles removes", async () => {
    const target = join(outDir, "killed.tar");
    // One process (node with tsx's loader), not tsx's launcher: SIGKILL must reach the writer itself.
    const loader = pathToFileURL(join(import.meta.dirname, "../../../node_modules/tsx/dist/esm/index.mjs")).href;
    const child = spawn(process.execPath, ["--import", loader, join(import.meta.dirname, "killed-writer.mts"), target, images], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stderr = "";
    child.stderr.on("data", (d: Buffer) => (stderr += d));
    const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on("exit", (_code, signal) => resolve(signal)));
    await new Promise<void>((resolve, reject) => {
      child.stdout.on("data", (d: Buffer) => d.toString().includes("mid") && resolve());
      child.on("exit", () => reject(new Error(`the writer ended early: ${stderr}`)));
    });
    child.kill("SIGKILL");
    expect(await exited).toBe("SIGKILL");
    const left = leftovers(outDir);
    expect(left).toHaveLength(1);
    expect(isTempName(left[0]!)).toBe(true);
    expect(statSync(join(outDir, left[0]!)).size).toBeGreaterThan(0);
    expect(await cleanStaleTempFiles(outDir)).toEqual([join(outDir, left[0]!)]);
    expect(leftovers(outDir)).toEqual([]);
  });
});

describe("cleanStaleTempFiles", () => {
  it("removes only regular files named like the writer's temp files, and only old enough ones when asked", async () => {
    const dir = join(work, "stale");
    mkdirSync(dir, { recursive: true });
    const old = tempNameFor(join(dir, "checkpoint-a.tar"), "0123456789abcdef");
    const fresh = tempNameFor(join(dir, "checkpoint-b.tar"), "fedcba9876543210");
    writeFileSync(old, "partial");
    writeFileSync(fresh, "partial");
    utimesSync(old, new Date(Date.now() - 3_600_000), new Date(Date.now() - 3_600_000));
    const keep = ["checkpoint-c.tar", ".checkpoint-d.tar.tmp-xyz", ".checkpoint-e.tar.tmp-0123456789abcde"];
    for (const k of keep) writeFileSync(join(dir, k), "");
    mkdirSync(tempNameFor(join(dir, "dir.tar"), "aaaaaaaaaaaaaaaa"));
    symlinkSync("/etc/passwd", tempNameFor(join(dir, "link.tar"), "bbbbbbbbbbbbbbbb"));

    expect(await cleanStaleTempFiles(dir, { minAgeMs: 60_000 })).toEqual([old]);
    expect(existsSync(fresh)).toBe(true);
    expect(await cleanStaleTempFiles(dir)).toEqual([fresh]);
    expect(readdirSync(dir).sort()).toEqual(
      [...keep, ".dir.tar.tmp-aaaaaaaaaaaaaaaa", ".link.tar.tmp-bbbbbbbbbbbbbbbb"].sort(),
    );
    expect(lstatSync(join(dir, ".link.tar.tmp-bbbbbbbbbbbbbbbb")).isSymbolicLink()).toBe(true);
    expect(await cleanStaleTempFiles(join(work, "no-such-dir"))).toEqual([]);
  });
});
