/**
 * ckpt show and list against the real checkpointctl 1.3.0, on archives in the three engines' layouts
 * (plain tar, gzip, zstd) built from the shared runc-counter dump and from a dump made now; and the
 * archive reader on hostile archives.
 */
import { execFileSync } from "node:child_process";
import { copyFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { listCheckpoints } from "../../src/analyze/list.js";
import { showRow } from "../../src/analyze/show.js";
import { byteToString, goFixed1 } from "../../src/analyze/units.js";
import { ArchiveError, CheckpointArchive } from "../../src/checkpoint/archive/checkpoint-archive.js";
import { Checkpoint } from "../../src/checkpoint/checkpoint.js";
import { buildArchive, hostileArchive, HOSTILE_MEMBER, type ArchiveLayout, type HostileKind } from "../support/archives.js";
import { checkpointctl, expectRowAsCheckpointctl, haveCheckpointctl, parseTable } from "../support/checkpointctl.js";
import { ckpt } from "../support/ckpt-cli.js";
import { dumpWorkload, haveRealStack, type WorkloadDump } from "../support/criu-dump.js";
import { FIXTURES, haveFixtures } from "../support/fixtures.js";

const work = mkdtempSync(join(tmpdir(), "ckpt-show-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe("byte sizes as checkpointctl prints them", () => {
  it("rounds like Go's %.1f (exact ties to even)", () => {
    expect(byteToString(1023)).toBe("1023 B");
    expect(byteToString(1024)).toBe("1.0 KiB");
    expect(byteToString(1280)).toBe("1.2 KiB"); // 1.25 exactly: Go rounds to even
    expect(byteToString(1792)).toBe("1.8 KiB"); // 1.75 exactly
    expect(byteToString(366902)).toBe("358.3 KiB");
    expect(byteToString(13 * 1024 * 1024)).toBe("13.0 MiB");
    expect(goFixed1(0.05)).toBe("0.1"); // the double 0.05 is above 0.05: no tie
    expect(goFixed1(0.25)).toBe("0.2"); // an exact tie: to even
    expect(goFixed1(0.75)).toBe("0.8");
    expect(goFixed1(2.5)).toBe("2.5");
    expect(byteToString(5 * 1024 ** 3 + 1)).toBe("5.0 GiB");
  });
});

const runcCounter = join(FIXTURES, "runc-counter");
const spec = () => JSON.parse(readFileSync(join(runcCounter, "spec.json"), "utf8"));

async function fixtureArchive(layout: ArchiveLayout, compression: "none" | "gzip" | "zstd", name = `${layout}-${compression}.tar`): Promise<string> {
  return buildArchive({
    layout,
    compression,
    imagesDir: join(runcCounter, "checkpoint"),
    out: join(work, name),
    spec: spec(),
    rootfsDiff: join(runcCounter, "rootfs-diff.tar"),
    statsDump: join(runcCounter, "stats-dump"),
    dumpLog: join(runcCounter, "dump.log"),
    deletedFiles: [],
  });
}

async function compareShow(path: string): Promise<void> {
  const cp = await Checkpoint.open(path);
  const ours = showRow(cp);
  cp.close();
  expect(ours.stats).toBeDefined();
  expectRowAsCheckpointctl(ours, path);
}

describe.runIf(haveCheckpointctl() && haveFixtures())("ckpt show agrees with checkpointctl 1.3.0", () => {
  for (const layout of ["crio", "containerd", "podman"] as const) {
    for (const compression of ["none", "gzip", "zstd"] as const) {
      it(`${layout} layout, ${compression === "none" ? "plain tar" : compression}`, async () => {
        await compareShow(await fixtureArchive(layout, compression));
      });
    }
  }

  it("the bundled sample, and show prints it with the dump statistics", async () => {
    const sample = join(import.meta.dirname, "../../samples/counter-crio.tar");
    await compareShow(sample);
    const r = await ckpt(["show", sample, "--print-stats"]);
    expect(r.exitCode).toBe(0);
    const out = r.stdout.toString();
    for (const cell of ["counter", "quay.io/example/counter:latest", "1528f607685b", "CRI-O", "10.88.0.9", "358.3 KiB", "10.0 KiB"]) expect(out).toContain(cell);
    expect(out).toContain("CRIU dump statistics");
    for (const cell of ["101201 us", "193080 us", "5529 us", "475 us", "119", "84"]) expect(out).toContain(cell);
  });

  it("xz and bzip2 archives read the same as the plain tar", async () => {
    const plain = await fixtureArchive("crio", "none", "crio-for-xz.tar");
    execFileSync("xz", ["-kf", plain]);
    execFileSync("bzip2", ["-kf", plain]);
    const rows = [];
    for (const path of [plain, plain + ".xz", plain + ".bz2"]) {
      const cp = await Checkpoint.open(path);
      rows.push({ ...showRow(cp), path: "" });
      expect(cp.archive.compression).toBe(path.endsWith(".xz") ? "xz" : path.endsWith(".bz2") ? "bzip2" : "none");
      cp.close();
    }
    expect(rows[1]).toEqual(rows[0]);
    expect(rows[2]).toEqual(rows[0]);
  });

  it("a corrupt image inside an archive: one line naming the archive member and offset", async () => {
    const images = join(work, "corrupt-images");
    cpSync(join(runcCounter, "checkpoint"), images, { recursive: true });
    const pstree = readFileSync(join(images, "pstree.img"));
    writeFileSync(join(images, "pstree.img"), pstree.subarray(0, pstree.length - 5));
    const path = await buildArchive({ layout: "crio", imagesDir: images, out: join(work, "corrupt.tar"), spec: spec(), statsDump: join(runcCounter, "stats-dump") });
    const r = await ckpt(["inspect", "--ps-tree", path]);
    expect(r.exitCode).toBe(1);
    expect(r.stderr.toString()).toMatch(new RegExp(`^ckpt: ${path.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}:checkpoint/pstree\\.img at offset \\d+: [^\\n]+\\n$`));
  });

  it("several archives give one row each", async () => {
    const paths = [await fixtureArchive("crio", "none"), await fixtureArchive("containerd", "gzip"), await fixtureArchive("podman", "zstd")];
    const json = JSON.parse((await ckpt(["show", "--format", "json", ...paths])).stdout.toString());
    expect(json.map((r: { engine: string }) => r.engine)).toEqual(["CRI-O", "containerd", "Podman"]);
  });

  it("list agrees with checkpointctl list", async () => {
    const dir = join(work, "listed");
    mkdirSync(dir, { recursive: true });
    copyFileSync(await fixtureArchive("crio", "none"), join(dir, "checkpoint-counters_default-counter-2026-01-01T00:00:00Z.tar"));
    copyFileSync(await fixtureArchive("containerd", "gzip"), join(dir, "checkpoint-counters_default-counter-2026-01-02T00:00:00Z.tar"));
    const theirs = parseTable(checkpointctl(["list", dir]).stdout);
    const ours = (await listCheckpoints([dir])).found;
    expect(ours.map((c) => ({ NAMESPACE: c.namespace, POD: c.pod, CONTAINER: c.container, ENGINE: c.engine, "TIME CHECKPOINTED": c.checkpointed, "CHECKPOINT NAME": c.name }))).toEqual(theirs);
    expect(theirs).toHaveLength(2);
  });
});

describe.runIf(haveCheckpointctl() && haveRealStack())("ckpt show on a dump made now", () => {
  let dump: WorkloadDump;
  beforeAll(async () => {
    dump = await dumpWorkload("mix");
  });
  afterAll(async () => dump?.cleanup());
  for (const [layout, compression] of [
    ["crio", "none"],
    ["containerd", "gzip"],
    ["podman", "zstd"],
  ] as const) {
    it(`${layout} ${compression}`, async () => {
      const out = await buildArchive({ layout, compression, imagesDir: dump.dir, out: join(work, `mix-${layout}.tar`) });
      await compareShow(out);
    });
  }
});

describe("hostile archives", () => {
  const refused: HostileKind[] = ["dotdot", "absolute", "symlink-out", "hardlink-out", "device", "duplicate"];
  for (const kind of refused) {
    it(`${kind}: the member is refused and reported, nothing is written`, async () => {
      const before = readdirSync(tmpdir()).length;
      const path = await hostileArchive(kind, join(work, `hostile-${kind}.tar`));
      const archive = await CheckpointArchive.open(path);
      const hostile = HOSTILE_MEMBER[kind]!;
      const normalized = hostile.replace(/^\/+/, "");
      expect(archive.refused.map((r) => r.name)).toContain(kind === "absolute" || kind === "dotdot" ? hostile : normalized);
      expect(archive.refused.find((r) => r.name === hostile || r.name === normalized)!.reason).toMatch(/absolute|climbs out|link|device|duplicate/);
      archive.close();
      expect(existsSync("/tmp/ckpt-escape-dotdot") || existsSync("/tmp/ckpt-escape-absolute")).toBe(false);
      expect(readdirSync(tmpdir()).length).toBe(before);
    });
  }

  for (const [kind, message] of [
    ["huge-member-header", /claims 107374182400 bytes, past the end of the archive/],
    ["truncated", /past the end of the archive|truncated/],
    ["not-a-tar", /not a tar archive/],
  ] as const) {
    it(`${kind}: one error line naming the archive`, async () => {
      const path = await hostileArchive(kind, join(work, `hostile-${kind}.tar`));
      await expect(CheckpointArchive.open(path)).rejects.toThrow(ArchiveError);
      await expect(CheckpointArchive.open(path)).rejects.toThrow(message);
      const r = await ckpt(["show", path]);
      expect(r.exitCode).toBe(1);
      const lines = r.stderr.toString().trimEnd().split("\n");
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(new RegExp(`^ckpt: ${path.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}`));
    });
  }

  it("no-checkpoint-dir: says the checkpoint directory is missing", async () => {
    const path = await hostileArchive("no-checkpoint-dir", join(work, "hostile-nocp.tar"));
    const r = await ckpt(["show", path]);
    expect(r.exitCode).toBe(1);
    expect(r.stderr.toString()).toBe(`ckpt: ${path}: checkpoint directory is missing in the archive\n`);
  });
});

describe("archive bombs", () => {
  it("a gzip archive whose metadata would take more than the memory bound ends with one error", async () => {
    // Many 32 MiB members of zeros compress to almost nothing but would all be kept in memory.
    const dir = join(work, "bomb");
    mkdirSync(join(dir, "checkpoint"), { recursive: true });
    for (let i = 0; i < 8; i++) writeFileSync(join(dir, "checkpoint", `core-${i}.img`), Buffer.alloc(32 << 20));
    const tarPath = join(work, "bomb.tar");
    execFileSync("tar", ["-C", dir, "-cf", tarPath, "checkpoint"]);
    execFileSync("gzip", ["-f", tarPath]);
    await expect(CheckpointArchive.open(tarPath + ".gz")).rejects.toThrow(/more than 192 MiB of metadata and images besides page data/);
    rmSync(dir, { recursive: true, force: true });
  });
});
