/**
 * The pure conversions behind crit's JSON, checked against known answers (most of them verified with the
 * real crit 4.2.1 and recorded in docs/criu-image-format.md §3): quoted-printable unix names, MIME
 * base64, IP addresses, dev numbers, flag names, Python int() parsing, Python json.dumps text, and the
 * lossless JSON parser used by encode.
 */
import { describe, expect, it } from "vitest";
import {
  decodeBase64Lenient,
  decodeQuotedPrintable,
  mimeBase64,
  pythonBytesRepr,
  quotedPrintable,
} from "../../src/criu-images/crit-json/byte-text.js";
import { jsonToMessage, messageToJson } from "../../src/criu-images/crit-json/convert.js";
import { FLAG_MAPS, formatFlags } from "../../src/criu-images/crit-json/flag-maps.js";
import { formatIpWords, parseIpWords } from "../../src/criu-images/crit-json/ip-address.js";
import { formatDev, hexString, parseDev, parsePythonInt } from "../../src/criu-images/crit-json/numbers.js";
import { humanSize } from "../../src/criu-images/image-file.js";
import { JsonSyntaxError, parseJsonNodes, quoteString, stringifyPython, type JsonNode } from "../../src/criu-images/json-text.js";
import { messageType } from "../../src/criu-images/schema-registry.js";

const bytes = (s: string) => new Uint8Array(Buffer.from(s, "utf8"));
const latin1 = (s: string) => new Uint8Array(Buffer.from(s, "latin1"));
const text = (b: Uint8Array) => Buffer.from(b).toString("latin1");

describe("quoted-printable unix socket names (binascii.b2a_qp / a2b_qp)", () => {
  const examples: Array<[string, Uint8Array, string]> = [
    ["abstract name with '=' and control bytes", latin1("\0crit=abs\x01name"), "=00crit=3Dabs=01name"],
    ["path name with its trailing NUL", latin1("/srv/sock=path\0"), "/srv/sock=3Dpath=00"],
    ["space as the very last byte", latin1("/a b "), "/a b=20"],
    ["UTF-8 bytes above 126", bytes("café"), "caf=C3=A9"],
    ["the unix-mix abstract socket", latin1("\0unshare-mix-abstract"), "=00unshare-mix-abstract"],
    ["unnamed socket (present, empty)", new Uint8Array(), ""],
    ["tab as the very last byte", latin1("a\t"), "a=09"],
    ["lone dot line", latin1("."), "=2E"],
    ["dot followed by more text is literal", latin1(".x"), ".x"],
    ["space before a newline", latin1("a \nb"), "a=20\nb"],
  ];
  for (const [what, input, encoded] of examples) {
    it(`${what}: ${JSON.stringify(encoded)}`, () => {
      expect(quotedPrintable(input)).toBe(encoded);
      expect(text(decodeQuotedPrintable(encoded))).toBe(text(input));
    });
  }

  it("100 × 'x' breaks after 75 characters with a soft line break, and decodes back", () => {
    const qp = quotedPrintable(latin1("x".repeat(100)));
    expect(qp).toBe("x".repeat(75) + "=\n" + "x".repeat(25));
    expect(qp.split("\n")[0]).toHaveLength(76);
    expect(text(decodeQuotedPrintable(qp))).toBe("x".repeat(100));
  });

  it("escapes that would cross column 76 move to the next line", () => {
    const qp = quotedPrintable(new Uint8Array(30).fill(0));
    const lines = qp.split("=\n");
    expect(lines.length).toBeGreaterThan(1);
    for (const line of lines) expect(line.length).toBeLessThanOrEqual(75);
    expect(decodeQuotedPrintable(qp)).toEqual(new Uint8Array(30));
  });

  it("uses CRLF breaks when the first newline is preceded by CR", () => {
    const qp = quotedPrintable(latin1("a\r\n" + "y".repeat(80)));
    expect(qp).toBe("a\r\n" + "y".repeat(75) + "=\r\n" + "y".repeat(5));
  });

  it("decoding keeps malformed escapes literally and honours soft breaks", () => {
    expect(text(decodeQuotedPrintable("a=ZZb"))).toBe("a=ZZb");
    expect(text(decodeQuotedPrintable("ab=\ncd"))).toBe("abcd");
    expect(text(decodeQuotedPrintable("=3d=3D"))).toBe("==");
    expect(text(decodeQuotedPrintable("end="))).toBe("end");
  });
});

describe("MIME base64 (base64.encodebytes / decodebytes)", () => {
  it("empty bytes are the empty string", () => {
    expect(mimeBase64(new Uint8Array())).toBe("");
    expect(decodeBase64Lenient("")).toEqual(new Uint8Array());
  });

  it("short data gets one line and a trailing newline", () => {
    expect(mimeBase64(bytes("fifo-bytes"))).toBe("Zmlmby1ieXRlcw==\n");
  });

  it("57 bytes fill exactly one 76-character line", () => {
    const out = mimeBase64(new Uint8Array(57).fill(0xab));
    expect(out).toHaveLength(77);
    expect(out.endsWith("\n")).toBe(true);
    expect(out.slice(0, -1)).not.toContain("\n");
  });

  it("long data is broken every 76 characters, every line newline-terminated", () => {
    const data = new Uint8Array(1000).map((_, i) => (i * 37) & 0xff);
    const out = mimeBase64(data);
    const lines = out.split("\n");
    expect(lines.pop()).toBe("");
    expect(lines).toHaveLength(Math.ceil(Buffer.from(data).toString("base64").length / 76));
    for (const line of lines.slice(0, -1)) expect(line).toHaveLength(76);
    expect(lines.at(-1)!.length).toBeLessThanOrEqual(76);
    expect(lines.join("")).toBe(Buffer.from(data).toString("base64"));
    expect(decodeBase64Lenient(out)).toEqual(data);
  });

  it("decoding ignores characters outside the alphabet and rejects a dangling character", () => {
    expect(Buffer.from(decodeBase64Lenient("Zmlm\nby1i eXRl*cw==\n")!).toString()).toBe("fifo-bytes");
    // Python: "number of data characters (1) cannot be 1 more than a multiple of 4"
    expect(decodeBase64Lenient("Z")).toBeUndefined();
  });
});

describe("IP addresses of (criu).ipadd fields", () => {
  const pairs: Array<[number[], string]> = [
    [[16777343], "127.0.0.1"],
    [[33022, 0, 0, 33554688], "fe80::1:2"],
    [[0, 0, 0, 0], "::"],
    [[0, 0, 0, 16777216], "::1"],
    [[0, 0, 0xffff0000, 16777343], "::ffff:7f00:1"],
  ];
  for (const [words, addr] of pairs) {
    it(`${JSON.stringify(words)} ↔ ${addr}`, () => {
      expect(formatIpWords(words)).toBe(addr);
      expect(parseIpWords(addr)).toEqual(words);
    });
  }

  it("an IPv4-mapped address written with a dotted quad prints in hex groups (Python 3.11)", () => {
    const words = parseIpWords("::ffff:127.0.0.1")!;
    expect(words).toEqual([0, 0, 0xffff0000, 16777343]);
    expect(formatIpWords(words)).toBe("::ffff:7f00:1");
  });

  it("compresses the longest zero run, the first one on a tie, and never a single zero group", () => {
    expect(formatIpWords(parseIpWords("1:0:0:2:0:0:0:3")!)).toBe("1:0:0:2::3");
    expect(formatIpWords(parseIpWords("1:0:0:2:3:0:0:4")!)).toBe("1::2:3:0:0:4");
    expect(formatIpWords(parseIpWords("1:0:2:3:4:5:6:7")!)).toBe("1:0:2:3:4:5:6:7");
    expect(formatIpWords(parseIpWords("2001:DB8::A")!)).toBe("2001:db8::a");
  });

  it("word counts that are neither 1 nor ≥ 4 are not addresses", () => {
    expect(formatIpWords([1, 2])).toBeUndefined();
    expect(formatIpWords([])).toBeUndefined();
  });

  it("rejects texts that are not addresses", () => {
    for (const bad of ["1.2.3", "256.0.0.1", "01.2.3.4", "1::2::3", "1:2:3:4:5:6:7", "1:2:3:4:5:6:7:8:9", "::g", "", "fe80::1%eth0"]) {
      expect(parseIpWords(bad), bad).toBeUndefined();
    }
  });
});

describe("dev_t numbers", () => {
  it("kernel encoding: 20-bit minor", () => {
    expect(formatDev(41n, false)).toBe("0:41");
    expect(formatDev((8n << 20n) | 1n, false)).toBe("8:1");
    expect(formatDev(0xfffffn, false)).toBe("0:1048575");
    expect(parseDev("0:41", false)).toBe(41n);
    expect(parseDev("8:1", false)).toBe(8388609n);
    expect(parseDev(" 253 : 3 ", false)).toBe((253n << 20n) | 3n);
  });

  it("odev (glibc userspace dev_t): 12+20-bit major, 8+24-bit minor", () => {
    expect(formatDev(0x801n, true)).toBe("8:1");
    expect(parseDev("8:1", true)).toBe(0x801n);
    // major 259 = 0x103, minor 74565 = 0x12345: 0x12300 << 12 | 0x103 << 8 | 0x45
    expect(formatDev(0x12310345n, true)).toBe("259:74565");
    expect(parseDev("259:74565", true)).toBe(0x12310345n);
    // a major above 0xfff lands in the high word
    expect(parseDev("4096:0", true)).toBe(1n << 44n);
    expect(formatDev(1n << 44n, true)).toBe("4096:0");
  });

  it("round-trips both ways over a spread of values", () => {
    for (const major of [0n, 1n, 8n, 259n, 4095n]) {
      for (const minor of [0n, 1n, 255n, 256n, 65535n, 1048575n]) {
        expect(parseDev(formatDev(parseDev(`${major}:${minor}`, false)!, false), false)).toBe((major << 20n) | minor);
        expect(formatDev(parseDev(`${major}:${minor}`, true)!, true)).toBe(`${major}:${minor}`);
      }
    }
  });

  it("rejects texts that are not major:minor", () => {
    for (const bad of ["8", "8:", ":1", "a:b", "8:1:2"]) expect(parseDev(bad, false), bad).toBeUndefined();
  });
});

describe("flags and hex", () => {
  it("names bits in map order and leaves unknown bits as one residual hex term", () => {
    expect(formatFlags(0x4022n, FLAG_MAPS["mmap.flags"]!)).toBe("MAP_PRIVATE | MAP_ANON | 0x4000");
    expect(formatFlags(0x4028n, FLAG_MAPS["mmap.flags"]!)).toBe("MAP_DROPPABLE | MAP_ANON | 0x4000");
    expect(formatFlags(6n, FLAG_MAPS["pmap.flags"]!)).toBe("PE_LAZY | PE_PRESENT");
    expect(formatFlags(0x8000201n, FLAG_MAPS["mmap.status"]!)).toBe("VMA_AREA_REGULAR | VMA_ANON_PRIVATE | 0x8000000");
    expect(formatFlags(0x10000n, FLAG_MAPS["mmap.status"]!)).toBe("0x10000");
    expect(formatFlags(0o2000002n, FLAG_MAPS["rfile.flags"]!)).toBe("O_RDWR | O_CLOEXEC");
  });

  it("zero prints as the empty string (zero-valued names never print)", () => {
    expect(formatFlags(0n, FLAG_MAPS["mmap.status"]!)).toBe("");
    expect(formatFlags(0n, FLAG_MAPS["rfile.flags"]!)).toBe("");
  });

  it("hex is lowercase, unpadded, and exact for 64-bit values", () => {
    expect(hexString(0n)).toBe("0x0");
    expect(hexString(0xabcn)).toBe("0xabc");
    expect(hexString(18446744073709551615n)).toBe("0xffffffffffffffff");
    expect(hexString(-16n)).toBe("-0x10");
  });

  it("pretty vma JSON parses back to the numbers (flag names, residual hex, hex strings)", () => {
    const vma = messageType("vma_entry");
    const json = `{"start": "0x7f0000000000", "end": "0x7f0000001000", "pgoff": 0, "shmid": 0, "prot": "PROT_READ | PROT_WRITE", "flags": "MAP_PRIVATE | MAP_ANON | 0x4000", "status": "VMA_AREA_REGULAR | VMA_ANON_PRIVATE", "fd": -1, "madv": "0x50000", "fdflags": "0x0"}`;
    const message = jsonToMessage(vma, parseJsonNodes(bytes(json)), "vma");
    expect(message).toMatchObject({ start: 0x7f0000000000n, end: 0x7f0000001000n, prot: 3, flags: 0x4022, status: 0x201, fd: -1n, madv: 0x50000n });
    expect(stringifyPython(messageToJson(vma, message, true), null)).toBe(json);
  });
});

describe("Python int(text, 0)", () => {
  const good: Array<[string, bigint]> = [
    ["0x10", 16n],
    ["0X1f", 31n],
    ["0o17", 15n],
    ["0b101", 5n],
    ["1_000", 1000n],
    ["0x_ff", 255n],
    ["0", 0n],
    ["00", 0n],
    ["-0x10", -16n],
    ["+7", 7n],
    [" 42 ", 42n],
    ["18446744073709551615", 18446744073709551615n],
  ];
  for (const [input, value] of good) {
    it(`${JSON.stringify(input)} → ${value}`, () => expect(parsePythonInt(input)).toBe(value));
  }

  it("rejects what Python rejects", () => {
    for (const bad of ["010", "0o8", "1__0", "_1", "1_", "0x", "0b2", "1.0", "1e3", "", "abc", "0x1g"]) {
      expect(parsePythonInt(bad), bad).toBeUndefined();
    }
  });
});

describe("Python json.dumps text (stringifyPython)", () => {
  it("ensure_ascii: DEL, control characters, non-ASCII and astral characters are escaped", () => {
    expect(quoteString("\x7f")).toBe('"\\u007f"');
    expect(quoteString("\x00\x01\x1f")).toBe('"\\u0000\\u0001\\u001f"');
    expect(quoteString("\n\r\t\b\f")).toBe('"\\n\\r\\t\\b\\f"');
    expect(quoteString('"\\')).toBe('"\\"\\\\"');
    expect(quoteString("/srv/café")).toBe('"/srv/caf\\u00e9"');
    expect(quoteString("😀")).toBe('"\\ud83d\\ude00"');
    expect(quoteString("a/b ~")).toBe('"a/b ~"');
    expect(quoteString("€")).toBe('"\\u20ac"');
  });

  it("compact separators are ', ' and ': '", () => {
    expect(stringifyPython({ a: 1, b: [1, 2, "x"], c: { d: null, e: true, f: false } }, null)).toBe(
      '{"a": 1, "b": [1, 2, "x"], "c": {"d": null, "e": true, "f": false}}',
    );
  });

  it("indent 4 puts every item on its own line, with ',' + newline and ': '", () => {
    expect(stringifyPython({ a: 1, b: [1, { c: "x" }] }, 4)).toBe(
      '{\n    "a": 1,\n    "b": [\n        1,\n        {\n            "c": "x"\n        }\n    ]\n}',
    );
  });

  it("empty containers are {} and [] in both modes", () => {
    expect(stringifyPython({ a: {}, b: [] }, null)).toBe('{"a": {}, "b": []}');
    expect(stringifyPython({ a: {}, b: [] }, 4)).toBe('{\n    "a": {},\n    "b": []\n}');
    expect(stringifyPython({}, 4)).toBe("{}");
    expect(stringifyPython([], null)).toBe("[]");
  });

  it("64-bit integers are printed exactly", () => {
    expect(stringifyPython({ max: 18446744073709551615n, min: -9223372036854775808n }, null)).toBe(
      '{"max": 18446744073709551615, "min": -9223372036854775808}',
    );
  });

  it("keys keep insertion order and are escaped like values", () => {
    expect(stringifyPython({ z: 1, "é": 2, a: 3 }, null)).toBe('{"z": 1, "\\u00e9": 2, "a": 3}');
  });
});

describe("Python bytes repr (invalid UTF-8 strings)", () => {
  it("prints like repr(bytes)", () => {
    expect(pythonBytesRepr(latin1("/srv/bad\xff\xfe"))).toBe("b'/srv/bad\\xff\\xfe'");
    expect(pythonBytesRepr(latin1("it's"))).toBe(`b"it's"`);
    expect(pythonBytesRepr(latin1("'\"\\\n\t\x7f"))).toBe("b'\\'\"\\\\\\n\\t\\x7f'");
  });
});

describe("human sizes (show --nopl)", () => {
  it("uses %d when integral and %.1f otherwise", () => {
    expect(humanSize(57)).toBe("57B");
    expect(humanSize(1536)).toBe("1.5KB");
    expect(humanSize(2048)).toBe("2KB");
    expect(humanSize(0)).toBe("0B");
    expect(humanSize(1023)).toBe("1023B");
    expect(humanSize(3 * 1024 * 1024)).toBe("3MB");
  });
});

describe("the lossless JSON parser", () => {
  const parse = (s: string) => parseJsonNodes(bytes(s));
  const num = (n: JsonNode | undefined) => (n?.kind === "number" ? n.text : undefined);

  it("keeps every digit of 64-bit numbers", () => {
    const root = parse('{"a": 18446744073709551615, "b": -9223372036854775808, "c": 9007199254740993}');
    expect(root.kind).toBe("object");
    if (root.kind !== "object") return;
    expect(num(root.entries.get("a"))).toBe("18446744073709551615");
    expect(num(root.entries.get("b"))).toBe("-9223372036854775808");
    expect(num(root.entries.get("c"))).toBe("9007199254740993");
  });

  it("records the byte offset of every value (UTF-8 bytes, not characters)", () => {
    const root = parse('{"a": [1, "x", {"b": null}], "é": true}');
    if (root.kind !== "object") throw new Error("not an object");
    expect(root.offset).toBe(0);
    const a = root.entries.get("a")!;
    expect(a.offset).toBe(6);
    if (a.kind !== "array") throw new Error("not an array");
    expect(a.items.map((n) => n.offset)).toEqual([7, 10, 15]);
    // "é" is two bytes: {"a": [1, "x", {"b": null}], "é": true} → true at byte 35 (character 34)
    expect(root.entries.get("é")!.offset).toBe(35);
  });

  it("accepts what Python's json.load accepts: NaN, Infinity, duplicate keys (last wins), escapes", () => {
    const root = parse('{"n": NaN, "i": -Infinity, "k": 1, "k": 2, "s": "\\u00e9\\n\\/"}');
    if (root.kind !== "object") throw new Error("not an object");
    expect(num(root.entries.get("n"))).toBe("NaN");
    expect(num(root.entries.get("i"))).toBe("-Infinity");
    expect(num(root.entries.get("k"))).toBe("2");
    const s = root.entries.get("s")!;
    expect(s.kind === "string" && s.value).toBe("é\n/");
  });

  const syntaxErrors: Array<[string, number]> = [
    ["", 0],
    ["{", 1],
    ["[1,]", 3],
    ['{"a" 1}', 5],
    ['{"a": 1,}', 8],
    ["{} x", 3],
    ['"abc', 0],
    ["[01]", 2],
    ['["\\x"]', 2],
    ['["a\u0001"]', 3],
    ["[tru]", 1],
  ];
  for (const [input, offset] of syntaxErrors) {
    it(`rejects ${JSON.stringify(input)} at byte ${offset}`, () => {
      let error: unknown;
      try {
        parse(input);
      } catch (err) {
        error = err;
      }
      expect(error).toBeInstanceOf(JsonSyntaxError);
      expect((error as JsonSyntaxError).offset).toBe(offset);
    });
  }

  it("rejects invalid UTF-8 at the first bad byte, whatever comes before it", () => {
    const doc = Buffer.concat([Buffer.from('{"é": "'), Buffer.from([0xff, 0xfe]), Buffer.from('", "x": 5}')]);
    expect(() => parseJsonNodes(doc)).toThrow(JsonSyntaxError);
    try {
      parseJsonNodes(doc);
    } catch (err) {
      expect((err as JsonSyntaxError).offset).toBe(doc.indexOf(0xff));
    }
    // a truncated multi-byte sequence at the end, and an overlong encoding
    for (const bad of [Buffer.from([0x5b, 0x22, 0xe2, 0x82]), Buffer.from([0x5b, 0xc0, 0xaf, 0x5d]), Buffer.from([0x5b, 0xed, 0xa0, 0x80, 0x5d])]) {
      expect(() => parseJsonNodes(bad)).toThrow(JsonSyntaxError);
      try {
        parseJsonNodes(bad);
      } catch (err) {
        expect((err as JsonSyntaxError).offset).toBeLessThan(bad.length);
        expect((err as JsonSyntaxError).offset).toBeGreaterThan(0);
      }
    }
  });

  it("refuses nesting deeper than 512 without overflowing the stack", () => {
    expect(() => parse("[".repeat(100_000))).toThrow(JsonSyntaxError);
    expect(parse("[".repeat(500) + "]".repeat(500)).kind).toBe("array");
  });
});
