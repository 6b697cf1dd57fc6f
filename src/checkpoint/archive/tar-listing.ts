/**
 * A tar stored inside a checkpoint archive (rootfs-diff.tar): its file list and, for the entries a
 * caller asks for, their contents. Read from its headers in place when possible, streamed otherwise
 * (gzip'd in containerd's layout; a pass of its own over a compressed archive). Nothing is extracted.
 */
import { once } from "node:events";
import { PassThrough, Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { createRequire } from "node:module";
import { ArchiveError, type CheckpointArchive, type MemberReader } from "./checkpoint-archive.js";
import { decompress, detectCompression } from "./compression.js";
import { isZeroBlock, parseHeader, parsePax, TarFormatError } from "./tar-header.js";

export interface TarListEntry {
  path: string;
  type: string;
  size: number;
  link?: string;
}

const TAR_TYPES: Record<string, string> = {
  file: "file",
  directory: "directory",
  symlink: "symlink",
  hardlink: "hardlink",
  link: "hardlink",
  "contiguous-file": "file",
  "character-device": "char-device",
  "block-device": "block-device",
  fifo: "fifo",
  "3": "char-device",
  "4": "block-device",
  "6": "fifo",
};

function diffEntry(name: string, type: string, size: number, link: string | undefined): TarListEntry {
  const t = TAR_TYPES[type] ?? type;
  const entry: TarListEntry = { path: name.replace(/^(\.\/)+/, "").replace(/\/+$/, ""), type: t, size: t === "file" ? size : 0 };
  if (link) entry.link = link;
  return entry;
}

/**
 * The bytes of a tar inside the archive as a stream for `read` (decompressed when gzip'd, as
 * containerd's rootfs-diff.tar is): for tars that cannot be read in place. Reading an archive that
 * is itself streamed waits for `read` to take each chunk.
 */
async function tarInput(archive: CheckpointArchive, name: string, size: number, read: (input: Readable) => Promise<void>): Promise<void> {
  if (archive.seekable) {
    const compression = detectCompression(archive.readRange(name, 0, Math.min(512, size)));
    const CHUNK = 1 << 20;
    const source = Readable.from(
      (function* () {
        for (let offset = 0; offset < size; offset += CHUNK) yield Buffer.from(archive.readRange(name, offset, Math.min(CHUNK, size - offset)));
      })(),
    );
    return read(decompress(source, compression));
  }
  const pushed = pushedTar(read);
  await archive.streamMember(name, (chunk) => pushed.data(chunk));
  await pushed.end();
}

/** A tar's bytes pushed in order into `read`, decompressed as their first bytes say; `end` settles with `read`. */
function pushedTar(read: (input: Readable) => Promise<void>): { data(chunk: Uint8Array): void | Promise<void>; end(): Promise<void> } {
  const input = new PassThrough();
  let reading: Promise<void> | undefined;
  let settled = false;
  return {
    data(chunk) {
      if (!reading) {
        reading = read(decompress(input, detectCompression(chunk)));
        reading.then(
          () => (settled = true),
          () => (settled = true),
        );
      }
      // Wait for the reader to take what was written, unless it has stopped.
      if (!input.write(chunk) && !settled) return Promise.race([once(input, "drain").then(() => undefined), reading.then(() => undefined, () => undefined)]);
    },
    async end() {
      input.end();
      if (reading) await reading;
    },
  };
}

function inPlace(archive: CheckpointArchive, name: string, size: number): boolean {
  return archive.seekable && detectCompression(archive.readRange(name, 0, Math.min(512, size))) === "none";
}

/** Where an entry's bytes go, when its caller wants them: in order, then `end`. A promise holds the reading back until it settles. */
export interface TarContentSink {
  data(chunk: Uint8Array): void | Promise<void>;
  end(): void | Promise<void>;
}

export type TarEntryVisitor = (entry: TarListEntry) => TarContentSink | undefined;

/**
 * The members of a tar inside the archive (rootfs-diff.tar): from its headers alone when it is a
 * plain tar that can be read in place, otherwise by streaming it (gzip'd in containerd's layout;
 * a pass of its own over a compressed archive).
 */
export function listTar(archive: CheckpointArchive, name: string): Promise<TarListEntry[]> {
  return walkTar(archive, name, () => undefined);
}

/**
 * listTar, and the bytes of each entry for which `visit` returns a sink: read in place from a plain
 * tar, streamed otherwise. Nothing is extracted to disk; memory stays bounded.
 */
export async function walkTar(archive: CheckpointArchive, name: string, visit: TarEntryVisitor): Promise<TarListEntry[]> {
  const size = archive.size(name);
  if (size === 0) return [];
  const where = `${archive.path}: ${name}`;
  const out: TarListEntry[] = [];
  if (inPlace(archive, name, size)) {
    const CHUNK = 1 << 20;
    for (const { entry, dataOffset } of walkHeaders(archive, name, size, where)) {
      out.push(entry);
      const sink = visit(entry);
      if (!sink) continue;
      for (let at = 0; at < entry.size; at += CHUNK) await sink.data(archive.readRange(name, dataOffset + at, Math.min(CHUNK, entry.size - at)));
      await sink.end();
    }
    return out;
  }
  await tarInput(archive, name, size, (input) => tarStream(input, where, visiting(out, visit)));
  return out;
}

/** tarStream's onEntry for walkTar: each entry listed in `out`, its bytes into the sink `visit` gives. */
function visiting(out: TarListEntry[], visit: TarEntryVisitor): (entry: TarListEntry, stream: Readable) => Promise<void> | undefined {
  return (entry, stream) => {
    out.push(entry);
    const sink = visit(entry);
    return sink ? drainInto(stream, sink) : undefined;
  };
}

/**
 * walkTar for a tar member whose bytes are handed over as they go by (OpenOptions.passing): the
 * reader to hand them to, and the entries once its end has settled.
 */
export function walkPassingTar(where: string, visit: TarEntryVisitor): { reader: MemberReader; entries: () => TarListEntry[] } {
  const out: TarListEntry[] = [];
  const pushed = pushedTar((input) => tarStream(input, where, visiting(out, visit)));
  return { reader: { data: (chunk) => pushed.data(chunk), end: () => pushed.end() }, entries: () => out };
}

/** The data of some regular files of a tar inside the archive, with each chunk's offset in its file. `paths` are as listTar gives them. */
export async function readTarFiles(archive: CheckpointArchive, name: string, paths: ReadonlySet<string>, onData: (path: string, chunk: Uint8Array, offset: number) => void): Promise<void> {
  if (paths.size === 0) return;
  await walkTar(archive, name, (entry) => {
    if (entry.type !== "file" || !paths.has(entry.path)) return undefined;
    let at = 0;
    return {
      data: (chunk) => {
        onData(entry.path, chunk, at);
        at += chunk.length;
      },
      end: () => undefined,
    };
  });
}

/** An entry's stream into a sink, paused while the sink holds it back; settles after the sink's end. */
function drainInto(stream: Readable, sink: TarContentSink): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    let failed = false;
    const fail = (err: unknown) => {
      failed = true;
      reject(err);
    };
    stream.on("data", (chunk: Buffer) => {
      if (failed) return;
      try {
        const wait = sink.data(chunk);
        if (wait) {
          stream.pause();
          wait.then(() => stream.resume(), fail);
        }
      } catch (err) {
        fail(err);
      }
    });
    stream.on("end", () => {
      if (failed) return;
      try {
        Promise.resolve(sink.end()).then(resolve, reject);
      } catch (err) {
        reject(err);
      }
    });
  });
}

/**
 * The entries of a plain tar without its end-of-archive blocks, cut as its bytes stream by (in
 * order, from offset 0), so that entries can be appended after them: `feed` gives back the bytes
 * that belong to entries, `end` where the entries ended. A header block split between two chunks
 * is held until it is whole. `where` names the tar in errors.
 */
export class TarEntriesCutter {
  /** Offset of the next header block. */
  private next = 0;
  private readonly block = Buffer.alloc(512);
  private filled = 0;
  private ended: number | undefined;
  private seen = 0;

  constructor(
    private readonly size: number,
    private readonly where: string,
  ) {}

  feed(data: Uint8Array): Uint8Array[] {
    const chunk = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    const offset = this.seen;
    this.seen += chunk.length;
    const out: Uint8Array[] = [];
    let pos = 0;
    while (pos < chunk.length && this.ended === undefined) {
      const at = offset + pos;
      if (this.filled === 0 && at < this.next) {
        // Entry data: passed on as it is.
        const n = Math.min(chunk.length - pos, this.next - at);
        out.push(chunk.subarray(pos, pos + n));
        pos += n;
        continue;
      }
      const n = Math.min(512 - this.filled, chunk.length - pos);
      chunk.copy(this.block, this.filled, pos, pos + n);
      this.filled += n;
      pos += n;
      if (this.filled < 512) break;
      this.filled = 0;
      if (isZeroBlock(this.block)) {
        this.ended = this.next;
        break;
      }
      if (this.next === 0 && detectCompression(this.block) !== "none") throw new ArchiveError(`${this.where}: a compressed tar: entries cannot be appended to it`);
      let h;
      try {
        h = parseHeader(this.block);
      } catch (err) {
        if (err instanceof TarFormatError) throw new ArchiveError(`${this.where}: ${err.message} at offset ${this.next}`);
        throw err;
      }
      const following = this.next + 512 + Math.ceil(h.size / 512) * 512;
      if (this.next + 512 + h.size > this.size) throw new ArchiveError(`${this.where}: member "${h.name}" at offset ${this.next} runs past the end (${this.size} bytes)`);
      out.push(Buffer.from(this.block));
      this.next = Math.min(following, this.size);
    }
    return out;
  }

  /** Where the entries end: the end-of-archive blocks, or the end of the last entry when there are none. */
  end(): number {
    if (this.seen < this.size) throw new ArchiveError(`${this.where}: ${this.seen} of its ${this.size} bytes were read`);
    return this.ended ?? this.next;
  }
}

/** Each member of a plain tar read in place: its entry, where its data is, and where the next header is. */
function* walkHeaders(archive: CheckpointArchive, name: string, size: number, where: string): Generator<{ entry: TarListEntry; dataOffset: number; next: number }> {
  let pos = 0;
  let longName: string | undefined;
  let longLink: string | undefined;
  let pax: Record<string, string> = {};
  while (pos + 512 <= size) {
    const block = archive.readRange(name, pos, 512);
    if (isZeroBlock(block)) break;
    let h;
    try {
      h = parseHeader(block);
    } catch (err) {
      if (err instanceof TarFormatError) throw new ArchiveError(`${where}: ${err.message} at offset ${pos}`);
      throw err;
    }
    const dataAt = pos + 512;
    if (dataAt + h.size > size) throw new ArchiveError(`${where}: member "${h.name}" at offset ${pos} runs past the end (${size} bytes)`);
    if (h.flag === "L" || h.flag === "K" || h.flag === "x") {
      const data = archive.readRange(name, dataAt, Math.min(h.size, 1 << 20));
      if (h.flag === "L") longName = Buffer.from(data).toString("utf8").replace(/\0.*$/s, "");
      else if (h.flag === "K") longLink = Buffer.from(data).toString("utf8").replace(/\0.*$/s, "");
      else pax = parsePax(data);
    } else if (h.flag !== "g") {
      const size = pax.size !== undefined ? Number(pax.size) : h.size;
      const next = Math.min(dataAt + Math.ceil(h.size / 512) * 512, archive.size(name));
      yield { entry: diffEntry(pax.path ?? longName ?? h.name, h.type, size, pax.linkpath ?? longLink ?? h.linkname), dataOffset: dataAt, next };
      longName = longLink = undefined;
      pax = {};
    }
    pos = dataAt + Math.ceil(h.size / 512) * 512;
  }
}

/**
 * Walks a tar stream: `onEntry` either takes an entry's stream, returning a promise the next entry
 * waits for, or returns nothing to have it skipped.
 */
async function tarStream(input: Readable, where: string, onEntry: (entry: TarListEntry, stream: Readable) => Promise<void> | undefined): Promise<void> {
  const tar = createRequire(import.meta.url)("tar-stream") as typeof import("tar-stream");
  const extract = tar.extract();
  let failure: unknown;
  extract.on("entry", (header, stream, next) => {
    const done = onEntry(diffEntry(header.name, header.type ?? "file", header.size ?? 0, header.linkname ?? undefined), stream as unknown as Readable);
    if (!done) {
      stream.on("end", next);
      stream.resume();
      return;
    }
    done.then(
      () => next(),
      (err: unknown) => {
        failure ??= err;
        next(err as Error);
      },
    );
  });
  try {
    await pipeline(input, extract);
  } catch (err) {
    if (failure !== undefined) throw failure;
    throw new ArchiveError(`${where}: cannot read it as a tar archive: ${(err as Error).message}`);
  }
}
