/** What both node agents (built-in runc runtime and CRI runtime) are configured with. */
import { dirname, join } from "node:path";
import type { OpenOptions } from "../checkpoint/archive/checkpoint-archive.js";
import type { RetentionPolicy } from "./checkpoint-retention.js";
import type { ImagePublishing } from "./checkpoint-publish.js";

/** Where a finished archive goes and what happens to it next (see checkpoint-completion.ts). */
export interface CheckpointOutputOptions {
  checkpointsDir: string;
  /** How checkpoint images are pushed (registries reached over HTTP, credentials). */
  publishing?: ImagePublishing;
  /** Applied to the checkpoint directory after each checkpoint. */
  retention?: RetentionPolicy;
  /** age recipients every archive is sealed for (none: archives stay plain). */
  sealRecipients?: readonly string[];
}

export interface CommonAgentOptions extends CheckpointOutputOptions {
  nodeName: string;
  /** The agent's own files. */
  root: string;
  /** At most this many checkpoints run at once on the node; more wait their turn. */
  maxConcurrentCheckpoints?: number;
  /** How often exited containers are looked for. */
  reconcileIntervalMs?: number;
  log?: (event: Record<string, unknown>) => void;
  /** Opens sealed archives given to restore (the node's age identity). */
  archiveOpen?: OpenOptions;
  /** The root of pod checkpoints (the kubelet's `pod-checkpoints/`); by default beside checkpointsDir. */
  podCheckpointsDir?: string;
  /** The ceiling of a pod checkpoint's timeout, and the timeout of a PodCheckpoint that gives none. */
  podCheckpointTimeoutSeconds?: number;
}

/** Where an agent's pod checkpoints go: the option, or `pod-checkpoints` beside the container checkpoints. */
export function podCheckpointsDir(o: CommonAgentOptions): string {
  return o.podCheckpointsDir ?? join(dirname(o.checkpointsDir), "pod-checkpoints");
}

/** The output options of an agent's options, as completeCheckpoint takes them. */
export function checkpointOutput(o: CheckpointOutputOptions): CheckpointOutputOptions {
  return { checkpointsDir: o.checkpointsDir, publishing: o.publishing, retention: o.retention, sealRecipients: o.sealRecipients };
}
