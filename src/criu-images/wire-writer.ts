/**
 * Plain objects → protobuf wire format, the way CRIU (protobuf-c) and python-protobuf write it:
 * fields in field-number order, repeated scalars unpacked, minimal varints, negative int32 as
 * ten-byte varints.
 */
import type { FieldInfo, MessageType } from "./schema-registry.js";
import { InvalidUtf8, type WireMessage, type WireScalar, type WireValue } from "./wire-reader.js";

/** A growable byte buffer. */
export class ByteWriter {
  private buf = new Uint8Array(256);
  length = 0;

  private ensure(n: number): void {
    if (this.length + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.length + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.length));
    this.buf = next;
  }

  byte(b: number): void {
    this.ensure(1);
    this.buf[this.length++] = b;
  }

  bytes(b: Uint8Array): void {
    this.ensure(b.length);
    this.buf.set(b, this.length);
    this.length += b.length;
  }

  u32le(v: number): void {
    this.ensure(4);
    new DataView(this.buf.buffer).setUint32(this.length, v >>> 0, true);
    this.length += 4;
  }

  zeros(n: number): void {
    this.ensure(n);
    this.buf.fill(0, this.length, this.length + n);
    this.length += n;
  }

  /** Unsigned varint of a number below 2^53. */
  varint(v: number): void {
    this.ensure(10);
    while (v >= 0x80) {
      this.buf[this.length++] = (v % 0x80) | 0x80;
      v = Math.floor(v / 0x80);
    }
    this.buf[this.length++] = v;
  }

  varint64(v: bigint): void {
    let u = BigInt.asUintN(64, v);
    if (u < 0x20000000000000n) return this.varint(Number(u));
    this.ensure(10);
    while (u >= 0x80n) {
      this.buf[this.length++] = Number(u & 0x7fn) | 0x80;
      u >>= 7n;
    }
    this.buf[this.length++] = Number(u);
  }

  result(): Uint8Array {
    return this.buf.slice(0, this.length);
  }
}

function writeScalar(w: ByteWriter, field: FieldInfo, v: WireScalar): void {
  switch (field.kind) {
    case "uint32":
    case "enum":
    case "int32":
      if ((v as number) < 0) w.varint64(BigInt(v as number));
      else w.varint(v as number);
      return;
    case "sint32": {
      const n = v as number;
      w.varint(((n << 1) ^ (n >> 31)) >>> 0);
      return;
    }
    case "bool":
      w.byte(v ? 1 : 0);
      return;
    case "uint64":
    case "int64":
      w.varint64(v as bigint);
      return;
    case "sint64": {
      const n = BigInt.asIntN(64, v as bigint);
      w.varint64((n << 1n) ^ (n >> 63n));
      return;
    }
    case "fixed64":
    case "sfixed64":
    case "double": {
      const b = new Uint8Array(8);
      const view = new DataView(b.buffer);
      if (field.kind === "double") view.setFloat64(0, v as number, true);
      else view.setBigUint64(0, BigInt.asUintN(64, v as bigint), true);
      w.bytes(b);
      return;
    }
    case "fixed32":
    case "sfixed32":
    case "float": {
      const b = new Uint8Array(4);
      const view = new DataView(b.buffer);
      if (field.kind === "float") view.setFloat32(0, v as number, true);
      else view.setUint32(0, (v as number) >>> 0, true);
      w.bytes(b);
      return;
    }
    case "string": {
      const bytes = v instanceof InvalidUtf8 ? v.bytes : Buffer.from(v as string, "utf8");
      w.varint(bytes.length);
      w.bytes(bytes);
      return;
    }
    case "bytes":
      w.varint((v as Uint8Array).length);
      w.bytes(v as Uint8Array);
      return;
    default:
      throw new Error(`unreachable: ${field.kind}`);
  }
}

function writeField(w: ByteWriter, field: FieldInfo, value: WireValue): void {
  const tag = field.number * 8 + field.wireType;
  const one = (v: WireScalar | WireMessage) => {
    w.varint(tag);
    if (field.kind === "message") {
      const sub = encodeMessage(field.messageType!, v as WireMessage);
      w.varint(sub.length);
      w.bytes(sub);
    } else writeScalar(w, field, v as WireScalar);
  };
  if (field.repeated) for (const v of value as (WireScalar | WireMessage)[]) one(v);
  else one(value as WireScalar | WireMessage);
}

export function encodeMessage(type: MessageType, msg: WireMessage): Uint8Array {
  const w = new ByteWriter();
  for (const field of type.fields) {
    const value = msg[field.name];
    if (value !== undefined) writeField(w, field, value);
  }
  return w.result();
}
