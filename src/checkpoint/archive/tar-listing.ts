/**
 * The file list of a tar stored inside a checkpoint archive (rootfs-diff.tar): read from its headers
 * in place when possible, streamed otherwise (gzip'd in containerd's layout; a pass of its own over a
 * compressed archive). Only names, types and sizes: nothing is extracted.
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

/**
 * The members of a tar inside the archive (rootfs-diff.tar): from its headers alone when it is a
 * plain tar that can be read in place, otherwise by streaming it (gzip'd in containerd's layout;
 * a pass of its own over a compressed archive).
 */
export async function listTar(archive: CheckpointArchive, name: string): Promise<TarListEntry[]> {
  const size = archive.size(name);
  if (size === 0) return [];
  const where = `${archive.path}: ${name}`;
  if (archive.seekable) {
    const head = archive.readRange(name, 0, Math.min(512, size));
    const compression = detectCompression(head);
    if (compression === "none") return tarHeaders(archive, name, size, where).entries;
    const CHUNK = 1 << 20;
    const source = Readable.from(
      (function* () {
        for (let offset = 0; offset < size; offset += CHUNK) yield Buffer.from(archive.readRange(name, offset, Math.min(CHUNK, size - offset)));
      })(),
    );
    return tarStream(decompress(source, compression), where);
  }
  const input = new PassThrough();
  let listing: Promise<TarListEntry[]> | undefined;
  await archive.streamMember(name, (chunk) => {
    if (!listing) {
      listing = tarStream(decompress(input, detectCompression(chunk)), where);
      listing.catch(() => undefined);
    }
    input.write(chunk);
  });
  input.end();
  return listing ? await listing : [];
}

/**
 * Where the end-of-archive blocks of a plain tar member begin (its size when it has none), so
 * entries can be appended; undefined for a compressed member or an archive that is not seekable.
 */
export function plainTarEnd(archive: CheckpointArchive, name: string): number | undefined {
  const size = archive.size(name);
  if (size === 0) return 0;
  if (!archive.seekable || detectCompression(archive.readRange(name, 0, Math.min(512, size))) !== "none") return undefined;
  return tarHeaders(archive, name, size, `${archive.path}: ${name}`).end;
}

/** The members of a plain tar read from its headers in place, and the offset its entries end at. */
function tarHeaders(archive: CheckpointArchive, name: string, size: number, where: string): { entries: TarListEntry[]; end: number } {
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
      out.push(diffEntry(pax.path ?? longName ?? h.name, h.type, size, pax.linkpath ?? longLink ?? h.linkname));
      longName = longLink = undefined;
      pax = {};
    }
    pos = dataAt + Math.ceil(h.size / 512) * 512;
  }
  return { entries: out, end: Math.min(pos, size) };
}

async function tarStream(input: Readable, where: string): Promise<TarListEntry[]> {
  const out: TarListEntry[] = [];
  const tar = createRequire(import.meta.url)("tar-stream") as typeof import("tar-stream");
  const extract = tar.extract();
  extract.on("entry", (header, stream, next) => {
    out.push(diffEntry(header.name, header.type ?? "file", header.size ?? 0, header.linkname ?? undefined));
    stream.on("end", next);
    stream.resume();
  });
  try {
    await pipeline(input, extract);
  } catch (err) {
    throw new ArchiveError(`${where}: cannot read it as a tar archive: ${(err as Error).message}`);
  }
  return out;
}
