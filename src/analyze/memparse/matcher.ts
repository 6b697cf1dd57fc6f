/**
 * What memparse looks for: a literal string, raw bytes (--hex) or a regular expression. Matching is
 * on bytes, so binary and UTF-8 needles work (checkpointctl replaces non-printable bytes with '?'
 * before matching, which makes them impossible).
 */
export interface Matcher {
  /** The longest match this matcher can return; chunks overlap by this much. */
  readonly maxLength: number;
  /** Matches in buf starting at or after `from`, in order, not overlapping. */
  find(buf: Buffer, from: number): Array<{ index: number; length: number }>;
  readonly describe: string;
}

export function literalMatcher(needle: Buffer, describe: string): Matcher {
  if (needle.length === 0) throw new Error("the search pattern is empty");
  return {
    maxLength: needle.length,
    describe,
    find(buf, from) {
      const out: Array<{ index: number; length: number }> = [];
      for (let i = buf.indexOf(needle, from); i !== -1; i = buf.indexOf(needle, i + needle.length)) out.push({ index: i, length: needle.length });
      return out;
    },
  };
}

export function hexMatcher(hex: string): Matcher {
  const clean = hex.replace(/\s+|0x/gi, "");
  if (!/^([0-9a-fA-F]{2})+$/.test(clean)) throw new Error(`--hex wants pairs of hex digits, got "${hex}"`);
  return literalMatcher(Buffer.from(clean, "hex"), `bytes ${clean.toLowerCase()}`);
}

/** Longest regex match reported whole; a longer one is cut at this length. */
export const MAX_REGEX_MATCH = 4096;

export function regexMatcher(source: string): Matcher {
  // Bytes are matched as latin1 characters, so each character is exactly one byte.
  const re = new RegExp(source, "gs");
  return {
    maxLength: MAX_REGEX_MATCH,
    describe: `/${source}/`,
    find(buf, from) {
      const text = buf.toString("latin1");
      re.lastIndex = from;
      const out: Array<{ index: number; length: number }> = [];
      for (let m = re.exec(text); m; m = re.exec(text)) {
        if (m[0].length === 0) {
          re.lastIndex++;
          continue;
        }
        out.push({ index: m.index, length: Math.min(m[0].length, MAX_REGEX_MATCH) });
      }
      return out;
    },
  };
}
