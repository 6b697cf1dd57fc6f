/**
 * The age v1 file format (age-encryption.org/v1), as far as a sealed archive needs to know it: the
 * magic line that tells a sealed file apart, where the text header ends, and the geometry of the
 * STREAM payload that follows it (a 16-byte nonce, then 64 KiB plaintext chunks, each sealed with
 * ChaCha20-Poly1305 under a 12-byte nonce: an 11-byte big-endian chunk counter and a last-chunk flag).
 * Pure functions only; the keys and the header's stanzas are the age library's business.
 */

export const AGE_MAGIC = "age-encryption.org/v1\n";
/** The name of a sealed file: the archive's, with this added. */
export const SEALED_SUFFIX = ".age";
/** What `age --armor` writes: the same file in PEM-like base64, which is not read here. */
export const AGE_ARMOR_MAGIC = "-----BEGIN AGE ENCRYPTED FILE-----";

export const PAYLOAD_NONCE_SIZE = 16;
export const CHUNK_SIZE = 64 << 10;
export const TAG_SIZE = 16;
export const SEALED_CHUNK_SIZE = CHUNK_SIZE + TAG_SIZE;
/** A header longer than this is refused rather than read: real ones are a few hundred bytes a recipient. */
export const MAX_HEADER_SIZE = 1 << 20;

export type SealedKind = "age" | "age-armor" | undefined;

function startsWithText(head: Uint8Array, text: string): boolean {
  if (head.length < text.length) return false;
  for (let i = 0; i < text.length; i++) if (head[i] !== text.charCodeAt(i)) return false;
  return true;
}

/** Whether these first bytes are those of an age file (binary or armored). */
export function detectSealed(head: Uint8Array): SealedKind {
  if (startsWithText(head, AGE_MAGIC)) return "age";
  if (startsWithText(head, AGE_ARMOR_MAGIC)) return "age-armor";
  return undefined;
}

/**
 * The length of the text header (through the "--- MAC" line and its newline) at the start of
 * `bytes`, or undefined when `bytes` holds no complete header. Stanza lines start with "-> " or are
 * base64, so the first line starting with "--- " ends the header.
 */
export function headerLength(bytes: Uint8Array): number | undefined {
  const nl = 0x0a;
  let lineStart = 0;
  for (;;) {
    const end = bytes.indexOf(nl, lineStart);
    if (end < 0) return undefined;
    if (end - lineStart >= 4 && bytes[lineStart] === 0x2d && bytes[lineStart + 1] === 0x2d && bytes[lineStart + 2] === 0x2d && bytes[lineStart + 3] === 0x20) return end + 1;
    lineStart = end + 1;
  }
}

/** The ChaCha20-Poly1305 nonce of chunk `index`. */
export function chunkNonce(index: number, last: boolean): Buffer {
  const nonce = Buffer.alloc(12);
  // 2^48 chunks of 64 KiB are far beyond any file; the top counter bytes stay 0.
  nonce.writeUIntBE(index, 5, 6);
  nonce[11] = last ? 1 : 0;
  return nonce;
}

/** Where sealed chunk `index` starts in the file, given where the STREAM payload starts. */
export function chunkOffset(payloadStart: number, index: number): number {
  return payloadStart + index * SEALED_CHUNK_SIZE;
}
