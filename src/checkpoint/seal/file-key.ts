/**
 * The key side of a sealed archive, by the age library (age-encryption, by age's author): a random
 * file key wrapped for each recipient in the header, the header's MAC, and unwrapping with an
 * identity. The payload key is derived from the file key and the payload nonce as age does
 * (HKDF-SHA-256, info "payload"), so the payload can be sealed in chunks by OpenSSL (node:crypto),
 * several times faster than the library's pure-JS cipher.
 */
import { createDecipheriv, hkdfSync } from "node:crypto";
import { chunkNonce, headerLength, PAYLOAD_NONCE_SIZE, TAG_SIZE } from "./age-format.js";
import type { Identities } from "./identity-file.js";
import { SealError } from "./stream-cipher.js";

/** Loaded on first use: reading plain archives never needs it. */
const age = () => import("age-encryption");

export interface PayloadKey {
  /** The age header and payload nonce: the first bytes of the sealed file. */
  prefix: Buffer;
  key: Buffer;
}

function payloadKey(fileKey: Uint8Array, nonce: Uint8Array): Buffer {
  return Buffer.from(hkdfSync("sha256", fileKey, nonce, "payload", 32));
}

export async function checkRecipient(recipient: string): Promise<void> {
  const { Encrypter } = await age();
  try {
    new Encrypter().addRecipient(recipient);
  } catch (err) {
    throw new SealError(`recipient ${JSON.stringify(recipient)}: not an age recipient (age1…): ${(err as Error).message}`);
  }
}

/** A new file key, wrapped for every recipient: the header to write and the key to seal the payload with. */
export async function newPayloadKey(recipients: readonly string[]): Promise<PayloadKey> {
  if (recipients.length === 0) throw new SealError("no recipient: give --recipient age1…");
  for (const r of recipients) await checkRecipient(r);
  const { Encrypter } = await age();
  const e = new Encrypter();
  let fileKey: Uint8Array | undefined;
  // The library draws the file key and hands it to each recipient to wrap; this one only keeps it
  // (and adds no stanza), so that the payload is sealed here with the same key.
  e.addRecipient({ wrapFileKey: (k: Uint8Array) => ((fileKey = Uint8Array.from(k)), []) });
  for (const r of recipients) e.addRecipient(r);
  // An empty file: header, payload nonce and the one empty last chunk.
  const empty = Buffer.from(await e.encrypt(new Uint8Array(0)));
  const headerEnd = headerLength(empty);
  if (!fileKey || headerEnd === undefined || empty.length !== headerEnd + PAYLOAD_NONCE_SIZE + TAG_SIZE) {
    throw new Error("age-encryption wrote an unexpected empty file");
  }
  const prefix = empty.subarray(0, headerEnd + PAYLOAD_NONCE_SIZE);
  const key = payloadKey(fileKey, prefix.subarray(headerEnd));
  // The library's own last chunk must open with the key derived here, or the payload would not.
  const check = createDecipheriv("chacha20-poly1305", key, chunkNonce(0, true), { authTagLength: TAG_SIZE });
  check.setAuthTag(empty.subarray(prefix.length));
  check.final();
  return { prefix, key };
}

/**
 * The payload key of a sealed file whose first bytes are `head` (the whole header and nonce, or
 * more). Wrong keys and a tampered header are SealErrors naming `path`.
 */
export async function openPayloadKey(path: string, head: Buffer, identities: Identities): Promise<PayloadKey & { headerSize: number }> {
  const headerEnd = headerLength(head);
  if (headerEnd === undefined) throw new SealError(`${path}: sealed archive with no end of header in its first ${head.length} bytes`);
  if (head.length < headerEnd + PAYLOAD_NONCE_SIZE) throw new SealError(`${path}: sealed archive truncated at offset ${head.length} (in the payload nonce)`);
  const { Decrypter } = await age();
  const d = new Decrypter();
  for (const k of identities.keys) {
    try {
      d.addIdentity(k);
    } catch {
      throw new SealError(`${identities.source}: an identity that is not a valid age key`);
    }
  }
  let fileKey: Uint8Array;
  try {
    fileKey = await d.decryptHeader(head.subarray(0, headerEnd));
  } catch (err) {
    const message = (err as Error).message;
    if (/no identity matched/.test(message)) throw new SealError(`${path}: no key in ${identities.source} opens it (sealed for other recipients, or its header was changed)`);
    if (/HMAC/.test(message)) throw new SealError(`${path}: sealed header (offset 0, ${headerEnd} bytes) fails its MAC: tampered with`);
    throw new SealError(`${path}: malformed sealed header (offset 0, ${headerEnd} bytes): ${message}`);
  }
  const prefix = head.subarray(0, headerEnd + PAYLOAD_NONCE_SIZE);
  return { prefix, key: payloadKey(fileKey, prefix.subarray(headerEnd)), headerSize: headerEnd };
}

/** A new X25519 identity and its recipient. */
export async function newIdentity(): Promise<{ identity: string; recipient: string }> {
  const { generateX25519Identity, identityToRecipient } = await age();
  const identity = await generateX25519Identity();
  return { identity, recipient: await identityToRecipient(identity) };
}
