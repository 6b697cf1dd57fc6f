/**
 * A checkpoint as a set of named members, whatever holds it: a tar archive (plain, gzip, zstd, xz or
 * bzip2, told apart by their first bytes), a directory with an unpacked archive, or a bare CRIU image
 * directory. The archive is indexed once. A plain tar is read where its members lie; a compressed one
 * is read in one streaming pass that keeps the small members (metadata and images) and skips page
 * data, which later passes read only for the ranges asked for. A sealed archive (age, see
 * ../seal/) is read like a compressed one, each pass opening it again with the identities given.
 * A member that is itself an archive (a container's archive in a pod checkpoint) opens as one:
 * in place from a plain tar, streamed from a compressed one. Nothing is ever extracted to disk.
 */
import { closeSync, createReadStream, openSync, readdirSync, readFileSync, readSync, statSync, fstatSync } from "node:fs";
import { join, relative } from "node:path";
import { PassThrough, type Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { createRequire } from "node:module";
import type { ImageFiles } from "../../criu-images/image-files.js";
import { detectSealed } from "../seal/age-format.js";
import type { Identities } from "../seal/identity-file.js";
import { decompress, detectCompression, type Compression } from "./compression.js";
import { checkMemberName, checkMemberType, type Refusal } from "./member-policy.js";
import { isZeroBlock, parseHeader, parsePax, TarFormatError } from "./tar-header.js";

export interface ArchiveMember {
  name: string;
  type: "file" | "directory";
  size: number;
  /** Where the data starts in a plain tar. */
  dataOffset?: number;
}

export class ArchiveError extends Error {
  override name = "ArchiveError";
}

/** The part of tar-stream's entry stream that is used. */
interface MemberStream {
  on(event: "data", fn: (chunk: Buffer) => void): unknown;
  on(event: "end", fn: () => void): unknown;
  pause(): unknown;
  resume(): unknown;
}

export const CHECKPOINT_DIR = "checkpoint";

/**
 * A sealed archive's plaintext (`head`: the file's first bytes): a stream opened anew for each
 * pass, and the compression of what was sealed.
 */
export async function openSealedBytes(path: string, head: Uint8Array, opts: OpenOptions): Promise<{ compression: Compression; open: () => Readable }> {
  // Loaded only for a sealed archive: it brings the age library.
  const { isSealedHead, openSealed, unsealedHead, unsealedStream } = await import("../seal/sealed-file.js");
  isSealedHead(path, head); // refuses an armored file
  const identities = opts.identities?.();
  if (!identities) throw new ArchiveError(`${path}: sealed archive: give --identity`);
  const sealed = await openSealed(path, identities);
  // What is sealed may itself be compressed: its first bytes say.
  return { compression: detectCompression(await unsealedHead(sealed, 512)), open: () => unsealedStream(sealed) };
}

export interface OpenOptions {
  /** The keys that open a sealed archive; asked for only when the archive is sealed. */
  identities?: () => Identities | undefined;
  /**
   * Which members a compressed or sealed archive keeps in memory when it is indexed (default: all
   * but page data and file trees); the others are streamed again when read.
   */
  keep?: (name: string, size: number) => boolean;
  /**
   * A compressed or sealed archive is indexed in one pass that keeps the small members and skips
   * the bulky ones (page data, rootfs-diff.tar): a reader returned here for one of those gets its
   * bytes as they go by, which saves reading the archive again for them. `archive` is the archive
   * as indexed so far (the members before this one, and what was kept of them).
   */
  passing?: (name: string, size: number, archive: CheckpointArchive) => MemberReader | undefined;
}

/** Where a member's bytes go, in order; a promise holds the reading back until it settles. */
export interface MemberReader {
  data(chunk: Uint8Array, offset: number): void | Promise<void>;
  end(): void | Promise<void>;
}

/** Members kept in memory from a compressed archive: everything but page data and bulky file trees. */
const SKIPPED_IN_MEMORY = /^(checkpoint\/(pages-|amdgpu-pages-)|rootfs-diff\.tar$|volumes\/|devshm-checkpoint\.tar$|artifacts\/)/;
const MAX_KEPT_MEMBER = 64 << 20;
/** Bounds that keep a hostile archive (a tar or gzip bomb) from taking unbounded memory. */
const MAX_KEPT_TOTAL = 192 << 20;
const MAX_MEMBERS = 1_000_000;
/** Enough of a member to tell a compressed or sealed archive (see openMember). */
const HEAD_KEPT = 64;

type Backing =
  | { kind: "directory"; root: string }
  /** A plain tar: `fileSize` bytes of `file` (open as `fd`) from `base` (0 but for a member of another tar). */
  | { kind: "tar"; file: string; fd: number; base: number; fileSize: number }
  | {
      kind: "stream";
      compression: Compression;
      /** The archive's bytes from the start (decrypted when sealed), once for each pass. */
      source: () => Readable;
      sealed: boolean;
      keep: (name: string, size: number) => boolean;
      kept: Map<string, Uint8Array>;
      /** The first bytes of the members not kept: what a member that is itself an archive is. */
      heads: Map<string, Uint8Array>;
      ranges: Map<string, Array<{ offset: number; data: Uint8Array }>>;
    };

export class CheckpointArchive {
  readonly members = new Map<string, ArchiveMember>();
  readonly refused: Refusal[] = [];

  private constructor(
    readonly path: string,
    readonly compression: Compression | "directory",
    private readonly backing: Backing,
  ) {}

  static async open(path: string, opts: OpenOptions = {}): Promise<CheckpointArchive> {
    const st = statSync(path);
    if (st.isDirectory()) return CheckpointArchive.openDirectory(path);
    if (!st.isFile()) throw new ArchiveError(`${path}: not a file or directory`);
    return CheckpointArchive.openRange(path, path, 0, st.size, opts);
  }

  /** The archive held in `length` bytes of `file` from `start`, called `label` in messages. */
  private static async openRange(file: string, label: string, start: number, length: number, opts: OpenOptions): Promise<CheckpointArchive> {
    const fd = openSync(file, "r");
    try {
      const head = Buffer.alloc(Math.min(512, length));
      const n = readSync(fd, head, 0, head.length, start);
      if (detectSealed(head.subarray(0, n))) {
        closeSync(fd);
        if (start !== 0) throw new ArchiveError(`${label}: a sealed archive inside another archive is not read (seal the outer archive instead)`);
        return await CheckpointArchive.openSealed(file, head.subarray(0, n), opts);
      }
      const compression = detectCompression(head.subarray(0, n));
      if (compression === "none") {
        const archive = new CheckpointArchive(label, "none", { kind: "tar", file, fd, base: start, fileSize: length });
        archive.indexPlainTar();
        return archive;
      }
      closeSync(fd);
      return await CheckpointArchive.openStream(label, compression, () => createReadStream(file, { start, end: start + length - 1 }), false, opts);
    } catch (err) {
      try {
        closeSync(fd);
      } catch {
        // already closed
      }
      throw err;
    }
  }

  private static async openStream(path: string, compression: Compression, source: () => Readable, sealed: boolean, opts: OpenOptions): Promise<CheckpointArchive> {
    const keep = opts.keep ?? ((name: string, size: number) => !SKIPPED_IN_MEMORY.test(name) && size <= MAX_KEPT_MEMBER);
    const archive = new CheckpointArchive(path, compression, { kind: "stream", compression, source, sealed, keep, kept: new Map(), heads: new Map(), ranges: new Map() });
    await archive.indexStream(opts.passing);
    return archive;
  }

  private static async openSealed(path: string, head: Uint8Array, opts: OpenOptions): Promise<CheckpointArchive> {
    const { compression, open } = await openSealedBytes(path, head, opts);
    return CheckpointArchive.openStream(path, compression, open, true, opts);
  }

  private static openDirectory(root: string): CheckpointArchive {
    // A bare CRIU image directory is read as the checkpoint/ of an archive without metadata.
    const bare = statSync(join(root, "inventory.img"), { throwIfNoEntry: false })?.isFile() ?? false;
    const archive = new CheckpointArchive(root, "directory", { kind: "directory", root });
    const walk = (dir: string) => {
      for (const entry of readdirSync(dir, { withFileTypes: true })) {
        const full = join(dir, entry.name);
        const rel = relative(root, full);
        const name = bare ? `${CHECKPOINT_DIR}/${rel}` : rel;
        if (entry.isDirectory()) {
          archive.members.set(name, { name, type: "directory", size: 0 });
          walk(full);
        } else if (entry.isFile()) archive.members.set(name, { name, type: "file", size: statSync(full).size });
        else archive.refused.push({ name, reason: entry.isSymbolicLink() ? "symbolic link (links are not followed)" : "not a regular file" });
      }
    };
    if (bare) archive.members.set(CHECKPOINT_DIR, { name: CHECKPOINT_DIR, type: "directory", size: 0 });
    walk(root);
    return archive;
  }

  /** Adds a member if the policy accepts it; returns the name it is known by, or undefined. */
  private admit(rawName: string, type: string, linkname: string, size: number, dataOffset?: number): string | undefined {
    const checked = checkMemberName(rawName);
    if ("reason" in checked) return void this.refused.push({ name: rawName, reason: checked.reason });
    const typeProblem = checkMemberType(type, linkname);
    if (typeProblem) return void this.refused.push({ name: checked.name, reason: typeProblem });
    if (checked.name === "") return undefined;
    if (this.members.size >= MAX_MEMBERS) throw new ArchiveError(`${this.path}: more than ${MAX_MEMBERS} members; not a checkpoint archive`);
    if (this.members.has(checked.name) && type !== "directory") {
      return void this.refused.push({ name: checked.name, reason: "duplicate member (the first one is used)" });
    }
    this.members.set(checked.name, { name: checked.name, type: type as "file" | "directory", size, dataOffset });
    return checked.name;
  }

  private indexPlainTar(): void {
    const { fd, base, fileSize } = this.backing as Extract<Backing, { kind: "tar" }>;
    const block = Buffer.alloc(512);
    let pos = 0;
    let longName: string | undefined;
    let pax: Record<string, string> = {};
    const readAt = (buf: Buffer, at: number) => {
      const n = readSync(fd, buf, 0, buf.length, base + at);
      if (n !== buf.length) throw new ArchiveError(`${this.path}: truncated tar archive at offset ${at} (file is ${fileSize} bytes)`);
    };
    for (;;) {
      if (pos + 512 > fileSize) {
        if (pos === 0) throw new ArchiveError(`${this.path}: not a tar archive (${fileSize} bytes)`);
        throw new ArchiveError(`${this.path}: truncated tar archive at offset ${pos} (no end-of-archive marker)`);
      }
      readAt(block, pos);
      if (isZeroBlock(block)) return;
      let header;
      try {
        header = parseHeader(block);
      } catch (err) {
        if (err instanceof TarFormatError) throw new ArchiveError(`${this.path}: ${pos === 0 ? "not a tar archive" : err.message} at offset ${pos}`);
        throw err;
      }
      const dataOffset = pos + 512;
      const padded = Math.ceil(header.size / 512) * 512;
      if (dataOffset + header.size > fileSize) {
        throw new ArchiveError(`${this.path}: member "${header.name}" at offset ${pos} claims ${header.size} bytes, past the end of the archive (${fileSize} bytes)`);
      }
      if (header.flag === "L" || header.flag === "x" || header.flag === "g") {
        const data = Buffer.alloc(Math.min(header.size, 1 << 20));
        readAt(data, dataOffset);
        if (header.flag === "L") longName = data.toString("utf8").replace(/\0.*$/s, "");
        else if (header.flag === "x") pax = parsePax(data);
      } else {
        const name = pax.path ?? longName ?? header.name;
        const size = pax.size !== undefined ? Number(pax.size) : header.size;
        this.admit(name, header.type, pax.linkpath ?? header.linkname, size, dataOffset);
        longName = undefined;
        pax = {};
      }
      pos = dataOffset + padded;
    }
  }

  private async indexStream(passing: OpenOptions["passing"]): Promise<void> {
    const backing = this.backing as Extract<Backing, { kind: "stream" }>;
    let keptTotal = 0;
    const readers = new MemberReading();
    await this.streamPass((name, size, stream) => {
      if (!backing.keep(name, size)) {
        const reader = passing?.(name, size, this);
        if (reader) return readers.read(stream, (chunk, offset) => reader.data(chunk, offset), () => reader.end());
        let head = Buffer.alloc(0);
        stream.on("data", (c: Buffer) => {
          if (head.length >= HEAD_KEPT) return;
          head = Buffer.concat([head, c.subarray(0, HEAD_KEPT - head.length)]);
          backing.heads.set(name, head);
        });
        return;
      }
      keptTotal += size;
      if (keptTotal > MAX_KEPT_TOTAL) {
        throw new ArchiveError(`${this.path}: more than ${MAX_KEPT_TOTAL >> 20} MiB of metadata and images besides page data; not a checkpoint archive`);
      }
      const chunks: Buffer[] = [];
      stream.on("data", (c: Buffer) => chunks.push(c));
      stream.on("end", () => backing.kept.set(name, Buffer.concat(chunks)));
    }, { index: true });
    await readers.done();
  }

  /**
   * One pass over a compressed archive. `onMember` gets each accepted file member's stream and must
   * consume it; when it returns a function, the next member is read only once the promise that
   * function gives at the member's end settles. With `index`, members are added to the index as
   * they come. Aborting `signal` ends the pass early, as a success.
   */
  private async streamPass(
    onMember: (name: string, size: number, stream: MemberStream) => void | (() => Promise<void>),
    opts: { index?: boolean; signal?: AbortSignal } = {},
  ): Promise<void> {
    const { compression, source: open, sealed } = this.backing as Extract<Backing, { kind: "stream" }>;
    const { index = false, signal } = opts;
    // Loaded here: a plain tar is read through its headers and never needs it.
    const tar = createRequire(import.meta.url)("tar-stream") as typeof import("tar-stream");
    const extract = tar.extract();
    const source = open();
    signal?.addEventListener("abort", () => source.destroy(), { once: true });
    let failure: unknown;
    extract.on("entry", (header, stream, next) => {
      let settled: (() => Promise<void>) | void;
      // A failure mid-member (a sealed chunk that fails its tag, corrupt gzip) also fails the
      // member's stream: the pipeline below reports it, and unheard here it would crash the process.
      stream.on("error", () => undefined);
      if (failure !== undefined) {
        stream.on("end", next);
        return void stream.resume();
      }
      try {
        const type = header.type === "file" || header.type === "contiguous-file" ? "file" : header.type === "link" ? "hardlink" : header.type;
        const name = index
          ? this.admit(header.name, type ?? "file", header.linkname ?? "", header.size ?? 0)
          : checkMemberNameAccepted(header.name, this.members);
        if (name && type === "file") settled = onMember(name, header.size ?? 0, stream as unknown as MemberStream);
        else stream.resume();
      } catch (err) {
        // Thrown from an event handler it would escape the pipeline: stop reading, report it below.
        failure = err;
        stream.resume();
        source.destroy();
      }
      // After the member's own listeners (ends come on a later tick): what it keeps is in place
      // before the next member is handed on.
      stream.on("end", () => (settled ? void settled().then(() => next()) : next()));
    });
    try {
      await pipeline(decompress(source, compression), extract);
    } catch (err) {
      if (failure !== undefined) throw failure;
      if (signal?.aborted) return;
      // A chunk of a sealed archive that fails authentication says which, and where.
      if ((err as Error).name === "SealError") throw err;
      const format = `${sealed ? "sealed " : ""}${compression === "none" ? "" : compression + " "}tar archive`;
      throw new ArchiveError(`${this.path}: cannot read the ${format}: ${(err as Error).message}`);
    }
    if (failure !== undefined) throw failure;
  }

  has(name: string): boolean {
    return this.members.get(name)?.type === "file";
  }

  hasDirectory(name: string): boolean {
    return this.members.get(name)?.type === "directory" || [...this.members.keys()].some((m) => m.startsWith(name + "/"));
  }

  size(name: string): number {
    const m = this.members.get(name);
    if (!m) throw new ArchiveError(`${this.path}: no member ${name}`);
    return m.size;
  }

  /** The whole member (metadata and images; page data is read by range). */
  read(name: string): Uint8Array {
    const m = this.members.get(name);
    if (!m || m.type !== "file") throw new ArchiveError(`${this.path}: no member ${name}`);
    const b = this.backing;
    if (b.kind === "directory") return readFileSync(join(b.root, this.directoryPath(name)));
    if (b.kind === "tar") return this.readRange(name, 0, m.size);
    const kept = b.kept.get(name);
    if (!kept) throw new ArchiveError(`${this.path}: member ${name} (${m.size} bytes) is not kept in memory from a ${b.compression} archive`);
    return kept;
  }

  private directoryPath(name: string): string {
    const b = this.backing as Extract<Backing, { kind: "directory" }>;
    const bare = !this.members.has(CHECKPOINT_DIR) || statSync(join(b.root, "inventory.img"), { throwIfNoEntry: false })?.isFile();
    return bare && name.startsWith(CHECKPOINT_DIR + "/") ? name.slice(CHECKPOINT_DIR.length + 1) : name;
  }

  /** Bytes of a member; `into`, when given and big enough, is filled instead of a new buffer. */
  readRange(name: string, offset: number, length: number, into?: Buffer): Uint8Array {
    const m = this.members.get(name);
    if (!m || m.type !== "file") throw new ArchiveError(`${this.path}: no member ${name}`);
    if (offset < 0 || offset + length > m.size) throw new ArchiveError(`${this.path}: ${name}: range ${offset}+${length} is outside its ${m.size} bytes`);
    const b = this.backing;
    if (b.kind === "stream") {
      const kept = b.kept.get(name);
      if (kept) return kept.subarray(offset, offset + length);
      const hit = b.ranges.get(name)?.find((r) => r.offset <= offset && offset + length <= r.offset + r.data.length);
      if (!hit) throw new ArchiveError(`${this.path}: ${name} bytes ${offset}+${length} were not fetched (call prefetch first)`);
      return hit.data.subarray(offset - hit.offset, offset - hit.offset + length);
    }
    // Filled completely below (or an error is thrown), so no need to zero it first.
    const out = into && into.length >= length ? into.subarray(0, length) : Buffer.allocUnsafe(length);
    const fd = b.kind === "tar" ? b.fd : openSync(join(b.root, this.directoryPath(name)), "r");
    try {
      const base = b.kind === "tar" ? b.base + m.dataOffset! : 0;
      let done = 0;
      while (done < length) {
        const n = readSync(fd, out, done, length - done, base + offset + done);
        if (n === 0) throw new ArchiveError(`${this.path}: ${name} ends early (file is ${fstatSync(fd).size} bytes)`);
        done += n;
      }
    } finally {
      if (b.kind !== "tar") closeSync(fd);
    }
    return out;
  }

  /** Whether readRange can serve bytes without another pass (false only for page data of compressed archives). */
  get seekable(): boolean {
    return this.backing.kind !== "stream";
  }

  /** For compressed archives: one more pass that keeps just these byte ranges of members not kept. */
  async prefetch(ranges: ReadonlyArray<{ name: string; offset: number; length: number }>): Promise<void> {
    const b = this.backing;
    if (b.kind !== "stream") return;
    const wanted = ranges.filter((r) => !b.kept.has(r.name) && r.length > 0);
    if (wanted.length === 0) return;
    const byName = new Map<string, Array<{ offset: number; length: number }>>();
    for (const r of wanted) (byName.get(r.name) ?? byName.set(r.name, []).get(r.name)!).push(r);
    await this.streamPass((name, _size, stream) => {
      const want = byName.get(name);
      if (!want) return void stream.resume();
      const bufs = want.map((r) => ({ offset: r.offset, data: Buffer.alloc(r.length) }));
      let pos = 0;
      stream.on("data", (chunk: Buffer) => {
        for (const r of bufs) {
          const from = Math.max(pos, r.offset);
          const to = Math.min(pos + chunk.length, r.offset + r.data.length);
          if (from < to) chunk.copy(r.data, from - r.offset, from - pos, to - pos);
        }
        pos += chunk.length;
      });
      stream.on("end", () => {
        const list = b.ranges.get(name) ?? [];
        b.ranges.set(name, [...list, ...bufs]);
      });
    });
  }

  /**
   * Streams the bytes of several members, each in order, members in archive order: one pass of the
   * archive for a compressed one, reads in place otherwise. When `onChunk` returns a promise, no more
   * is read until it settles (a consumer slower than the disk holds the reading back). With `reuse`,
   * the chunks read in place share one buffer: `onChunk` must copy what it keeps after it returns (or
   * after its promise settles), and a big read makes no garbage.
   */
  async streamMembers(
    names: readonly string[],
    onChunk: (name: string, chunk: Uint8Array, offset: number) => void | Promise<void>,
    opts: { reuse?: boolean } = {},
  ): Promise<void> {
    const b = this.backing;
    const wanted = new Set(names);
    for (const name of wanted) this.size(name);
    if (b.kind === "stream") {
      const fromStream = [...wanted].filter((n) => !b.kept.has(n));
      for (const name of wanted) if (b.kept.has(name)) await onChunk(name, b.kept.get(name)!, 0);
      if (fromStream.length === 0) return;
      const todo = new Set(fromStream);
      const readers = new MemberReading();
      await this.streamPass((member, _size, stream) => {
        if (!todo.has(member)) return void stream.resume();
        return readers.read(stream, (chunk, offset) => onChunk(member, chunk, offset));
      });
      await readers.done();
      return;
    }
    const CHUNK = 8 << 20;
    const buffer = opts.reuse ? Buffer.allocUnsafeSlow(CHUNK) : undefined;
    for (const name of wanted) {
      const size = this.size(name);
      for (let offset = 0; offset < size; offset += CHUNK) await onChunk(name, this.readRange(name, offset, Math.min(CHUNK, size - offset), buffer), offset);
    }
  }

  async streamMember(name: string, onChunk: (chunk: Uint8Array, offset: number) => void): Promise<void> {
    await this.streamMembers([name], (_n, chunk, offset) => onChunk(chunk, offset));
  }

  /**
   * A member that is itself an archive, opened as one and called `ARCHIVE:MEMBER` in messages: read
   * in place from a plain tar or a directory; from a compressed or sealed archive, each of its passes
   * is a pass over this archive up to the member's end (what it is was seen when this was indexed).
   */
  async openMember(name: string, opts: OpenOptions = {}): Promise<CheckpointArchive> {
    const m = this.members.get(name);
    if (!m || m.type !== "file") throw new ArchiveError(`${this.path}: no member ${name}`);
    const b = this.backing;
    const label = `${this.path}:${name}`;
    if (b.kind === "directory") return CheckpointArchive.open(join(b.root, this.directoryPath(name)), opts);
    if (b.kind === "tar") return CheckpointArchive.openRange(b.file, label, b.base + m.dataOffset!, m.size, opts);
    const head = b.kept.get(name) ?? b.heads.get(name) ?? new Uint8Array(0);
    if (detectSealed(head)) throw new ArchiveError(`${label}: a sealed archive inside another archive is not read (seal the outer archive instead)`);
    return CheckpointArchive.openStream(label, detectCompression(head), () => this.memberStream(name), b.sealed, opts);
  }

  /** A member's bytes from a pass over a compressed archive that stops at the member's end (or when the stream is closed). */
  private memberStream(name: string): Readable {
    const out = new PassThrough();
    const stop = new AbortController();
    out.on("close", () => stop.abort());
    const pass = this.streamPass(
      (member, _size, stream) => {
        if (member !== name || stop.signal.aborted) return void stream.resume();
        const resume = () => {
          out.off("drain", resume);
          out.off("close", resume);
          stream.resume();
        };
        stream.on("data", (chunk: Buffer) => {
          if (out.destroyed || out.write(chunk)) return;
          stream.pause();
          out.on("drain", resume);
          out.on("close", resume);
        });
        stream.on("end", () => out.end());
      },
      { signal: stop.signal },
    );
    pass.then(
      () => {
        if (!out.writableEnded) out.destroy(new ArchiveError(`${this.path}: member ${name} ends early`));
      },
      (err: unknown) => out.destroy(err as Error),
    );
    return out;
  }

  /** The CRIU images (members under checkpoint/) as the codec reads them. */
  imageFiles(): ImageFiles {
    const prefix = CHECKPOINT_DIR + "/";
    return {
      describe: (name) => `${this.path}:${prefix}${name}`,
      has: (name) => this.has(prefix + name),
      list: () => [...this.members.values()].filter((m) => m.type === "file" && m.name.startsWith(prefix) && !m.name.slice(prefix.length).includes("/")).map((m) => m.name.slice(prefix.length)),
      size: (name) => this.size(prefix + name),
      read: (name) => this.read(prefix + name),
      readRange: (name, offset, length) => this.readRange(prefix + name, offset, length),
      parent: () => undefined,
      close: () => undefined,
    };
  }

  close(): void {
    if (this.backing.kind === "tar") closeSync(this.backing.fd);
  }
}

/**
 * Members of one streaming pass handed to readers: a reader's promise pauses the stream until it
 * settles; the first failure stops the readers (the rest of the pass only drains) and is thrown by
 * `done`, which also waits for the readers' ends.
 */
class MemberReading {
  private failure: { err: unknown } | undefined;
  private readonly ends: Array<Promise<void>> = [];

  /** Returns what the pass waits on before the next member: the last chunk's consumer. */
  read(stream: MemberStream, data: (chunk: Uint8Array, offset: number) => void | Promise<void>, end?: () => void | Promise<void>): () => Promise<void> {
    let pos = 0;
    let last: Promise<void> = Promise.resolve();
    const fail = (err: unknown) => {
      this.failure ??= { err };
    };
    stream.on("data", (chunk: Buffer) => {
      if (this.failure) return;
      let wait: void | Promise<void>;
      try {
        wait = data(chunk, pos);
      } catch (err) {
        return fail(err);
      }
      pos += chunk.length;
      if (wait) {
        stream.pause();
        last = wait.then(
          () => void stream.resume(),
          (err: unknown) => {
            fail(err);
            stream.resume();
          },
        );
      }
    });
    if (end) {
      stream.on("end", () => {
        if (this.failure) return;
        try {
          const wait = end();
          if (wait) this.ends.push(wait.catch(fail));
        } catch (err) {
          fail(err);
        }
      });
    }
    return () => last;
  }

  async done(): Promise<void> {
    await Promise.all(this.ends);
    if (this.failure) throw this.failure.err;
  }
}

function checkMemberNameAccepted(raw: string, members: Map<string, ArchiveMember>): string | undefined {
  const checked = checkMemberName(raw);
  return "name" in checked && members.has(checked.name) ? checked.name : undefined;
}
