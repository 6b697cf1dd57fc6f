/** Payloads that are plain bytes whose count an entry field gives: pipe/fifo data, socket queues, BPF maps. */
import { JsonShapeError } from "../crit-json/convert.js";
import { decodeBase64Lenient, mimeBase64 } from "../crit-json/byte-text.js";
import { describeNode, type JsonNode } from "../json-text.js";
import { isEmptyExtra, need, type PayloadCodec } from "./payload-codec.js";
import type { WireMessage } from "../wire-reader.js";

export function base64Bytes(extra: JsonNode, path: string): Uint8Array {
  if (extra.kind !== "string") throw new JsonShapeError(extra.offset, `${path}: expected base64 text, got ${describeNode(extra)}`);
  const bytes = decodeBase64Lenient(extra.value);
  if (!bytes) throw new JsonShapeError(extra.offset, `${path}: invalid base64`);
  return bytes;
}

export function rawBytesPayload(what: string, sizeOf: (entry: WireMessage) => number): PayloadCodec {
  return {
    read(entry, buf, pos, end, withJson) {
      const size = sizeOf(entry);
      need(pos, size, end, what);
      return { next: pos + size, size, json: withJson ? mimeBase64(buf.subarray(pos, pos + size)) : undefined };
    },
    write(entry, extra, w, path) {
      // The entry says how many bytes follow it: other bytes would make an image that does not read back.
      const size = sizeOf(entry);
      const data = isEmptyExtra(extra) ? new Uint8Array() : base64Bytes(extra, path);
      if (data.length !== size) throw new JsonShapeError(extra.offset, `${path}: ${data.length} bytes of ${what} for an entry that declares ${size}`);
      w.bytes(data);
    },
  };
}
