/**
 * Capturing one paused container, the part a single-container checkpoint and a pod checkpoint share:
 * a work directory for CRIU's images, the rootfs diff and `runc checkpoint --leave-running` of the
 * frozen container side by side, and what writeCrioArchive needs afterwards. The caller pauses the
 * container before captureFrozen and resumes it afterwards (runc checkpoints a paused container:
 * CRIU puts its freezer back to FROZEN when done), and always calls closeCapture.
 */
import { statfsSync } from "node:fs";
import { mkdtemp, readFile, rm, stat } from "node:fs/promises";
import { join } from "node:path";
import { bindMountsOf, rootfsDiff, rootfsDiffExcludes, type BindMount, type CrioArchiveInput } from "../checkpoint/writer/index.js";
import { rootfsPaths } from "./container-rootfs.js";
import { criuLogError } from "./criu-log.js";
import type { ContainerRecord } from "./node-state.js";
import type { PodRuntime } from "./pod-runtime.js";

export class CheckpointError extends Error {
  override name = "CheckpointError";
}

export interface ContainerCapture {
  container: ContainerRecord;
  /** The work directory (CRIU's images, its logs, the rootfs diff), removed by closeCapture. */
  work: string;
  imagesDir: string;
  spec: Record<string, unknown>;
  bindMounts: BindMount[];
}

/** What the frozen container gave: its file changes, and its log's length at the freeze. */
export interface CapturedContainer {
  diff: { files: string[]; deleted: string[] };
  logBytes: number | undefined;
}

/**
 * A work directory under `workBase` (see PodRuntime.checkpointWorkBase) and the container's spec and
 * bind mounts. Refuses a container whose shim has ended: an exited container has nothing to capture.
 */
export async function openCapture(runtime: PodRuntime, container: ContainerRecord, workBase: string): Promise<ContainerCapture> {
  if (!runtime.shimAlive(container.id)) throw new CheckpointError(`container ${container.name} is not running`);
  const spec = runtime.bundleSpec(container.id);
  const bindMounts = await bindMountsOf(spec);
  const work = await mkdtemp(join(workBase, `${container.id.slice(0, 12)}-`));
  return { container, work, imagesDir: join(work, "checkpoint"), spec, bindMounts };
}

export async function closeCapture(cap: ContainerCapture): Promise<void> {
  await rm(cap.work, { recursive: true, force: true });
}

/**
 * The paused container's log length, rootfs diff and CRIU dump. The diff and the dump run side by
 * side: a frozen container changes neither, and its frozen time is what users feel. A failed dump
 * is a CheckpointError with CRIU's own reason.
 */
export async function captureFrozen(
  runtime: PodRuntime,
  cap: ContainerCapture,
  opts: { tcpEstablished: boolean; deadline: number; signal: AbortSignal; killGraceMs?: number },
): Promise<CapturedContainer> {
  const { container } = cap;
  // The log as it stood at the freeze: what the container writes after it (running on, or a restore
  // of this archive) is not the checkpoint's. Lines still in the pipe are in the dump.
  const logBytes = await stat(container.logPath).then((s) => s.size, () => undefined);
  const [diff, dump] = await Promise.allSettled([
    containerRootfsDiff(runtime, cap, opts.signal),
    runtime.runc.checkpoint(container.id, {
      imagePath: cap.imagesDir,
      workPath: cap.work,
      tcpEstablished: opts.tcpEstablished,
      timeoutMs: Math.max(1, opts.deadline - Date.now()),
      signal: opts.signal,
      ...(opts.killGraceMs ? { graceMs: opts.killGraceMs } : {}),
    }),
  ]);
  if (dump.status === "rejected") throw await withCriuError(dump.reason, join(cap.work, "dump.log"));
  if (diff.status === "rejected") throw diff.reason;
  return { diff: diff.value, logBytes };
}

/** The container's file changes against its image layers (into the work directory), taken while it is frozen. */
export function containerRootfsDiff(runtime: PodRuntime, cap: ContainerCapture, signal?: AbortSignal) {
  return rootfsDiff(rootfsPaths(runtime.containerDir(cap.container.id)).upper, join(cap.work, "rootfs-diff.tar"), {
    exclude: rootfsDiffExcludes(cap.spec),
    lowerDirs: [...cap.container.layers].reverse(),
    ...(signal ? { signal } : {}),
  });
}

/**
 * What writeCrioArchive gets for a captured container: CRI-O's config.dump and the files beside it.
 * A lazy dump's archive is written before CRIU has written its statistics (`statsDump: false`).
 */
export function crioArchiveInput(cap: ContainerCapture, captured: CapturedContainer, opts: { statsDump?: boolean } = {}): CrioArchiveInput {
  const { container, spec } = cap;
  return {
    imagesDir: cap.imagesDir,
    dumpLog: join(cap.work, "dump.log"),
    ...(opts.statsDump === false ? {} : { statsDump: join(cap.work, "stats-dump") }),
    config: {
      id: container.id,
      name: (spec.annotations as Record<string, string> | undefined)?.["io.kubernetes.cri-o.Name"] ?? container.name,
      rootfsImage: container.image.reference,
      rootfsImageRef: container.image.imageId,
      rootfsImageName: container.image.name,
      runtime: "runc",
      createdTime: container.createdAt,
      checkpointedTime: new Date().toISOString(),
      restored: container.restoredFrom !== undefined,
    },
    spec,
    bindMounts: cap.bindMounts,
    rootfsDiffTar: captured.diff.files.length > 0 ? join(cap.work, "rootfs-diff.tar") : undefined,
    deletedFiles: captured.diff.deleted.length > 0 ? captured.diff.deleted : undefined,
    containerLog: container.logPath,
    ...(captured.logBytes !== undefined ? { containerLogBytes: captured.logBytes } : {}),
  };
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

/** Refuses to start when the archives (about the memory plus the changed files) cannot fit. */
export function checkFreeSpace(dir: string, memory: number, reserve: number): void {
  const fs = statfsSync(dir);
  const free = fs.bavail * fs.bsize;
  const needed = memory + reserve;
  if (free < needed) {
    throw new CheckpointError(`not enough free space in ${dir}: ${mib(free)} MiB free, about ${mib(needed)} MiB needed`);
  }
}

const mib = (n: number) => Math.round(n / (1 << 20));
