/**
 * Sealed archives on disk: sealing a file for recipients and opening one with identities, both
 * streaming (one 64 KiB chunk in memory), the output written to a temp name and renamed into place
 * only once complete, so a failure (a wrong key, a tampered chunk) leaves nothing behind.
 */
import { closeSync, createReadStream, fstatSync, openSync, readSync } from "node:fs";
import type { Readable } from "node:stream";
import { pipeInto, streamHead } from "../archive/compression.js";
import { writeFileAtomically } from "../writer/atomic-file.js";
import { detectSealed, MAX_HEADER_SIZE, PAYLOAD_NONCE_SIZE } from "./age-format.js";
import { newPayloadKey, openPayloadKey } from "./file-key.js";
import type { Identities } from "./identity-file.js";
import { ChunkOpener, ChunkSealer, SealError } from "./stream-cipher.js";

const READ_CHUNK = 1 << 20;
const WRITE_BATCH = 4 << 20;

/** An opened sealed file: where its chunks start and the key that opens them. */
export interface SealedSource {
  path: string;
  payloadStart: number;
  key: Buffer;
}

function readHead(path: string, max: number): Buffer {
  const fd = openSync(path, "r");
  try {
    const head = Buffer.alloc(Math.min(max, fstatSync(fd).size));
    let n = 0;
    while (n < head.length) {
      const got = readSync(fd, head, n, head.length - n, n);
      if (got === 0) break;
      n += got;
    }
    return head.subarray(0, n);
  } finally {
    closeSync(fd);
  }
}

/** Whether a file starting with `head` is sealed; an armored age file is refused, naming `path`. */
export function isSealedHead(path: string, head: Uint8Array): boolean {
  const kind = detectSealed(head);
  if (kind === "age-armor") throw new SealError(`${path}: an ASCII-armored age file: turn it into a binary one first (age -d, then seal again)`);
  return kind === "age";
}

/** Checks the header against the identities and derives the payload key. */
export async function openSealed(path: string, identities: Identities): Promise<SealedSource> {
  const head = readHead(path, MAX_HEADER_SIZE + PAYLOAD_NONCE_SIZE);
  if (!isSealedHead(path, head)) throw new SealError(`${path}: not a sealed archive (no age header)`);
  const { prefix, key } = await openPayloadKey(path, head, identities);
  return { path, payloadStart: prefix.length, key };
}

/** The plaintext of a sealed file, as a stream that fails with a SealError on the first bad chunk. */
export function unsealedStream(source: SealedSource): Readable {
  const raw = createReadStream(source.path, { start: source.payloadStart, highWaterMark: READ_CHUNK });
  return pipeInto(raw, new ChunkOpener(source.key, source.path, source.payloadStart));
}

/** The first `n` bytes of the plaintext (fewer if it is shorter). */
export function unsealedHead(source: SealedSource, n: number): Promise<Buffer> {
  return streamHead(unsealedStream(source), n);
}

/** `open()` is called once the temp file is ready: a stream flowing earlier could fail unheard. */
async function writeAtomically(output: string, open: () => Readable, overwrite: boolean): Promise<number> {
  return writeFileAtomically(
    output,
    async (fh) => {
      let bytes = 0;
      let batch: Buffer[] = [];
      let batched = 0;
      const flush = async () => {
        const data = Buffer.concat(batch, batched);
        for (let done = 0; done < data.length; ) done += (await fh.write(data, done, data.length - done)).bytesWritten;
        bytes += data.length;
        batch = [];
        batched = 0;
      };
      // A stream's failure (a bad chunk) surfaces here, and the temp file is removed. Chunks are
      // 64 KiB: written a few MiB at a time, the writes cost less than the cipher.
      for await (const chunk of open() as AsyncIterable<Buffer>) {
        batch.push(chunk);
        batched += chunk.length;
        if (batched >= WRITE_BATCH) await flush();
      }
      await flush();
      return bytes;
    },
    { overwrite },
  );
}

/** Seals `input` for `recipients` into `output`; returns the bytes written. */
export async function sealFile(input: string, output: string, recipients: readonly string[], opts: { overwrite?: boolean } = {}): Promise<number> {
  if (isSealedHead(input, readHead(input, 64))) throw new SealError(`${input}: already sealed`);
  const { prefix, key } = await newPayloadKey(recipients);
  const sealed = () => pipeInto(createReadStream(input, { highWaterMark: READ_CHUNK }), new ChunkSealer(key, prefix));
  return writeAtomically(output, sealed, opts.overwrite ?? false);
}

/** Opens sealed `input` with `identities` into `output`; returns the bytes written. */
export async function unsealFile(input: string, output: string, identities: Identities, opts: { overwrite?: boolean } = {}): Promise<number> {
  const source = await openSealed(input, identities);
  return writeAtomically(output, () => unsealedStream(source), opts.overwrite ?? false);
}
