/**
 * The file list of a tar stored inside a checkpoint archive (rootfs-diff.tar): read from its headers
 * in place when possible, streamed otherwise (gzip'd in containerd's layout; a pass of its own over a
 * compressed archive). Only names, types and sizes: nothing is extracted.
 */
import { once } from "node:events";
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
  if (archive.seekable && detectCompression(archive.readRange(name, 0, Math.min(512, size))) === "none") return tarHeaders(archive, name, size, where);
  const out: TarListEntry[] = [];
  await extractTar(archive, name, (header, stream) => {
    out.push(diffEntry(header.name, header.type ?? "file", header.size ?? 0, header.linkname ?? undefined));
    stream.resume();
    return undefined;
  });
  return out;
}

/** Where a file's bytes go as they are read; a promise holds the reading back until it settles. */
export interface TarFileSink {
  feed(chunk: Uint8Array): void | Promise<void>;
  end(): void | Promise<void>;
}

/**
 * Streams the regular files of a tar inside the archive (rootfs-diff.tar, plain or compressed), in
 * order: `onFile` gets each file's path (as listTar gives it) and size and returns where its bytes go
 * (or nothing to skip it). Nothing is extracted to disk; memory stays bounded.
 */
export async function readTarFiles(archive: CheckpointArchive, name: string, onFile: (path: string, size: number) => TarFileSink | undefined): Promise<void> {
  if (archive.size(name) === 0) return;
  await extractTar(archive, name, (header, stream) => {
    const type = header.type ?? "file";
    const sink = type === "file" || type === "contiguous-file" ? onFile(diffEntry(header.name, type, 0, undefined).path, header.size ?? 0) : undefined;
    if (!sink) {
      stream.resume();
      return undefined;
    }
    return new Promise<void>((resolve, reject) => {
      let failed = false;
      const fail = (err: unknown) => {
        failed = true;
        reject(err);
      };
      stream.on("data", (chunk: Buffer) => {
        if (failed) return;
        try {
          const wait = sink.feed(chunk);
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
  });
}

type TarEntryHeader = { name: string; type?: string | null; size?: number; linkname?: string | null };
type TarEntryStream = Readable;

/**
 * Runs tar-stream over the decompressed bytes of member `name`; `onEntry` must consume each entry's
 * stream and may return a promise that the next entry waits for.
 */
async function extractTar(archive: CheckpointArchive, name: string, onEntry: (header: TarEntryHeader, stream: TarEntryStream) => Promise<void> | undefined): Promise<void> {
  const where = `${archive.path}: ${name}`;
  const size = archive.size(name);
  const run = async (input: Readable): Promise<void> => {
    const tar = createRequire(import.meta.url)("tar-stream") as typeof import("tar-stream");
    const extract = tar.extract();
    let failure: unknown;
    extract.on("entry", (header, stream, next) => {
      const done = onEntry(header, stream as unknown as TarEntryStream);
      if (!done) return stream.on("end", next);
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
  };
  if (archive.seekable) {
    const CHUNK = 1 << 20;
    const source = Readable.from(
      (function* () {
        for (let offset = 0; offset < size; offset += CHUNK) yield Buffer.from(archive.readRange(name, offset, Math.min(CHUNK, size - offset)));
      })(),
    );
    return run(decompress(source, detectCompression(archive.readRange(name, 0, Math.min(512, size)))));
  }
  const input = new PassThrough();
  let reading: Promise<void> | undefined;
  let settled = false;
  await archive.streamMember(name, (chunk) => {
    if (!reading) {
      reading = run(decompress(input, detectCompression(chunk)));
      reading.then(
        () => (settled = true),
        () => (settled = true),
      );
    }
    // Wait for the reader to take what was written, unless it has stopped.
    if (!input.write(chunk) && !settled) return Promise.race([once(input, "drain").then(() => undefined), reading.then(() => undefined, () => undefined)]);
  });
  input.end();
  if (reading) await reading;
}

function tarHeaders(archive: CheckpointArchive, name: string, size: number, where: string): TarListEntry[] {
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
  return out;
}
