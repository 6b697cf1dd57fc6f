/**
 * How crit turns bytes into JSON text: MIME base64 (Python's base64.encodebytes), quoted-printable for
 * unix socket names (binascii.b2a_qp / a2b_qp as quopri calls them), and Python's bytes repr for string
 * fields that are not UTF-8.
 */

/** base64.encodebytes: a newline after every 76 characters and at the end; "" for no bytes. */
export function mimeBase64(bytes: Uint8Array): string {
  if (bytes.length === 0) return "";
  const b64 = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("base64");
  if (b64.length <= 76) return b64 + "\n";
  const lines: string[] = [];
  for (let i = 0; i < b64.length; i += 76) lines.push(b64.slice(i, i + 76));
  return lines.join("\n") + "\n";
}

/** base64.decodebytes: characters outside the alphabet (newlines included) are ignored. */
export function decodeBase64Lenient(text: string): Uint8Array | undefined {
  const clean = text.replace(/[^A-Za-z0-9+/=]/g, "");
  const data = clean.replace(/=+$/, "");
  if (data.includes("=") || data.length % 4 === 1) return undefined;
  return new Uint8Array(Buffer.from(data, "base64"));
}

const MAX_LINE = 76;
const HEX = "0123456789ABCDEF";

/** binascii.b2a_qp(data, quotetabs=False, istext=True, header=False). */
export function quotedPrintable(data: Uint8Array): string {
  const nl = data.indexOf(0x0a);
  const crlf = nl > 0 && data[nl - 1] === 0x0d;
  const lineBreak = crlf ? "\r\n" : "\n";
  const out: number[] = [];
  const push = (s: string) => {
    for (let i = 0; i < s.length; i++) out.push(s.charCodeAt(i));
  };
  const escape = (b: number) => push("=" + HEX[b >> 4] + HEX[b & 15]);
  let lineLen = 0;
  let i = 0;
  while (i < data.length) {
    const b = data[i]!;
    const next = i + 1 < data.length ? data[i + 1] : undefined;
    const mustEscape =
      b > 126 ||
      b === 0x3d ||
      (b === 0x2e && lineLen === 0 && (next === undefined || next === 0x0a || next === 0x0d || next === 0)) ||
      ((b === 0x09 || b === 0x20) && next === undefined) ||
      (b < 33 && b !== 0x0d && b !== 0x0a && b !== 0x09 && b !== 0x20);
    if (mustEscape) {
      if (lineLen + 3 >= MAX_LINE) {
        push("=" + lineBreak);
        lineLen = 0;
      }
      escape(b);
      i++;
      lineLen += 3;
    } else if (b === 0x0a || (b === 0x0d && next === 0x0a)) {
      lineLen = 0;
      const last = out[out.length - 1];
      if (out.length && (last === 0x20 || last === 0x09)) {
        out.pop();
        escape(last!);
      }
      push(lineBreak);
      i += b === 0x0d ? 2 : 1;
    } else {
      if (next !== undefined && next !== 0x0a && lineLen + 1 >= MAX_LINE) {
        push("=" + lineBreak);
        lineLen = 0;
      }
      lineLen++;
      out.push(b);
      i++;
    }
  }
  return Buffer.from(out).toString("latin1");
}

function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x41 && c <= 0x46) return c - 0x37;
  if (c >= 0x61 && c <= 0x66) return c - 0x57;
  return -1;
}

/** binascii.a2b_qp(data, header=False). */
export function decodeQuotedPrintable(text: string): Uint8Array {
  const src = Buffer.from(text, "utf8");
  const out: number[] = [];
  let i = 0;
  while (i < src.length) {
    if (src[i] !== 0x3d) {
      out.push(src[i++]!);
      continue;
    }
    i++;
    if (i >= src.length) break;
    const c = src[i]!;
    if (c === 0x0a || c === 0x0d) {
      // Soft line break: skip to and over the newline.
      while (i < src.length && src[i] !== 0x0a) i++;
      if (i < src.length) i++;
    } else if (c === 0x3d) {
      out.push(0x3d);
      i++;
    } else if (i + 1 < src.length && hexValue(c) >= 0 && hexValue(src[i + 1]!) >= 0) {
      out.push((hexValue(c) << 4) | hexValue(src[i + 1]!));
      i += 2;
    } else out.push(0x3d);
  }
  return new Uint8Array(out);
}

/** Python's repr() of a bytes object, e.g. b'/srv/bad\xff\xfe'. */
export function pythonBytesRepr(bytes: Uint8Array): string {
  const hasSingle = bytes.includes(0x27);
  const quote = hasSingle && !bytes.includes(0x22) ? '"' : "'";
  let s = "b" + quote;
  for (const b of bytes) {
    if (b === 0x5c) s += "\\\\";
    else if (b === quote.charCodeAt(0)) s += "\\" + quote;
    else if (b === 0x09) s += "\\t";
    else if (b === 0x0a) s += "\\n";
    else if (b === 0x0d) s += "\\r";
    else if (b < 0x20 || b >= 0x7f) s += "\\x" + b.toString(16).padStart(2, "0");
    else s += String.fromCharCode(b);
  }
  return s + quote;
}
