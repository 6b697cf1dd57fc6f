/**
 * A pod checkpoint on disk: one directory holding `pod-checkpoint.json` (this manifest) and, per
 * checkpointed container, a checkpoint archive in CRI-O's layout, so that checkpointctl and every
 * tool that reads container checkpoints still reads each container on its own. The manifest says
 * what a restore needs beyond the archives: the pod template it must match, the sandbox it ran in,
 * the order of the containers, and each archive's size and sha256.
 *
 * For transport the directory travels as one tar (the manifest first), read by the same code.
 */
import { z } from "zod";

export { POD_CHECKPOINT_MANIFEST } from "./layout-names.js";
export const POD_CHECKPOINT_API_VERSION = "ckpt.dev/v1alpha1";
export const POD_CHECKPOINT_KIND = "PodCheckpointManifest";

/** An RFC 3339 time with at least millisecond precision (frozen windows are compared by these). */
const Time = z.string().refine((s) => !Number.isNaN(Date.parse(s)), "expected an RFC 3339 time");

export const CheckpointedContainerSchema = z.object({
  name: z.string().min(1),
  /** The archive's file name inside the checkpoint directory (a plain name, no path). */
  archive: z
    .string()
    .regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, "archive must be a plain file name inside the checkpoint directory"),
  bytes: z.number().int().nonnegative(),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  /** The container's image as a digest reference (what the restore pulls as the root file system's base). */
  image: z.string().min(1),
  /** The container's ID at checkpoint time. */
  id: z.string().optional(),
  /** When it was paused, when CRIU began and ended capturing it, when it ran again. */
  pausedAt: Time,
  captureStartedAt: Time,
  capturedAt: Time,
  resumedAt: Time,
});
export type CheckpointedContainer = z.infer<typeof CheckpointedContainerSchema>;

export const PodCheckpointManifestSchema = z.object({
  apiVersion: z.literal(POD_CHECKPOINT_API_VERSION),
  kind: z.literal(POD_CHECKPOINT_KIND),
  pod: z.object({ namespace: z.string().min(1), name: z.string().min(1), uid: z.string().min(1) }),
  nodeName: z.string(),
  /** The runtime that wrote it ("runc", "containerd"). */
  runtime: z.string(),
  startedAt: Time,
  completedAt: Time,
  /** The Pod's metadata and spec without node-local fields, images as digest references. */
  podTemplate: z.object({
    metadata: z.object({ labels: z.record(z.string(), z.string()).default({}), annotations: z.record(z.string(), z.string()).default({}) }).loose(),
    spec: z.record(z.string(), z.unknown()),
  }),
  /** What the sandbox was: a restore builds a new one like it (with a new address). */
  sandbox: z.object({ hostname: z.string(), ip: z.string().optional() }),
  /** In the pod's container order; the restore creates them in this order. */
  containers: z.array(CheckpointedContainerSchema).min(1),
});
export type PodCheckpointManifest = z.infer<typeof PodCheckpointManifestSchema>;

/** A manifest of the current version from its fields, checked against the schema. */
export function podCheckpointManifest(fields: Omit<PodCheckpointManifest, "apiVersion" | "kind">): PodCheckpointManifest {
  return PodCheckpointManifestSchema.parse({ apiVersion: POD_CHECKPOINT_API_VERSION, kind: POD_CHECKPOINT_KIND, ...fields });
}

/** The window in which every container was frozen at once: from the last pause to the first resume. */
export function commonFrozenWindow(m: Pick<PodCheckpointManifest, "containers">): { from: number; to: number; ms: number } {
  const from = Math.max(...m.containers.map((c) => Date.parse(c.pausedAt)));
  const to = Math.min(...m.containers.map((c) => Date.parse(c.resumedAt)));
  return { from, to, ms: to - from };
}

/** From the first pause to the last resume: how long any part of the pod was frozen. */
export function podFrozenSpan(m: Pick<PodCheckpointManifest, "containers">): { from: number; to: number; ms: number } {
  const from = Math.min(...m.containers.map((c) => Date.parse(c.pausedAt)));
  const to = Math.max(...m.containers.map((c) => Date.parse(c.resumedAt)));
  return { from, to, ms: to - from };
}

/** True when every container was captured while all of them were frozen (the pod's consistency rule). */
export function capturedWhileAllFrozen(m: Pick<PodCheckpointManifest, "containers">): boolean {
  const w = commonFrozenWindow(m);
  return m.containers.every((c) => Date.parse(c.captureStartedAt) >= w.from && Date.parse(c.capturedAt) <= w.to);
}

export class PodCheckpointManifestError extends Error {
  override name = "PodCheckpointManifestError";
}

/** Parses a manifest's text; errors name the file and the field. */
export function parsePodCheckpointManifest(text: string, source: string): PodCheckpointManifest {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new PodCheckpointManifestError(`${source}: not JSON: ${(err as Error).message}`);
  }
  const parsed = PodCheckpointManifestSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new PodCheckpointManifestError(`${source}: ${issue.path.join(".") || "(top level)"}: ${issue.message}`);
  }
  const names = new Set<string>();
  const archives = new Map<string, number>();
  parsed.data.containers.forEach((c, i) => {
    if (names.has(c.name)) throw new PodCheckpointManifestError(`${source}: containers: duplicate container ${c.name}`);
    names.add(c.name);
    const first = archives.get(c.archive);
    if (first !== undefined) throw new PodCheckpointManifestError(`${source}: containers.${i}.archive: ${c.archive} is already the archive of containers.${first}`);
    archives.set(c.archive, i);
  });
  return parsed.data;
}
