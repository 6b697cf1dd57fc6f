/**
 * Bad input, in-process and through the built CLI. Every fault is an ImageFormatError that names the
 * file and the byte offset of the fault (in the image, or in the JSON text for encode); the CLI prints
 * it as one "ckpt: …" line on stderr, exits 1, and never shows a stack trace.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ImageFormatError } from "../../src/criu-images/errors.js";
import { decodeImage, encodeImage, imageInfo, readEntries } from "../../src/criu-images/image-file.js";
import { IMG_COMMON, MAGIC_BY_NAME } from "../../src/criu-images/magic.js";
import { ensureCliBuilt, expectOneLineError, runCkpt } from "../support/ckpt-cli.js";
import { FIXTURE_DIRS, haveFixtures } from "../support/fixtures.js";
import { entry, hex, image, msg, u32le } from "../support/image-bytes.js";

interface BadCase {
  what: string;
  /** File name the input is given under (the error must name it). */
  name: string;
  bytes: Uint8Array;
  op: "decode" | "encode";
  /** Offset the error must report; undefined where no offset applies (a raw image). */
  offset: number | undefined;
  detail: RegExp;
}

function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  throw new Error("expected an error, got none");
}

function expectFormatError(err: unknown, c: BadCase): ImageFormatError {
  expect(err, `${c.what}: ${String(err)}`).toBeInstanceOf(ImageFormatError);
  const e = err as ImageFormatError;
  expect(e.file).toBe(c.name);
  expect(e.offset, `${c.what}: ${e.message}`).toBe(c.offset);
  expect(e.detail, c.what).toMatch(c.detail);
  expect(e.message).toBe(`${c.name}${c.offset === undefined ? "" : ` at offset ${c.offset}`}: ${e.detail}`);
  return e;
}

// ---- images ----------------------------------------------------------------------------------------

const PSTREE_ENTRY = hex("08 01 10 00 18 01 20 01 28 01"); // pid 1, ppid 0, pgid 1, sid 1, threads [1]
const pstree = image("PSTREE", [entry(PSTREE_ENTRY)]);
/** A PSTREE image whose one entry holds `body`; the entry's message starts at offset 12. */
const pstreeWith = (body: string) => image("PSTREE", [entry(hex(body))]);

const imageCases: BadCase[] = [
  { what: "a 0-byte file", name: "pstree.img", bytes: new Uint8Array(), op: "decode", offset: 0, detail: /0 bytes is too short for an image magic/ },
  { what: "a 3-byte file", name: "pstree.img", bytes: hex("194356"), op: "decode", offset: 0, detail: /too short/ },
  { what: "a head magic and nothing else", name: "pstree.img", bytes: u32le(IMG_COMMON), op: "decode", offset: 4, detail: /type magic missing/ },
  { what: "wrong magic", name: "pstree.img", bytes: hex("deadbeef 0a000000 0801100018012001"), op: "decode", offset: 0, detail: /unknown magic 0xefbeadde/ },
  { what: "wrong type magic after IMG_COMMON", name: "pstree.img", bytes: hex("19435654 11223344 00000000"), op: "decode", offset: 4, detail: /unknown magic 0x44332211/ },
  {
    what: "a magic with no image decoder (KDAT)",
    name: "criu.kdat",
    bytes: Buffer.concat([u32le(MAGIC_BY_NAME.KDAT!), Buffer.alloc(16)]),
    op: "decode",
    offset: 0,
    detail: /KDAT is not an image type/,
  },
  ...[1, 2, 3].map((n): BadCase => ({
    what: `${n} stray byte(s) after the last entry`,
    name: "pstree.img",
    bytes: Buffer.concat([pstree, Buffer.alloc(n, 0x01)]),
    op: "decode",
    offset: pstree.length,
    detail: new RegExp(`^${n} stray bytes after the last entry`),
  })),
  {
    what: "a length prefix past EOF",
    name: "pstree.img",
    bytes: Buffer.concat([pstree, u32le(100), PSTREE_ENTRY]),
    op: "decode",
    offset: pstree.length,
    detail: /entry length 100 runs past the end of the file \(10 bytes left\)/,
  },
  {
    what: "a 4 GiB length (0xffffffff)",
    name: "pstree.img",
    bytes: Buffer.concat([hex("19435654 30302750"), u32le(0xffffffff), Buffer.alloc(4)]),
    op: "decode",
    offset: 8,
    detail: /entry length 4294967295 runs past the end of the file \(4 bytes left\)/,
  },
  { what: "wire type 7 (tag at the entry's first byte)", name: "pstree.img", bytes: pstreeWith("0f 00"), op: "decode", offset: 12, detail: /invalid wire type 7/ },
  { what: "wire type 6 after valid fields", name: "pstree.img", bytes: pstreeWith("0801 1000 1e"), op: "decode", offset: 16, detail: /invalid wire type 6/ },
  { what: "an end-group tag outside a group", name: "pstree.img", bytes: pstreeWith("0801 0c"), op: "decode", offset: 14, detail: /invalid wire type 4/ },
  { what: "a truncated varint", name: "pstree.img", bytes: pstreeWith("08 80"), op: "decode", offset: 13, detail: /truncated varint/ },
  { what: "a varint longer than 10 bytes", name: "pstree.img", bytes: pstreeWith("08 ffffffffffffffffffff01"), op: "decode", offset: 13, detail: /varint longer than 10 bytes/ },
  { what: "field number 0", name: "pstree.img", bytes: pstreeWith("0801 0001"), op: "decode", offset: 14, detail: /field number 0/ },
  {
    what: "a length-delimited field longer than the entry",
    name: "pstree.img",
    bytes: pstreeWith("0801 2a05 01"),
    op: "decode",
    offset: 15,
    detail: /length 5 runs past the end of the message \(1 bytes left\)/,
  },
  { what: "a truncated fixed64 (unknown field)", name: "pstree.img", bytes: pstreeWith("0801 8102 0102"), op: "decode", offset: 16, detail: /truncated 64-bit value/ },
  { what: "a truncated fixed32 (unknown field)", name: "pstree.img", bytes: pstreeWith("0801 8d02 01"), op: "decode", offset: 16, detail: /truncated 32-bit value/ },
  { what: "a group closed by the wrong field", name: "pstree.img", bytes: pstreeWith("0801 9b02 0805 a402"), op: "decode", offset: 18, detail: /mismatched end of group/ },
  { what: "an unterminated group", name: "pstree.img", bytes: pstreeWith("0801 9b02 0805"), op: "decode", offset: 18, detail: /truncated varint/ },
  {
    // stats_entry.dump (field 1) holding `08 80 80`: the varint at absolute offset 15 is cut by the sub-message end
    what: "a truncated varint inside a nested message (absolute offset)",
    name: "stats-dump",
    bytes: image("STATS", [entry(hex("0a03 088080"))], "service"),
    op: "decode",
    offset: 15,
    detail: /truncated varint/,
  },
  {
    what: "a sub-message length past the entry",
    name: "stats-dump",
    bytes: image("STATS", [entry(hex("0a09 0801"))], "service"),
    op: "decode",
    offset: 13,
    detail: /length 9 runs past the end of the message/,
  },
  {
    what: "a payload past EOF (pipes-data bytes 1000, 10 bytes left)",
    name: "pipes-data.img",
    bytes: (() => {
      const e = msg("pipe_data_entry", { pipe_id: 76060, bytes: 1000, size: 65536 });
      return image("PIPES_DATA", [entry(e, Buffer.alloc(10, 0x41))]);
    })(),
    op: "decode",
    offset: 12 + msg("pipe_data_entry", { pipe_id: 76060, bytes: 1000, size: 65536 }).length,
    detail: /pipe data of 1000 bytes runs past the end of the file \(10 bytes left\)/,
  },
  {
    what: "a payload past EOF in the second entry (sk-queues)",
    name: "sk-queues.img",
    bytes: (() => {
      const e1 = msg("sk_packet_entry", { id_for: 18, length: 3 });
      const e2 = msg("sk_packet_entry", { id_for: 22, length: 4096 });
      return image("SK_QUEUES", [entry(e1, Buffer.from("abc")), entry(e2, Buffer.from("short"))]);
    })(),
    op: "decode",
    offset: 8 + 4 + msg("sk_packet_entry", { id_for: 18, length: 3 }).length + 3 + 4 + msg("sk_packet_entry", { id_for: 22, length: 4096 }).length,
    detail: /socket queue data of 4096 bytes runs past the end of the file \(5 bytes left\)/,
  },
  {
    what: "semaphore values past EOF",
    name: "ipcns-sem-10.img",
    bytes: image("IPCNS_SEM", [entry(msg("ipc_sem_entry", { desc: { key: 1, uid: 0, gid: 0, cuid: 0, cgid: 0, mode: 0o600, id: 0 }, nsems: 100 }), Buffer.alloc(8))]),
    op: "decode",
    offset: 12 + msg("ipc_sem_entry", { desc: { key: 1, uid: 0, gid: 0, cuid: 0, cgid: 0, mode: 0o600, id: 0 }, nsems: 100 }).length,
    detail: /semaphore values of 200 bytes runs past the end of the file \(8 bytes left\)/,
  },
  {
    what: "a TCP send queue past EOF",
    name: "tcp-stream-1.img",
    bytes: (() => {
      const e = msg("tcp_stream_entry", { inq_len: 2, inq_seq: 1, outq_len: 50, outq_seq: 1 });
      return image("TCP_STREAM", [entry(e, Buffer.from("in+out"))]);
    })(),
    op: "decode",
    offset: 12 + msg("tcp_stream_entry", { inq_len: 2, inq_seq: 1, outq_len: 50, outq_seq: 1 }).length + 2,
    detail: /TCP send queue of 50 bytes runs past the end of the file \(4 bytes left\)/,
  },
  {
    what: "a ghost chunk past EOF",
    name: "ghost-file-2.img",
    bytes: (() => {
      const head = msg("ghost_file_entry", { uid: 0, gid: 0, mode: 0o100644, chunks: true, size: 65536n });
      const chunk = msg("ghost_chunk_entry", { len: 4096n, off: 0n });
      return image("GHOST_FILE", [entry(head), entry(chunk, Buffer.alloc(100))]);
    })(),
    op: "decode",
    offset:
      8 + 4 + msg("ghost_file_entry", { uid: 0, gid: 0, mode: 0o100644, chunks: true, size: 65536n }).length + 4 + msg("ghost_chunk_entry", { len: 4096n, off: 0n }).length,
    detail: /ghost file chunk of 4096 bytes runs past the end of the file \(100 bytes left\)/,
  },
  {
    what: "an ipc message queue whose header runs past EOF",
    name: "ipcns-msg-10.img",
    bytes: (() => {
      const e = msg("ipc_msg_entry", { desc: { key: 1, uid: 0, gid: 0, cuid: 0, cgid: 0, mode: 0o600, id: 0 }, qbytes: 16384, qnum: 1 });
      return image("IPCNS_MSG", [entry(e, Buffer.concat([u32le(40), Buffer.alloc(3)]))]);
    })(),
    op: "decode",
    offset: 12 + msg("ipc_msg_entry", { desc: { key: 1, uid: 0, gid: 0, cuid: 0, cgid: 0, mode: 0o600, id: 0 }, qbytes: 16384, qnum: 1 }).length + 4,
    detail: /message header of 40 bytes runs past the end of the file \(3 bytes left\)/,
  },
];

// ---- JSON for encode ------------------------------------------------------------------------------

/** Byte offset of `needle` in `text` (its `nth` occurrence, 0-based). */
function at(text: string, needle: string, nth = 0): number {
  let i = -1;
  for (let k = 0; k <= nth; k++) {
    i = text.indexOf(needle, i + 1);
    if (i < 0) throw new Error(`${needle} not in ${text}`);
  }
  return Buffer.byteLength(text.slice(0, i), "utf8");
}

function jsonCase(what: string, text: string, offset: number, detail: RegExp): BadCase {
  return { what, name: "in.json", bytes: Buffer.from(text, "utf8"), op: "encode", offset, detail };
}

const P = '{"pid": 1, "ppid": 0, "pgid": 1, "sid": 1}';
const doc = (entries: string, magic = "PSTREE") => `{"magic": "${magic}", "entries": [${entries}]}`;

const jsonCases: BadCase[] = [
  jsonCase("not an object (array)", "[1, 2]", 0, /expected an object with "magic" and "entries", got an array/),
  jsonCase("not an object (string after whitespace)", '\n  "PSTREE"', 3, /got a string/),
  jsonCase("unknown magic", '{"magic": "NOPE", "entries": []}', 10, /unknown image type "NOPE"/),
  jsonCase("magic not a string", '{"magic": 5, "entries": []}', 10, /"magic" must be an image type name/),
  jsonCase("magic missing", '{"entries": []}', 0, /"magic" must be an image type name/),
  jsonCase("entries not an array", '{"magic": "PSTREE", "entries": {"pid": 1}}', 31, /"entries" must be an array/),
  jsonCase("entries missing", '{"magic": "PSTREE"}', 0, /"entries" must be an array/),
  jsonCase("an entry that is not an object", doc(`${P}, 7`), at(doc(`${P}, 7`), "7"), /entries\[1\]: expected an object \(pstree_entry\), got a number/),
  (() => {
    const t = doc('{"pid": "abc", "ppid": 0, "pgid": 1, "sid": 1}');
    return jsonCase("a string where an int belongs", t, at(t, '"abc"'), /entries\[0\]\.pid: "abc" is not a valid value for uint32 field pid/);
  })(),
  (() => {
    const t = doc('{"pid": true, "ppid": [1], "pgid": 1, "sid": 1}');
    return jsonCase("an array where an int belongs", t, at(t, "[1]"), /entries\[0\]\.ppid: expected an integer, got an array/);
  })(),
  (() => {
    const t = doc('{"pid": 1.5, "ppid": 0, "pgid": 1, "sid": 1}');
    return jsonCase("a float where an int belongs", t, at(t, "1.5"), /expected an integer, got 1\.5/);
  })(),
  (() => {
    const t = doc(`${P}, {"pid": 4294967296, "ppid": 0, "pgid": 1, "sid": 1}`);
    return jsonCase("an out-of-range uint32", t, at(t, "4294967296"), /entries\[1\]\.pid: 4294967296 is out of range for uint32/);
  })(),
  (() => {
    const t = doc('{"pid": -1, "ppid": 0, "pgid": 1, "sid": 1}');
    return jsonCase("a negative uint32", t, at(t, "-1"), /-1 is out of range for uint32/);
  })(),
  (() => {
    const t = doc('{"pid": 1, "ppid": 0, "pgid": 1, "sid": 1, "threads": [1, 2, "0x100000000"]}');
    return jsonCase("an out-of-range hex string in a repeated field", t, at(t, '"0x100000000"'), /threads\[2\]: 4294967296 is out of range for uint32/);
  })(),
  (() => {
    const t = doc('{"id": 1, "flags": 0, "type": "NOPE", "fd": 3}', "FDINFO");
    return jsonCase("an unknown enum name", t, at(t, '"NOPE"'), /"NOPE" is not a value of enum fd_types/);
  })(),
  (() => {
    const t = doc('{"id": 1, "flags": 0, "type": 99, "fd": 3}', "FDINFO");
    return jsonCase("an undefined enum number", t, at(t, "99"), /expected a name of enum fd_types, got a number/);
  })(),
  (() => {
    const t = doc(`${P}, {"pid": 2, "ppid": 1, "pgid": 1, "sid": 1, "bogus": {"x": 1}}`);
    return jsonCase("an unknown field", t, at(t, '{"x"'), /entries\[1\]: pstree_entry has no field "bogus"/);
  })(),
  (() => {
    const t = doc(`${P}, {"pid": 2, "ppid": 1, "pgid": 1}`);
    return jsonCase("a missing required field", t, at(t, '{"pid": 2'), /entries\[1\]: pstree_entry is missing required field "sid"/);
  })(),
  (() => {
    const t = doc('{"id": 4, "ino": 1, "flags": 0, "nspid": 1, "fown": {"uid": "x", "euid": 0, "signum": 0, "pid_type": 0, "pid": 0}}', "PIDFD");
    return jsonCase("a bad value inside a nested message", t, at(t, '"x"'), /entries\[0\]\.fown\.uid: "x" is not a valid value/);
  })(),
  (() => {
    const t = doc('{"siginfo": "A"}', "SIGNAL");
    return jsonCase("invalid base64 in a bytes field", t, at(t, '"A"'), /entries\[0\]\.siginfo: invalid base64/);
  })(),
  (() => {
    const t = doc('{"desc": {"key": 1, "uid": 0, "gid": 0, "cuid": 0, "cgid": 0, "mode": 384, "id": 0}, "nsems": 3, "extra": [5, 0]}', "IPCNS_SEM");
    return jsonCase("a payload of the wrong size", t, at(t, "[5, 0]"), /entries\[0\]\.extra: 2 semaphore values for nsems 3/);
  })(),
  (() => {
    const t = doc('{"pipe_id": 1, "bytes": 3, "extra": 42}', "PIPES_DATA");
    return jsonCase("a payload of the wrong type", t, at(t, "42"), /entries\[0\]\.extra: expected base64 text, got a number/);
  })(),
  // a payload must be what its entry declares, or the image would not read back
  (() => {
    const t = doc('{"pipe_id": 1, "bytes": 3, "size": 65536, "extra": "QUJDREVG\\n"}', "PIPES_DATA");
    return jsonCase("pipe data longer than the entry's bytes", t, at(t, '"QUJD'), /entries\[0\]\.extra: 6 bytes of pipe data for an entry that declares 3/);
  })(),
  (() => {
    const t = doc('{"pipe_id": 1, "bytes": 17, "size": 65536}', "PIPES_DATA");
    return jsonCase("pipe data missing for a non-zero bytes", t, at(t, '{"pipe_id"'), /entries\[0\]\.extra: 0 bytes of pipe data for an entry that declares 17/);
  })(),
  (() => {
    const t = doc('{"id_for": 18, "length": 25, "extra": ""}', "SK_QUEUES");
    return jsonCase("empty socket queue data for a non-zero length", t, at(t, '""'), /0 bytes of socket queue data for an entry that declares 25/);
  })(),
  (() => {
    const t = doc('{"inq_len": 2, "inq_seq": 1, "outq_len": 0, "outq_seq": 1, "opt_mask": 3, "snd_wscale": 7, "mss_clamp": 65495, "extra": {"inq": "QUJD\\n", "outq": ""}}', "TCP_STREAM");
    return jsonCase("a TCP receive queue of the wrong length", t, at(t, '"QUJD'), /entries\[0\]\.extra\.inq: 3 bytes for inq_len 2/);
  })(),
  (() => {
    const d = '{"key": 1, "uid": 0, "gid": 0, "cuid": 0, "cgid": 0, "mode": 384, "id": 0}';
    const t = doc(`{"desc": ${d}, "qbytes": 16384, "qnum": 2, "extra": [{"mtype": 42, "msize": 2}, "bTI=\\n"]}`, "IPCNS_MSG");
    return jsonCase("fewer queued messages than qnum", t, at(t, '[{"mtype"'), /entries\[0\]\.extra: 1 messages for qnum 2/);
  })(),
  (() => {
    const d = '{"key": 1, "uid": 0, "gid": 0, "cuid": 0, "cgid": 0, "mode": 384, "id": 0}';
    const t = doc(`{"desc": ${d}, "nsems": 3, "extra": []}`, "IPCNS_SEM");
    return jsonCase("no semaphore values for nsems 3", t, at(t, "[]"), /entries\[0\]\.extra: 0 semaphore values for nsems 3/);
  })(),
  jsonCase("invalid JSON: missing comma", '{"magic": "PSTREE" "entries": []}', 19, /expected ',' or '}'/),
  jsonCase("invalid JSON: truncated", '{"magic": "PSTREE", "entries": [', 32, /unexpected end of JSON/),
  jsonCase("invalid JSON: empty file", "", 0, /unexpected end of JSON/),
  jsonCase("invalid JSON: trailing data", '{"magic": "PSTREE", "entries": []} []', 35, /extra data after the JSON value/),
  (() => {
    const t = '{"magic": "PSTREE", "entries": [{"pid": 1, "ppid": 0, "pgid": 1, "sid": 1, "c": "é\u0001"}]}';
    return jsonCase("invalid JSON: a control character in a string after non-ASCII text", t, at(t, "\u0001"), /control character in string/);
  })(),
  {
    what: "invalid UTF-8 in the JSON text",
    name: "in.json",
    bytes: Buffer.concat([Buffer.from('{"magic": "PSTREE", "entries": [{"pid": 1, "c": "é'), Buffer.from([0xff]), Buffer.from('"}]}')]),
    op: "encode",
    offset: Buffer.byteLength('{"magic": "PSTREE", "entries": [{"pid": 1, "c": "é'),
    detail: /invalid UTF-8/,
  },
];

// ---- real images, cut or extended ----------------------------------------------------------------

function fixtureCases(): BadCase[] {
  if (!haveFixtures()) return [];
  const dir = FIXTURE_DIRS.unshareMix;
  const cases: BadCase[] = [];
  const core = readFileSync(join(dir, "core-28192.img"));
  const coreLen = core.readUInt32LE(8);
  cases.push({
    what: "a real core image cut in the middle of its entry",
    name: "core-28192.img",
    bytes: core.subarray(0, 12 + (coreLen >> 1)),
    op: "decode",
    offset: 8,
    detail: new RegExp(`entry length ${coreLen} runs past the end of the file \\(${coreLen >> 1} bytes left\\)`),
  });
  const sk = readFileSync(join(dir, "sk-queues.img"));
  const skEntries = [...readEntries(sk, "sk-queues.img")];
  const third = skEntries[2]!;
  cases.push({
    what: "a real sk-queues image cut inside the last entry's queued data",
    name: "sk-queues.img",
    bytes: sk.subarray(0, third.payload!.offset + 5),
    op: "decode",
    offset: third.payload!.offset,
    detail: /socket queue data of 25 bytes runs past the end of the file \(5 bytes left\)/,
  });
  cases.push({
    what: "a real sk-queues image cut inside a length word",
    name: "sk-queues.img",
    bytes: sk.subarray(0, skEntries[1]!.offset + 2),
    op: "decode",
    offset: skEntries[1]!.offset,
    detail: /2 stray bytes after the last entry/,
  });
  const msgImg = readFileSync(join(dir, "ipcns-msg-10.img"));
  const msgEntry = [...readEntries(msgImg, "ipcns-msg-10.img")][0]!;
  cases.push({
    what: "a real ipcns-msg image cut inside a message's length word",
    name: "ipcns-msg-10.img",
    bytes: msgImg.subarray(0, msgEntry.payload!.offset + 2),
    op: "decode",
    offset: msgEntry.payload!.offset,
    detail: /message length of 4 bytes runs past the end of the file \(2 bytes left\)/,
  });
  const pages = readFileSync(join(dir, "pages-5.img"));
  cases.push({
    what: "a raw pages image given to decode",
    name: "pages-5.img",
    bytes: pages,
    op: "decode",
    offset: undefined,
    detail: /^not a protobuf image: memory pages \(raw 4 KiB pages/,
  });
  cases.push({
    what: "raw pages under a name that does not say so",
    name: "memory.bin",
    bytes: pages,
    op: "decode",
    offset: 0,
    detail: /^unknown magic 0x[0-9a-f]+: not a CRIU image \(raw data such as pages-\*\.img has no magic\)/,
  });
  return cases;
}

const allCases = [...imageCases, ...jsonCases, ...fixtureCases()];

describe("bad input in-process: ImageFormatError with the file and the offset", () => {
  for (const c of allCases) {
    it(`${c.op} ${c.what} → ${c.offset === undefined ? "no offset" : `offset ${c.offset}`}`, () => {
      if (c.op === "encode") {
        expectFormatError(thrown(() => encodeImage(c.bytes, c.name)), c);
        return;
      }
      // decode, pretty decode, show --nopl and info all stop at the same fault
      expectFormatError(thrown(() => decodeImage(c.bytes, c.name)), c);
      expectFormatError(thrown(() => decodeImage(c.bytes, c.name, { pretty: true })), c);
      expectFormatError(thrown(() => decodeImage(c.bytes, c.name, { pretty: true, nopl: true })), c);
      expectFormatError(thrown(() => imageInfo(c.bytes, c.name)), c);
      if (c.offset !== undefined) expect(c.offset).toBeLessThanOrEqual(c.bytes.length);
    });
  }

  it("the raw-image error says what the file is instead of misparsing it", () => {
    const e = thrown(() => decodeImage(new Uint8Array(4096), "/some/dir/pages-1.img")) as ImageFormatError;
    expect(e).toBeInstanceOf(ImageFormatError);
    expect(e.message).toBe("/some/dir/pages-1.img: not a protobuf image: memory pages (raw 4 KiB pages indexed by a pagemap image)");
    for (const raw of ["pages-shmem-3.img", "ifaddr-9.img", "route6-9.img", "iptables-9.img", "nftables-9.img", "tmpfs-dev-41.tar.gz.img", "netns-ct-9.img"]) {
      const err = thrown(() => decodeImage(hex("19435654 30302750"), raw)) as ImageFormatError;
      expect(err.detail, raw).toMatch(/^not a protobuf image: /);
    }
  });
});

describe("bad input through the CLI: one line on stderr, exit 1, no stack trace", () => {
  let work: string;
  beforeAll(() => {
    ensureCliBuilt();
    work = mkdtempSync(join(tmpdir(), "ckpt-bad-input-"));
  });
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  allCases.forEach((c, i) => {
    it(`crit ${c.op} -i ${c.name}: ${c.what}`, () => {
      const sub = join(work, String(i));
      const file = join(sub, c.name);
      rmSync(sub, { recursive: true, force: true });
      mkdirSync(sub, { recursive: true });
      writeFileSync(file, c.bytes);
      const r = runCkpt(["crit", c.op, "-i", file, "-o", join(sub, "out")]);
      const line = expectOneLineError(r, file, c.offset);
      expect(line).toMatch(c.detail.source.startsWith("^") ? new RegExp(c.detail.source.slice(1)) : c.detail);
      expect(r.stdout).toBe("");
    });
  });

  it("decode from stdin names <stdin>", () => {
    const r = runCkpt(["crit", "decode"], Buffer.concat([pstree, Buffer.alloc(2)]));
    const line = expectOneLineError(r, "<stdin>", pstree.length);
    expect(line).toBe(`ckpt: <stdin> at offset ${pstree.length}: 2 stray bytes after the last entry`);
  });

  it("show, show --nopl and info report the same one-line error", () => {
    const file = join(work, "trunc-pstree.img");
    writeFileSync(file, Buffer.concat([pstree, u32le(100), PSTREE_ENTRY]));
    for (const args of [["show", file], ["show", "--nopl", file], ["info", file], ["decode", "--pretty", "-i", file]]) {
      const line = expectOneLineError(runCkpt(["crit", ...args]), file, pstree.length);
      expect(line).toContain("entry length 100 runs past the end of the file");
    }
  });

  it("decoding a directory reports each bad image on its own line and exits 1, writing the good ones", () => {
    const dir = join(work, "dir");
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, "pstree.img"), pstree);
    writeFileSync(join(dir, "core-1.img"), hex("19435654 47380555 ffffffff"));
    writeFileSync(join(dir, "fdinfo-2.img"), pstreeWith("0f"));
    const out = join(work, "dir-out");
    const r = runCkpt(["crit", "decode", "-i", dir, "-o", out]);
    expect(r.status).toBe(1);
    const lines = r.stderr.trimEnd().split("\n");
    expect(lines).toHaveLength(2);
    expect(lines[0]).toBe(`ckpt: ${join(dir, "core-1.img")} at offset 8: entry length 4294967295 runs past the end of the file (0 bytes left)`);
    expect(lines[1]).toBe(`ckpt: ${join(dir, "fdinfo-2.img")} at offset 12: invalid wire type 7`);
    expect(r.stderr).not.toMatch(/^\s{4}at /m);
    expect(readFileSync(join(out, "pstree.img.json"), "utf8")).toBe(
      '{"magic": "PSTREE", "entries": [{"pid": 1, "ppid": 0, "pgid": 1, "sid": 1, "threads": [1]}]}',
    );
  });

  it("a missing input file is one line too", () => {
    const missing = join(work, "no-such.img");
    const line = expectOneLineError(runCkpt(["crit", "decode", "-i", missing]), missing);
    expect(line).toBe(`ckpt: ${missing}: no such file or directory`);
  });
});
