/**
 * What follows a written archive, whichever runtime wrote it: the checkpoint image when one was
 * asked for, sealing for the configured recipients, the step times, the retention policy.
 */
import { unlink } from "node:fs/promises";
import { BackendError, type CheckpointRequest, type CheckpointResult } from "../kubelet-endpoint/node-backend.js";
import { applyRetention } from "./checkpoint-retention.js";
import { publishCheckpointImage } from "./checkpoint-publish.js";
import { SEALED_SUFFIX } from "../checkpoint/seal/age-format.js";
import type { CheckpointOutputOptions } from "./agent-options.js";

export interface CompletionOptions extends CheckpointOutputOptions {
  log: (event: Record<string, unknown>) => void;
  /** Lets a container the checkpoint left paused run again. */
  resume: () => Promise<void>;
}

export async function completeCheckpoint(written: CheckpointResult, req: CheckpointRequest, durations: Record<string, number>, opts: CompletionOptions): Promise<CheckpointResult> {
  if (req.image) {
    const t0 = performance.now();
    try {
      written.image = await publishCheckpointImage(written.path, req.image, opts.publishing ?? {}, req.baseImage);
    } catch (err) {
      // The archive stays (it is complete); the container must not stay paused for an image that
      // never reached the registry.
      if (req.leavePaused) await opts.resume().catch(() => undefined);
      throw new BackendError("runtime", `pushing the checkpoint image ${req.image}: ${(err as Error).message}`, { cause: err });
    }
    durations.push = Math.round(performance.now() - t0);
  }
  if (opts.sealRecipients?.length) {
    const t0 = performance.now();
    written.path = await sealArchive(written.path, opts.sealRecipients, async () => {
      if (req.leavePaused) await opts.resume().catch(() => undefined);
    });
    durations.seal = Math.round(performance.now() - t0);
  }
  written.durations = durations;
  if (opts.retention) {
    const removed = applyRetention(opts.checkpointsDir, opts.retention);
    if (removed.length) opts.log({ msg: "old checkpoints removed (retention policy)", archives: removed });
  }
  return written;
}

/**
 * `path` sealed into `path.age`, which is complete before the plain archive goes; on failure neither
 * a plain nor a half-sealed archive is left, and the request fails.
 */
async function sealArchive(path: string, recipients: readonly string[], onFailure: () => Promise<void>): Promise<string> {
  const { sealFile } = await import("../checkpoint/seal/sealed-file.js");
  const sealed = path + SEALED_SUFFIX;
  try {
    await sealFile(path, sealed, recipients);
  } catch (err) {
    await unlink(path).catch(() => undefined);
    await onFailure();
    throw new BackendError("runtime", `sealing the checkpoint archive: ${(err as Error).message}`, { cause: err });
  }
  await unlink(path);
  return sealed;
}
