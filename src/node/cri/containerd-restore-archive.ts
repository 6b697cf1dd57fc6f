/**
 * A checkpoint as containerd 2.1 restores it through CRI CreateContainer: a plain tar with
 * config.dump, spec.dump, status.dump (the CRI ContainerStatus, as Go's encoding/json writes it),
 * checkpoint/, rootfs-diff.tar and container.log. Any checkpoint this node can read (a CRI-O-layout
 * archive from the runc backend, containerd's own, an unpacked checkpoint image) is rewritten into
 * that form, because containerd:
 * - reads status.dump for the restored container's name, labels and annotations (CRI-O has none);
 * - pulls config.dump's rootfsImageRef, which must be NAME@DIGEST (CRI-O writes the image ID there);
 * - takes the restored container's annotations from status.dump, not from the create request, so
 *   the CRIU config the restore runs with (org.criu.config) is set there;
 * - has no deleted.files: it applies rootfs-diff.tar as an image layer, so the files the container
 *   deleted become whiteout entries appended to it.
 */
import { createWriteStream } from "node:fs";
import { once } from "node:events";
import { pipeline } from "node:stream/promises";
import { pack as tarPack } from "tar-stream";
import type { Checkpoint } from "../../checkpoint/checkpoint.js";
import { plainTarEnd } from "../../checkpoint/archive/tar-listing.js";
import { CONFIG_DUMP, CONTAINER_LOG_MEMBERS, CONTAINERD_LOG, DELETED_FILES, ROOTFS_DIFF, STATUS_DUMP } from "../../checkpoint/layout-names.js";

const CHUNK = 4 << 20;
/** CRI ContainerState CONTAINER_RUNNING, as a number (Go's encoding/json of the proto enum). */
const CONTAINER_RUNNING = 1;
/** Annotations of another engine or of the old container that must not follow it. */
const DROPPED_ANNOTATION = /^(io\.container\.manager$|io\.kubernetes\.cri-o\.|io\.kubernetes\.cri\.|org\.criu\.config$)/;

export interface RestoreArchiveInput {
  checkpoint: Checkpoint;
  /** NAME@sha256:… of the base image, pullable by containerd. */
  baseImageRef: string;
  /** The base image's name (a tag), as config.dump's rootfsImageName. */
  baseImageName: string;
  /** The restored container's name. */
  containerName: string;
  /** Annotations the restored container gets (org.criu.config for the restore's CRIU options). */
  annotations: Record<string, string>;
}

/** The ContainerStatus containerd reads from status.dump; keys as Go's encoding/json writes them. */
export function statusDump(cp: Checkpoint, input: Omit<RestoreArchiveInput, "checkpoint">): Record<string, unknown> {
  const config = cp.config();
  const original: Record<string, string> = {};
  const spec = cp.spec();
  for (const [k, v] of Object.entries(spec.annotations ?? {})) if (!DROPPED_ANNOTATION.test(k)) original[k] = v;
  return {
    id: config.id,
    metadata: { name: input.containerName },
    state: CONTAINER_RUNNING,
    created_at: config.createdTime ? Date.parse(config.createdTime) * 1e6 : 0,
    image: { image: input.baseImageName },
    image_ref: input.baseImageRef,
    // containerd puts the new pod's names into the labels the checkpoint had; it had none of ours.
    labels: {},
    annotations: { ...original, ...input.annotations },
  };
}

/**
 * Writes the containerd restore archive of `input.checkpoint` to `out` (a path no one else uses).
 * Page data is copied in chunks with back-pressure, so memory stays flat whatever the dump's size.
 */
export async function writeContainerdRestoreArchive(input: RestoreArchiveInput, out: string): Promise<void> {
  const cp = input.checkpoint;
  const archive = cp.archive;
  if (!archive.seekable) throw new Error(`${cp.path}: a compressed archive; decompress it to a plain tar to restore it on a CRI runtime`);
  const config = { ...JSON.parse(Buffer.from(archive.read(CONFIG_DUMP)).toString("utf8")), rootfsImage: input.baseImageName, rootfsImageName: input.baseImageName, rootfsImageRef: input.baseImageRef };
  const pack = tarPack();
  const written = pipeline(pack, createWriteStream(out, { flags: "wx", mode: 0o600 }));
  const now = new Date();
  const data = (name: string, body: string | Buffer) => new Promise<void>((resolve, reject) => pack.entry({ name, mode: 0o600, mtime: now }, body, (err) => (err ? reject(err) : resolve())));
  try {
    const logMember = CONTAINER_LOG_MEMBERS.find((m) => archive.has(m));
    const whiteouts = await whiteoutTar(cp.deletedFiles(), now);
    const diffEnd = whiteouts && archive.has(ROOTFS_DIFF) ? plainTarEnd(archive, ROOTFS_DIFF) : undefined;
    if (whiteouts && archive.has(ROOTFS_DIFF) && diffEnd === undefined) throw new Error(`${cp.path}: ${ROOTFS_DIFF} is compressed: its deleted files cannot be added to it`);
    for (const m of archive.members.values()) {
      if ([CONFIG_DUMP, STATUS_DUMP, DELETED_FILES].includes(m.name) || (CONTAINER_LOG_MEMBERS as readonly string[]).includes(m.name)) continue;
      if (m.name === ROOTFS_DIFF && whiteouts) {
        await copyMember(pack, cp, m.name, diffEnd!, now, m.name, whiteouts);
        continue;
      }
      if (m.type === "directory") {
        await new Promise<void>((resolve, reject) => pack.entry({ name: m.name, type: "directory", mode: 0o700, mtime: now }, (err) => (err ? reject(err) : resolve())));
        continue;
      }
      await copyMember(pack, cp, m.name, m.size, now);
    }
    if (whiteouts && !archive.has(ROOTFS_DIFF)) await data(ROOTFS_DIFF, whiteouts);
    if (logMember) await copyMember(pack, cp, logMember, archive.size(logMember), now, CONTAINERD_LOG);
    await data(CONFIG_DUMP, JSON.stringify(config));
    await data(STATUS_DUMP, JSON.stringify(statusDump(cp, input)));
    pack.finalize();
    await written;
  } catch (err) {
    pack.destroy(err as Error);
    await written.catch(() => undefined);
    throw err;
  }
}

/** The first `size` bytes of a member, then `tail`, as one entry. */
async function copyMember(pack: ReturnType<typeof tarPack>, cp: Checkpoint, name: string, size: number, mtime: Date, as = name, tail?: Buffer): Promise<void> {
  let done!: Promise<void>;
  const entry = await new Promise<ReturnType<typeof pack.entry>>((started) => {
    done = new Promise<void>((resolve, reject) => started(pack.entry({ name: as, size: size + (tail?.length ?? 0), mode: 0o600, mtime }, (err) => (err ? reject(err) : resolve()))));
  });
  for (let offset = 0; offset < size; offset += CHUNK) {
    const chunk = cp.archive.readRange(name, offset, Math.min(CHUNK, size - offset));
    if (!entry.write(chunk)) await once(entry, "drain");
  }
  if (tail && !entry.write(tail)) await once(entry, "drain");
  entry.end(undefined as never);
  await done;
}

/**
 * An OCI whiteout entry (`dir/.wh.name`) per deleted path, ended as a tar ends: appended to the
 * entries of rootfs-diff.tar, or the whole of it; undefined when nothing was deleted.
 */
export async function whiteoutTar(deleted: readonly string[], mtime: Date): Promise<Buffer | undefined> {
  const paths = deleted.map((p) => p.replace(/^\/+/, "").replace(/\/+$/, "")).filter((p) => p !== "" && !p.split("/").includes(".."));
  if (!paths.length) return undefined;
  const pack = tarPack();
  const chunks: Buffer[] = [];
  pack.on("data", (c: unknown) => void chunks.push(c as Buffer));
  const ended = once(pack, "end");
  for (const p of paths) {
    const slash = p.lastIndexOf("/");
    pack.entry({ name: `${p.slice(0, slash + 1)}.wh.${p.slice(slash + 1)}`, size: 0, mode: 0o600, mtime }, "");
  }
  pack.finalize();
  await ended;
  return Buffer.concat(chunks);
}
