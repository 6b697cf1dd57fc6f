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
      if (isEmptyExtra(extra)) return;
      w.bytes(base64Bytes(extra, path));
    },
  };
}
