/**
 * JSON text as Go's encoding/json writes it, for the metadata members CRI-O writes with
 * `json.MarshalIndent(v, "", "  ")` (checkpointctl's WriteJSONFile): two-space indent, `": "`,
 * empty arrays and objects as `[]`/`{}`, no trailing newline, strings HTML-safe (`<`, `>`, `&` as
 * \u003c…), U+2028/U+2029 escaped, control characters as \n \r \t \b \f or \u00XX (Go ≥ 1.22).
 * Key order is the object's own: Go writes struct fields in declaration order and map keys sorted,
 * so callers sort maps (see sortedKeys). Pure functions.
 */

/** `json.MarshalIndent(value, "", "  ")` (indent 2) or `json.Marshal(value)` (indent 0). */
export function goJson(value: unknown, indent: 0 | 2 = 2): string {
  return encode(value, 0, indent, "$");
}

function encode(v: unknown, depth: number, indent: number, at: string): string {
  if (v === null || v === undefined) return "null";
  switch (typeof v) {
    case "string":
      return goString(v);
    case "boolean":
      return v ? "true" : "false";
    case "bigint":
      return v.toString();
    case "number":
      if (!Number.isFinite(v)) throw new TypeError(`${at}: ${v} has no JSON form`);
      // A double above 2^53 has already lost digits (a uint64 limit read with JSON.parse): writing it
      // would put a different number into the archive than the one the runtime used.
      if (Number.isInteger(v) && !Number.isSafeInteger(v)) {
        throw new TypeError(`${at}: ${v} is beyond 2^53 and no longer exact; pass it as a bigint`);
      }
      return String(v);
    case "object": {
      if (v instanceof Date) return goString(goTime(v));
      const nl = (d: number) => (indent ? "\n" + " ".repeat(indent * d) : "");
      if (Array.isArray(v)) {
        if (v.length === 0) return "[]";
        const items = v.map((x, i) => nl(depth + 1) + encode(x, depth + 1, indent, `${at}[${i}]`));
        return `[${items.join(",")}${nl(depth)}]`;
      }
      const entries = Object.entries(v as Record<string, unknown>).filter(([, x]) => x !== undefined);
      if (entries.length === 0) return "{}";
      const colon = indent ? ": " : ":";
      const items = entries.map(([k, x]) => nl(depth + 1) + goString(k) + colon + encode(x, depth + 1, indent, `${at}.${k}`));
      return `{${items.join(",")}${nl(depth)}}`;
    }
    default:
      throw new TypeError(`${at}: a ${typeof v} has no JSON form`);
  }
}

const SHORT: Record<string, string> = { '"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\b": "\\b", "\f": "\\f" };

/** A Go JSON string literal (HTML-safe, as json.Marshal's default encoder writes it). */
export function goString(s: string): string {
  let out = '"';
  for (let i = 0; i < s.length; i++) {
    const ch = s[i]!;
    const c = s.charCodeAt(i);
    if (SHORT[ch] !== undefined) out += SHORT[ch];
    else if (c < 0x20 || ch === "<" || ch === ">" || ch === "&" || c === 0x2028 || c === 0x2029) out += `\\u${c.toString(16).padStart(4, "0")}`;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length && s.charCodeAt(i + 1) >= 0xdc00 && s.charCodeAt(i + 1) <= 0xdfff) {
      out += ch + s[i + 1]!;
      i++;
    } else if (c >= 0xd800 && c <= 0xdfff) out += "\ufffd"; // a lone surrogate is invalid UTF-8 to Go
    else out += ch;
  }
  return out + '"';
}

/** Go's time.Time JSON form (RFC3339Nano, trailing zeros of the fraction trimmed) of a Date, in UTC. */
export function goTime(t: Date): string {
  if (Number.isNaN(t.getTime())) throw new TypeError("invalid Date");
  const iso = t.toISOString(); // 2026-01-01T00:00:00.120Z
  return iso.replace(/\.(\d{3})Z$/, (_, ms: string) => (ms === "000" ? "Z" : `.${ms.replace(/0+$/, "")}Z`));
}

/** RFC 3339 with optional fraction (up to nanoseconds) and a zone, as Go's RFC3339Nano parses it. */
export const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/;

/** A time for the metadata: a Date becomes Go's UTC form, a string must be RFC 3339 and is kept
 * verbatim (so a runtime's own nanosecond timestamp with its zone survives). */
export function metadataTime(t: string | Date, what: string): string {
  if (t instanceof Date) return goTime(t);
  if (!RFC3339.test(t)) throw new TypeError(`${what}: not an RFC 3339 time: ${JSON.stringify(t)}`);
  return t;
}

/** A copy of a string map with its keys in Go's map order (bytewise). */
export function sortedKeys<T>(map: Record<string, T>): Record<string, T> {
  const keys = Object.keys(map).sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
  const out: Record<string, T> = {};
  for (const k of keys) out[k] = map[k]!;
  return out;
}
