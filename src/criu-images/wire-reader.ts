/**
 * Protobuf wire format → plain objects, as python-protobuf parses CRIU images: only fields present on
 * the wire are set, 64-bit integers become bigint, unknown fields and unknown enum values are dropped,
 * a repeated non-packed or packed encoding is accepted, a duplicated message field is merged and a
 * duplicated scalar keeps its last value. Malformed bytes throw WireError with the absolute offset.
 */
import { isUtf8 } from "node:buffer";
import { WireError } from "./errors.js";
import type { FieldInfo, MessageType } from "./schema-registry.js";

/** A string field whose bytes are not UTF-8 (file names may be anything): kept as the raw bytes. */
export class InvalidUtf8 {
  constructor(readonly bytes: Uint8Array) {}
}

export type WireScalar = number | bigint | boolean | string | InvalidUtf8 | Uint8Array;
export type WireValue = WireScalar | WireMessage | WireScalar[] | WireMessage[];
export interface WireMessage {
  [field: string]: WireValue;
}

// Result registers of readVarint: the low and high 32 bits of the last varint read.
let lo = 0;
let hi = 0;

function readVarint(buf: Uint8Array, pos: number, end: number): number {
  const start = pos;
  let b: number;
  lo = 0;
  hi = 0;
  for (let shift = 0; shift < 28; shift += 7) {
    if (pos >= end) throw new WireError(start, "truncated varint");
    b = buf[pos++]!;
    lo |= (b & 0x7f) << shift;
    if (b < 0x80) {
      lo >>>= 0;
      return pos;
    }
  }
  if (pos >= end) throw new WireError(start, "truncated varint");
  b = buf[pos++]!;
  lo = (lo | ((b & 0x0f) << 28)) >>> 0;
  hi = (b & 0x7f) >> 4;
  if (b < 0x80) return pos;
  for (let shift = 3; shift < 38; shift += 7) {
    if (pos >= end) throw new WireError(start, "truncated varint");
    b = buf[pos++]!;
    hi |= (b & 0x7f) << shift;
    if (b < 0x80) {
      hi >>>= 0;
      return pos;
    }
  }
  throw new WireError(start, "varint longer than 10 bytes");
}

function u64(): bigint {
  return hi === 0 ? BigInt(lo) : (BigInt(hi >>> 0) << 32n) | BigInt(lo);
}

/** Reads one unsigned varint as a JS number; for framing-sized values (lengths, tags). */
export function readVarintNumber(buf: Uint8Array, pos: number, end: number): [value: number, next: number] {
  const next = readVarint(buf, pos, end);
  return [hi * 0x100000000 + lo, next];
}

// Where the value read last ends (readScalar, readLength): returned this way, not as a tuple, because
// the decoder calls these once per field and the allocations showed in profiles.
let cursor = 0;

/** Reads a length prefix; returns where the bytes start and leaves their end in `cursor`. */
function readLength(buf: Uint8Array, pos: number, end: number): number {
  const at = pos;
  const next = readVarint(buf, pos, end);
  if (hi !== 0 || lo > end - next) {
    const len = hi * 0x100000000 + lo;
    throw new WireError(at, `length ${len} runs past the end of the message (${end - next} bytes left)`);
  }
  cursor = next + lo;
  return next;
}

/** `tagAt` is where the field's tag starts: an invalid wire type is a fault of the tag, so it is reported there. */
function skipField(buf: Uint8Array, pos: number, end: number, wireType: number, fieldNo: number, depth: number, tagAt = pos): number {
  switch (wireType) {
    case 0:
      return readVarint(buf, pos, end);
    case 1:
      if (pos + 8 > end) throw new WireError(pos, "truncated 64-bit value");
      return pos + 8;
    case 5:
      if (pos + 4 > end) throw new WireError(pos, "truncated 32-bit value");
      return pos + 4;
    case 2:
      readLength(buf, pos, end);
      return cursor;
    case 3: {
      if (depth > 64) throw new WireError(pos, "groups nested too deep");
      for (;;) {
        const tagAt = pos;
        pos = readVarint(buf, pos, end);
        const wt = lo & 7;
        if (wt === 4) {
          if (lo >>> 3 !== fieldNo) throw new WireError(tagAt, "mismatched end of group");
          return pos;
        }
        pos = skipField(buf, pos, end, wt, lo >>> 3, depth + 1, tagAt);
      }
    }
    default:
      throw new WireError(tagAt, `invalid wire type ${wireType}`);
  }
}

/** Reads one value of `field` at `pos`; leaves the position after it in `cursor`. */
function readScalar(field: FieldInfo, buf: Uint8Array, pos: number, end: number): WireScalar | undefined {
  switch (field.kind) {
    case "uint32":
      cursor = readVarint(buf, pos, end);
      return lo;
    case "int32":
      cursor = readVarint(buf, pos, end);
      return lo | 0;
    case "sint32":
      cursor = readVarint(buf, pos, end);
      return (lo >>> 1) ^ -(lo & 1);
    case "bool":
      cursor = readVarint(buf, pos, end);
      return lo !== 0 || hi !== 0;
    case "enum": {
      cursor = readVarint(buf, pos, end);
      const v = lo | 0;
      // proto2 keeps an undefined enum value as an unknown field: it disappears from the message.
      return field.enumType!.byValue.has(v) ? v : undefined;
    }
    case "uint64":
      cursor = readVarint(buf, pos, end);
      return u64();
    case "int64":
      cursor = readVarint(buf, pos, end);
      return BigInt.asIntN(64, u64());
    case "sint64": {
      cursor = readVarint(buf, pos, end);
      const z = u64();
      return (z >> 1n) ^ -(z & 1n);
    }
    case "fixed64":
    case "sfixed64":
    case "double": {
      if (pos + 8 > end) throw new WireError(pos, "truncated 64-bit value");
      const view = new DataView(buf.buffer, buf.byteOffset + pos, 8);
      const v =
        field.kind === "double" ? view.getFloat64(0, true) : field.kind === "fixed64" ? view.getBigUint64(0, true) : view.getBigInt64(0, true);
      cursor = pos + 8;
      return v;
    }
    case "fixed32":
    case "sfixed32":
    case "float": {
      if (pos + 4 > end) throw new WireError(pos, "truncated 32-bit value");
      const view = new DataView(buf.buffer, buf.byteOffset + pos, 4);
      const v = field.kind === "float" ? view.getFloat32(0, true) : field.kind === "fixed32" ? view.getUint32(0, true) : view.getInt32(0, true);
      cursor = pos + 4;
      return v;
    }
    case "string": {
      const s = readLength(buf, pos, end);
      const bytes = buf.subarray(s, cursor);
      return isUtf8(bytes) ? Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("utf8") : new InvalidUtf8(bytes);
    }
    case "bytes": {
      const s = readLength(buf, pos, end);
      return buf.subarray(s, cursor);
    }
    default:
      throw new Error(`unreachable: ${field.kind}`);
  }
}

const MAX_DEPTH = 100;

/**
 * Decodes buf[start, end) as `type`. Merges into `into` when given (a message field seen twice).
 */
export function decodeMessage(type: MessageType, buf: Uint8Array, start: number, end: number, into?: WireMessage, depth = 0): WireMessage {
  if (depth > MAX_DEPTH) throw new WireError(start, "messages nested too deep");
  const msg: WireMessage = into ?? {};
  let pos = start;
  while (pos < end) {
    const tagAt = pos;
    pos = readVarint(buf, pos, end);
    if (hi !== 0) throw new WireError(tagAt, "field tag out of range");
    const fieldNo = lo >>> 3;
    const wireType = lo & 7;
    if (fieldNo === 0) throw new WireError(tagAt, "field number 0");
    const field = type.byNumber.get(fieldNo);
    if (field === undefined) {
      pos = skipField(buf, pos, end, wireType, fieldNo, 0, tagAt);
      continue;
    }
    if (wireType === field.wireType) {
      if (field.kind === "message") {
        const s = readLength(buf, pos, end);
        const e = cursor;
        if (field.repeated) {
          const list = (msg[field.name] ??= []) as WireMessage[];
          list.push(decodeMessage(field.messageType!, buf, s, e, undefined, depth + 1));
        } else {
          msg[field.name] = decodeMessage(field.messageType!, buf, s, e, msg[field.name] as WireMessage | undefined, depth + 1);
        }
        pos = e;
        continue;
      }
      const value = readScalar(field, buf, pos, end);
      pos = cursor;
      if (value === undefined) continue;
      if (field.repeated) ((msg[field.name] ??= []) as WireScalar[]).push(value);
      else msg[field.name] = value;
    } else if (wireType === 2 && field.repeated && field.wireType !== 2) {
      // Packed repeated scalars: CRIU never writes them, but a reader must accept them.
      let p = readLength(buf, pos, end);
      const e = cursor;
      const list = (msg[field.name] ??= []) as WireScalar[];
      while (p < e) {
        const value = readScalar(field, buf, p, e);
        p = cursor;
        if (value !== undefined) list.push(value);
      }
      pos = e;
    } else {
      // A known number with the wrong wire type is an unknown field to protobuf.
      pos = skipField(buf, pos, end, wireType, fieldNo, 0, tagAt);
    }
  }
  return msg;
}
