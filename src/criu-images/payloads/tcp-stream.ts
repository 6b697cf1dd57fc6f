/** tcp-stream-*.img: the receive queue, then the send queue, after the single entry. */
import { JsonShapeError } from "../crit-json/convert.js";
import { mimeBase64 } from "../crit-json/byte-text.js";
import { describeNode } from "../json-text.js";
import { base64Bytes } from "./raw-bytes.js";
import { isEmptyExtra, need, num, type PayloadCodec } from "./payload-codec.js";

export const tcpStreamPayload: PayloadCodec = {
  read(entry, buf, pos, end, withJson) {
    const inq = num(entry.inq_len);
    const outq = num(entry.outq_len);
    need(pos, inq, end, "TCP receive queue");
    need(pos + inq, outq, end, "TCP send queue");
    const json = withJson
      ? { inq: mimeBase64(buf.subarray(pos, pos + inq)), outq: mimeBase64(buf.subarray(pos + inq, pos + inq + outq)) }
      : undefined;
    return { next: pos + inq + outq, size: inq + outq, json };
  },
  write(entry, extra, w, path) {
    const lengths: Record<string, number> = { inq: num(entry.inq_len), outq: num(entry.outq_len) };
    if (isEmptyExtra(extra) && lengths.inq === 0 && lengths.outq === 0) return;
    if (extra.kind !== "object") throw new JsonShapeError(extra.offset, `${path}: expected {"inq", "outq"}, got ${describeNode(extra)}`);
    for (const key of ["inq", "outq"]) {
      const q = extra.entries.get(key);
      if (!q) throw new JsonShapeError(extra.offset, `${path}: missing "${key}"`);
      const data = base64Bytes(q, `${path}.${key}`);
      if (data.length !== lengths[key]) throw new JsonShapeError(q.offset, `${path}.${key}: ${data.length} bytes for ${key}_len ${lengths[key]}`);
      w.bytes(data);
    }
  },
};
