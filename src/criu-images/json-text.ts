/**
 * JSON text exactly as Python's json.dump writes it (crit's output), and a parser for encode that keeps
 * every number's digits (64-bit fields must not pass through a double) and every value's byte offset
 * (so a wrong-shaped document gets an error that points into the file).
 */
import { isUtf8 } from "node:buffer";

export type JsonValue = string | number | bigint | boolean | null | JsonValue[] | JsonObject;
export interface JsonObject {
  [key: string]: JsonValue;
}

// Python's ensure_ascii escapes everything outside ' '..'~' (DEL included), \uXXXX in lowercase hex.
const NEEDS_ESCAPE = /[^ !#-[\]-~]/;
const SHORT_ESCAPES: Record<string, string> = {
  '"': '\\"',
  "\\": "\\\\",
  "\n": "\\n",
  "\r": "\\r",
  "\t": "\\t",
  "\b": "\\b",
  "\f": "\\f",
};

export function quoteString(s: string): string {
  if (!NEEDS_ESCAPE.test(s)) return `"${s}"`;
  let out = '"';
  for (let i = 0; i < s.length; i++) {
    const ch = s[i]!;
    const code = s.charCodeAt(i);
    if (code >= 0x20 && code <= 0x7e && ch !== '"' && ch !== "\\") out += ch;
    else out += SHORT_ESCAPES[ch] ?? "\\u" + code.toString(16).padStart(4, "0");
  }
  return out + '"';
}

/** json.dumps(value) with indent=None (", " and ": ") or indent=4 ("," + newline and ": "). */
export function stringifyPython(value: JsonValue, indent: number | null): string {
  return indent === null ? compact(value) : indented(value, " ".repeat(indent), "\n");
}

function scalar(value: string | number | bigint | boolean | null): string {
  if (typeof value === "string") return quoteString(value);
  if (value === null) return "null";
  if (typeof value === "boolean") return value ? "true" : "false";
  return String(value);
}

function compact(value: JsonValue): string {
  if (typeof value !== "object" || value === null) return scalar(value);
  let out: string;
  if (Array.isArray(value)) {
    out = "[";
    for (let i = 0; i < value.length; i++) out += (i ? ", " : "") + compact(value[i]!);
    return out + "]";
  }
  out = "{";
  let first = true;
  for (const key in value) {
    out += (first ? "" : ", ") + quoteString(key) + ": " + compact(value[key]!);
    first = false;
  }
  return out + "}";
}

function indented(value: JsonValue, step: string, pad: string): string {
  if (typeof value !== "object" || value === null) return scalar(value);
  const inner = pad + step;
  let out: string;
  if (Array.isArray(value)) {
    if (value.length === 0) return "[]";
    out = "[";
    for (let i = 0; i < value.length; i++) out += (i ? "," : "") + inner + indented(value[i]!, step, inner);
    return out + pad + "]";
  }
  out = "{";
  let first = true;
  for (const key in value) {
    out += (first ? "" : ",") + inner + quoteString(key) + ": " + indented(value[key]!, step, inner);
    first = false;
  }
  return first ? "{}" : out + pad + "}";
}

/** Offset of the first byte that does not start or continue a valid UTF-8 sequence. */
function firstInvalidUtf8(b: Uint8Array): number {
  let i = 0;
  while (i < b.length) {
    const c = b[i]!;
    if (c < 0x80) {
      i++;
      continue;
    }
    const [n, lo, hi] =
      c >= 0xc2 && c <= 0xdf ? [1, 0x80, 0xbf]
      : c === 0xe0 ? [2, 0xa0, 0xbf]
      : c === 0xed ? [2, 0x80, 0x9f]
      : c >= 0xe1 && c <= 0xef ? [2, 0x80, 0xbf]
      : c === 0xf0 ? [3, 0x90, 0xbf]
      : c === 0xf4 ? [3, 0x80, 0x8f]
      : c >= 0xf1 && c <= 0xf3 ? [3, 0x80, 0xbf]
      : [0, 0, 0];
    if (n === 0 || i + n >= b.length) return i;
    if (b[i + 1]! < lo || b[i + 1]! > hi) return i;
    for (let k = 2; k <= n; k++) if (b[i + k]! < 0x80 || b[i + k]! > 0xbf) return i;
    i += n + 1;
  }
  return b.length;
}

/** A parsed JSON value with the byte offset where it starts in the source text. */
export type JsonNode =
  | { kind: "object"; offset: number; entries: Map<string, JsonNode> }
  | { kind: "array"; offset: number; items: JsonNode[] }
  | { kind: "string"; offset: number; value: string }
  | { kind: "number"; offset: number; text: string }
  | { kind: "bool"; offset: number; value: boolean }
  | { kind: "null"; offset: number };

export class JsonSyntaxError extends Error {
  constructor(
    readonly offset: number,
    readonly detail: string,
  ) {
    super(detail);
  }
}

/**
 * Parses JSON as Python's json.load accepts it (NaN/Infinity included, duplicate keys: last wins).
 * Offsets are byte offsets into the UTF-8 text.
 */
export function parseJsonNodes(bytes: Uint8Array): JsonNode {
  // Invalid UTF-8 would be decoded to U+FFFD, which re-encodes to a different length and so would
  // shift every later byte offset: reject it where it starts, as Python's text-mode read does.
  if (!isUtf8(bytes)) throw new JsonSyntaxError(firstInvalidUtf8(bytes), "invalid UTF-8");
  const text = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("utf8");
  // Map character index → byte offset lazily; most documents are pure ASCII, where they coincide.
  const ascii = text.length === bytes.byteLength;
  const byteOffset = ascii ? (i: number) => i : (i: number) => Buffer.byteLength(text.slice(0, i), "utf8");
  let pos = 0;
  const fail = (detail: string, at = pos): never => {
    throw new JsonSyntaxError(byteOffset(at), detail);
  };
  const skipWs = () => {
    while (pos < text.length) {
      const c = text.charCodeAt(pos);
      if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) pos++;
      else break;
    }
  };
  const parseString = (): string => {
    const start = pos;
    pos++; // opening quote
    let out = "";
    let chunkStart = pos;
    for (;;) {
      if (pos >= text.length) fail("unterminated string", start);
      const c = text.charCodeAt(pos);
      if (c === 0x22) {
        out += text.slice(chunkStart, pos);
        pos++;
        return out;
      }
      if (c < 0x20) fail("control character in string");
      if (c !== 0x5c) {
        pos++;
        continue;
      }
      out += text.slice(chunkStart, pos);
      const e = text[pos + 1];
      if (e === undefined) fail("unterminated string", start);
      const simple: Record<string, string> = { '"': '"', "\\": "\\", "/": "/", b: "\b", f: "\f", n: "\n", r: "\r", t: "\t" };
      if (e! in simple) {
        out += simple[e!];
        pos += 2;
      } else if (e === "u") {
        const hex = text.slice(pos + 2, pos + 6);
        if (!/^[0-9a-fA-F]{4}$/.test(hex)) fail("invalid \\u escape");
        out += String.fromCharCode(parseInt(hex, 16));
        pos += 6;
      } else fail("invalid escape");
      chunkStart = pos;
    }
  };
  const NUMBER = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][-+]?\d+)?/y;
  const parseValue = (depth: number): JsonNode => {
    if (depth > 512) fail("nesting too deep");
    skipWs();
    const offset = byteOffset(pos);
    const c = text[pos];
    if (c === "{") {
      pos++;
      const entries = new Map<string, JsonNode>();
      skipWs();
      if (text[pos] === "}") {
        pos++;
        return { kind: "object", offset, entries };
      }
      for (;;) {
        skipWs();
        if (text[pos] !== '"') fail("expected a property name in double quotes");
        const key = parseString();
        skipWs();
        if (text[pos] !== ":") fail("expected ':'");
        pos++;
        entries.set(key, parseValue(depth + 1));
        skipWs();
        if (text[pos] === ",") pos++;
        else if (text[pos] === "}") {
          pos++;
          return { kind: "object", offset, entries };
        } else fail("expected ',' or '}'");
      }
    }
    if (c === "[") {
      pos++;
      const items: JsonNode[] = [];
      skipWs();
      if (text[pos] === "]") {
        pos++;
        return { kind: "array", offset, items };
      }
      for (;;) {
        items.push(parseValue(depth + 1));
        skipWs();
        if (text[pos] === ",") pos++;
        else if (text[pos] === "]") {
          pos++;
          return { kind: "array", offset, items };
        } else fail("expected ',' or ']'");
      }
    }
    if (c === '"') return { kind: "string", offset, value: parseString() };
    for (const [word, node] of [
      ["true", { kind: "bool", offset, value: true }],
      ["false", { kind: "bool", offset, value: false }],
      ["null", { kind: "null", offset }],
      ["NaN", { kind: "number", offset, text: "NaN" }],
      ["Infinity", { kind: "number", offset, text: "Infinity" }],
      ["-Infinity", { kind: "number", offset, text: "-Infinity" }],
    ] as const) {
      if (text.startsWith(word, pos)) {
        pos += word.length;
        return node as JsonNode;
      }
    }
    NUMBER.lastIndex = pos;
    const m = NUMBER.exec(text);
    if (!m) fail(pos >= text.length ? "unexpected end of JSON" : "unexpected character");
    pos += m![0].length;
    return { kind: "number", offset, text: m![0] };
  };
  const root = parseValue(0);
  skipWs();
  if (pos < text.length) fail("extra data after the JSON value");
  return root;
}

export function describeNode(node: JsonNode): string {
  return node.kind === "bool" ? "a boolean" : node.kind === "null" ? "null" : `a${node.kind === "array" || node.kind === "object" ? "n" : ""} ${node.kind}`;
}
