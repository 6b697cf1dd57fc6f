/**
 * Pod checkpoints laid out as src/checkpoint/pod-checkpoint-manifest.ts describes them, from
 * container archives already written (buildArchive): a manifest with the archives' real sizes and
 * sha256, written beside them in a directory, or as the first member of a tar of that directory.
 */
import { createHash } from "node:crypto";
import { copyFileSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { compress, FIXED_MTIME, packTar, type ArchiveCompression, type TarMember } from "./archives.js";

export interface PodContainerArchive {
  name: string;
  /** The archive on disk. */
  file: string;
  /** Its name in the pod checkpoint (default: NAME.tar). */
  archive?: string;
  /** Milliseconds after the pod checkpoint's start: pause, capture start and end, resume. */
  times: [number, number, number, number];
}

export const POD_START = Date.parse("2026-11-23T12:00:00.000Z");
const at = (ms: number) => new Date(POD_START + ms).toISOString();

export function sha256Of(file: string): string {
  return createHash("sha256").update(readFileSync(file)).digest("hex");
}

/** The manifest object, every number and digest taken from the archives as they are. */
export function podManifest(pod: { namespace: string; name: string; uid: string }, containers: PodContainerArchive[]): Record<string, unknown> {
  const end = Math.max(...containers.map((c) => c.times[3])) + 50;
  return {
    apiVersion: "ckpt.dev/v1alpha1",
    kind: "PodCheckpointManifest",
    pod,
    nodeName: "node-a",
    runtime: "runc",
    startedAt: at(0),
    completedAt: at(end),
    podTemplate: { metadata: { labels: { app: pod.name } }, spec: { containers: containers.map((c) => ({ name: c.name })) } },
    sandbox: { hostname: pod.name, ip: "10.88.0.9" },
    containers: containers.map((c) => {
      const sha256 = sha256Of(c.file);
      return {
        name: c.name,
        archive: c.archive ?? `${c.name}.tar`,
        bytes: statSync(c.file).size,
        sha256,
        image: `quay.io/example/${c.name}@sha256:${sha256}`,
        pausedAt: at(c.times[0]),
        captureStartedAt: at(c.times[1]),
        capturedAt: at(c.times[2]),
        resumedAt: at(c.times[3]),
      };
    }),
  };
}

const manifestText = (manifest: Record<string, unknown> | string) => (typeof manifest === "string" ? manifest : JSON.stringify(manifest, null, 2));

/** The pod checkpoint directory: the manifest and each archive under its manifest name. */
export function writePodDirectory(dir: string, manifest: Record<string, unknown> | string, containers: PodContainerArchive[]): string {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "pod-checkpoint.json"), manifestText(manifest));
  for (const c of containers) copyFileSync(c.file, join(dir, c.archive ?? `${c.name}.tar`));
  return dir;
}

/** The members of a pod checkpoint's tar: the manifest first, then the archives (plain names). */
export function podTarMembers(manifest: Record<string, unknown> | string, containers: PodContainerArchive[]): TarMember[] {
  const mtime = Math.floor(FIXED_MTIME.getTime() / 1000);
  return [
    { name: "pod-checkpoint.json", data: Buffer.from(manifestText(manifest)), mode: 0o600, mtime },
    ...containers.map((c) => ({ name: c.archive ?? `${c.name}.tar`, data: readFileSync(c.file), mode: 0o600, mtime })),
  ];
}

export function writePodTar(out: string, members: TarMember[], compression: ArchiveCompression = "none"): string {
  writeFileSync(out, compress(packTar(members), compression), { mode: 0o600 });
  return out;
}
