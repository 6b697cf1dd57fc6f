/**
 * Applying a checkpoint's file system changes to a new container's root: rootfs-diff.tar (CRI-O's
 * plain tar, or containerd's gzip layer with `.wh.` whiteouts) and deleted.files. The archive is
 * untrusted (a restore is where CVEs happen), so only regular files and directories are written,
 * every path stays under the root, nothing is written or deleted through a symbolic link, and the
 * first violation stops the restore with the entry named.
 */
import { constants } from "node:fs";
import { chmod, lchown, lstat, mkdir, open, readdir, rm, utimes } from "node:fs/promises";
import { createRequire } from "node:module";
import { join, posix } from "node:path";
import { Readable } from "node:stream";
import { decompress, detectCompression } from "../checkpoint/archive/compression.js";
import { OPAQUE_WHITEOUT, WHITEOUT_PREFIX } from "../node/images/layer-paths.js";

export class RestoreFilesError extends Error {
  override name = "RestoreFilesError";
}

export interface ApplyResult {
  files: number;
  directories: number;
  deleted: string[];
}

/** The path's components under the root, or an error saying why the name is refused. */
export function safeComponents(name: string): string[] | string {
  if (name.includes("\0")) return "has a NUL byte";
  if (name.startsWith("/")) return "is absolute";
  const parts = name.split("/").filter((p) => p !== "" && p !== ".");
  if (parts.some((p) => p === "..")) return "has a '..' component";
  if (parts.length === 0) return "names the root itself";
  return parts;
}

/** Makes the directories leading to `parts` (all but the last), refusing any that is not a real directory. */
async function ensureParents(root: string, parts: string[], what: string): Promise<string> {
  let dir = root;
  for (const p of parts.slice(0, -1)) {
    dir = join(dir, p);
    const st = await lstat(dir).catch(() => undefined);
    if (!st) await mkdir(dir, { mode: 0o755 });
    else if (st.isSymbolicLink()) throw new RestoreFilesError(`${what}: /${parts.join("/")} would go through the symbolic link /${posix.relative(root, dir)}`);
    else if (!st.isDirectory()) throw new RestoreFilesError(`${what}: /${parts.join("/")} would go through /${posix.relative(root, dir)}, which is not a directory`);
  }
  return join(dir, parts.at(-1)!);
}

/** Removes `/path` under root without following a link on the way (the link itself may go). */
async function removeUnder(root: string, path: string, what: string): Promise<boolean> {
  const parts = safeComponents(path.replace(/^\/+/, ""));
  if (typeof parts === "string") throw new RestoreFilesError(`${what}: ${JSON.stringify(path)} ${parts}`);
  let dir = root;
  for (const p of parts.slice(0, -1)) {
    dir = join(dir, p);
    const st = await lstat(dir).catch(() => undefined);
    if (!st) return false;
    if (!st.isDirectory()) throw new RestoreFilesError(`${what}: ${path} would go through /${posix.relative(root, dir)}, which is not a directory`);
  }
  const target = join(dir, parts.at(-1)!);
  if (!(await lstat(target).catch(() => undefined))) return false;
  await rm(target, { recursive: true, force: true });
  return true;
}

interface TarHeader {
  name: string;
  type: string;
  mode?: number;
  uid?: number;
  gid?: number;
  mtime?: Date;
  size?: number;
}

/**
 * Writes the diff's files into `root`. `source` is the diff's bytes (plain, gzip or zstd tar);
 * `deleted` is deleted.files. Whiteouts in a containerd layer delete too.
 */
export async function applyRootfsDiff(root: string, source: Readable | undefined, deleted: readonly string[] = []): Promise<ApplyResult> {
  const result: ApplyResult = { files: 0, directories: 0, deleted: [] };
  if (source) await extract(root, source, result);
  for (const p of deleted) {
    if (await removeUnder(root, p, "deleted.files")) result.deleted.push(p);
  }
  return result;
}

async function extract(root: string, source: Readable, result: ApplyResult): Promise<void> {
  const tar = createRequire(import.meta.url)("tar-stream") as typeof import("tar-stream");
  const input = await decompressed(source);
  const ex = tar.extract();
  input.on("error", (err) => ex.destroy(err));
  input.pipe(ex);
  const dirTimes: Array<[string, Date]> = [];
  try {
    for await (const entry of ex) {
      const h = entry.header as TarHeader;
      const what = `rootfs-diff.tar: entry ${JSON.stringify(h.name)}`;
      const parts = safeComponents(h.name);
      if (typeof parts === "string") throw new RestoreFilesError(`${what} ${parts}`);
      const base = parts.at(-1)!;
      if (base.startsWith(WHITEOUT_PREFIX)) {
        if (h.type !== "file") throw new RestoreFilesError(`${what}: a whiteout must be a regular file`);
        if (base === OPAQUE_WHITEOUT) {
          // Everything the image had in this directory is gone; the layer's own entries follow.
          const full = parts.length > 1 ? posix.dirname(await ensureParents(root, parts, what)) : root;
          for (const name of await readdir(full).catch(() => [])) await rm(join(full, name), { recursive: true, force: true });
        } else {
          const gone = `/${[...parts.slice(0, -1), base.slice(WHITEOUT_PREFIX.length)].join("/")}`;
          if (await removeUnder(root, gone, what)) result.deleted.push(gone);
        }
        entry.resume();
        continue;
      }
      const target = await ensureParents(root, parts, what);
      const existing = await lstat(target).catch(() => undefined);
      if (h.type === "directory") {
        if (existing?.isSymbolicLink()) throw new RestoreFilesError(`${what}: /${parts.join("/")} is a symbolic link in the image`);
        if (existing && !existing.isDirectory()) await rm(target, { force: true });
        if (!existing?.isDirectory()) await mkdir(target, { mode: 0o700 });
        await setOwnerAndMode(target, h);
        if (h.mtime) dirTimes.push([target, h.mtime]);
        result.directories++;
        entry.resume();
      } else if (h.type === "file") {
        if (existing?.isDirectory()) await rm(target, { recursive: true, force: true });
        // O_NOFOLLOW: a symbolic link in the image at this very name is not written through.
        const fh = await open(target, constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | constants.O_NOFOLLOW, 0o600).catch((err: NodeJS.ErrnoException) => {
          if (err.code === "ELOOP") throw new RestoreFilesError(`${what}: /${parts.join("/")} is a symbolic link in the image (not written through)`);
          throw err;
        });
        try {
          for await (const chunk of entry as AsyncIterable<Buffer>) await fh.write(chunk);
        } finally {
          await fh.close();
        }
        await setOwnerAndMode(target, h);
        if (h.mtime) await utimes(target, h.mtime, h.mtime);
        result.files++;
      } else {
        throw new RestoreFilesError(`${what}: a ${h.type} entry; only regular files and directories are restored`);
      }
    }
  } finally {
    input.unpipe(ex);
  }
  // Directory times last: writing their files changed them.
  for (const [dir, t] of dirTimes.reverse()) await utimes(dir, t, t).catch(() => undefined);
}

async function setOwnerAndMode(path: string, h: TarHeader): Promise<void> {
  await lchown(path, h.uid ?? 0, h.gid ?? 0);
  // Permission bits and setuid/setgid/sticky only: the type comes from the entry, not its mode.
  await chmod(path, (h.mode ?? 0o644) & 0o7777);
}

/** The tar's bytes whatever their compression, told from the first bytes. */
async function decompressed(source: Readable): Promise<Readable> {
  const it = source[Symbol.asyncIterator]();
  const first = await it.next();
  const head: Buffer = first.done ? Buffer.alloc(0) : (first.value as Buffer);
  const rest = Readable.from(
    (async function* () {
      if (head.length) yield head;
      for (let n = await it.next(); !n.done; n = await it.next()) yield n.value as Buffer;
    })(),
  );
  const kind = detectCompression(head);
  if (kind === "xz" || kind === "bzip2") throw new RestoreFilesError(`rootfs-diff.tar: ${kind} compression is not used by any engine`);
  return decompress(rest, kind);
}
