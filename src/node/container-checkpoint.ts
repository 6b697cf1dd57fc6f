/**
 * One container checkpoint as CRI-O makes it, for the kubelet's endpoint: pause the container so that
 * its files and memory agree, take the rootfs diff and `runc checkpoint --leave-running --file-locks`
 * while it is paused, resume it in every case, then write the CRI-O archive (temp file, renamed when
 * complete). The container keeps running; a failure or a timeout leaves no archive and no temp files.
 * A migration asks for the container to stay paused once the archive is written, so that nothing it
 * does after the checkpoint is lost; any failure still resumes it.
 */
import { statfsSync } from "node:fs";
import { mkdtemp, readFile, rm, stat } from "node:fs/promises";
import { join } from "node:path";
import { bindMountsOf, rootfsDiff, rootfsDiffExcludes, writeCrioArchive } from "../checkpoint/writer/index.js";
import { rootfsPaths } from "./container-rootfs.js";
import type { ContainerRecord, PodRecord } from "./node-state.js";
import { memoryUsage, type PodRuntime } from "./pod-runtime.js";
import { checkpointFileName } from "./checkpoint-name.js";
import { stepTimer } from "./step-timer.js";
import { criuLogError } from "./criu-log.js";

export class CheckpointError extends Error {
  override name = "CheckpointError";
}

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
  const work = await mkdtemp(join(runtime.checkpointWorkBase(memory), `${id.slice(0, 12)}-`));
  const steps = stepTimer();
  let paused = false;
  try {
    // An exited container (its shim has ended) has nothing to checkpoint.
    if (!runtime.shimAlive(id)) throw new CheckpointError(`container ${container.name} is not running`);
    checkFreeSpace(req.checkpointsDir, memory, req.reserveBytes ?? 64 << 20);
    const imagesDir = join(work, "checkpoint");
    const diffTar = join(work, "rootfs-diff.tar");
    const spec = runtime.bundleSpec(id);
    const bindMounts = await bindMountsOf(spec);
    steps.mark("prepare");

    let diff: Awaited<ReturnType<typeof rootfsDiff>>;
    await runtime.runc.pause(id);
    paused = true;
    // The log as it stood at the freeze: what the container writes after it (running on, or a
    // restore of this archive) is not the checkpoint's. Lines still in the pipe are in the dump.
    const logBytes = await stat(container.logPath).then((s) => s.size, () => undefined);
    steps.mark("pause");
    let dumped = false;
    try {
      // Both while the container is frozen, so files and memory agree; side by side, because a
      // frozen container changes neither, and its frozen time is what users feel.
      const [diffResult, dump] = await Promise.allSettled([
        containerRootfsDiff(runtime, container, spec, diffTar, abort.signal),
        runtime.runc.checkpoint(id, {
          imagePath: imagesDir,
          workPath: work,
          tcpEstablished: req.tcpEstablished,
          timeoutMs: Math.max(1, deadline - Date.now()),
          signal: abort.signal,
        }),
      ]);
      if (dump.status === "rejected") throw await withCriuError(dump.reason, join(work, "dump.log"));
      if (diffResult.status === "rejected") throw diffResult.reason;
      diff = diffResult.value;
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

    for (;;) {
      const target = join(req.checkpointsDir, checkpointFileName(pod.manifest.metadata.name, pod.manifest.metadata.namespace, container.name, new Date()));
      try {
        const written = await writeContainerArchive(target, { container, spec, bindMounts, work, diff, diffTar, logBytes, statsDump: true, signal: abort.signal });
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
    await rm(work, { recursive: true, force: true });
  }
}

/** The container's file changes against its image layers, taken while it is frozen. */
export function containerRootfsDiff(runtime: PodRuntime, container: ContainerRecord, spec: Record<string, unknown>, diffTar: string, signal?: AbortSignal) {
  return rootfsDiff(rootfsPaths(runtime.containerDir(container.id)).upper, diffTar, {
    exclude: rootfsDiffExcludes(spec),
    lowerDirs: [...container.layers].reverse(),
    ...(signal ? { signal } : {}),
  });
}

/** What a dumped container's archive is made of: CRIU's work directory (images in `work/checkpoint`) and the rest. */
export interface DumpedContainer {
  container: ContainerRecord;
  spec: Record<string, unknown>;
  bindMounts: Awaited<ReturnType<typeof bindMountsOf>>;
  work: string;
  diff: Awaited<ReturnType<typeof rootfsDiff>>;
  diffTar: string;
  /** The log's size at the freeze. */
  logBytes: number | undefined;
  /** CRIU writes its statistics when the dump ends; a lazy dump's archive is made before that. */
  statsDump: boolean;
  signal?: AbortSignal;
}

/** The container's CRI-O archive at `target` (a TargetExistsError when the name is taken). */
export function writeContainerArchive(target: string, d: DumpedContainer): Promise<{ path: string; bytes: number }> {
  const { container, spec, work } = d;
  const config = {
    id: container.id,
    name: (spec.annotations as Record<string, string> | undefined)?.["io.kubernetes.cri-o.Name"] ?? container.name,
    rootfsImage: container.image.reference,
    rootfsImageRef: container.image.imageId,
    rootfsImageName: container.image.name,
    runtime: "runc",
    createdTime: container.createdAt,
    checkpointedTime: new Date().toISOString(),
    restored: container.restoredFrom !== undefined,
  };
  return writeCrioArchive(
    target,
    {
      imagesDir: join(work, "checkpoint"),
      dumpLog: join(work, "dump.log"),
      ...(d.statsDump ? { statsDump: join(work, "stats-dump") } : {}),
      config,
      spec,
      bindMounts: d.bindMounts,
      rootfsDiffTar: d.diff.files.length > 0 ? d.diffTar : undefined,
      deletedFiles: d.diff.deleted.length > 0 ? d.diff.deleted : undefined,
      containerLog: container.logPath,
      ...(d.logBytes !== undefined ? { containerLogBytes: d.logBytes } : {}),
    },
    d.signal ? { signal: d.signal } : {},
  );
}

/** runc says only that CRIU failed; CRIU's log says why. The first error line goes into the message. */
export async function withCriuError(err: unknown, dumpLog: string): Promise<unknown> {
  const why = criuLogError(await readFile(dumpLog, "utf8").catch(() => ""));
  if (!(err instanceof Error)) return err;
  // runc points at its log file, which goes away with the work directory.
  const runcSaid = err.message.replace(/\s*(\\n|\n)log file: .*$/s, "");
  if (!why) return new CheckpointError(runcSaid, { cause: err });
  return new CheckpointError(`${runcSaid}; CRIU: ${why}`, { cause: err });
}

/** `runc resume`; when that fails, whatever state runc reports decides whether to try again. */
export async function resume(runtime: PodRuntime, id: string): Promise<void> {
  for (let attempt = 0; attempt < 3; attempt++) {
    if (await runtime.runc.resume(id).then(() => true, () => false)) return;
    if ((await runtime.state(id))?.status !== "paused") return;
  }
}

/** Refuses to start when the archive (about the container's memory plus its changed files) cannot fit. */
function checkFreeSpace(dir: string, memory: number, reserve: number): void {
  const fs = statfsSync(dir);
  const free = fs.bavail * fs.bsize;
  const needed = memory + reserve;
  if (free < needed) {
    throw new CheckpointError(`not enough free space in ${dir}: ${mib(free)} MiB free, about ${mib(needed)} MiB needed`);
  }
}

const mib = (n: number) => Math.round(n / (1 << 20));
