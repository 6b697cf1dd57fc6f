/** Building CRIU image bytes by hand for tests: hex text, u32 words, framing around encoded entries. */
import { IMG_COMMON, IMG_SERVICE, MAGIC_BY_NAME } from "../../src/criu-images/magic.js";
import { messageType } from "../../src/criu-images/schema-registry.js";
import { encodeMessage } from "../../src/criu-images/wire-writer.js";
import type { WireMessage } from "../../src/criu-images/wire-reader.js";

/** Bytes from hex text; spaces, bars and newlines are ignored ("19435654 | 0801"), "#" starts a comment. */
export function hex(text: string): Buffer {
  const clean = text.replace(/#.*$/gm, "").replace(/[^0-9a-fA-F]/g, "");
  if (clean.length % 2 !== 0) throw new Error(`odd hex text: ${text}`);
  return Buffer.from(clean, "hex");
}

export function u32le(v: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(v >>> 0);
  return b;
}

/** The protobuf bytes of one message, e.g. msg("pstree_entry", { pid: 1, ... }). */
export function msg(messageName: string, fields: WireMessage): Buffer {
  return Buffer.from(encodeMessage(messageType(messageName), fields));
}

/** One entry: the u32 length, the message bytes, then any payload bytes. */
export function entry(message: Uint8Array, payload: Uint8Array = new Uint8Array()): Buffer {
  return Buffer.concat([u32le(message.length), message, payload]);
}

/** Head magic (unless "none"), the type magic of `imageName`, then the given entries. */
export function image(imageName: string, entries: Uint8Array[], head: "common" | "service" | "none" = "common"): Buffer {
  const magic = MAGIC_BY_NAME[imageName];
  if (magic === undefined) throw new Error(`no magic ${imageName}`);
  const parts: Uint8Array[] = [];
  if (head !== "none") parts.push(u32le(head === "service" ? IMG_SERVICE : IMG_COMMON));
  parts.push(u32le(magic), ...entries);
  return Buffer.concat(parts);
}
