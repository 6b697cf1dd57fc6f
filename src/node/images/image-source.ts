/**
 * Where an image's documents and blobs come from: an OCI layout on disk or a registry. The store
 * walks index → manifest → config → layers the same way for both; a source only fetches.
 */
import type { Readable } from "node:stream";
import { sha256Digest } from "./digest.js";
import { BlobVerificationError, ImageError } from "./image-errors.js";
import type { Descriptor } from "./oci-documents.js";

export interface FetchedManifest {
  /** The digest of `bytes`, checked against what named it. */
  digest: string;
  /** The media type the source declared (HTTP Content-Type, or the descriptor's), if any. */
  mediaType: string | undefined;
  bytes: Buffer;
  /** A URL or a file path, for error messages. */
  where: string;
}

export interface ImageSource {
  /** The manifest or index the reference names. */
  resolve(signal?: AbortSignal): Promise<FetchedManifest>;
  /** A manifest an index entry points at, verified against the entry. */
  manifest(descriptor: Descriptor, signal?: AbortSignal): Promise<FetchedManifest>;
  /** A blob's bytes, not yet verified: the caller verifies them while they flow to disk. */
  openBlob(descriptor: Descriptor, signal?: AbortSignal): Promise<{ stream: Readable; where: string }>;
}

/** Reads a stream whole, refusing more than `max` bytes: only for documents, never for layers. */
export async function readCapped(stream: AsyncIterable<Uint8Array>, max: number, where: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of stream) {
    total += chunk.length;
    if (total > max) throw new ImageError(`${where}: larger than ${max} bytes; not an image document`);
    chunks.push(Buffer.from(chunk));
  }
  return Buffer.concat(chunks);
}

/** Checks a fetched document against the descriptor that named it. */
export function verifyDocument(bytes: Buffer, expected: { digest: string; size?: number }, where: string): void {
  if (expected.size !== undefined && bytes.length !== expected.size) {
    throw new BlobVerificationError(expected.digest, `${where}: ${bytes.length} bytes, but its descriptor gives ${expected.size} (digest ${expected.digest})`);
  }
  const got = sha256Digest(bytes);
  if (got !== expected.digest) throw new BlobVerificationError(expected.digest, `${where}: digest mismatch, expected ${expected.digest}, the bytes hash to ${got}`);
}
