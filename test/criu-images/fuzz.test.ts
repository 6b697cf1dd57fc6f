/**
 * Deterministic fuzzing of the codec. Every protobuf image of the three real dumps (plus hand-made
 * images of the payload kinds they lack) is mutated — bit flips, byte overwrites, truncation, inserted
 * bytes, huge length words and varints, duplicated slices — and decode must either give a document that
 * prints, or throw an ImageFormatError naming the input and an offset inside it; nothing else, ever.
 * Mutated JSON texts go through encode with the same contract. The seed is in every failure message:
 * CKPT_FUZZ_SEED=<seed> reproduces a run.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ImageFormatError } from "../../src/criu-images/errors.js";
import { listImageFiles } from "../../src/criu-images/image-dir.js";
import { decodeImage, encodeImage, imageInfo, readEntries } from "../../src/criu-images/image-file.js";
import { stringifyPython, type JsonObject } from "../../src/criu-images/json-text.js";
import { mimeBase64 } from "../../src/criu-images/crit-json/byte-text.js";
import { ensureCliBuilt, expectOneLineError, runCkpt } from "../support/ckpt-cli.js";
import { FIXTURE_DIRS, haveFixtures } from "../support/fixtures.js";
import { entry, image, msg, u32le } from "../support/image-bytes.js";

const SEED = Number(process.env.CKPT_FUZZ_SEED ?? 0x5eed2024) >>> 0;
const IMAGE_CASES_PER_SEED_IMAGE = 80;
const JSON_CASES_PER_SEED_TEXT = 10;

/** mulberry32: small, fast, and good enough to spread mutations. */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

class Rng {
  private readonly next: () => number;
  constructor(seed: number) {
    this.next = mulberry32(seed);
  }
  /** 0 ≤ n < max */
  int(max: number): number {
    return Math.floor(this.next() * max);
  }
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!;
  }
  bytes(n: number): Buffer {
    return Buffer.from(Array.from({ length: n }, () => this.int(256)));
  }
}

/** Each case has its own stream, so one case reproduces alone from (seed, index). */
const caseRng = (kind: number, index: number) => new Rng((SEED ^ Math.imul(index + 1, 0x9e3779b1) ^ Math.imul(kind, 0x85ebca6b)) >>> 0);

// ---- seeds ---------------------------------------------------------------------------------------

interface SeedImage {
  name: string;
  bytes: Buffer;
  /** Offsets of the entries' length words, for targeted length mutations. */
  lengthWords: number[];
}

const DESC = { key: 1, uid: 0, gid: 0, cuid: 0, cgid: 0, mode: 0o600, id: 0 };

/** Payload kinds and image types the real dumps lack. */
function handmadeSeeds(): Array<[string, Buffer]> {
  return [
    ["ipcns-shm-1.img", image("IPCNS_SHM", [entry(msg("ipc_shm_entry", { desc: DESC, size: 10n, in_pagemaps: false }), Buffer.from("SHM_BYTES!\0\0")), entry(msg("ipc_shm_entry", { desc: DESC, size: 4096n, in_pagemaps: true }))])],
    ["bpfmap-data.img", image("BPFMAP_DATA", [entry(msg("bpfmap_data_entry", { map_id: 7, keys_bytes: 4, values_bytes: 8, count: 1 }), Buffer.from("KEY1VALUE_01"))])],
    ["signal-p-1.img", image("SIGNAL", [entry(msg("siginfo_entry", { siginfo: new Uint8Array(128).fill(3) }))])],
    ["pidfd.img", image("PIDFD", [entry(msg("pidfd_entry", { id: 1, ino: 2, flags: 0, nspid: -1, fown: { uid: 0, euid: 0, signum: 0, pid_type: 0, pid: 0 } }))])],
    ["binfmt-misc.img", image("BINFMT_MISC", [entry(msg("binfmt_misc_entry", { name: "qemu", enabled: true, interpreter: "/usr/bin/qemu", magic: "7f454c46", offset: 0 }))])],
    ["tty-data.img", image("TTY_DATA", [entry(msg("tty_data_entry", { tty_id: 3, data: Buffer.from("ls -l\n") }))])],
  ];
}

function seedImages(): SeedImage[] {
  const raw: Array<[string, Buffer]> = [];
  if (haveFixtures()) {
    for (const dir of Object.values(FIXTURE_DIRS)) {
      for (const name of listImageFiles(dir).images) raw.push([name, readFileSync(join(dir, name))]);
    }
    raw.push(["stats-dump", readFileSync(join(FIXTURE_DIRS.runcCounter, "..", "stats-dump"))]);
  }
  raw.push(...handmadeSeeds());
  return raw.map(([name, bytes]) => ({ name, bytes, lengthWords: [...readEntries(bytes, name)].map((e) => e.offset) }));
}

// ---- image mutations -----------------------------------------------------------------------------

type Mutation = (b: Buffer, rng: Rng, seed: SeedImage) => [Buffer, string];

const HUGE_U32 = [0xffffffff, 0x80000000, 0x7fffffff, 0x10000, 0x1000000];

const MUTATIONS: Mutation[] = [
  (b, rng) => {
    const at = rng.int(b.length);
    const bit = rng.int(8);
    const out = Buffer.from(b);
    out[at]! ^= 1 << bit;
    return [out, `flip@${at}.${bit}`];
  },
  (b, rng) => {
    const at = rng.int(b.length);
    const v = rng.pick([0x00, 0xff, 0x80, rng.int(256)]);
    const out = Buffer.from(b);
    out[at] = v;
    return [out, `set@${at}=${v}`];
  },
  (b, rng) => {
    const at = rng.int(b.length);
    return [b.subarray(0, at), `cut@${at}`];
  },
  (b, rng) => {
    const at = rng.int(b.length + 1);
    const n = 1 + rng.int(8);
    return [Buffer.concat([b.subarray(0, at), rng.bytes(n), b.subarray(at)]), `insert@${at}+${n}`];
  },
  (b, rng, seed) => {
    // a length word of an entry (or, when there is none, the first word after the magics) set huge
    const at = seed.lengthWords.length ? rng.pick(seed.lengthWords) : Math.min(8, b.length - 4);
    if (at < 0 || at + 4 > b.length) return [b, "noop"];
    const v = rng.pick([...HUGE_U32, (b.readUInt32LE(at) + 1 + rng.int(16)) >>> 0]);
    const out = Buffer.from(b);
    out.writeUInt32LE(v >>> 0, at);
    return [out, `len@${at}=${v}`];
  },
  (b, rng) => {
    // a huge varint (2^32-1, or a 10-byte one) somewhere inside the messages
    const at = 8 + rng.int(Math.max(1, b.length - 8));
    const v = rng.pick([Buffer.from([0xff, 0xff, 0xff, 0xff, 0x0f]), Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]), Buffer.from([0x80, 0x80, 0x80])]);
    const out = Buffer.from(b);
    v.copy(out, Math.min(at, out.length), 0, Math.max(0, Math.min(v.length, out.length - at)));
    return [out, `varint@${at}`];
  },
  (b, rng) => {
    const from = rng.int(b.length);
    const len = 1 + rng.int(Math.min(64, b.length - from));
    const to = rng.int(b.length + 1);
    return [Buffer.concat([b.subarray(0, to), b.subarray(from, from + len), b.subarray(to)]), `dup[${from},+${len}]@${to}`];
  },
];

/**
 * A mutation inside one entry's message that keeps the framing right (the length word is rewritten), so
 * that the protobuf reader, the JSON conversions and the payload readers see the damage rather than the
 * framing check.
 */
function mutateEntryBody(seed: SeedImage, rng: Rng): [Buffer, string] {
  const b = seed.bytes;
  const at = rng.pick(seed.lengthWords);
  const len = b.readUInt32LE(at);
  let body = Buffer.from(b.subarray(at + 4, at + 4 + len));
  let op: string;
  const pos = rng.int(body.length + 1);
  switch (body.length === 0 ? 2 : rng.int(5)) {
    case 0:
      body[Math.min(pos, body.length - 1)]! ^= 1 << rng.int(8);
      op = "flip";
      break;
    case 1:
      body[Math.min(pos, body.length - 1)] = rng.pick([0x00, 0xff, 0x80, 0x7f, rng.int(256)]);
      op = "set";
      break;
    case 2:
      body = Buffer.concat([body.subarray(0, pos), rng.bytes(1 + rng.int(6)), body.subarray(pos)]);
      op = "insert";
      break;
    case 3:
      body = Buffer.concat([body.subarray(0, pos), body.subarray(pos + 1 + rng.int(4))]);
      op = "delete";
      break;
    default: {
      const from = rng.int(body.length);
      body = Buffer.concat([body.subarray(0, pos), body.subarray(from, from + 1 + rng.int(16)), body.subarray(pos)]);
      op = "dup";
    }
  }
  return [Buffer.concat([b.subarray(0, at), u32le(body.length), body, b.subarray(at + 4 + len)]), `entry@${at}:${op}@${pos}`];
}

function mutateImage(seed: SeedImage, rng: Rng): [Buffer, string] {
  // half of the cases damage one message and keep the framing; the rest damage anything
  if (seed.lengthWords.length && rng.int(2) === 0) return mutateEntryBody(seed, rng);
  let b = seed.bytes;
  const ops: string[] = [];
  const count = 1 + rng.int(3);
  for (let k = 0; k < count && b.length > 0; k++) {
    const [next, op] = rng.pick(MUTATIONS)(b, rng, seed);
    b = next;
    ops.push(op);
  }
  return [b, ops.join(",")];
}

// ---- checks --------------------------------------------------------------------------------------

type Outcome = { ok: true; text: string } | { ok: false; offset: number; message: string };

/** The contract for one input: a printable document or an ImageFormatError naming the input and a place in it. */
function checkError(err: unknown, name: string, length: number, where: string): { offset: number; message: string } {
  if (!(err instanceof ImageFormatError)) {
    throw new Error(`${where}: threw ${err instanceof Error ? `${err.constructor.name}: ${err.message}\n${err.stack}` : String(err)}`);
  }
  if (err.file !== name) throw new Error(`${where}: error names ${err.file}, not ${name}`);
  if (typeof err.offset !== "number" || !Number.isInteger(err.offset) || err.offset < 0 || err.offset > length) {
    throw new Error(`${where}: offset ${err.offset} is not within [0, ${length}]: ${err.message}`);
  }
  return { offset: err.offset, message: err.message };
}

function decodeOutcome(bytes: Buffer, name: string, opts: { pretty: boolean; nopl: boolean }, where: string): Outcome {
  let doc: JsonObject;
  try {
    doc = decodeImage(bytes, name, opts);
  } catch (err) {
    return { ok: false, ...checkError(err, name, bytes.length, where) };
  }
  const text = stringifyPython(doc, opts.pretty ? 4 : null);
  if (typeof text !== "string" || !text.startsWith("{")) throw new Error(`${where}: document did not print`);
  JSON.parse(text); // what is printed is JSON
  return { ok: true, text };
}

interface Tally {
  cases: number;
  decoded: number;
  rejected: number;
  reencoded: number;
}

// ---- the tests -----------------------------------------------------------------------------------

interface ImageFuzzResult {
  tally: Tally;
  failures: string[];
  /** Mutated files that were rejected, for the CLI check. */
  rejectedSamples: Array<{ name: string; bytes: Buffer; offset: number; message: string }>;
  rssGrowth: number;
}

describe(`fuzzing the codec (seed ${SEED})`, () => {
  const seeds = seedImages();
  let imageFuzz: ImageFuzzResult | undefined;

  /** The image fuzz run, done once for the tests that look at it (each may also run alone). */
  function imageFuzzResult(): ImageFuzzResult {
    imageFuzz ??= runImageFuzz();
    return imageFuzz;
  }

  function runImageFuzz(): ImageFuzzResult {
    const tally: Tally = { cases: 0, decoded: 0, rejected: 0, reencoded: 0 };
    const failures: string[] = [];
    const rejectedSamples: ImageFuzzResult["rejectedSamples"] = [];
    const rssBefore = process.memoryUsage().rss;
    seeds.forEach((seed, s) => {
      for (let k = 0; k < IMAGE_CASES_PER_SEED_IMAGE; k++) {
        const index = s * IMAGE_CASES_PER_SEED_IMAGE + k;
        const rng = caseRng(1, index);
        const [bytes, ops] = mutateImage(seed, rng);
        const where = `seed ${SEED} case ${index} ${seed.name} [${ops}]`;
        tally.cases++;
        try {
          const opts = { pretty: k % 3 !== 0, nopl: k % 3 === 2 };
          const outcome = decodeOutcome(bytes, seed.name, opts, where);
          // info walks the same entries: it succeeds exactly when decode does, and fails at the same place
          let info: { count: number } | { offset: number };
          try {
            info = imageInfo(bytes, seed.name);
          } catch (err) {
            info = checkError(err, seed.name, bytes.length, `${where} info`);
          }
          if (outcome.ok !== "count" in info) throw new Error(`${where}: decode ${outcome.ok ? "succeeded" : "failed"} but info did not`);
          if (!outcome.ok && "offset" in info && info.offset !== outcome.offset) {
            throw new Error(`${where}: info fails at ${info.offset}, decode at ${outcome.offset}`);
          }
          if (!outcome.ok) {
            tally.rejected++;
            if (rejectedSamples.length < 20 && index % 7 === 0) rejectedSamples.push({ name: seed.name, bytes, offset: outcome.offset, message: outcome.message });
            continue;
          }
          tally.decoded++;
          // what decodes re-encodes (or is refused as JSON), and re-decodes to the same document
          const plain = opts.pretty || opts.nopl ? decodeOutcome(bytes, seed.name, { pretty: false, nopl: false }, where) : outcome;
          if (!plain.ok) throw new Error(`${where}: plain decode failed where pretty decode succeeded`);
          let encoded: Uint8Array;
          try {
            encoded = encodeImage(Buffer.from(plain.text), `${seed.name}.json`);
          } catch (err) {
            checkError(err, `${seed.name}.json`, Buffer.byteLength(plain.text), `${where} re-encode`);
            continue;
          }
          tally.reencoded++;
          const again = decodeOutcome(Buffer.from(encoded), seed.name, { pretty: false, nopl: false }, `${where} re-decode`);
          if (!again.ok) throw new Error(`${where}: the re-encoded image does not decode: ${again.message}`);
          if (again.text !== plain.text) throw new Error(`${where}: decode → encode → decode changed the document`);
        } catch (err) {
          failures.push((err as Error).message);
        }
      }
    });
    return { tally, failures, rejectedSamples, rssGrowth: process.memoryUsage().rss - rssBefore };
  }

  it("decode of mutated images: a printable document or an ImageFormatError inside the file, nothing else", () => {
    const { tally, failures } = imageFuzzResult();
    expect(failures.slice(0, 10), `fuzz seed ${SEED} (CKPT_FUZZ_SEED=${SEED} reproduces): ${failures.length} failing cases`).toEqual([]);
    expect(tally.cases).toBeGreaterThanOrEqual(5000);
    // the mutations reach both outcomes in earnest
    expect(tally.decoded, JSON.stringify(tally)).toBeGreaterThan(tally.cases / 10);
    expect(tally.rejected, JSON.stringify(tally)).toBeGreaterThan(tally.cases / 10);
    expect(tally.reencoded, JSON.stringify(tally)).toBeGreaterThan(tally.decoded / 2);
  });

  it("encode of mutated JSON: an image or an ImageFormatError inside the text, nothing else", () => {
    const texts: Array<[string, Buffer]> = [];
    for (const seed of seeds) {
      for (const pretty of [false, true]) {
        texts.push([`${seed.name}${pretty ? ".pretty" : ""}.json`, Buffer.from(stringifyPython(decodeImage(seed.bytes, seed.name, { pretty }), pretty ? 4 : null))]);
      }
    }
    const failures: string[] = [];
    let cases = 0;
    let encoded = 0;
    let rejected = 0;
    texts.forEach(([name, text], t) => {
      for (let k = 0; k < JSON_CASES_PER_SEED_TEXT; k++) {
        const index = t * JSON_CASES_PER_SEED_TEXT + k;
        const rng = caseRng(2, index);
        const [mutated, ops] = mutateJson(text, rng);
        const where = `seed ${SEED} json case ${index} ${name} [${ops}]`;
        cases++;
        try {
          let bytes: Uint8Array;
          try {
            bytes = encodeImage(mutated, name);
          } catch (err) {
            checkError(err, name, mutated.length, where);
            rejected++;
            continue;
          }
          encoded++;
          // what encode writes is an image that reads back, and the document it reads back encodes to the same bytes
          const back = decodeOutcome(Buffer.from(bytes), name.replace(/\.json$/, ""), { pretty: false, nopl: false }, `${where} decode`);
          if (!back.ok) throw new Error(`${where}: encode wrote an image that does not decode: ${back.message}`);
          const again = encodeImage(Buffer.from(back.text), name);
          if (!Buffer.from(again).equals(Buffer.from(bytes))) throw new Error(`${where}: encode → decode → encode changed the bytes`);
        } catch (err) {
          failures.push((err as Error).message);
        }
      }
    });
    expect(failures.slice(0, 10), `fuzz seed ${SEED} (CKPT_FUZZ_SEED=${SEED} reproduces): ${failures.length} failing cases`).toEqual([]);
    expect(cases).toBeGreaterThanOrEqual(2000);
    expect(encoded, `${encoded} encoded, ${rejected} rejected`).toBeGreaterThan(cases / 10);
    expect(rejected, `${encoded} encoded, ${rejected} rejected`).toBeGreaterThan(cases / 4);
  });

  it("memory stays bounded: claimed sizes are never allocated", () => {
    // 16 bytes: IMG_COMMON, PSTREE, a 4 GiB entry length, 4 bytes
    const tiny = Buffer.concat([u32le(0x54564319), u32le(0x50273030), u32le(0xffffffff), Buffer.from("abcd")]);
    expect(tiny).toHaveLength(16);
    const huge: Array<[string, Buffer]> = [
      ["pstree.img", tiny],
      ["pipes-data.img", image("PIPES_DATA", [entry(msg("pipe_data_entry", { pipe_id: 1, bytes: 0xffffffff }))])],
      ["ipcns-sem-1.img", image("IPCNS_SEM", [entry(msg("ipc_sem_entry", { desc: DESC, nsems: 0xffffffff }))])],
      ["ipcns-msg-1.img", image("IPCNS_MSG", [entry(msg("ipc_msg_entry", { desc: DESC, qbytes: 1, qnum: 0xffffffff }), Buffer.concat([u32le(0xffffffff)]))])],
      ["ipcns-shm-1.img", image("IPCNS_SHM", [entry(msg("ipc_shm_entry", { desc: DESC, size: 0xffffffffffffffffn }))])],
      ["tcp-stream-1.img", image("TCP_STREAM", [entry(msg("tcp_stream_entry", { inq_len: 0xffffffff, inq_seq: 1, outq_len: 0xffffffff, outq_seq: 1 }))])],
      ["bpfmap-data.img", image("BPFMAP_DATA", [entry(msg("bpfmap_data_entry", { map_id: 1, keys_bytes: 0xffffffff, values_bytes: 0xffffffff, count: 1 }))])],
      ["ghost-file-1.img", image("GHOST_FILE", [entry(msg("ghost_file_entry", { uid: 0, gid: 0, mode: 0, chunks: true })), entry(msg("ghost_chunk_entry", { len: 0xffffffffffffffffn, off: 0n }))])],
      // a string field claiming 2^32-1 bytes inside a 20-byte entry
      ["utsns-1.img", image("UTSNS", [entry(Buffer.from([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x41, 0x41]))])],
    ];
    const before = process.memoryUsage().rss;
    for (let round = 0; round < 50; round++) {
      for (const [name, bytes] of huge) {
        let err: unknown;
        try {
          decodeImage(bytes, name);
        } catch (e) {
          err = e;
        }
        expect(err, name).toBeInstanceOf(ImageFormatError);
        const e = err as ImageFormatError;
        expect(e.file).toBe(name);
        expect(e.offset).toBeGreaterThanOrEqual(0);
        expect(e.offset).toBeLessThanOrEqual(bytes.length);
        expect(e.message).toMatch(/runs past the end/);
      }
    }
    const growth = process.memoryUsage().rss - before;
    expect(growth, `rss grew by ${growth} bytes`).toBeLessThan(64 << 20);
    // and the whole fuzz run above stayed within a sanity bound
    const { rssGrowth } = imageFuzzResult();
    expect(rssGrowth, `rss grew by ${rssGrowth} bytes during the image fuzz`).toBeLessThan(200 << 20);
  });

  describe("the CLI on mutated files", () => {
    let work: string;
    beforeAll(() => {
      ensureCliBuilt();
      work = mkdtempSync(join(tmpdir(), "ckpt-fuzz-"));
    });
    afterAll(() => rmSync(work, { recursive: true, force: true }));

    it("prints the same error as one line, exit 1, no stack trace, for 20 rejected mutations", () => {
      const { rejectedSamples } = imageFuzzResult();
      expect(rejectedSamples.length, `seed ${SEED}`).toBe(20);
      rejectedSamples.forEach((sample, i) => {
        const dir = join(work, String(i));
        mkdirSync(dir, { recursive: true });
        const file = join(dir, sample.name);
        writeFileSync(file, sample.bytes);
        const r = runCkpt(["crit", "decode", "-i", file]);
        const line = expectOneLineError(r, file, sample.offset);
        // the in-process message with the path in place of the bare name
        expect(line, `seed ${SEED}`).toBe(`ckpt: ${dir}/${sample.message}`);
      });
    });

    it("decodes a mutated file that still parses, like in-process", () => {
      const seed = seeds.find((s) => s.name === "pstree.img") ?? seeds[0]!;
      // an unknown varint field appended to the last entry keeps the image valid
      const bytes = Buffer.concat([seed.bytes.subarray(0, seed.lengthWords.at(-1)!), growLastEntry(seed)]);
      const file = join(work, seed.name);
      writeFileSync(file, bytes);
      const r = runCkpt(["crit", "decode", "-i", file]);
      expect(r.status, r.stderr).toBe(0);
      expect(r.stderr).toBe("");
      expect(r.stdout).toBe(stringifyPython(decodeImage(seed.bytes, seed.name), null) + "\n");
    });
  });
});

/** The last entry of a seed with an unknown field (number 99, varint 1) appended. */
function growLastEntry(seed: SeedImage): Buffer {
  const at = seed.lengthWords.at(-1)!;
  const len = seed.bytes.readUInt32LE(at);
  const body = Buffer.concat([seed.bytes.subarray(at + 4, at + 4 + len), Buffer.from([0x98, 0x06, 0x01])]);
  return Buffer.concat([u32le(body.length), body, seed.bytes.subarray(at + 4 + len)]);
}

// ---- JSON mutations ------------------------------------------------------------------------------

const VALUE_TOKEN = /"(?:[^"\\]|\\.)*"|-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?|true|false|null/g;
const REPLACEMENTS = [
  '"x"', '"0x10"', '""', "-1", "1.5", "[]", "{}", "null", "true", "0", "4294967296", "18446744073709551616",
  "-9223372036854775809", '"MAP_SHARED | 0x4000"', '"1:2"', '"::1"', '"127.0.0.1"', "NaN", "1e400", '"=00abc"',
  '"Zm9v\\n"', '"REG"', '"NOPE"', '[1, 2]', '{"x": 1}', '"\\ud800"', mimeBase64(Buffer.from("x")).trim().replace(/^/, '"').replace(/$/, '"'),
];
const JSON_CHARS = '{}[]":,-0123456789.eE \\ntfu';
const TEXT_CHARS = "0123456789abcdefxABCDEFGHIJKLMNOPQRSTUVWXYZ_=+/|: ";

/** A value of the same JSON type as `token`: other digits for a number, one character changed in a string. */
function sameTypeValue(token: string, rng: Rng): string {
  if (token === "true" || token === "false") return rng.pick(["true", "false"]);
  if (token === "null") return "null";
  if (!token.startsWith('"')) return rng.pick(["0", "1", "2", "7", "255", "256", "65535", "4294967295", "2147483647", "-2147483648", String(rng.int(100000))]);
  const inner = token.slice(1, -1);
  if (inner.length === 0 || inner.includes("\\")) return `"${rng.pick(TEXT_CHARS.split(""))}"`;
  const at = rng.int(inner.length);
  return `"${inner.slice(0, at)}${TEXT_CHARS[rng.int(TEXT_CHARS.length)]}${inner.slice(at + 1)}"`;
}

function mutateJson(text: Buffer, rng: Rng): [Buffer, string] {
  let b = text;
  const ops: string[] = [];
  const count = 1 + rng.int(2);
  for (let k = 0; k < count && b.length > 0; k++) {
    switch (rng.int(7)) {
      case 0: {
        const at = rng.int(b.length);
        const n = 1 + rng.int(8);
        b = Buffer.concat([b.subarray(0, at), b.subarray(at + n)]);
        ops.push(`drop@${at}+${n}`);
        break;
      }
      case 1: {
        const at = rng.int(b.length + 1);
        const ch = JSON_CHARS[rng.int(JSON_CHARS.length)]!;
        b = Buffer.concat([b.subarray(0, at), Buffer.from(ch), b.subarray(at)]);
        ops.push(`insert@${at}=${JSON.stringify(ch)}`);
        break;
      }
      case 2:
      case 3:
      case 4: {
        // swap a value: half the time for one of the same type (other digits, a changed character), else
        // for one of another type or a borderline value
        const s = b.toString("latin1");
        const tokens = [...s.matchAll(VALUE_TOKEN)].filter((m) => !/^\s*:/.test(s.slice(m.index! + m[0].length)));
        if (!tokens.length) break;
        const m = rng.pick(tokens);
        const rep = rng.int(2) === 0 ? sameTypeValue(m[0], rng) : rng.pick(REPLACEMENTS);
        b = Buffer.concat([b.subarray(0, m.index!), Buffer.from(rep), b.subarray(m.index! + m[0].length)]);
        ops.push(`swap@${m.index}=${rep}`);
        break;
      }
      case 5: {
        const at = rng.int(b.length);
        b = b.subarray(0, at);
        ops.push(`cut@${at}`);
        break;
      }
      default: {
        const at = rng.int(b.length + 1);
        const bytes = rng.pick([Buffer.from([0xff]), Buffer.from("é"), Buffer.from([0xc3]), Buffer.from("😀"), Buffer.from([0xed, 0xa0, 0x80])]);
        b = Buffer.concat([b.subarray(0, at), bytes, b.subarray(at)]);
        ops.push(`bytes@${at}`);
      }
    }
  }
  return [b, ops.join(",")];
}
