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
import { TarEntriesCutter } from "../../checkpoint/archive/tar-listing.js";
import { CONFIG_DUMP, CONTAINER_LOG_MEMBERS, CONTAINERD_LOG, DELETED_FILES, ROOTFS_DIFF, STATUS_DUMP } from "../../checkpoint/layout-names.js";

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
 * Members are copied in one pass over the checkpoint (the only pass over a compressed or sealed
 * archive, decrypted as it is read), in chunks with back-pressure, so memory stays flat whatever
 * the dump's size.
 */
export async function writeContainerdRestoreArchive(input: RestoreArchiveInput, out: string): Promise<void> {
  const cp = input.checkpoint;
  const archive = cp.archive;
  const config = { ...JSON.parse(Buffer.from(archive.read(CONFIG_DUMP)).toString("utf8")), rootfsImage: input.baseImageName, rootfsImageName: input.baseImageName, rootfsImageRef: input.baseImageRef };
  const pack = tarPack();
  const written = pipeline(pack, createWriteStream(out, { flags: "wx", mode: 0o600 }));
  const now = new Date();
  const entry = (header: Parameters<typeof pack.entry>[0], body?: string | Buffer) =>
    new Promise<void>((resolve, reject) => (body === undefined ? pack.entry(header, (err) => (err ? reject(err) : resolve())) : pack.entry(header, body, (err) => (err ? reject(err) : resolve()))));
  try {
    const logMember = CONTAINER_LOG_MEMBERS.find((m) => archive.has(m));
    const whiteouts = await whiteoutTar(cp.deletedFiles(), now);
    const copies: Copy[] = [];
    for (const m of archive.members.values()) {
      if ([CONFIG_DUMP, STATUS_DUMP, DELETED_FILES].includes(m.name) || (CONTAINER_LOG_MEMBERS as readonly string[]).includes(m.name)) continue;
      if (m.type === "directory") await entry({ name: m.name, type: "directory", mode: 0o700, mtime: now });
      else copies.push({ name: m.name, as: m.name, size: m.size, ...(m.name === ROOTFS_DIFF && whiteouts ? { appended: whiteouts } : {}) });
    }
    if (logMember) copies.push({ name: logMember, as: CONTAINERD_LOG, size: archive.size(logMember) });
    await copyMembers(pack, cp, copies, now);
    if (whiteouts && !archive.has(ROOTFS_DIFF)) await entry({ name: ROOTFS_DIFF, mode: 0o600, mtime: now }, whiteouts);
    await entry({ name: CONFIG_DUMP, mode: 0o600, mtime: now }, JSON.stringify(config));
    await entry({ name: STATUS_DUMP, mode: 0o600, mtime: now }, JSON.stringify(statusDump(cp, input)));
    pack.finalize();
    await written;
  } catch (err) {
    pack.destroy(err as Error);
    await written.catch(() => undefined);
    throw err;
  }
}

/** A member copied as the entry `as`; `appended`: tar entries added after the member's own (a tar). */
interface Copy {
  name: string;
  as: string;
  size: number;
  appended?: Buffer;
}

/**
 * The members as entries, in the order the archive gives their bytes. A member that gets entries
 * appended keeps its size plus theirs: its own end-of-archive blocks are cut, the appended entries
 * (which end with theirs) follow, and zeros fill the rest.
 */
async function copyMembers(pack: ReturnType<typeof tarPack>, cp: Checkpoint, copies: readonly Copy[], mtime: Date): Promise<void> {
  const byName = new Map(copies.map((c) => [c.name, c]));
  type Open = { copy: Copy; entry: ReturnType<typeof pack.entry>; done: Promise<void>; written: number; cutter?: TarEntriesCutter };
  let current: Open | undefined;
  const write = async (open: Open, data: Uint8Array) => {
    open.written += data.length;
    if (!open.entry.write(data)) await once(open.entry, "drain");
  };
  const start = async (copy: Copy): Promise<Open> => {
    let done!: Promise<void>;
    const entry = await new Promise<ReturnType<typeof pack.entry>>((started) => {
      done = new Promise<void>((resolve, reject) => started(pack.entry({ name: copy.as, size: copy.size + (copy.appended?.length ?? 0), mode: 0o600, mtime }, (err) => (err ? reject(err) : resolve()))));
    });
    return { copy, entry, done, written: 0, ...(copy.appended ? { cutter: new TarEntriesCutter(copy.size, `${cp.path}: ${copy.name}`) } : {}) };
  };
  const finish = async (open: Open) => {
    const { copy } = open;
    if (open.cutter && copy.appended) {
      const end = open.cutter.end();
      await write(open, copy.appended);
      if (open.written !== end + copy.appended.length) throw new Error(`${cp.path}: ${copy.name}: ${open.written - copy.appended.length} bytes before its end at ${end}`);
      for (let left = copy.size - end; left > 0; left -= ZEROS.length) await write(open, left < ZEROS.length ? ZEROS.subarray(0, left) : ZEROS);
    }
    if (open.written !== copy.size + (copy.appended?.length ?? 0)) throw new Error(`${cp.path}: ${copy.name}: ${open.written} of its ${copy.size} bytes were read`);
    open.entry.end(undefined as never);
    await open.done;
  };
  // Members without bytes get no chunk.
  for (const copy of copies) if (copy.size === 0) await finish(await start(copy));
  await cp.archive.streamMembers(
    copies.filter((c) => c.size > 0).map((c) => c.name),
    async (name, chunk) => {
      if (current?.copy.name !== name) {
        if (current) await finish(current);
        current = await start(byName.get(name)!);
      }
      const open = current;
      for (const piece of open.cutter ? open.cutter.feed(chunk) : [chunk]) await write(open, piece);
    },
  );
  if (current) await finish(current);
}

const ZEROS = Buffer.alloc(1 << 20);

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
