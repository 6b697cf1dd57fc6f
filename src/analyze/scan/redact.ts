/** How secrets are shown: a short prefix and suffix by default, never enough to use them. */

export function redact(secret: string): string {
  const n = secret.length;
  const keep = n >= 32 ? 4 : n >= 16 ? 3 : n >= 10 ? 2 : 0;
  return keep ? `${secret.slice(0, keep)}…${secret.slice(n - keep)}` : "…";
}

/** Printable text: control and non-ASCII bytes (the text is latin1, one char a byte) escaped. */
export function printable(text: string): string {
  let out = "";
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x0a) out += "\\n";
    else if (c === 0x5c) out += "\\\\";
    else if (c >= 0x20 && c < 0x7f) out += text[i];
    else out += `\\x${c.toString(16).padStart(2, "0")}`;
  }
  return out;
}

/** The match as shown: its secret redacted unless told otherwise, at most `max` characters. */
export function excerpt(match: string, secretAt: number, secret: string, reveal: boolean, max = 120): string {
  const shown = printable(match.slice(0, secretAt)) + printable(reveal ? secret : redact(secret)) + printable(match.slice(secretAt + secret.length));
  return shown.length > max && !reveal ? shown.slice(0, max - 1) + "…" : shown;
}
