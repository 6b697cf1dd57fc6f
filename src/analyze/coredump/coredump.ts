/**
 * ELF core files from a checkpoint, one per process (core.PID), that gdb opens like a kernel core:
 * every thread's registers, the process's memory as the dump holds it, the program text from the
 * container's own files where available. Written streaming: headers first, then one pass over the
 * pages images in which each chunk goes straight to its place in the cores, then the mapped files,
 * then the notes; memory use does not grow with the processes' memory.
 */
import { closeSync, ftruncateSync, mkdirSync, openSync, writeSync } from "node:fs";
import { join } from "node:path";
import type { Checkpoint } from "../../checkpoint/checkpoint.js";
import { CHECKPOINT_DIR } from "../../checkpoint/archive/checkpoint-archive.js";
import { FileNames } from "../../criu-images/explore/file-names.js";
import { isDefunct, listProcesses } from "../../criu-images/explore/processes.js";
import { ContainerFiles } from "./container-files.js";
import { CoreDumpError, PageSources, planCore, type CorePlan } from "./core-plan.js";
import { PieceRouter, type RangeTarget } from "./piece-router.js";

export { CoreDumpError } from "./core-plan.js";

export interface CoredumpOptions {
  /** Only this process. */
  pid?: number;
  outDir: string;
  /** An unpacked image root filesystem, for mapped files the container did not change. */
  rootfs?: string;
  /** Notes for the user: files that could not be had, pages that are not in the images. */
  warn(message: string): void;
}

export interface CoreFileResult {
  pid: number;
  comm: string;
  path: string;
  threads: number;
  segments: number;
  size: number;
}

export interface CoredumpResult {
  cores: CoreFileResult[];
  skipped: Array<{ pid: number; comm: string; reason: string }>;
}

function writeAll(fd: number, data: Uint8Array, position: number): void {
  for (let done = 0; done < data.length; ) done += writeSync(fd, data, done, data.length - done, position + done);
}

/** Every pages image the plans read must hold the bytes they read from it. */
function checkPagesImages(cp: Checkpoint, plans: readonly CorePlan[]): void {
  const needed = new Map<string, { end: number; pid: number }>();
  for (const plan of plans) {
    for (const p of [...plan.pages, ...plan.args.pieces]) {
      const end = p.offset + p.length;
      if ((needed.get(p.image)?.end ?? -1) < end) needed.set(p.image, { end, pid: plan.pid });
    }
  }
  for (const [image, { end, pid }] of needed) {
    if (!cp.images.has(image)) throw new CoreDumpError(`${cp.images.file(image)}: missing (the pagemap of process ${pid} places pages in it)`);
    const size = cp.images.files.size(image);
    if (size < end) throw new CoreDumpError(`${cp.images.file(image)}: truncated at offset ${size}: the pagemap of process ${pid} places pages in it up to offset ${end}`);
  }
}

export async function writeCoreDumps(cp: Checkpoint, opts: CoredumpOptions): Promise<CoredumpResult> {
  const dir = cp.images;
  const procs = listProcesses(dir).filter((p) => opts.pid === undefined || p.pid === opts.pid);
  if (opts.pid !== undefined && procs.length === 0) throw new CoreDumpError(`${cp.path}: no process ${opts.pid} in the dump`);
  const files = await ContainerFiles.open(cp, opts.rootfs);
  const sources = new PageSources(dir, new FileNames(dir));
  const result: CoredumpResult = { cores: [], skipped: [] };
  const plans: CorePlan[] = [];
  for (const p of procs) {
    if (isDefunct(p)) result.skipped.push({ pid: p.pid, comm: p.comm, reason: `${p.stateName.toLowerCase()}: CRIU keeps neither its memory nor its registers` });
    else plans.push(planCore(dir, p, sources, files));
  }
  if (opts.pid !== undefined && plans.length === 0) throw new CoreDumpError(`${cp.path}: process ${opts.pid} is ${result.skipped[0]!.reason}`);
  checkPagesImages(cp, plans);

  const warned = new Set<string>();
  for (const plan of plans) {
    for (const [path, why] of plan.unavailable) {
      if (warned.has(path)) continue;
      warned.add(path);
      opts.warn(`${path}: ${why}: the pages of it that were not dumped are left out of the core (filesz 0)`);
    }
    if (plan.missingPages > 0) opts.warn(`process ${plan.pid}: ${plan.missingPages} pages are not in the images (lazy, or in a parent dump); the core has zeros there`);
  }

  if (warned.size > 0 && opts.rootfs === undefined) opts.warn("give the container image's root filesystem with --rootfs to have them");

  mkdirSync(opts.outDir, { recursive: true });
  const outputs = plans.map((plan) => ({ plan, path: join(opts.outDir, `core.${plan.pid}`), fd: -1, args: Buffer.alloc(plan.args.length) }));
  try {
    for (const o of outputs) {
      o.fd = openSync(o.path, "w", 0o600);
      writeAll(o.fd, o.plan.headers, 0);
    }
    const targets = new Map<string, RangeTarget[]>();
    const want = (image: string, t: RangeTarget) => (targets.get(image) ?? targets.set(image, []).get(image)!).push(t);
    for (const o of outputs) {
      for (const p of o.plan.pages) want(p.image, { offset: p.offset, length: p.length, write: (chunk, at) => writeAll(o.fd, chunk, p.coreOffset + at) });
      for (const p of o.plan.args.pieces) want(p.image, { offset: p.offset, length: p.length, write: (chunk, at) => o.args.set(chunk, p.coreOffset + at) });
    }
    const routers = new Map([...targets].map(([image, ts]) => [`${CHECKPOINT_DIR}/${image}`, new PieceRouter(ts)]));
    await cp.archive.streamMembers([...routers.keys()], (member, chunk, offset) => routers.get(member)!.feed(chunk, offset));
    await files.read(
      outputs.flatMap((o) =>
        o.plan.files.map((f) => ({ path: f.path, offset: f.offset, length: f.length, write: (chunk: Uint8Array, at: number) => writeAll(o.fd, chunk, f.coreOffset + at) })),
      ),
    );
    for (const o of outputs) {
      writeAll(o.fd, o.plan.notes(o.args), o.plan.notesOffset);
      // Zero ranges were never written: they stay holes, read back as zeros.
      ftruncateSync(o.fd, o.plan.size);
      result.cores.push({ pid: o.plan.pid, comm: procs.find((p) => p.pid === o.plan.pid)!.comm, path: o.path, threads: o.plan.threads, segments: o.plan.segments.length, size: o.plan.size });
    }
  } finally {
    for (const o of outputs) if (o.fd >= 0) closeSync(o.fd);
  }
  return result;
}
