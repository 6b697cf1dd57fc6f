/**
 * The `PodCheckpoint` object (node.k8s.io/v1alpha1) in the shape KEP-5823 gives it: a namespaced
 * object naming a Pod; the node that runs the Pod checkpoints it in the background and writes the
 * status. Spec is immutable; the status's one `Ready` condition tells where the checkpoint stands.
 */
import { parseOneDocument } from "./pod-manifest.js";
import { z } from "zod";

export const POD_CHECKPOINT_API = "node.k8s.io/v1alpha1";

const NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const dnsName = (what: string, max: number) => z.string().max(max).regex(NAME, `${what} must be lower-case letters, digits and '-'`);

/** The reasons of the Ready condition, in the order a checkpoint goes through them. */
export const READY_REASONS = ["Pending", "CheckpointInProgress", "CheckpointCompleted", "CheckpointFailed", "SourcePodReplaced"] as const;
export type ReadyReason = (typeof READY_REASONS)[number];
const TERMINAL: ReadonlySet<ReadyReason> = new Set(["CheckpointCompleted", "CheckpointFailed", "SourcePodReplaced"]);

export const isTerminal = (reason: ReadyReason): boolean => TERMINAL.has(reason);

const Condition = z.object({
  type: z.literal("Ready"),
  status: z.enum(["True", "False", "Unknown"]),
  reason: z.enum(READY_REASONS),
  message: z.string().default(""),
  lastTransitionTime: z.string(),
});

export const PodCheckpointSpecSchema = z.object({
  sourcePod: z.object({ name: dnsName("spec.sourcePod.name", 253), uid: z.string().min(1).optional() }).strict(),
  timeoutSeconds: z.number().int().min(1).max(3600).optional(),
});

export const PodCheckpointStatusSchema = z.object({
  nodeName: z.string().optional(),
  sourcePodUID: z.string().optional(),
  checkpointLocation: z.object({ type: z.literal("NodeLocal"), nodeLocal: z.object({ path: z.string() }) }).optional(),
  completionTime: z.string().optional(),
  checkpointedPodTemplate: z.object({ metadata: z.record(z.string(), z.unknown()), spec: z.record(z.string(), z.unknown()) }).optional(),
  checkpointedContainers: z.array(z.object({ name: z.string() })).optional(),
  conditions: z.array(Condition).default([]),
});

export const PodCheckpointSchema = z.object({
  apiVersion: z.literal(POD_CHECKPOINT_API),
  kind: z.literal("PodCheckpoint"),
  metadata: z
    .object({
      name: dnsName("metadata.name", 253),
      namespace: dnsName("metadata.namespace", 63).default("default"),
      uid: z.string().optional(),
      creationTimestamp: z.string().optional(),
      labels: z.record(z.string(), z.string()).optional(),
      annotations: z.record(z.string(), z.string()).optional(),
    })
    .loose(),
  spec: PodCheckpointSpecSchema,
  status: PodCheckpointStatusSchema.optional(),
});
export type PodCheckpoint = z.infer<typeof PodCheckpointSchema>;
export type PodCheckpointStatus = z.infer<typeof PodCheckpointStatusSchema>;

export class PodCheckpointError extends Error {
  override name = "PodCheckpointError";
}

/** One PodCheckpoint from YAML or JSON text; the status a client sends is dropped (the node owns it). */
export function parsePodCheckpoint(text: string, source = "PodCheckpoint"): PodCheckpoint {
  const parsed = parseOneDocument(text, source, "PodCheckpoint", PodCheckpointSchema, (m) => new PodCheckpointError(m));
  const { status: _ignored, ...object } = parsed;
  return object;
}

/** The object's Ready condition's reason (Pending for an object that has none yet). */
export function readyReason(o: PodCheckpoint): ReadyReason {
  return o.status?.conditions.find((c) => c.type === "Ready")?.reason ?? "Pending";
}

/** The object with its Ready condition set; the transition time changes only when the reason does. */
export function withReady(o: PodCheckpoint, reason: ReadyReason, message: string, now: Date, status: Partial<PodCheckpointStatus> = {}): PodCheckpoint {
  const before = o.status?.conditions.find((c) => c.type === "Ready");
  const condition = {
    type: "Ready" as const,
    status: reason === "CheckpointCompleted" ? ("True" as const) : reason === "Pending" ? ("Unknown" as const) : ("False" as const),
    reason,
    message,
    lastTransitionTime: before && before.reason === reason ? before.lastTransitionTime : now.toISOString(),
  };
  return { ...o, status: { ...o.status, ...status, conditions: [condition] } };
}

/** The effective timeout: the object's (or the node's ceiling when it has none), never above the ceiling. */
export function effectiveTimeout(o: PodCheckpoint, ceilingSeconds: number): number {
  return Math.min(o.spec.timeoutSeconds ?? ceilingSeconds, ceilingSeconds);
}

/** `checkpoint-<object UID>`: the checkpoint's directory name under the node's pod checkpoint root. */
export function checkpointDirName(o: PodCheckpoint): string {
  if (!o.metadata.uid || !/^[A-Za-z0-9-]+$/.test(o.metadata.uid)) throw new PodCheckpointError(`PodCheckpoint ${o.metadata.name} has no usable uid`);
  return `checkpoint-${o.metadata.uid}`;
}

export function podCheckpointList(items: PodCheckpoint[]): unknown {
  return { kind: "PodCheckpointList", apiVersion: POD_CHECKPOINT_API, metadata: {}, items };
}
