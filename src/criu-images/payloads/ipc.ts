/**
 * SysV IPC payloads. Semaphore values are u16s padded to 8 bytes; each queued message is a length-
 * prefixed ipc_msg then its text padded to 8; a shared memory segment's bytes (padded to 4) follow its
 * entry only in images older than CRIU 3.x, which set no in_pagemaps (newer ones keep the segment in
 * pagemap-shmem-<id>.img, and crit 4.2.1 wrongly reads a payload anyway).
 */
import { WireError } from "../errors.js";
import { JsonShapeError, jsonToMessage, messageToJson } from "../crit-json/convert.js";
import { mimeBase64 } from "../crit-json/byte-text.js";
import { describeNode, type JsonValue } from "../json-text.js";
import { messageType } from "../schema-registry.js";
import { decodeMessage } from "../wire-reader.js";
import { encodeMessage } from "../wire-writer.js";
import { base64Bytes } from "./raw-bytes.js";
import { isEmptyExtra, need, num, roundUp, type PayloadCodec } from "./payload-codec.js";

export const ipcSemPayload: PayloadCodec = {
  read(entry, buf, pos, end, withJson) {
    const nsems = num(entry.nsems);
    const size = 2 * nsems;
    const padded = roundUp(size, 8);
    need(pos, padded, end, "semaphore values");
    let json: JsonValue | undefined;
    if (withJson) {
      const view = new DataView(buf.buffer, buf.byteOffset + pos, size);
      json = Array.from({ length: nsems }, (_, i) => view.getUint16(2 * i, true));
    }
    return { next: pos + padded, size, json };
  },
  write(entry, extra, w, path) {
    const nsems = num(entry.nsems);
    if (isEmptyExtra(extra) && nsems === 0) return;
    if (extra.kind !== "array") throw new JsonShapeError(extra.offset, `${path}: expected an array of semaphore values, got ${describeNode(extra)}`);
    if (extra.items.length !== nsems) throw new JsonShapeError(extra.offset, `${path}: ${extra.items.length} semaphore values for nsems ${nsems}`);
    for (const item of extra.items) {
      const v = item.kind === "number" && /^\d+$/.test(item.text) ? Number(item.text) : -1;
      if (v < 0 || v > 0xffff) throw new JsonShapeError(item.offset, `${path}: a semaphore value must be 0..65535`);
      w.byte(v & 0xff);
      w.byte(v >> 8);
    }
    w.zeros(roundUp(2 * nsems, 8) - 2 * nsems);
  },
};

export const ipcMsgPayload: PayloadCodec = {
  read(entry, buf, pos, end, withJson) {
    const msgType = messageType("ipc_msg");
    const qnum = num(entry.qnum);
    const json: JsonValue[] = [];
    let size = 0;
    for (let i = 0; i < qnum; i++) {
      need(pos, 4, end, "message length");
      const len = new DataView(buf.buffer, buf.byteOffset + pos, 4).getUint32(0, true);
      need(pos + 4, len, end, "message header");
      const msg = decodeMessage(msgType, buf, pos + 4, pos + 4 + len);
      const msize = num(msg.msize);
      const dataAt = pos + 4 + len;
      need(dataAt, roundUp(msize, 8), end, "message text");
      if (withJson) json.push(messageToJson(msgType, msg, false), mimeBase64(buf.subarray(dataAt, dataAt + msize)));
      size += len + msize;
      pos = dataAt + roundUp(msize, 8);
    }
    return { next: pos, size, json: withJson ? json : undefined };
  },
  write(entry, extra, w, path) {
    const qnum = num(entry.qnum);
    if (isEmptyExtra(extra) && qnum === 0) return;
    if (extra.kind !== "array" || extra.items.length % 2 !== 0) {
      throw new JsonShapeError(extra.offset, `${path}: expected [message, text, message, text, …]`);
    }
    if (extra.items.length !== 2 * qnum) throw new JsonShapeError(extra.offset, `${path}: ${extra.items.length / 2} messages for qnum ${qnum}`);
    const msgType = messageType("ipc_msg");
    for (let i = 0; i < extra.items.length; i += 2) {
      const msg = jsonToMessage(msgType, extra.items[i]!, `${path}[${i}]`);
      const header = encodeMessage(msgType, msg);
      const msize = num(msg.msize);
      const text = base64Bytes(extra.items[i + 1]!, `${path}[${i + 1}]`);
      if (text.length < msize) throw new JsonShapeError(extra.items[i + 1]!.offset, `${path}[${i + 1}]: ${text.length} bytes of text for msize ${msize}`);
      w.u32le(header.length);
      w.bytes(header);
      w.bytes(text.subarray(0, msize));
      w.zeros(roundUp(msize, 8) - msize);
    }
  },
};

export const ipcShmPayload: PayloadCodec = {
  read(entry, buf, pos, end, withJson) {
    if (entry.in_pagemaps === true) return { next: pos, size: 0 };
    const size = num(entry.size);
    if (size > end - pos) throw new WireError(pos, `shared memory segment of ${size} bytes runs past the end of the file (${end - pos} bytes left)`);
    const padded = Math.min(roundUp(size, 4), end - pos);
    return { next: pos + padded, size, json: withJson ? mimeBase64(buf.subarray(pos, pos + size)) : undefined };
  },
  write(entry, extra, w, path) {
    if (entry.in_pagemaps === true) return;
    const size = num(entry.size);
    if (isEmptyExtra(extra) && size === 0) return;
    const data = base64Bytes(extra, path);
    if (data.length < size) throw new JsonShapeError(extra.offset, `${path}: ${data.length} bytes for a segment of ${size}`);
    w.bytes(data.subarray(0, size));
    w.zeros(roundUp(size, 4) - size);
  },
};
