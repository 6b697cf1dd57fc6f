/**
 * Checkpoint images from every archive layout and compression the archive reader takes, and the pure
 * parts: annotation summaries of the three key families, CRIU's version, image targets.
 */
import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildCheckpointImage } from "../../src/restore/checkpoint-image.js";
import { criuVersionFromLog, summariseAnnotations } from "../../src/restore/checkpoint-annotations.js";
import { isInsecureRegistry, parseImageTarget } from "../../src/restore/image-target.js";
import { buildArchive, haveZstd, readArchive, tarEntries, type ArchiveCompression, type ArchiveLayout } from "../support/archives.js";
import { FIXTURE_DIRS, haveFixtures } from "../support/fixtures.js";

let work: string;
beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), "ckpt-image-inputs-"));
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

const cases: Array<[ArchiveLayout, ArchiveCompression, string]> = [
  ["crio", "gzip", "counter"],
  ["containerd", "none", "counter"],
  ["podman", "zstd", ""],
];

describe.skipIf(!haveFixtures() || !haveZstd())("archives of each engine", () => {
  it.each(cases)("%s archive (%s): the layer holds exactly its members, names and bytes", async (layout, compression) => {
    const archive = await buildArchive({ layout, compression, imagesDir: FIXTURE_DIRS.runcCounter, out: join(work, `${layout}.tar`) });
    const image = await buildCheckpointImage(archive);
    try {
      const layer = readFileSync(image.layer.file!);
      expect(`sha256:${createHash("sha256").update(layer).digest("hex")}`).toBe(image.layer.descriptor.digest);
      const tar = gunzipSync(layer);
      expect(`sha256:${createHash("sha256").update(tar).digest("hex")}`).toBe(image.layer.diffId);
      const inLayer = tarEntries(tar).filter((e) => e.type === "file");
      const inArchive = (await readArchive(archive)).filter((e) => e.type === "file");
      expect(inLayer.map((e) => e.name)).toEqual(inArchive.map((e) => e.name));
      for (const [i, e] of inLayer.entries()) expect(e.data!.equals(inArchive[i]!.data!), e.name).toBe(true);
      expect(new Set(inLayer.map((e) => e.mtime))).toEqual(new Set([0]));
      expect(image.annotations["org.criu.checkpoint.container.name"]).toBeTruthy();
      expect(image.annotations["io.kubernetes.cri-o.annotations.checkpoint.name"]).toBe(image.annotations["org.criu.checkpoint.container.name"]);
      expect(image.annotations["org.criu.checkpoint.engine.name"]).toBe({ crio: "CRI-O", containerd: "containerd", podman: "Podman" }[layout]);
      expect(image.refused).toEqual([]);
    } finally {
      image.dispose();
    }
  });

  it("refuses a bare CRIU image directory, which has no config.dump, naming it", async () => {
    await expect(buildCheckpointImage(FIXTURE_DIRS.runcCounter)).rejects.toThrow(/config\.dump/);
  });
});

describe("annotations", () => {
  it("recognises each family's checkpoint key", () => {
    expect(summariseAnnotations({ "io.podman.annotations.checkpoint.name": "web", "io.podman.annotations.checkpoint.criu.version": "4.1" })).toMatchObject({
      isCheckpoint: true,
      markedBy: ["Podman"],
      container: "web",
      engine: "Podman",
      criuVersion: "4.1",
    });
    expect(summariseAnnotations({ "io.kubernetes.cri-o.annotations.checkpoint.name": "c" })).toMatchObject({ isCheckpoint: true, markedBy: ["CRI-O"], container: "c" });
    expect(summariseAnnotations({ "org.criu.checkpoint.container.name": "d" })).toMatchObject({ isCheckpoint: true, markedBy: ["org.criu"], container: "d" });
    expect(summariseAnnotations({ "org.opencontainers.image.ref.name": "x" })).toMatchObject({ isCheckpoint: false, markedBy: [] });
  });

  it("reads CRIU's version from dump.log", () => {
    expect(criuVersionFromLog("(00.000000) Version: 4.2.1 (gitid 0)\n")).toBe("4.2.1");
    expect(criuVersionFromLog("no version here")).toBeUndefined();
  });
});

describe("image targets", () => {
  it("parses the three transports", () => {
    expect(parseImageTarget("oci:/tmp/x:tag")).toMatchObject({ kind: "oci", path: "/tmp/x", tag: "tag" });
    expect(parseImageTarget("oci-archive:/tmp/x.tar")).toMatchObject({ kind: "oci-archive", path: "/tmp/x.tar" });
    expect(parseImageTarget("127.0.0.1:5000/a/b:v1")).toMatchObject({ kind: "registry", ref: { registry: "127.0.0.1:5000", repository: "a/b", tag: "v1" } });
    expect(parseImageTarget("docker://reg.example:5000/a:v1")).toMatchObject({ kind: "registry", ref: { registry: "reg.example:5000" } });
    expect(() => parseImageTarget("busybox:latest")).toThrow(/no registry host/);
  });

  it("uses plain HTTP only for loopback and listed hosts", () => {
    expect(isInsecureRegistry("127.0.0.1:5000", [])).toBe(true);
    expect(isInsecureRegistry("localhost:5000", [])).toBe(true);
    expect(isInsecureRegistry("reg.example:5000", [])).toBe(false);
    expect(isInsecureRegistry("reg.example:5000", ["reg.example:5000"])).toBe(true);
  });
});
