/**
 * Content digests: parsing, computing, and verifying a stream against a descriptor while it flows, so
 * a blob is checked on its way to disk and never held whole in memory.
 */
import { createHash, type Hash } from "node:crypto";
import { Transform, type TransformCallback } from "node:stream";
import { BlobVerificationError, ImageError } from "./image-errors.js";

/** Only sha256: the one algorithm registries and OCI layouts use in practice; others are refused, not guessed. */
const SHA256 = /^sha256:([a-f0-9]{64})$/;

export function isSha256Digest(text: string): boolean {
  return SHA256.test(text);
}

/** The hex part of a sha256 digest; `where` names the document the digest came from. */
export function digestHex(digest: string, where: string): string {
  const m = SHA256.exec(digest);
  if (!m) {
    const algorithm = digest.includes(":") ? digest.slice(0, digest.indexOf(":")) : "";
    throw new ImageError(
      algorithm && algorithm !== "sha256"
        ? `${where}: digest ${digest}: unsupported algorithm ${algorithm} (only sha256)`
        : `${where}: ${JSON.stringify(digest)} is not a sha256 digest`,
    );
  }
  return m[1]!;
}

export function sha256Digest(bytes: Uint8Array): string {
  return `sha256:${createHash("sha256").update(bytes).digest("hex")}`;
}

/**
 * Passes bytes through unchanged, failing as soon as more than `size` bytes arrive (a hostile source
 * cannot fill the disk) and at the end when the size or the digest differ.
 */
export class DigestVerifier extends Transform {
  private readonly hash: Hash = createHash("sha256");
  private seen = 0;

  constructor(
    readonly expected: { digest: string; size: number },
    /** Where the bytes come from (a URL or a file), for the error message. */
    readonly where: string,
  ) {
    super();
    digestHex(expected.digest, where);
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.seen += chunk.length;
    if (this.seen > this.expected.size) {
      done(new BlobVerificationError(this.expected.digest, `blob ${this.expected.digest} from ${this.where}: more than the ${this.expected.size} bytes its descriptor gives`));
      return;
    }
    this.hash.update(chunk);
    done(null, chunk);
  }

  override _flush(done: TransformCallback): void {
    const { digest, size } = this.expected;
    if (this.seen !== size) {
      done(new BlobVerificationError(digest, `blob ${digest} from ${this.where}: truncated, ${this.seen} of ${size} bytes`));
      return;
    }
    const got = `sha256:${this.hash.digest("hex")}`;
    if (got !== digest) {
      done(new BlobVerificationError(digest, `blob ${digest} from ${this.where}: digest mismatch, the bytes hash to ${got}`));
      return;
    }
    done();
  }
}

/** Hashes what passes through (a layer's uncompressed tar, whose sha256 is its diffID). */
export class DigestMeter extends Transform {
  private readonly hash: Hash = createHash("sha256");
  bytes = 0;

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.bytes += chunk.length;
    this.hash.update(chunk);
    done(null, chunk);
  }

  /** Valid once the stream has ended. */
  digest(): string {
    return `sha256:${this.hash.copy().digest("hex")}`;
  }
}
