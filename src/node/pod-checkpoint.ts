/**
 * A pod checkpoint on the runc runtime, with the CRI `CheckpointPod` contract (KEP-5823): every
 * selected container is paused before the first is captured and stays paused until the last is
 * captured, so that what the containers said to each other agrees across their archives; all are
 * resumed before this returns, whatever happened. Containers are captured side by side (rootfs diff
 * and `runc checkpoint --leave-running` of the paused container: CRIU puts the freezer back to
 * FROZEN), so the pod is frozen about as long as its slowest container, not the sum of them.
 *
 * The output is a directory: one CRI-O archive per container (the single-container writer, so
 * checkpointctl reads each one), then `pod-checkpoint.json` (PodCheckpointManifest) last and
 * atomically, so a directory with a manifest is complete. Nothing is written outside it, and on any
 * error (including the deadline and the caller's signal) every file written into it is removed.
 */
import { join } from "node:path";
import {
  POD_CHECKPOINT_API_VERSION,
  POD_CHECKPOINT_KIND,
  POD_CHECKPOINT_MANIFEST,
  PodCheckpointManifestSchema,
  type CheckpointedContainer,
  type PodCheckpointManifest,
} from "../checkpoint/pod-checkpoint-manifest.js";
import { writeCrioArchive } from "../checkpoint/writer/index.js";
import { containerArchiveName, outputDirProblem, removePodCheckpointFiles, writePodCheckpointManifest } from "../checkpoint/pod-checkpoint-files.js";
import {
  captureFrozen,
  checkFreeSpace,
  CheckpointError,
  closeCapture,
  crioArchiveInput,
  openCapture,
  resume,
  type CapturedContainer,
  type ContainerCapture,
} from "./container-capture.js";
import type { ContainerRecord, PodRecord } from "./node-state.js";
import { removeCriuNetworkLock } from "./pod-netfilter.js";
import { memoryUsage, type PodRuntime } from "./pod-runtime.js";

export interface PodCheckpointRequest {
  runtime: PodRuntime;
  pod: PodRecord;
  /** The containers to checkpoint (records of `pod`), in the pod's order: the manifest keeps it. */
  containers: ContainerRecord[];
  /** An existing, empty directory that only this checkpoint writes to. */
  outputDir: string;
  /** Epoch ms (the CRI call's deadline): past it the checkpoint fails, as when it fails otherwise. */
  deadline: number;
  /** Recorded in the manifest. */
  nodeName: string;
  /** The pod's metadata and spec without node-local fields, images as digest references (the caller's). */
  podTemplate: PodCheckpointManifest["podTemplate"];
  /**
   * CRIU's `--tcp-established`. Default true: connections between the pod's containers over
   * 127.0.0.1 must survive the restore. false makes a container holding one fail to checkpoint.
   */
  tcpEstablished?: boolean;
  /** Cancels the checkpoint (handled like the deadline). */
  signal?: AbortSignal;
  /**
   * Past the deadline (or the signal), how long a CRIU dump under way may still take to end by
   * itself before it is killed (default 10 s): a CRIU killed while it holds a container's processes
   * can leave them broken, so the call may return this much later than the deadline to leave the
   * pod running.
   */
  killGraceMs?: number;
}

const DEFAULT_KILL_GRACE_MS = 10_000;

/** Free space the output directory must have beyond the containers' memory. */
const RESERVE_BYTES = 64 << 20;

/** Milliseconds are what frozen windows are compared by. */
const now = (): string => new Date().toISOString();

/**
 * Checkpoints the selected containers of a running pod into `outputDir` and returns the manifest
 * written there. Throws a CheckpointError naming the pod (and the container, when one failed); the
 * containers are then running (not paused) and `outputDir` is empty. The caller keeps other
 * operations on the pod (a restart, a single-container checkpoint) out while this runs.
 */
export async function checkpointPod(req: PodCheckpointRequest): Promise<PodCheckpointManifest> {
  const { runtime, pod, containers, outputDir } = req;
  const { namespace, name } = pod.manifest.metadata;
  const what = `pod ${namespace}/${name}`;
  const startedAt = now();
  const abort = new AbortController();
  const onCallerAbort = () => abort.abort(new CheckpointError(`${what}: checkpoint cancelled`));
  req.signal?.addEventListener("abort", onCallerAbort, { once: true });
  if (req.signal?.aborted) onCallerAbort();
  const timer = setTimeout(
    () => abort.abort(new CheckpointError(`${what}: checkpoint deadline ${new Date(req.deadline).toISOString()} passed`)),
    // setTimeout fires at once past 2^31 ms; a deadline further out than ~24 days is none.
    Math.min(Math.max(0, req.deadline - Date.now()), 2 ** 31 - 1),
  );
  const times = new Map<string, Partial<Record<"pausedAt" | "captureStartedAt" | "capturedAt" | "resumedAt", string>>>(containers.map((c) => [c.id, {}]));
  const caps: ContainerCapture[] = [];
  const paused = new Set<string>();
  const written: string[] = [];
  let lockError: Error | undefined;
  try {
    await checkRequest(req, what);
    const memory = (await Promise.all(containers.map((c) => memoryUsage(pod.uid, c.id)))).reduce((a, b) => a + b, 0);
    const workBase = runtime.checkpointWorkBase(memory);
    for (const c of containers) caps.push(await inContainer(c, () => openCapture(runtime, c, workBase)));
    checkFreeSpace(outputDir, memory, RESERVE_BYTES);
    abort.signal.throwIfAborted();

    let captured: CapturedContainer[];
    try {
      // Every container frozen before any is captured. Side by side, so the first one paused does
      // not wait on the others' pauses one after another; settled, so none is still being paused
      // when the resumes below run.
      const pauses = await Promise.allSettled(
        containers.map(async (c) => {
          await inContainer(c, () => runtime.runc.pause(c.id));
          paused.add(c.id);
          // After runc says FROZEN: the window recorded is one in which it certainly was frozen.
          times.get(c.id)!.pausedAt = now();
        }),
      );
      for (const p of pauses) if (p.status === "rejected") throw p.reason;
      abort.signal.throwIfAborted();
      captured = await allOrFirstFailure(caps, abort.signal, async (cap, signal) => {
        const t = times.get(cap.container.id)!;
        t.captureStartedAt = now();
        const r = await inContainer(cap.container, () => captureFrozen(runtime, cap, { tcpEstablished: req.tcpEstablished ?? true, deadline: req.deadline, signal, killGraceMs: req.killGraceMs ?? DEFAULT_KILL_GRACE_MS }));
        t.capturedAt = now();
        return r;
      });
    } finally {
      // No CRIU of ours is left: a lock one of them left (killed, or its unlock lost to another's)
      // would keep the pod cut off once it runs again. Side by side with the resumes, which it
      // would otherwise hold up: TCP resends what the lock dropped meanwhile.
      await Promise.all([
        removeCriuNetworkLock(pod.sandbox.netns).then(
          (found) => found && runtime.opts.log?.({ msg: "CRIU's network lock left in the pod's network namespace removed", pod: `${namespace}/${name}` }),
          (err: Error) => (lockError = err),
        ),
        resumeAll(runtime, containers, paused, times),
      ]);
    }
    abort.signal.throwIfAborted();
    if (lockError) throw new CheckpointError(`CRIU's network lock stays in the pod's network namespace: ${lockError.message}`);

    // Written after the resume, from the images CRIU left in the work directories (as a single
    // container's checkpoint does): the pod runs on while its archives reach the disk.
    const archives = await allOrFirstFailure(caps, abort.signal, (cap, signal) =>
      inContainer(cap.container, async () => {
        const w = await writeCrioArchive(join(outputDir, archiveName(cap.container)), crioArchiveInput(cap, captured[caps.indexOf(cap)]!), { signal, sha256: true });
        written.push(w.path);
        return w;
      }),
    );

    const parsed = PodCheckpointManifestSchema.safeParse({
      apiVersion: POD_CHECKPOINT_API_VERSION,
      kind: POD_CHECKPOINT_KIND,
      pod: { namespace, name, uid: pod.uid },
      nodeName: req.nodeName,
      runtime: "runc",
      startedAt,
      completedAt: now(),
      podTemplate: req.podTemplate,
      sandbox: { hostname: pod.manifest.spec.hostname ?? name, ip: pod.sandbox.ip },
      containers: containers.map((c, i): CheckpointedContainer => {
        const w = archives[i]!;
        const t = times.get(c.id)!;
        return {
          name: c.name,
          archive: archiveName(c),
          bytes: w.bytes,
          sha256: w.sha256!,
          image: digestReference(c),
          id: c.id,
          pausedAt: t.pausedAt!,
          captureStartedAt: t.captureStartedAt!,
          capturedAt: t.capturedAt!,
          resumedAt: t.resumedAt!,
        };
      }),
    });
    if (!parsed.success) {
      // The caller's pod template is the only part that can be wrong.
      const issue = parsed.error.issues[0]!;
      throw new CheckpointError(`${what}: ${POD_CHECKPOINT_MANIFEST}: ${issue.path.join(".")}: ${issue.message}`);
    }
    const manifest = parsed.data;
    written.push(await writePodCheckpointManifest(outputDir, manifest, abort.signal));
    return manifest;
  } catch (err) {
    await removePodCheckpointFiles(outputDir, written);
    // Past the deadline (or cancelled), whatever step noticed it, that is the reason.
    if (abort.signal.aborted && abort.signal.reason instanceof CheckpointError) throw abort.signal.reason;
    const message = err instanceof Error ? err.message : String(err);
    throw new CheckpointError(message.startsWith(what) ? message : `${what}: ${message}`, { cause: err });
  } finally {
    clearTimeout(timer);
    req.signal?.removeEventListener("abort", onCallerAbort);
    await Promise.all(caps.map(closeCapture));
  }
}

/** The archive's name in the checkpoint directory: the container's name is unique in its pod. */
export const archiveName = (c: Pick<ContainerRecord, "name">): string => containerArchiveName(c.name);

/** The image by digest: as pulled (`repo@sha256:<manifest>`), else its name pinned to its image ID. */
export function digestReference(c: Pick<ContainerRecord, "image">): string {
  return c.image.repoDigest ?? `${c.image.name}@${c.image.imageId}`;
}

/** Containers that belong to the pod and run, once each; an output directory that is there and empty. */
async function checkRequest(req: PodCheckpointRequest, what: string): Promise<void> {
  if (req.containers.length === 0) throw new CheckpointError(`${what}: no container to checkpoint`);
  const seen = new Set<string>();
  for (const c of req.containers) {
    if (!req.pod.containers.some((p) => p.id === c.id)) throw new CheckpointError(`${what}: container ${c.name} (${c.id.slice(0, 12)}) is not one of its containers`);
    if (seen.has(c.name)) throw new CheckpointError(`${what}: container ${c.name} is selected twice`);
    seen.add(c.name);
    if (c.finished) throw new CheckpointError(`${what}: container ${c.name} is not running`);
  }
  const problem = await outputDirProblem(req.outputDir);
  if (problem) throw new CheckpointError(`${what}: ${problem}`);
}

/** Runs `fn`, naming the container in what it throws. */
async function inContainer<T>(c: ContainerRecord, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw new CheckpointError(`container ${c.name}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
}

/**
 * Runs `fn` on every item side by side and waits for all of them. The first failure cuts the others
 * short (through the signal they get) and is what this throws; the caller's signal wins over both.
 */
async function allOrFirstFailure<T, R>(items: readonly T[], signal: AbortSignal, fn: (item: T, signal: AbortSignal) => Promise<R>): Promise<R[]> {
  const failed = new AbortController();
  const either = AbortSignal.any([signal, failed.signal]);
  const results = await Promise.allSettled(
    items.map((item) =>
      fn(item, either).catch((err: unknown) => {
        if (!failed.signal.aborted) failed.abort(err);
        throw err;
      }),
    ),
  );
  signal.throwIfAborted();
  if (failed.signal.aborted) throw failed.signal.reason;
  return results.map((r) => (r as PromiseFulfilledResult<R>).value);
}

/** Resumes every container that was paused, side by side; `resumedAt` is taken before the call (still frozen then). */
async function resumeAll(runtime: PodRuntime, containers: ContainerRecord[], paused: Set<string>, times: Map<string, { resumedAt?: string }>): Promise<void> {
  await Promise.all(
    containers
      .filter((c) => paused.has(c.id))
      .map(async (c) => {
        times.get(c.id)!.resumedAt = now();
        await resume(runtime, c.id);
        paused.delete(c.id);
      }),
  );
}
