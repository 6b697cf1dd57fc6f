/**
 * Restoring a container from a checkpoint archive into a pod of this node, as CRI-O restores one:
 * the base image named by config.dump under a fresh writable layer, the archive's file changes
 * applied safely, the spec rebuilt for the new pod (its network namespace, its volumes: nothing in
 * the archive chooses host paths), and `runc restore` run by the container's shim, so the restored
 * process tree gets pipes and a log like any container.
 */
import { chmodSync, closeSync, copyFileSync, existsSync, linkSync, lstatSync, mkdirSync, openSync, rmSync, statSync, writeFileSync, writeSync } from "node:fs";
import { dirname, join } from "node:path";
import { Readable } from "node:stream";
import { Checkpoint } from "../checkpoint/checkpoint.js";
import type { OpenOptions } from "../checkpoint/archive/checkpoint-archive.js";
import { CONTAINER_LOG_MEMBERS } from "../checkpoint/layout-names.js";
import type { ImageDir } from "../criu-images/index.js";
import { isBindMount, normalizeDestination, type SpecMount } from "../restore/bind-mount-policy.js";
import { archiveFacts, hostFacts, keepsLoopbackTcp, preflight, type PreflightOptions } from "../restore/restore-preflight.js";
import { applyRootfsDiff, safeComponents } from "../restore/rootfs-apply.js";
import { rootfsPaths } from "./container-rootfs.js";

export class RestoreError extends Error {
  override name = "RestoreError";
}

/** What the runtime needs from an archive to restore it; the caller closes `checkpoint` when done. */
export interface RestorePlan {
  archive: string;
  /** The archive, opened once for the plan and the restore (a compressed one is read in a pass each). */
  checkpoint: Checkpoint;
  /** The base image to build the root from (config.dump's rootfsImage, else rootfsImageName). */
  baseImage: string;
  process: Record<string, unknown>;
  mounts: SpecMount[];
  /** Mode bits of the container's "/" at checkpoint time (CRIU checks them on restore). */
  rootMode: number | undefined;
  /** What the user should know (kernel differences, TCP connections). */
  notes: string[];
  /** Restore the container's TCP connections (CRIU's tcp-established) rather than close them (tcp-close). */
  tcpEstablished: boolean;
}

/** Is this image reference a checkpoint archive on this node's disk (CRI-O's local restore)? */
export function isArchivePath(image: string): boolean {
  return image.startsWith("/") && /\.(tar|tar\.gz|tgz|tar\.zst)(\.age)?$/.test(image);
}

/** Is this directory an unpacked checkpoint (a checkpoint image's layer)? */
export function isCheckpointLayout(dir: string): boolean {
  return ["checkpoint/inventory.img", "spec.dump", "config.dump"].every((f) => existsSync(join(dir, f)));
}

/** The name of the container a checkpoint (archive or unpacked layout) was made of. */
export async function checkpointedContainerName(checkpoint: string, open: OpenOptions = {}): Promise<string> {
  const cp = await Checkpoint.open(checkpoint, open);
  try {
    return cp.container().name;
  } finally {
    cp.close();
  }
}

/**
 * `open` opens a sealed archive (the node's identity). Connections are closed (the pod's address
 * changes) unless `keepLoopbackTcp` says the pod's containers come back together and this one's are
 * all on loopback.
 */
export async function planRestore(archive: string, criu: string, runtime: string, open: OpenOptions = {}, opts: PreflightOptions = {}): Promise<RestorePlan> {
  let cp: Checkpoint;
  try {
    cp = await Checkpoint.open(archive, open);
  } catch (err) {
    throw new RestoreError(`checkpoint ${archive}: ${(err as Error).message}`, { cause: err });
  }
  try {
    if (!cp.archive.has("checkpoint/inventory.img")) throw new RestoreError(`${archive}: not a complete checkpoint (no checkpoint/inventory.img)`);
    const config = cp.config();
    const spec = cp.spec() as { process?: Record<string, unknown>; mounts?: SpecMount[] };
    const facts = archiveFacts(cp);
    const report = preflight(facts, hostFacts(criu, runtime), undefined, opts);
    if (report.errors.length) throw new RestoreError(`${archive} cannot be restored on this node: ${report.errors.join("; ")}`);
    const baseImage = config.rootfsImage ?? config.rootfsImageName;
    if (!baseImage) throw new RestoreError(`${archive}: config.dump names no base image (rootfsImage or rootfsImageName)`);
    if (!spec.process) throw new RestoreError(`${archive}: spec.dump has no process`);
    const tcpEstablished = (opts.keepLoopbackTcp ?? false) && keepsLoopbackTcp(facts);
    return { archive, checkpoint: cp, baseImage, process: spec.process, mounts: spec.mounts ?? [], rootMode: rootMode(cp.images), notes: report.notes, tcpEstablished };
  } catch (err) {
    cp.close();
    throw err;
  }
}

/**
 * Fills a new container directory for `runc restore`: the CRIU images in `<dir>/checkpoint`, the
 * archive's file changes in the (already mounted) root, and the container's log so far at the start
 * of its new log (what it wrote before the checkpoint stays with it). Returns the images directory.
 */
export async function prepareRestore(plan: RestorePlan, dir: string, logPath: string, imagesWritten?: string): Promise<string> {
  const cp = plan.checkpoint;
  const logMember = CONTAINER_LOG_MEMBERS.find((n) => cp.archive.has(n));
  if (logMember) {
    const fd = openSync(logPath, "wx", 0o600);
    try {
      await cp.archive.streamMember(logMember, (chunk) => void writeSync(fd, chunk));
    } finally {
      closeSync(fd);
    }
  }
  const images = imagesWritten ?? join(dir, "checkpoint");
  if (!imagesWritten) await writeImages(plan, images);
  await applyFileChanges(plan, dir);
  return images;
}

/** The archive's CRIU images (its checkpoint/ members) into `images`: linked from an unpacked layout when they can be, else copied. */
export async function writeImages(plan: Pick<RestorePlan, "archive" | "checkpoint">, images: string): Promise<void> {
  mkdirSync(images, { recursive: true, mode: 0o700 });
  const names = [...plan.checkpoint.archive.members.values()].filter((m) => m.type === "file" && m.name.startsWith("checkpoint/")).map((m) => m.name);
  if (!(statSync(plan.archive).isDirectory() && linkImages(plan, names, images))) await copyImages(plan, names, images);
}

/** Where the image member `name` ("checkpoint/…") goes under `images`; its directory is made. */
function imagePath(plan: Pick<RestorePlan, "archive">, name: string, images: string): string {
  const parts = safeComponents(name.slice("checkpoint/".length));
  if (typeof parts === "string") throw new RestoreError(`${plan.archive}: member ${name} ${parts}`);
  const path = join(images, ...parts);
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  return path;
}

/** The image members written out of the archive. */
async function copyImages(plan: Pick<RestorePlan, "archive" | "checkpoint">, names: string[], images: string): Promise<void> {
  // Written synchronously at each chunk's offset: the archive hands chunks over as it reads them.
  const files = new Map<string, number>();
  const open = (name: string) => {
    let fd = files.get(name);
    if (fd === undefined) files.set(name, (fd = openSync(imagePath(plan, name, images), "wx", 0o600)));
    return fd;
  };
  try {
    await plan.checkpoint.archive.streamMembers(names, (name, chunk, offset) => void writeSync(open(name), chunk, 0, chunk.length, offset));
    // Members with no data get no chunk: create them too.
    for (const name of names) open(name);
  } finally {
    for (const fd of files.values()) closeSync(fd);
  }
}

/**
 * An unpacked checkpoint (a checkpoint image's layer) shares its images with the container by hard
 * links: a container's memory is not copied a second time, and CRIU only reads them. False when the
 * two are on different file systems (then they are copied).
 */
function linkImages(plan: Pick<RestorePlan, "archive">, names: string[], images: string): boolean {
  for (const name of names) {
    const to = imagePath(plan, name, images);
    const from = join(plan.archive, name);
    // Regular files only: a link to a symbolic link would let CRIU follow it out of the layer.
    if (!lstatSync(from).isFile()) throw new RestoreError(`${plan.archive}: ${name} is not a regular file`);
    try {
      linkSync(from, to);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EXDEV") throw err;
      rmSync(images, { recursive: true, force: true });
      mkdirSync(images, { recursive: true, mode: 0o700 });
      return false;
    }
  }
  return true;
}

/** rootfs-diff.tar and deleted.files into the container's (already mounted) root. */
async function applyFileChanges(plan: RestorePlan, dir: string): Promise<void> {
  const cp = plan.checkpoint;
  const root = rootfsPaths(dir).merged;
  const diff = cp.archive.has("rootfs-diff.tar") ? await memberStream(cp, "rootfs-diff.tar") : undefined;
  let deleted: string[];
  try {
    deleted = cp.deletedFiles();
  } catch (err) {
    throw new RestoreError((err as Error).message, { cause: err });
  }
  await applyRootfsDiff(root, diff, deleted);
}

/** Sets the writable layer's root to the mode the container's "/" had, before the overlay is mounted. */
export function applyRootMode(plan: RestorePlan, containerDir: string): void {
  const upper = rootfsPaths(containerDir).upper;
  mkdirSync(upper, { recursive: true });
  if (plan.rootMode !== undefined) chmodSync(upper, plan.rootMode & 0o7777);
}

async function memberStream(cp: Checkpoint, name: string): Promise<Readable> {
  // Small enough to hold: a rootfs diff is the container's changed files, bounded by the reader.
  const chunks: Buffer[] = [];
  await cp.archive.streamMember(name, (chunk) => void chunks.push(Buffer.from(chunk)));
  return Readable.from([Buffer.concat(chunks)]);
}

/** The mode of the root task's "/" as CRIU recorded it (fs image root_id → files.img). */
function rootMode(images: ImageDir): number | undefined {
  const pid = Number((images.one("pstree.img") as { pid?: unknown } | undefined)?.pid);
  const fs = images.one(`fs-${pid}.img`) as { root_id?: unknown } | undefined;
  if (!fs || !images.has("files.img")) return undefined;
  for (const e of images.entries("files.img") as Array<{ id?: unknown; reg?: { mode?: unknown } }>) {
    if (Number(e.id) === Number(fs.root_id) && e.reg?.mode !== undefined) return Number(e.reg.mode);
  }
  return undefined;
}

export function writeSpec(dir: string, spec: Record<string, unknown>): void {
  writeFileSync(join(dir, "config.json"), JSON.stringify(spec, null, 2));
}

/** Files a CRI runtime binds into every container; a dump made there expects them bound again. */
const RUNTIME_FILE_BINDS = ["/etc/hosts", "/etc/hostname", "/etc/resolv.conf", "/dev/shm"] as const;

/**
 * The new pod's versions of the runtime's own bind mounts the archive had (containerd binds
 * /etc/hosts, /etc/hostname, /etc/resolv.conf and the sandbox's /dev/shm; CRIU needs each one mapped
 * again on restore): made for the new pod in the container's directory, never the archive's paths.
 */
export function runtimeFileBinds(mounts: readonly SpecMount[], containerDir: string, pod: { hostname: string; ip: string }): { source: string; destination: string; readOnly: boolean }[] {
  const out: { source: string; destination: string; readOnly: boolean }[] = [];
  const dir = join(containerDir, "runtime-files");
  for (const m of mounts) {
    const dest = normalizeDestination(m.destination);
    if (!isBindMount(m) || !(RUNTIME_FILE_BINDS as readonly string[]).includes(dest)) continue;
    mkdirSync(dir, { recursive: true, mode: 0o755 });
    const source = join(dir, dest.slice(1).replaceAll("/", "_"));
    if (dest === "/dev/shm") mkdirSync(source, { recursive: true, mode: 0o1777 });
    else if (dest === "/etc/hosts") writeFileSync(source, `127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n${pod.ip}\t${pod.hostname}\n`);
    else if (dest === "/etc/hostname") writeFileSync(source, `${pod.hostname}\n`);
    else copyFileSync("/etc/resolv.conf", source);
    out.push({ source, destination: dest, readOnly: (m.options ?? []).includes("ro") });
  }
  return out;
}
