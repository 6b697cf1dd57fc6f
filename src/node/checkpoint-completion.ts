/**
 * What follows a written archive, whichever runtime wrote it: the checkpoint image when one was
 * asked for, the step times, the retention policy.
 */
import { BackendError, type CheckpointRequest, type CheckpointResult } from "../kubelet-endpoint/node-backend.js";
import { applyRetention, type RetentionPolicy } from "./checkpoint-retention.js";
import { publishCheckpointImage, type ImagePublishing } from "./checkpoint-publish.js";

export interface CompletionOptions {
  checkpointsDir: string;
  publishing?: ImagePublishing;
  retention?: RetentionPolicy;
  log: (event: Record<string, unknown>) => void;
  /** Lets a container the checkpoint left paused run again. */
  resume: () => Promise<void>;
}

export async function completeCheckpoint(written: CheckpointResult, req: CheckpointRequest, durations: Record<string, number>, opts: CompletionOptions): Promise<CheckpointResult> {
  if (req.image) {
    const t0 = performance.now();
    try {
      written.image = await publishCheckpointImage(written.path, req.image, opts.publishing ?? {});
    } catch (err) {
      // The archive stays (it is complete); the container must not stay paused for an image that
      // never reached the registry.
      if (req.leavePaused) await opts.resume().catch(() => undefined);
      throw new BackendError("runtime", `pushing the checkpoint image ${req.image}: ${(err as Error).message}`, { cause: err });
    }
    durations.push = Math.round(performance.now() - t0);
  }
  written.durations = durations;
  if (opts.retention) {
    const removed = applyRetention(opts.checkpointsDir, opts.retention);
    if (removed.length) opts.log({ msg: "old checkpoints removed (retention policy)", archives: removed });
  }
  return written;
}
