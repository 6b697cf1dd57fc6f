/**
 * One layer blob (tar, gzip or zstd) unpacked into an empty directory that overlayfs can use as a
 * lower directory: OCI whiteouts become overlay whiteouts and opaque directories, modes, owners,
 * symlinks, hard links and mtimes are kept.
 *
 * The layer is hostile until proven otherwise. Nothing is written outside the target directory:
 * names with `..` or a leading "/" are refused; every parent directory of an entry is checked with
 * lstat to be a real directory, so a symlink the layer made is never written through (symlinks may
 * point anywhere: only their targets say so, the extraction never follows them); files are opened
 * O_NOFOLLOW|O_EXCL; hard links must name an earlier non-directory entry of the same layer; device
 * nodes other than whiteouts are refused; the unpacked size and the entry count are capped. Only this
 * function writes into the target while it runs, so the checks cannot be raced from inside. The
 * blob's digest and the tar's diffID are checked while it streams; the caller renames the directory
 * into place only when all of this succeeded.
 */
import { constants, createReadStream } from "node:fs";
import { chmod, lchown, link, lstat, lutimes, mkdir, open, rm, symlink, utimes } from "node:fs/promises";
import { createRequire } from "node:module";
import { join } from "node:path";
import { pipeline } from "node:stream/promises";
import type { Header } from "tar-stream";
import { DigestMeter, DigestVerifier } from "./digest.js";
import { ImageError, LayerError } from "./image-errors.js";
import { decompressor, layerCompression } from "./layer-compression.js";
import { baseOf, EntryNameError, entryPath, OPAQUE_WHITEOUT, parentOf, WHITEOUT_PREFIX } from "./layer-paths.js";
import { applyOverlayMarks, type OverlayMarks } from "./overlay-marks.js";

export interface LayerLimits {
  /** Uncompressed tar bytes (default 32 GiB): a gzip bomb stops here. */
  maxBytes: number;
  /** Tar entries (default 2,000,000). */
  maxEntries: number;
}

export const DEFAULT_LAYER_LIMITS: LayerLimits = { maxBytes: 32 * 1024 ** 3, maxEntries: 2_000_000 };

export interface UnpackRequest {
  /** The compressed blob, already in the blob cache. */
  blobPath: string;
  descriptor: { digest: string; size: number; mediaType: string };
  /** The sha256 of the uncompressed tar, from the image config; checked when given. */
  diffId?: string;
  /** An existing empty directory. */
  target: string;
  limits?: LayerLimits;
  signal?: AbortSignal;
}

/** A refusal about one entry; turned into a LayerError with the blob digest by unpackLayer. */
class EntryRefused extends Error {}

interface DirTimes {
  rel: string;
  mtime: Date;
}

export async function unpackLayer(req: UnpackRequest): Promise<void> {
  const { descriptor, target } = req;
  const limits = req.limits ?? DEFAULT_LAYER_LIMITS;
  const compression = await layerCompression(req.blobPath, descriptor.digest, descriptor.mediaType);
  const tar = createRequire(import.meta.url)("tar-stream") as typeof import("tar-stream");
  const extract = tar.extract();
  const meter = new DigestMeter();
  const unpacker = new Unpacker(target, limits);

  let feedError: unknown;
  const fed = pipeline(createReadStream(req.blobPath, { highWaterMark: 1 << 20 }), new DigestVerifier(descriptor, req.blobPath), decompressor(compression), meter, extract, {
    ...(req.signal ? { signal: req.signal } : {}),
  }).catch((err: unknown) => {
    feedError = err;
  });

  let current: string | undefined;
  let handlerError: unknown;
  try {
    for await (const entry of extract) {
      current = entry.header.name;
      try {
        await unpacker.entry(entry.header, entry as unknown as EntryBody);
      } catch (err) {
        handlerError = err;
        throw err;
      }
      current = undefined;
    }
  } catch (err) {
    extract.destroy();
    await fed;
    // A refusal is the story; otherwise a failing stream (bad gzip, digest) explains a failed write,
    // except the premature close that our own destroy() causes.
    const streamFailed = feedError !== undefined && (feedError as NodeJS.ErrnoException).code !== "ERR_STREAM_PREMATURE_CLOSE";
    const cause = handlerError instanceof EntryRefused || (handlerError !== undefined && !streamFailed) ? handlerError : (feedError ?? err);
    throw layerError(descriptor.digest, cause, current, compression);
  }
  await fed;
  if (feedError !== undefined) throw layerError(descriptor.digest, feedError, undefined, compression);
  if (req.diffId !== undefined && meter.digest() !== req.diffId) {
    throw new LayerError(descriptor.digest, undefined, `the uncompressed tar hashes to ${meter.digest()}, but the image config gives diffID ${req.diffId}`);
  }
  try {
    await unpacker.finish(req.signal);
  } catch (err) {
    throw layerError(descriptor.digest, err, undefined, compression);
  }
}

function layerError(digest: string, err: unknown, entry: string | undefined, compression: string): Error {
  if (err instanceof ImageError) return err;
  if ((err as Error)?.name === "AbortError") return err as Error;
  if (err instanceof EntryRefused) return new LayerError(digest, entry, err.message);
  const e = err as NodeJS.ErrnoException;
  const detail = e?.code && e.path ? `${e.code} on ${e.path}` : (e?.message ?? String(err));
  // zlib and tar-stream say what broke, not where; the stage is the useful part.
  const stage = entry !== undefined ? "" : e?.code?.startsWith("Z_") ? `cannot decompress ${compression}: ` : /tar|header|end of data/i.test(detail) ? "not a valid tar: " : "";
  return new LayerError(digest, entry, `${stage}${detail}`, { cause: err });
}

class Unpacker {
  /** Relative paths known to be real directories made by this extraction. */
  private readonly dirs = new Set<string>([""]);
  private readonly dirTimes = new Map<string, DirTimes>();
  private rootMeta: { mode: number; uid: number; gid: number } | undefined;
  /** Whiteout path → the mtime of the entry that made it. */
  private readonly whiteouts = new Map<string, Date>();
  /** The current entry's mtime, also given to the parents and whiteouts it implies. */
  private entryTime = new Date(0);
  /** The newest mtime of any entry: the time of a root the layer does not list. */
  private newest = new Date(0);
  private readonly opaque = new Set<string>();
  private readonly fifos = new Map<string, { mode: number; uid: number; gid: number; mtime: Date }>();
  private entries = 0;
  private bytes = 0;

  constructor(
    private readonly root: string,
    private readonly limits: LayerLimits,
  ) {}

  private abs(rel: string): string {
    return rel === "" ? this.root : join(this.root, rel);
  }

  async entry(header: Header, body: EntryBody): Promise<void> {
    if (++this.entries > this.limits.maxEntries) throw new EntryRefused(`more than ${this.limits.maxEntries} entries`);
    let rel: string;
    try {
      rel = entryPath(header.name);
    } catch (err) {
      if (err instanceof EntryNameError) throw new EntryRefused(err.message);
      throw err;
    }
    this.entryTime = entryMtime(header);
    if (this.entryTime > this.newest) this.newest = this.entryTime;
    const base = baseOf(rel);
    if (base.startsWith(WHITEOUT_PREFIX)) {
      await drain(body);
      return this.whiteoutEntry(rel, base);
    }
    const meta = { mode: (header.mode ?? 0o644) & 0o7777, uid: header.uid ?? 0, gid: header.gid ?? 0, mtime: this.entryTime };
    switch (header.type) {
      case "file":
      case "contiguous-file":
        return this.file(rel, header.size ?? 0, meta, body);
      case "directory":
        await drain(body);
        return this.directory(rel, meta);
      case "symlink":
        await drain(body);
        return this.symlink(rel, header.linkname ?? "", meta);
      case "link":
        await drain(body);
        return this.hardlink(rel, header.linkname ?? "");
      case "character-device":
        await drain(body);
        // An overlay-style whiteout written into the tar as what it is on disk.
        if ((header.devmajor ?? 0) === 0 && (header.devminor ?? 0) === 0) return this.whiteout(rel);
        throw new EntryRefused(`device node (character ${header.devmajor}:${header.devminor}) refused`);
      case "block-device":
        await drain(body);
        throw new EntryRefused(`device node (block ${header.devmajor}:${header.devminor}) refused`);
      case "fifo":
        await drain(body);
        return this.fifo(rel, meta);
      default:
        await drain(body);
        throw new EntryRefused(`entry type ${header.type ?? "unknown"} is not supported`);
    }
  }

  private async whiteoutEntry(rel: string, base: string): Promise<void> {
    const dir = parentOf(rel);
    if (base === OPAQUE_WHITEOUT) {
      await this.ensureDirectory(dir);
      this.opaque.add(dir);
      return;
    }
    // Other ".wh..wh." names are aufs bookkeeping (hard link directories), meaningless here.
    if (base.startsWith(WHITEOUT_PREFIX + WHITEOUT_PREFIX)) return;
    const name = base.slice(WHITEOUT_PREFIX.length);
    if (name === "" || name === "." || name === "..") throw new EntryRefused(`whiteout of ${JSON.stringify(name)} refused`);
    return this.whiteout(dir === "" ? name : `${dir}/${name}`);
  }

  private async whiteout(rel: string): Promise<void> {
    if (rel === "") throw new EntryRefused("whiteout of the layer root refused");
    await this.ensureParents(rel);
    this.whiteouts.set(rel, this.entryTime);
  }

  private async file(rel: string, size: number, meta: Meta, body: EntryBody): Promise<void> {
    if (rel === "") throw new EntryRefused("a file as the layer root refused");
    this.bytes += size;
    if (this.bytes > this.limits.maxBytes) throw new EntryRefused(`the layer unpacks to more than ${this.limits.maxBytes} bytes`);
    await this.ensureParents(rel);
    await this.clear(rel, "file");
    const handle = await open(this.abs(rel), constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
    try {
      // Chunk by chunk: the entry is a streamx stream, which Node's pipeline does not end cleanly.
      for await (const chunk of body) await handle.write(chunk);
      // chown first: it clears set-user-ID and set-group-ID bits, which chmod then sets.
      await handle.chown(meta.uid, meta.gid);
      await handle.chmod(meta.mode);
      await handle.utimes(meta.mtime, meta.mtime);
    } finally {
      await handle.close();
    }
  }

  private async directory(rel: string, meta: Meta): Promise<void> {
    if (rel === "") {
      this.rootMeta = meta;
      this.dirTimes.set("", { rel, mtime: meta.mtime });
      return;
    }
    await this.ensureParents(rel);
    const kept = await this.clear(rel, "directory");
    if (!kept) await mkdir(this.abs(rel), { mode: 0o700 });
    this.dirs.add(rel);
    await lchown(this.abs(rel), meta.uid, meta.gid);
    await chmod(this.abs(rel), meta.mode);
    // Set at the end: every entry made inside changes it.
    this.dirTimes.set(rel, { rel, mtime: meta.mtime });
  }

  private async symlink(rel: string, linkname: string, meta: Meta): Promise<void> {
    if (rel === "") throw new EntryRefused("a symlink as the layer root refused");
    if (linkname === "") throw new EntryRefused("symlink with an empty target");
    await this.ensureParents(rel);
    await this.clear(rel, "symlink");
    await symlink(linkname, this.abs(rel));
    await lchown(this.abs(rel), meta.uid, meta.gid);
    await lutimes(this.abs(rel), meta.mtime, meta.mtime);
  }

  private async hardlink(rel: string, linkname: string): Promise<void> {
    if (rel === "") throw new EntryRefused("a hard link as the layer root refused");
    let target: string;
    try {
      target = entryPath(linkname, "hard link target");
    } catch (err) {
      if (err instanceof EntryNameError) throw new EntryRefused(err.message);
      throw err;
    }
    if (target === rel) throw new EntryRefused("hard link to itself");
    // The target is reached through real directories only, and must be a non-directory already
    // unpacked from this layer: a link can never make an inode from outside appear inside.
    await this.checkParents(target, "hard link target");
    const st = await lstat(this.abs(target)).catch(() => undefined);
    if (!st) throw new EntryRefused(`hard link target ${JSON.stringify(linkname)} is not an earlier entry of this layer`);
    if (st.isDirectory()) throw new EntryRefused(`hard link to the directory ${JSON.stringify(linkname)} refused`);
    await this.ensureParents(rel);
    await this.clear(rel, "hard link");
    await link(this.abs(target), this.abs(rel));
  }

  private async fifo(rel: string, meta: Meta): Promise<void> {
    if (rel === "") throw new EntryRefused("a FIFO as the layer root refused");
    await this.ensureParents(rel);
    await this.clear(rel, "fifo");
    this.fifos.set(rel, meta);
  }

  /**
   * Parent directories of `rel`, made where the layer has none: 0755 root:root as containerd makes
   * them, with the time of the entry that needs them, so that a layer unpacks the same whenever.
   */
  private async ensureParents(rel: string): Promise<void> {
    await this.ensureDirectory(parentOf(rel));
  }

  private async ensureDirectory(rel: string): Promise<void> {
    if (this.dirs.has(rel)) return;
    await this.ensureDirectory(parentOf(rel));
    const st = await lstat(this.abs(rel)).catch((err: NodeJS.ErrnoException) => {
      if (err.code === "ENOENT") return undefined;
      throw err;
    });
    if (st === undefined) {
      this.dropPending(rel);
      await mkdir(this.abs(rel), { mode: 0o755 });
      await chmod(this.abs(rel), 0o755);
      this.dirTimes.set(rel, { rel, mtime: this.entryTime });
    } else if (st.isSymbolicLink()) {
      throw new EntryRefused(`its parent ${JSON.stringify(rel)} is a symlink; writing through it is refused`);
    } else if (!st.isDirectory()) {
      throw new EntryRefused(`its parent ${JSON.stringify(rel)} is not a directory`);
    }
    this.dirs.add(rel);
  }

  /** Like ensureParents, but makes nothing: for paths that must already exist. */
  private async checkParents(rel: string, what: string): Promise<void> {
    const parts = rel.split("/").slice(0, -1);
    for (let i = 1; i <= parts.length; i++) {
      const dir = parts.slice(0, i).join("/");
      if (this.dirs.has(dir)) continue;
      const st = await lstat(this.abs(dir)).catch(() => undefined);
      if (!st?.isDirectory()) throw new EntryRefused(`${what}: ${JSON.stringify(dir)} is not a directory of this layer${st?.isSymbolicLink() ? " (a symlink)" : ""}`);
    }
  }

  /**
   * Makes room for a new entry at `rel`: a later entry replaces an earlier one (tar semantics), except
   * that a directory over a directory keeps it and its contents. Returns whether a directory was kept.
   * Removal never follows a symlink (rm works on the link itself).
   */
  private async clear(rel: string, kind: string): Promise<boolean> {
    this.dropPending(rel);
    const st = await lstat(this.abs(rel)).catch((err: NodeJS.ErrnoException) => {
      if (err.code === "ENOENT") return undefined;
      throw err;
    });
    if (!st) return false;
    if (st.isDirectory() && kind === "directory") return true;
    await rm(this.abs(rel), { recursive: true, force: true });
    // Whatever was recorded at or under the removed path goes with it: applied later, it would be
    // applied through whatever replaces the path (a symlink to anywhere).
    const under = (d: string) => d === rel || d.startsWith(rel + "/");
    for (const d of this.dirs) if (under(d)) this.dirs.delete(d);
    for (const d of this.dirTimes.keys()) if (under(d)) this.dirTimes.delete(d);
    for (const d of this.opaque) if (under(d)) this.opaque.delete(d);
    for (const d of this.whiteouts.keys()) if (under(d)) this.whiteouts.delete(d);
    for (const d of this.fifos.keys()) if (under(d)) this.fifos.delete(d);
    return false;
  }

  /** An entry of this layer at `rel` wins over a whiteout or FIFO recorded there before. */
  private dropPending(rel: string): void {
    this.whiteouts.delete(rel);
    this.fifos.delete(rel);
  }

  /** Whiteouts, opaque markers and FIFOs, then the times and modes that making entries changed. */
  async finish(signal?: AbortSignal): Promise<void> {
    const marks: OverlayMarks = { whiteouts: [], opaque: [], fifos: [] };
    const whiteoutTimes: [string, Date][] = [];
    // clear() forgets marks under a replaced path; checking the parents again costs little and keeps
    // the Python helper, which follows what it is given, from ever writing through a symlink.
    for (const rel of [...this.whiteouts.keys(), ...this.opaque, ...this.fifos.keys()]) await this.checkParents(rel, "pending whiteout, opaque marker or FIFO");
    for (const [rel, mtime] of this.whiteouts) {
      // An entry of the same layer at that path stays: whiteouts hide only lower layers' files.
      const st = await lstat(this.abs(rel)).catch(() => undefined);
      if (st) continue;
      marks.whiteouts.push(this.abs(rel));
      whiteoutTimes.push([this.abs(rel), mtime]);
    }
    for (const rel of this.opaque) {
      const st = await lstat(this.abs(rel)).catch(() => undefined);
      if (st?.isDirectory()) marks.opaque.push(this.abs(rel));
    }
    for (const [rel, m] of this.fifos) marks.fifos.push({ path: this.abs(rel), mode: m.mode, uid: m.uid, gid: m.gid });
    await applyOverlayMarks(marks, signal);
    for (const [rel, m] of this.fifos) await utimes(this.abs(rel), m.mtime, m.mtime);
    for (const [path, mtime] of whiteoutTimes) await lutimes(path, mtime, mtime);
    // Without a "./" entry the root is a plain 0755 root:root directory (never the 0700 of a temp
    // dir) with the newest time of the layer: the unpacked tree depends on the blob alone.
    const root = this.rootMeta ?? { mode: 0o755, uid: 0, gid: 0 };
    if (!this.dirTimes.has("")) this.dirTimes.set("", { rel: "", mtime: this.newest });
    await lchown(this.root, root.uid, root.gid);
    await chmod(this.root, root.mode);
    // Deepest first, so that setting a directory's time is not undone by its parent's children.
    const dirs = [...this.dirTimes.values()].sort((a, b) => depth(b.rel) - depth(a.rel));
    for (const d of dirs) await utimes(this.abs(d.rel), d.mtime, d.mtime);
  }
}

/** A tar entry's contents (a streamx Readable, consumed as an async iterable). */
type EntryBody = AsyncIterable<Uint8Array>;

type Meta = { mode: number; uid: number; gid: number; mtime: Date };

function depth(rel: string): number {
  return rel === "" ? 0 : rel.split("/").length;
}

/** PAX mtime keeps sub-second precision the ustar field has not. */
function entryMtime(header: Header): Date {
  const pax = (header.pax as Record<string, string> | null | undefined)?.mtime;
  const seconds = pax !== undefined ? Number(pax) : NaN;
  if (Number.isFinite(seconds)) return new Date(seconds * 1000);
  return header.mtime ?? new Date(0);
}

async function drain(body: EntryBody): Promise<void> {
  for await (const _ of body);
}
