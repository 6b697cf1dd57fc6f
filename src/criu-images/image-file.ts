/**
 * CRIU image framing: [head magic] type magic, then entries of a u32 length and a protobuf message,
 * each maybe followed by a payload. Decoding is strict where crit is silently lenient: a length or a
 * payload that runs past the end of the file, or stray bytes at the end, is an error naming the offset.
 */
import { ImageFormatError, WireError } from "./errors.js";
import { JsonShapeError, jsonToMessage, messageToJson } from "./crit-json/convert.js";
import { mimeBase64 } from "./crit-json/byte-text.js";
import { base64Bytes } from "./payloads/raw-bytes.js";
import { IMAGE_TYPES, headMagicFor, type ImageType } from "./image-types.js";
import { JsonSyntaxError, describeNode, parseJsonNodes, type JsonNode, type JsonObject, type JsonValue } from "./json-text.js";
import { IMG_COMMON, IMG_SERVICE, MAGIC_BY_NAME, MAGIC_BY_VALUE } from "./magic.js";
import { rawImageKind } from "./raw-images.js";
import { messageType, type MessageType } from "./schema-registry.js";
import { decodeMessage, type WireMessage } from "./wire-reader.js";
import { ByteWriter, encodeMessage } from "./wire-writer.js";
import { num } from "./payloads/payload-codec.js";

export interface ImageHeader {
  type: ImageType;
  /** Offset of the first entry. */
  start: number;
}

export interface ImageEntry {
  /** Offset of the entry's length word. */
  offset: number;
  type: MessageType;
  message: WireMessage;
  /** Present when a payload follows the entry. */
  payload?: { offset: number; size: number; json?: JsonValue };
}

function u32(buf: Uint8Array, pos: number): number {
  return (buf[pos]! | (buf[pos + 1]! << 8) | (buf[pos + 2]! << 16) | (buf[pos + 3]! << 24)) >>> 0;
}

export function readImageHeader(buf: Uint8Array, file: string): ImageHeader {
  const raw = rawImageKind(file);
  if (raw) throw new ImageFormatError(file, undefined, `not a protobuf image: ${raw}`);
  if (buf.length < 4) throw new ImageFormatError(file, 0, `file of ${buf.length} bytes is too short for an image magic`);
  let start = 4;
  let magic = u32(buf, 0);
  if (magic === IMG_COMMON || magic === IMG_SERVICE) {
    if (buf.length < 8) throw new ImageFormatError(file, 4, "image type magic missing after the head magic");
    magic = u32(buf, 4);
    start = 8;
  }
  const name = MAGIC_BY_VALUE.get(magic);
  if (name === undefined) {
    throw new ImageFormatError(file, start - 4, `unknown magic 0x${magic.toString(16)}: not a CRIU image (raw data such as pages-*.img has no magic)`);
  }
  const type = IMAGE_TYPES.get(name);
  if (!type) throw new ImageFormatError(file, start - 4, `magic ${name} is not an image type with entries (no decoder for it)`);
  return { type, start };
}

/** Yields the entries of an image in file order; `withPayloadJson` also builds each payload's crit JSON. */
export function* readEntries(buf: Uint8Array, file: string, withPayloadJson = false): Generator<ImageEntry> {
  const { type, start } = readImageHeader(buf, file);
  try {
    yield* entriesOf(type, buf, start, withPayloadJson);
  } catch (err) {
    if (err instanceof WireError) throw new ImageFormatError(file, err.offset, err.detail);
    throw err;
  }
}

function* entriesOf(image: ImageType, buf: Uint8Array, start: number, withJson: boolean): Generator<ImageEntry> {
  const end = buf.length;
  let pos = start;
  let index = 0;
  let ghostChunks = false;
  while (pos < end) {
    const offset = pos;
    if (end - pos < 4) throw new WireError(pos, `${end - pos} stray bytes after the last entry`);
    const len = u32(buf, pos);
    if (len > end - pos - 4) {
      throw new WireError(pos, `entry length ${len} runs past the end of the file (${end - pos - 4} bytes left)`);
    }
    const type = messageType(messageNameAt(image, index));
    const message = decodeMessage(type, buf, pos + 4, pos + 4 + len);
    pos += 4 + len;
    let payload: ImageEntry["payload"];
    if (image.layout === "ghost") {
      if (index === 0) ghostChunks = message.chunks === true;
      if (index === 0 && !ghostChunks) {
        // The body of a small deleted file runs raw to the end of the image.
        payload = { offset: pos, size: end - pos, json: withJson ? mimeBase64(buf.subarray(pos, end)) : undefined };
        pos = end;
      } else if (index > 0) {
        const size = num(message.len);
        if (size > end - pos) throw new WireError(pos, `ghost file chunk of ${size} bytes runs past the end of the file (${end - pos} bytes left)`);
        payload = { offset: pos, size, json: withJson ? mimeBase64(buf.subarray(pos, pos + size)) : undefined };
        pos += size;
      }
    } else if (image.payload) {
      const read = image.payload.read(message, buf, pos, end, withJson);
      if (read.next !== pos || read.json !== undefined) payload = { offset: pos, size: read.size, json: read.json };
      pos = read.next;
    }
    yield { offset, type, message, payload };
    index++;
  }
}

function messageNameAt(image: ImageType, index: number): string {
  if (index === 0) return image.message;
  if (image.layout === "pagemap") return "pagemap_entry";
  if (image.layout === "ghost") return "ghost_chunk_entry";
  return image.message;
}

export interface DecodeOptions {
  /** crit's --pretty: hex, flags, dev, dict and IP conversions. */
  pretty?: boolean;
  /** crit show --nopl: payloads replaced by their size. */
  nopl?: boolean;
}

/** crit's human_readable(): 57B, 1.5KB, 2KB … */
export function humanSize(n: number): string {
  for (const unit of ["", "K", "M", "G", "T", "P", "E", "Z"]) {
    if (n < 1024) return Number.isInteger(n) ? `${n}${unit}B` : `${n.toFixed(1)}${unit}B`;
    n /= 1024;
  }
  return `${n.toFixed(1)}YB`;
}

/** The image as crit's JSON document: {"magic": NAME, "entries": [...]}. */
export function decodeImage(buf: Uint8Array, file: string, opts: DecodeOptions = {}): JsonObject {
  const { type } = readImageHeader(buf, file);
  const entries: JsonObject[] = [];
  for (const entry of readEntries(buf, file, !opts.nopl)) {
    const obj = messageToJson(entry.type, entry.message, opts.pretty ?? false);
    if (entry.payload) {
      if (!opts.nopl) obj.extra = entry.payload.json!;
      else if (type.layout !== "ghost") obj.extra = `... <${humanSize(entry.payload.size)}>`;
    }
    entries.push(obj);
  }
  return { magic: type.name, entries };
}

/** crit info: the image type and how many entries it holds (a pagemap's head is not counted). */
export function imageInfo(buf: Uint8Array, file: string): { magic: string; count: number } {
  const { type } = readImageHeader(buf, file);
  let count = 0;
  for (const _ of readEntries(buf, file)) count++;
  return { magic: type.name, count: type.layout === "pagemap" ? Math.max(0, count - 1) : count };
}

const EXTRA = new Set(["extra"]);

/** crit encode: JSON text → image bytes. Errors point at the byte offset in the JSON text. */
export function encodeImage(json: Uint8Array, file: string): Uint8Array {
  try {
    return encodeNodes(parseJsonNodes(json));
  } catch (err) {
    if (err instanceof JsonSyntaxError || err instanceof JsonShapeError) throw new ImageFormatError(file, err.offset, err.detail);
    throw err;
  }
}

function encodeNodes(root: JsonNode): Uint8Array {
  if (root.kind !== "object") throw new JsonShapeError(root.offset, `expected an object with "magic" and "entries", got ${describeNode(root)}`);
  const magicNode = root.entries.get("magic");
  const entriesNode = root.entries.get("entries");
  if (magicNode?.kind !== "string") throw new JsonShapeError(magicNode?.offset ?? root.offset, `"magic" must be an image type name`);
  if (entriesNode?.kind !== "array") throw new JsonShapeError(entriesNode?.offset ?? root.offset, `"entries" must be an array`);
  const image = IMAGE_TYPES.get(magicNode.value);
  if (!image) throw new JsonShapeError(magicNode.offset, `unknown image type "${magicNode.value}"`);
  const w = new ByteWriter();
  const head = headMagicFor(image.name);
  if (head !== "none") w.u32le(head === "service" ? IMG_SERVICE : IMG_COMMON);
  w.u32le(MAGIC_BY_NAME[image.name]!);
  let ghostChunks = false;
  entriesNode.items.forEach((item, index) => {
    const path = `entries[${index}]`;
    const type = messageType(messageNameAt(image, index));
    const message = jsonToMessage(type, item, path, EXTRA);
    const bytes = encodeMessage(type, message);
    w.u32le(bytes.length);
    w.bytes(bytes);
    const extra = item.kind === "object" ? item.entries.get("extra") : undefined;
    if (image.layout === "ghost") {
      if (index === 0) ghostChunks = message.chunks === true;
      if (index === 0 && !ghostChunks && extra) w.bytes(base64Bytes(extra, `${path}.extra`));
      if (index > 0) {
        const data = extra ? base64Bytes(extra, `${path}.extra`) : new Uint8Array();
        if (data.length !== num(message.len)) {
          throw new JsonShapeError(extra?.offset ?? item.offset, `${path}: chunk has ${data.length} bytes of data for len ${num(message.len)}`);
        }
        w.bytes(data);
      }
    } else if (image.payload) {
      // A missing "extra" is no payload, which the codec accepts only when the entry declares none.
      image.payload.write(message, extra ?? { kind: "null", offset: item.offset }, w, `${path}.extra`);
    }
  });
  return w.result();
}
