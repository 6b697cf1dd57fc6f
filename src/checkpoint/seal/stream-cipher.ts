/**
 * age's STREAM payload as Node transforms: plaintext in 64 KiB chunks, each sealed with
 * ChaCha20-Poly1305 by OpenSSL (node:crypto). Memory stays at one chunk whatever the input size.
 * A chunk is known to be the last only at the end of input, so one full chunk is always held back.
 * Nothing of a chunk is passed on before its tag checks out.
 */
import { createCipheriv, createDecipheriv } from "node:crypto";
import { Transform, type TransformCallback } from "node:stream";
import { chunkNonce, chunkOffset, CHUNK_SIZE, SEALED_CHUNK_SIZE, TAG_SIZE } from "./age-format.js";

export class SealError extends Error {
  override name = "SealError";
}

/** Collects input into fixed-size blocks; a full block is handed on only once more input follows it. */
abstract class BlockTransform extends Transform {
  private readonly block: Buffer;
  private used = 0;
  protected index = 0;

  constructor(blockSize: number) {
    super({ highWaterMark: 1 << 20 });
    this.block = Buffer.allocUnsafe(blockSize);
  }

  /** The output for one block: sealed or opened. */
  protected abstract transformBlock(block: Buffer, last: boolean): Buffer;

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    try {
      const size = this.block.length;
      while (chunk.length > 0) {
        if (this.used === size) this.passBlock(this.block, false);
        if (this.used === 0 && chunk.length > size) {
          // Whole blocks with more input after them go straight from the input, uncopied.
          this.passBlock(chunk.subarray(0, size), false);
          chunk = chunk.subarray(size);
          continue;
        }
        const n = Math.min(this.block.length - this.used, chunk.length);
        chunk.copy(this.block, this.used, 0, n);
        this.used += n;
        chunk = chunk.subarray(n);
      }
      done();
    } catch (err) {
      done(err as Error);
    }
  }

  override _flush(done: TransformCallback): void {
    try {
      this.passBlock(this.block, true);
      done();
    } catch (err) {
      done(err as Error);
    }
  }

  private passBlock(from: Buffer, last: boolean): void {
    this.push(this.transformBlock(from === this.block ? from.subarray(0, this.used) : from, last));
    this.index++;
    this.used = 0;
  }
}

/** Plaintext in; `prefix` (the age header and payload nonce), then the sealed chunks out. */
export class ChunkSealer extends BlockTransform {
  constructor(
    private readonly key: Uint8Array,
    prefix: Uint8Array,
  ) {
    super(CHUNK_SIZE);
    this.push(prefix);
  }

  protected transformBlock(block: Buffer, last: boolean): Buffer {
    const cipher = createCipheriv("chacha20-poly1305", this.key, chunkNonce(this.index, last), { authTagLength: TAG_SIZE });
    return Buffer.concat([cipher.update(block), cipher.final(), cipher.getAuthTag()]);
  }
}

/** Sealed chunks in (from `payloadStart` of `path`), plaintext out; a chunk that fails its tag is a SealError naming it. */
export class ChunkOpener extends BlockTransform {
  constructor(
    private readonly key: Uint8Array,
    private readonly path: string,
    private readonly payloadStart: number,
  ) {
    super(SEALED_CHUNK_SIZE);
  }

  protected transformBlock(block: Buffer, last: boolean): Buffer {
    const at = chunkOffset(this.payloadStart, this.index);
    if (block.length < TAG_SIZE) throw new SealError(`${this.path}: sealed archive truncated at offset ${at + block.length} (chunk ${this.index})`);
    // Only an empty file ends in an empty chunk; age writers never write one after data.
    if (last && this.index > 0 && block.length === TAG_SIZE) throw new SealError(`${this.path}: sealed archive malformed at offset ${at} (chunk ${this.index}): empty last chunk`);
    const decipher = createDecipheriv("chacha20-poly1305", this.key, chunkNonce(this.index, last), { authTagLength: TAG_SIZE });
    decipher.setAuthTag(block.subarray(block.length - TAG_SIZE));
    const plain = decipher.update(block.subarray(0, block.length - TAG_SIZE));
    try {
      decipher.final();
    } catch {
      const what = last ? "tampered with or truncated" : "tampered with";
      throw new SealError(`${this.path}: sealed chunk ${this.index} at offset ${at} (${block.length} bytes) fails authentication: ${what}`);
    }
    return plain;
  }
}
