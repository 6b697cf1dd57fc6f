/**
 * The file list of a tar stored inside a checkpoint archive (rootfs-diff.tar): read from its headers
 * in place when possible, streamed otherwise (gzip'd in containerd's layout; a pass of its own over a
 * compressed archive). Names, types and sizes, and on request each file's bytes as they stream by:
 * nothing is extracted.
 */
import { PassThrough, Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { createRequire } from "node:module";
import { ArchiveError, type CheckpointArchive } from "./checkpoint-archive.js";
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

/** Where an entry's bytes go, when its caller wants them: in order, then `end`. */
export interface TarContentSink {
  data(chunk: Uint8Array): void;
  end(): void;
}

export type TarEntryVisitor = (entry: TarListEntry) => TarContentSink | undefined;

/**
 * The members of a tar inside the archive (rootfs-diff.tar): from its headers alone when it is a
 * plain tar that can be read in place, otherwise by streaming it (gzip'd in containerd's layout;
 * a pass of its own over a compressed archive).
 */
export async function listTar(archive: CheckpointArchive, name: string): Promise<TarListEntry[]> {
  return walkTar(archive, name, () => undefined);
}

/** listTar, and the bytes of each entry for which `visit` returns a sink. */
export async function walkTar(archive: CheckpointArchive, name: string, visit: TarEntryVisitor): Promise<TarListEntry[]> {
  const size = archive.size(name);
  if (size === 0) return [];
  const where = `${archive.path}: ${name}`;
  if (archive.seekable) {
    const head = archive.readRange(name, 0, Math.min(512, size));
    const compression = detectCompression(head);
    if (compression === "none") return tarHeaders(archive, name, size, where, visit);
    const CHUNK = 1 << 20;
    const source = Readable.from(
      (function* () {
        for (let offset = 0; offset < size; offset += CHUNK) yield Buffer.from(archive.readRange(name, offset, Math.min(CHUNK, size - offset)));
      })(),
    );
    return tarStream(decompress(source, compression), where, visit);
  }
  const input = new PassThrough();
  let listing: Promise<TarListEntry[]> | undefined;
  await archive.streamMember(name, (chunk) => {
    if (!listing) {
      listing = tarStream(decompress(input, detectCompression(chunk)), where, visit);
      listing.catch(() => undefined);
    }
    input.write(chunk);
  });
  input.end();
  return listing ? await listing : [];
}

function tarHeaders(archive: CheckpointArchive, name: string, size: number, where: string, visit: TarEntryVisitor): TarListEntry[] {
  const out: TarListEntry[] = [];
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
      const entry = diffEntry(pax.path ?? longName ?? h.name, h.type, size, pax.linkpath ?? longLink ?? h.linkname);
      out.push(entry);
      const sink = visit(entry);
      if (sink) {
        const CHUNK = 1 << 20;
        for (let at = 0; at < h.size; at += CHUNK) sink.data(archive.readRange(name, dataAt + at, Math.min(CHUNK, h.size - at)));
        sink.end();
      }
      longName = longLink = undefined;
      pax = {};
    }
    pos = dataAt + Math.ceil(h.size / 512) * 512;
  }
  return out;
}

async function tarStream(input: Readable, where: string, visit: TarEntryVisitor): Promise<TarListEntry[]> {
  const out: TarListEntry[] = [];
  const tar = createRequire(import.meta.url)("tar-stream") as typeof import("tar-stream");
  const extract = tar.extract();
  extract.on("entry", (header, stream, next) => {
    const entry = diffEntry(header.name, header.type ?? "file", header.size ?? 0, header.linkname ?? undefined);
    out.push(entry);
    const sink = visit(entry);
    if (sink) stream.on("data", (chunk) => sink.data(chunk as Buffer));
    stream.on("end", () => {
      sink?.end();
      next();
    });
    stream.resume();
  });
  try {
    await pipeline(input, extract);
  } catch (err) {
    throw new ArchiveError(`${where}: cannot read it as a tar archive: ${(err as Error).message}`);
  }
  return out;
}
