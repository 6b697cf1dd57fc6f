/**
 * One container checkpoint as CRI-O makes it, for the kubelet's endpoint: pause the container so that
 * its files and memory agree, take the rootfs diff and `runc checkpoint --leave-running --file-locks`
 * while it is paused, resume it in every case, then write the CRI-O archive (temp file, renamed when
 * complete). The container keeps running; a failure or a timeout leaves no archive and no temp files.
 * A migration asks for the container to stay paused once the archive is written, so that nothing it
 * does after the checkpoint is lost; any failure still resumes it.
 */
import { join } from "node:path";
import { writeCrioArchive } from "../checkpoint/writer/index.js";
import type { ContainerRecord, PodRecord } from "./node-state.js";
import { memoryUsage, type PodRuntime } from "./pod-runtime.js";
import { checkpointFileName } from "./checkpoint-name.js";
import { stepTimer } from "./step-timer.js";
import { captureFrozen, checkFreeSpace, CheckpointError, closeCapture, crioArchiveInput, openCapture, resume, type CapturedContainer, type ContainerCapture } from "./container-capture.js";

export { CheckpointError, resume } from "./container-capture.js";

export interface ContainerCheckpointRequest {
  runtime: PodRuntime;
  pod: PodRecord;
  container: ContainerRecord;
  /** Where archives go (the kubelet's `<root-dir>/checkpoints`). */
  checkpointsDir: string;
  timeoutSeconds: number;
  tcpEstablished: boolean;
  /** Free space that must remain on the archive's file system beyond the estimated archive size. */
  reserveBytes?: number;
  /** Leave the container paused after a successful checkpoint (its state then is the archive's). */
  leavePaused?: boolean;
  /** Told how long each step took (ms), for the agent's log. */
  onPhases?: (phases: Record<string, number>) => void;
}

/** No checkpoint may take longer than a day, whatever the request asked (and setTimeout's range). */
const MAX_TIMEOUT_SECONDS = 24 * 3600;

export async function checkpointContainer(req: ContainerCheckpointRequest): Promise<{ path: string; bytes: number }> {
  const { runtime, pod, container } = req;
  const id = container.id;
  const timeoutSeconds = Math.min(req.timeoutSeconds, MAX_TIMEOUT_SECONDS);
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(new CheckpointError(`timed out after ${timeoutSeconds} s`)), timeoutSeconds * 1000);
  const deadline = Date.now() + timeoutSeconds * 1000;
  const memory = await memoryUsage(pod.uid, id);
  const steps = stepTimer();
  let cap: ContainerCapture | undefined;
  let paused = false;
  try {
    cap = await openCapture(runtime, container, runtime.checkpointWorkBase(memory));
    checkFreeSpace(req.checkpointsDir, memory, req.reserveBytes ?? 64 << 20);
    steps.mark("prepare");

    let captured: CapturedContainer;
    await runtime.runc.pause(id);
    paused = true;
    steps.mark("pause");
    let dumped = false;
    try {
      captured = await captureFrozen(runtime, cap, { tcpEstablished: req.tcpEstablished, deadline, signal: abort.signal });
      dumped = !abort.signal.aborted;
    } finally {
      // Whatever happened (CRIU failed, was killed, the diff failed), the container runs on.
      steps.mark("dump");
      if (!(dumped && req.leavePaused)) {
        await resume(runtime, id);
        paused = false;
        steps.mark("resume");
      }
    }
    if (abort.signal.aborted) throw abort.signal.reason;

    const input = crioArchiveInput(cap, captured);
    for (;;) {
      const target = join(req.checkpointsDir, checkpointFileName(pod.manifest.metadata.name, pod.manifest.metadata.namespace, container.name, new Date()));
      try {
        const written = await writeCrioArchive(target, input, { signal: abort.signal });
        steps.mark("archive");
        req.onPhases?.(steps.done());
        return written;
      } catch (err) {
        // The kubelet's names have one-second resolution: another checkpoint of this container took
        // this second's name. Take the next second's rather than overwrite or fail.
        if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
        await new Promise((r) => setTimeout(r, 1000 - (Date.now() % 1000) + 1));
      }
    }
  } catch (err) {
    // Held paused for the archive that failed to be written: it runs on after all.
    if (paused) await resume(runtime, id);
    // The endpoint names the container; the message says what failed. Past the deadline, whatever
    // step noticed it, the reason is the deadline.
    if (abort.signal.aborted && abort.signal.reason instanceof CheckpointError) throw abort.signal.reason;
    if (err instanceof CheckpointError) throw err;
    throw new CheckpointError(err instanceof Error ? err.message : String(err), { cause: err });
  } finally {
    clearTimeout(timer);
    if (cap) await closeCapture(cap);
  }
}
