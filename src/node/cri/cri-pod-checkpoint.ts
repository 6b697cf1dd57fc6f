/**
 * A pod checkpoint on containerd, with the CRI `CheckpointPod` contract (KEP-5823) as far as
 * containerd 2.1 allows: every selected container is paused before the first is captured and stays
 * paused until the last is captured; all are resumed before this returns, whatever happened.
 *
 * The CRI has no pause, so the containers are paused through containerd's own task API on the same
 * socket (runc's cgroup freezer). Each is then captured by CRI CheckpointContainer, side by side:
 * containerd pauses and resumes a task around its checkpoint only when it finds it running, so a
 * task paused here stays paused through its capture (checked after each capture: were it running
 * again, the checkpoint fails rather than claim the containers were frozen together).
 *
 * The output is a directory: containerd's archive per container, as CheckpointContainer writes it
 * (checkpointctl reads each one), then `pod-checkpoint.json`, last and atomically. Nothing is
 * written outside it, and on any error (the deadline and the caller's signal too) every file this
 * wrote there is removed.
 */
import { rename } from "node:fs/promises";
import { join } from "node:path";
import type { ContainerStatus, CriClient } from "../../cri/client.js";
import type { ContainerdTasks } from "../../cri/containerd-tasks.js";
import { archiveDigest, containerArchiveName, outputDirProblem, removePodCheckpointFiles, writePodCheckpointManifest } from "../../checkpoint/pod-checkpoint-files.js";
import { podCheckpointManifest, type CheckpointedContainer, type PodCheckpointManifest } from "../../checkpoint/pod-checkpoint-manifest.js";
import { tempNameFor } from "../../checkpoint/writer/atomic-file.js";
import { withCriuLogReason } from "../criu-log.js";
import { settleAfterRuntimeCheckpoint } from "./task-settle.js";

export interface CriPodContainer {
  name: string;
  /** The runtime's container ID. */
  id: string;
  /** The image that runs, as a digest reference. */
  image: string;
  /** Its cgroup (the verbose ContainerStatus's runtimeSpec.linux.cgroupsPath), for settling it after a cut-short capture. */
  cgroupsPath?: string;
}

export interface CriPodCheckpointRequest {
  cri: CriClient;
  tasks: ContainerdTasks;
  pod: { namespace: string; name: string; uid: string };
  /** In the pod's order: the manifest keeps it. */
  containers: CriPodContainer[];
  /** An existing, empty directory that only this checkpoint writes to. */
  outputDir: string;
  /** Epoch ms (the CRI call's deadline): past it the checkpoint fails, as when it fails otherwise. */
  deadline: number;
  signal?: AbortSignal;
  nodeName: string;
  podTemplate: PodCheckpointManifest["podTemplate"];
  sandbox: PodCheckpointManifest["sandbox"];
  /** Called with an archive the runtime may still write after its call gave up (at the deadline). */
  onAbandoned?: (path: string) => void;
  /** Told how a container left to settleAfterRuntimeCheckpoint ended. */
  log?: (event: Record<string, unknown>) => void;
}

/**
 * The image a container runs, by digest. containerd's imageRef is the registry digest of a pulled
 * image (`NAME@sha256:…`) and the image ID otherwise, which is then pinned to the pod's name for it
 * (as the runc runtime pins an image that has no registry digest).
 */
export function digestReference(specImage: string, status: Pick<ContainerStatus, "imageRef"> | null | undefined): string {
  const ref = status?.imageRef ?? "";
  if (ref.includes("@")) return ref;
  if (specImage.includes("@")) return specImage;
  return ref.startsWith("sha256:") ? `${specImage}@${ref}` : specImage;
}

type Times = Partial<Record<"pausedAt" | "captureStartedAt" | "capturedAt" | "resumedAt", string>>;

/** Milliseconds are what frozen windows are compared by. */
const now = (): string => new Date().toISOString();

/**
 * Checkpoints the containers of a running pod into `outputDir` and returns the manifest written
 * there. Throws an Error naming the pod (and the container, when one failed); the containers are
 * then running and `outputDir` holds nothing this wrote.
 */
export async function checkpointCriPod(req: CriPodCheckpointRequest): Promise<PodCheckpointManifest> {
  const { cri, tasks, containers, outputDir } = req;
  const what = `pod ${req.pod.namespace}/${req.pod.name}`;
  const startedAt = now();
  const stop = new AbortController();
  const onCallerAbort = () => stop.abort(new Error(`${what}: checkpoint cancelled`));
  req.signal?.addEventListener("abort", onCallerAbort, { once: true });
  if (req.signal?.aborted) onCallerAbort();
  const timer = setTimeout(
    () => stop.abort(new Error(`${what}: checkpoint deadline ${new Date(req.deadline).toISOString()} passed`)),
    // setTimeout fires at once past 2^31 ms; a deadline further out than ~24 days is none.
    Math.min(Math.max(0, req.deadline - Date.now()), 2 ** 31 - 1),
  );
  const msLeft = () => Math.max(1, req.deadline - Date.now());
  const times = new Map<string, Times>(containers.map((c) => [c.id, {}]));
  const paused = new Set<string>();
  const temps = new Map<string, string>();
  /** Archives (by container ID) whose CheckpointContainer has not returned. */
  const inFlight = new Map<string, string>();
  const written: string[] = [];
  /** What a resume failed for: said whatever else went wrong, as those containers stay paused a while. */
  let stillPaused: string[] = [];
  try {
    await checkRequest(req, what, msLeft);
    try {
      // Every container frozen before any is captured; settled, so none is still being paused when
      // the resumes below run.
      await firstFailure(
        containers.map((c) =>
          named(c, async () => {
            await tasks.pause(c.id, msLeft());
            paused.add(c.id);
            // After runc says FROZEN: the window recorded is one in which it certainly was frozen.
            times.get(c.id)!.pausedAt = now();
          }),
        ),
      );
      stop.signal.throwIfAborted();
      const captures = firstFailure(
        containers.map((c) =>
          named(c, async () => {
            const temp = tempNameFor(join(outputDir, containerArchiveName(c.name)));
            temps.set(c.id, temp);
            const t = times.get(c.id)!;
            t.captureStartedAt = now();
            const left = msLeft();
            inFlight.set(c.id, temp);
            try {
              await cri.checkpointContainer(c.id, temp, Math.ceil(left / 1000), left);
            } catch (err) {
              throw new Error(withCriuLogReason((err as Error).message), { cause: err });
            } finally {
              inFlight.delete(c.id);
            }
            t.capturedAt = now();
            const status = await tasks.status(c.id, msLeft());
            if (status !== "PAUSED") {
              throw new Error(`the runtime let it run again at the end of its checkpoint (task ${status}): the pod's containers were not all frozen until the last was captured`);
            }
          }),
        ),
      );
      // The deadline or the caller's signal ends the wait: the containers are resumed now, not
      // when the runtime gives up on a capture (whose failure then has nothing more to say).
      captures.catch(() => undefined);
      await Promise.race([captures, rejectOnAbort(stop.signal)]);
    } finally {
      stillPaused = await resumeAll(tasks, containers, paused, times, new Set(inFlight.keys()), req.log);
    }
    if (stillPaused.length) throw new Error(stillPaused.join("; "));
    stop.signal.throwIfAborted();

    const archives = await Promise.all(
      containers.map((c) =>
        named(c, async () => {
          const path = join(outputDir, containerArchiveName(c.name));
          await rename(temps.get(c.id)!, path);
          written.push(path);
          return archiveDigest(path);
        }),
      ),
    );
    stop.signal.throwIfAborted();
    const manifest = podCheckpointManifest({
      pod: req.pod,
      nodeName: req.nodeName,
      runtime: "containerd",
      startedAt,
      completedAt: now(),
      podTemplate: req.podTemplate,
      sandbox: req.sandbox,
      containers: containers.map((c, i): CheckpointedContainer => {
        const t = times.get(c.id)!;
        return {
          name: c.name,
          archive: containerArchiveName(c.name),
          ...archives[i]!,
          image: c.image,
          id: c.id,
          pausedAt: t.pausedAt!,
          captureStartedAt: t.captureStartedAt!,
          capturedAt: t.capturedAt!,
          resumedAt: t.resumedAt!,
        };
      }),
    });
    written.push(await writePodCheckpointManifest(outputDir, manifest, stop.signal));
    return manifest;
  } catch (err) {
    await removePodCheckpointFiles(outputDir, written);
    // A capture the runtime has not given up on may still write its archive.
    for (const temp of inFlight.values()) req.onAbandoned?.(temp);
    let message = stop.signal.aborted ? (stop.signal.reason as Error).message : err instanceof Error ? err.message : String(err);
    const later = stillPaused.join("; ");
    if (later && message !== later) message = `${message}; ${later}`;
    else if (stop.signal.aborted) throw stop.signal.reason;
    throw new Error(message.startsWith(what) ? message : `${what}: ${message}`, { cause: err });
  } finally {
    clearTimeout(timer);
    req.signal?.removeEventListener("abort", onCallerAbort);
  }
}

/** Containers of the pod that run (none already paused), once each; an output directory that is there and empty. */
async function checkRequest(req: CriPodCheckpointRequest, what: string, msLeft: () => number): Promise<void> {
  if (req.containers.length === 0) throw new Error(`${what}: no container to checkpoint`);
  const seen = new Set<string>();
  for (const c of req.containers) {
    if (seen.has(c.name)) throw new Error(`${what}: container ${c.name} is selected twice`);
    seen.add(c.name);
    const state = (await req.cri.containerStatus(c.id, false, msLeft())).status?.state;
    if (state !== "CONTAINER_RUNNING") throw new Error(`${what}: container ${c.name} is not running (${state ?? "unknown"}): a pod is checkpointed with all its containers up`);
    const task = await req.tasks.status(c.id, msLeft());
    // A task paused by someone else would be resumed at the end: not ours to change.
    if (task !== "RUNNING") throw new Error(`${what}: container ${c.name}'s task is ${task}, not RUNNING`);
  }
  const problem = await outputDirProblem(req.outputDir);
  if (problem) throw new Error(`${what}: ${problem}`);
}

/** Runs `fn`, naming the container in what it throws. */
async function named<T>(c: CriPodContainer, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof Error && !err.message.startsWith(`container ${c.name}`)) err.message = `container ${c.name}: ${err.message}`;
    throw err;
  }
}

/** Waits for every promise to settle, then throws the first failure (in the given order). */
async function firstFailure<T>(all: Promise<T>[]): Promise<T[]> {
  const settled = await Promise.allSettled(all);
  for (const s of settled) if (s.status === "rejected") throw s.reason;
  return settled.map((s) => (s as PromiseFulfilledResult<T>).value);
}

function rejectOnAbort(signal: AbortSignal): Promise<never> {
  return new Promise((_, reject) => {
    if (signal.aborted) reject(signal.reason);
    else signal.addEventListener("abort", () => reject(signal.reason), { once: true });
  });
}

/**
 * Resumes every container that was paused, side by side; `resumedAt` is taken before the call
 * (still frozen then). A container whose capture the runtime still runs (`capturing`) may not be
 * resumable yet, or be frozen again by its CRIU when that ends (task-settle.ts): those are settled
 * in the background once the runtime's checkpoint has ended. Returns what to say about the ones
 * not resumed now.
 */
async function resumeAll(
  tasks: ContainerdTasks,
  containers: CriPodContainer[],
  paused: Set<string>,
  times: Map<string, Times>,
  capturing: Set<string>,
  log?: CriPodCheckpointRequest["log"],
): Promise<string[]> {
  const settled = await Promise.allSettled(
    containers
      .filter((c) => paused.has(c.id))
      .map(async (c) => {
        times.get(c.id)!.resumedAt = now();
        const settle = () => void settleAfterRuntimeCheckpoint(tasks, c.id, { ...(c.cgroupsPath ? { cgroupsPath: c.cgroupsPath } : {}), ...(log ? { log } : {}) });
        try {
          await tasks.resume(c.id);
        } catch (err) {
          settle();
          throw new Error(`container ${c.name} is resumed once the runtime's checkpoint of it ends (${(err as Error).message})`, { cause: err });
        } finally {
          paused.delete(c.id);
        }
        if (capturing.has(c.id)) settle();
      }),
  );
  return settled.flatMap((s) => (s.status === "rejected" ? [(s.reason as Error).message] : []));
}
