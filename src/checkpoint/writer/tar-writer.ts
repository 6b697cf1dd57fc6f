/**
 * Streams members into a tar with tar-stream: one member at a time, file data read in 1 MiB chunks
 * with backpressure, so memory stays flat whatever the size of the pages. Files are opened without
 * following symlinks and without blocking on a FIFO, checked to be the inode that was listed, and
 * read for exactly the size their header announces.
 */
import { constants } from "node:fs";
import { open, type FileHandle } from "node:fs/promises";
import { createRequire } from "node:module";
import { Aborted, messageOf, SourceError, throwIfAborted } from "./errors.js";
import { nodeStat, paxRecords, type NodeStat, type TarMember } from "./tar-members.js";

type TarStream = typeof import("tar-stream");
type Pack = ReturnType<TarStream["pack"]>;
type Header = Parameters<Pack["entry"]>[0];
type Sink = ReturnType<Pack["entry"]>;

const tarStream = createRequire(import.meta.url)("tar-stream") as TarStream;

const CHUNK = 1 << 20;
const OPEN_FLAGS = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK;

export interface TarWriteOptions {
  signal?: AbortSignal;
  /** Called with each member's name before it is packed (progress, logging). */
  onEntry?: (name: string) => void;
  /** Called with the archive's bytes in order, as they are written (a digest of the whole file). */
  onData?: (chunk: Buffer) => void;
}

/** Packs `members` in order into `out` (at its current position); returns the bytes written. */
export async function writeTar(members: Iterable<TarMember>, out: FileHandle, opts: TarWriteOptions = {}): Promise<number> {
  const pack = tarStream.pack();
  let written = 0;
  let firstError: unknown;
  const fail = (err: unknown): void => {
    firstError ??= err;
    if (!pack.destroying) pack.destroy(err instanceof Error ? err : new Error(messageOf(err)));
  };
  const onAbort = (): void => fail(new Aborted(opts.signal!.reason));
  opts.signal?.addEventListener("abort", onAbort, { once: true });
  try {
    const producer = (async () => {
      for (const m of members) {
        throwIfAborted(opts.signal);
        if (pack.destroying) return;
        opts.onEntry?.(m.name);
        await packMember(pack, m, opts.signal);
      }
      pack.finalize();
    })().catch(fail);
    const consumer = (async () => {
      for await (const chunk of pack as AsyncIterable<Buffer>) {
        await writeAll(out, chunk);
        opts.onData?.(chunk);
        written += chunk.length;
      }
    })().catch(fail);
    await Promise.all([producer, consumer]);
  } finally {
    opts.signal?.removeEventListener("abort", onAbort);
  }
  if (firstError !== undefined) throw firstError;
  throwIfAborted(opts.signal);
  return written;
}

async function writeAll(out: FileHandle, chunk: Buffer): Promise<void> {
  let off = 0;
  while (off < chunk.length) {
    const { bytesWritten } = await out.write(chunk, off, chunk.length - off);
    off += bytesWritten;
  }
}

function header(name: string, type: Header["type"], stat: NodeStat, extra: Partial<Header> = {}): Header {
  const pax = paxRecords(stat);
  return {
    name,
    type,
    mode: stat.mode,
    uid: stat.uid,
    gid: stat.gid,
    mtime: stat.mtime,
    uname: "",
    gname: "",
    ...(pax ? { pax } : {}),
    ...extra,
  };
}

async function packMember(pack: Pack, m: TarMember, signal: AbortSignal | undefined): Promise<void> {
  switch (m.kind) {
    case "data":
      return entry(pack, { name: m.name, type: "file", mode: m.mode, mtime: m.mtime, uid: 0, gid: 0, uname: "", gname: "" }, m.data);
    case "file":
      return packFile(pack, m, signal);
    case "directory":
      return entry(pack, header(m.name.endsWith("/") ? m.name : `${m.name}/`, "directory", m.stat));
    case "symlink":
    case "link":
      return entry(pack, header(m.name, m.kind, m.stat, { linkname: m.linkname ?? "" }));
    case "fifo":
      return entry(pack, header(m.name, "fifo", m.stat));
    case "character-device":
    case "block-device":
      return entry(pack, header(m.name, m.kind, m.stat, { devmajor: m.stat.rdevMajor, devminor: m.stat.rdevMinor }));
  }
}

/** A member without a data stream; resolves once tar-stream has packed it. */
function entry(pack: Pack, h: Header, data?: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    const cb = (err?: Error | null) => (err ? reject(err) : resolve());
    if (data) pack.entry(h, data, cb);
    else pack.entry(h, cb);
  });
}

async function openSource(path: string): Promise<{ fh: FileHandle; stat: NodeStat }> {
  let fh: FileHandle;
  try {
    fh = await open(path, OPEN_FLAGS);
  } catch (err) {
    const why = (err as { code?: string }).code === "ELOOP" ? "is a symbolic link (not followed)" : messageOf(err);
    throw new SourceError(path, why, { cause: err });
  }
  try {
    const st = await fh.stat({ bigint: true });
    if (!st.isFile()) throw new SourceError(path, "is not a regular file");
    return { fh, stat: nodeStat(st) };
  } catch (err) {
    await fh.close();
    throw err instanceof SourceError ? err : new SourceError(path, messageOf(err), { cause: err });
  }
}

async function packFile(pack: Pack, m: Extract<TarMember, { kind: "file" }>, signal: AbortSignal | undefined): Promise<void> {
  const meta = await openSource(m.source);
  let data = meta;
  try {
    if (m.stat && meta.stat.identity !== m.stat.identity) {
      throw new SourceError(m.source, "was replaced while the archive was written (not the file that was listed)");
    }
    if (m.dataSource) data = await openSource(m.dataSource);
    const stat = m.stat ?? meta.stat;
    const size = Math.min(data.stat.size, m.maxSize ?? Infinity);
    await streamEntry(pack, header(m.name, "file", stat, { size }), data.fh, size, m.dataSource ?? m.source, signal);
  } finally {
    await meta.fh.close();
    if (data !== meta) await data.fh.close();
  }
}

function streamEntry(pack: Pack, h: Header, fh: FileHandle, size: number, source: string, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    const sink = pack.entry(h, (err?: Error | null) => (err ? reject(err) : resolve()));
    (async () => {
      let pos = 0;
      while (pos < size) {
        throwIfAborted(signal);
        const buf = Buffer.allocUnsafe(Math.min(CHUNK, size - pos));
        let bytesRead: number;
        try {
          ({ bytesRead } = await fh.read(buf, 0, buf.length, pos));
        } catch (err) {
          throw new SourceError(source, messageOf(err), { cause: err });
        }
        if (bytesRead === 0) throw new SourceError(source, `shrank while it was archived (${pos} of ${size} bytes read)`);
        pos += bytesRead;
        if (!sink.write(bytesRead < buf.length ? buf.subarray(0, bytesRead) : buf)) await drained(sink);
      }
      sink.end(undefined);
    })().catch((err: unknown) => {
      reject(err);
      if (!sink.destroying) sink.destroy(err instanceof Error ? err : new Error(messageOf(err)));
    });
  });
}

function drained(sink: Sink): Promise<void> {
  return new Promise((resolve, reject) => {
    if (sink.destroying || sink.destroyed) return reject(new Error("tar stream closed"));
    const done = (err?: Error) => {
      sink.off("drain", onDrain);
      sink.off("close", onClose);
      sink.off("error", onError);
      if (err) reject(err);
      else resolve();
    };
    const onDrain = () => done();
    const onClose = () => done(new Error("tar stream closed"));
    const onError = (err: Error) => done(err);
    sink.on("drain", onDrain);
    sink.on("close", onClose);
    sink.on("error", onError);
  });
}
