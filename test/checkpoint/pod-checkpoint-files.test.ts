/**
 * A pod checkpoint directory's files: the manifest written atomically and read back, each archive
 * checked against it (size, sha256, a regular file), and what a failed checkpoint wrote removed.
 */
import { createHash } from "node:crypto";
import { mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import {
  archiveDigest,
  containerArchiveName,
  readPodCheckpointManifest,
  removePodCheckpointFiles,
  verifyPodCheckpointArchives,
  writePodCheckpointManifest,
} from "../../src/checkpoint/pod-checkpoint-files.js";
import { podCheckpointManifest, type PodCheckpointManifest } from "../../src/checkpoint/pod-checkpoint-manifest.js";

const T = "2026-11-23T12:00:00.000Z";

async function directory(): Promise<{ dir: string; manifest: PodCheckpointManifest }> {
  const dir = mkdtempSync(join(tmpdir(), "ckpt-pcf-"));
  const containers = [];
  for (const name of ["web", "sidecar"]) {
    const path = join(dir, containerArchiveName(name));
    writeFileSync(path, `archive of ${name}`);
    containers.push({ name, archive: containerArchiveName(name), ...(await archiveDigest(path)), image: "reg/x@sha256:" + "a".repeat(64), pausedAt: T, captureStartedAt: T, capturedAt: T, resumedAt: T });
  }
  const manifest = podCheckpointManifest({
    pod: { namespace: "default", name: "web", uid: "u-1" },
    nodeName: "n1",
    runtime: "containerd",
    startedAt: T,
    completedAt: T,
    podTemplate: { metadata: { labels: {}, annotations: {} }, spec: { containers: [] } },
    sandbox: { hostname: "web" },
    containers,
  });
  await writePodCheckpointManifest(dir, manifest);
  return { dir, manifest };
}

describe("pod checkpoint files", () => {
  it("writes the manifest beside the archives and reads it back; the archives check out", async () => {
    const { dir, manifest } = await directory();
    expect(readdirSync(dir).sort()).toEqual(["pod-checkpoint.json", "sidecar.tar", "web.tar"]);
    expect(manifest.containers[0]!.sha256).toBe(createHash("sha256").update("archive of web").digest("hex"));
    expect(await readPodCheckpointManifest(dir)).toEqual(manifest);
    await expect(verifyPodCheckpointArchives(dir, manifest)).resolves.toBeUndefined();
  });

  it("names the archive that differs from the manifest: size, bytes, a link, a missing file", async () => {
    const { dir, manifest } = await directory();
    const web = join(dir, "web.tar");
    writeFileSync(web, "archive of wEb");
    await expect(verifyPodCheckpointArchives(dir, manifest)).rejects.toThrow(`${web}: sha256 ${createHash("sha256").update("archive of wEb").digest("hex")}, pod-checkpoint.json says ${manifest.containers[0]!.sha256}`);
    writeFileSync(web, "archive of web, longer");
    await expect(verifyPodCheckpointArchives(dir, manifest)).rejects.toThrow(`${web}: 22 bytes, pod-checkpoint.json says 14`);
    const { dir: other, manifest: m2 } = await directory();
    const side = join(other, "sidecar.tar");
    rmSync(side);
    symlinkSync(join(dir, "sidecar.tar"), side);
    await expect(verifyPodCheckpointArchives(other, m2)).rejects.toThrow(`${side}: not a regular file (container sidecar of pod-checkpoint.json)`);
    rmSync(side);
    await expect(verifyPodCheckpointArchives(other, m2)).rejects.toThrow(`${side}: ENOENT (container sidecar of pod-checkpoint.json)`);
  });

  it("a missing or broken manifest is one line naming the file and field", async () => {
    const dir = mkdtempSync(join(tmpdir(), "ckpt-pcf-"));
    await expect(readPodCheckpointManifest(dir)).rejects.toThrow(`${join(dir, "pod-checkpoint.json")}: ENOENT`);
    writeFileSync(join(dir, "pod-checkpoint.json"), JSON.stringify({ apiVersion: "ckpt.dev/v1alpha1", kind: "PodCheckpointManifest" }));
    await expect(readPodCheckpointManifest(dir)).rejects.toThrow(new RegExp(`^${join(dir, "pod-checkpoint.json")}: pod: `));
  });

  it("removes what a failed checkpoint wrote and the temp files of cut-short writes, nothing else", async () => {
    const dir = mkdtempSync(join(tmpdir(), "ckpt-pcf-"));
    for (const f of ["web.tar", ".sidecar.tar.tmp-0123456789abcdef", "other"]) writeFileSync(join(dir, f), "x");
    await removePodCheckpointFiles(dir, [join(dir, "web.tar")]);
    expect(readdirSync(dir)).toEqual(["other"]);
  });
});
