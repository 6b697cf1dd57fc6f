/**
 * An archive's compression, told from its first bytes (never from its name), and a stream that
 * undoes it. gzip uses Node's zlib; zstd, xz and bzip2 pure-JS decoders, so no native build is needed.
 */
import { Readable, Transform, type TransformCallback } from "node:stream";
import { createGunzip } from "node:zlib";
import { createRequire } from "node:module";

export type Compression = "none" | "gzip" | "zstd" | "xz" | "bzip2";

export function detectCompression(head: Uint8Array): Compression {
  const starts = (...bytes: number[]) => bytes.every((b, i) => head[i] === b);
  if (starts(0x1f, 0x8b)) return "gzip";
  if (starts(0x28, 0xb5, 0x2f, 0xfd)) return "zstd";
  if (starts(0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00)) return "xz";
  if (starts(0x42, 0x5a, 0x68)) return "bzip2";
  return "none";
}

const require = createRequire(import.meta.url);

/** zstd frames through fzstd's streaming decoder. */
class ZstdDecompress extends Transform {
  private readonly inner: { push(chunk: Uint8Array, final?: boolean): void };

  constructor() {
    super();
    const { Decompress } = require("fzstd") as typeof import("fzstd");
    this.inner = new Decompress((data: Uint8Array) => this.push(data));
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    try {
      this.inner.push(chunk);
      done();
    } catch (err) {
      done(err as Error);
    }
  }

  override _flush(done: TransformCallback): void {
    try {
      this.inner.push(new Uint8Array(0), true);
      done();
    } catch (err) {
      done(err as Error);
    }
  }
}

/** A stream that inflates zstd frames. */
export function zstdDecompressor(): Transform {
  return new ZstdDecompress();
}

/** A stream that inflates gzip. */
export function gunzipper(): Transform {
  // zlib's default 16 KiB output chunks cost a thread-pool round trip each: 1 MiB is ~3x faster.
  return createGunzip({ chunkSize: 1 << 20 });
}

/**
 * `input` piped into `transform`: a failure of the input becomes the transform's (pipe() alone
 * drops it), and closing the transform closes the input.
 */
export function pipeInto(input: Readable, transform: Transform): Transform {
  input.on("error", (err) => transform.destroy(err));
  transform.on("close", () => input.destroy());
  return input.pipe(transform);
}

/** The decompressed bytes of `input`. */
export function decompress(input: Readable, compression: Compression): Readable {
  switch (compression) {
    case "none":
      return input;
    case "gzip":
      return pipeInto(input, gunzipper());
    case "zstd":
      return pipeInto(input, zstdDecompressor());
    case "bzip2": {
      const unbzip2 = require("unbzip2-stream") as () => Transform;
      return pipeInto(input, unbzip2());
    }
    case "xz": {
      const { XzReadableStream } = require("xz-decompress") as typeof import("xz-decompress");
      const web = new XzReadableStream(Readable.toWeb(input) as unknown as ReadableStream<Uint8Array>);
      return Readable.fromWeb(web as never);
    }
  }
}

/** The first `n` bytes of a stream (fewer if it is shorter); the stream is closed after. */
export async function streamHead(stream: Readable, n: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let got = 0;
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    chunks.push(chunk);
    got += chunk.length;
    if (got >= n) break;
  }
  stream.destroy();
  return Buffer.concat(chunks).subarray(0, n);
}
