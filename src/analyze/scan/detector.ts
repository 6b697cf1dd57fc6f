/**
 * Finds rule matches in a buffer of bytes. One case-insensitive pass over the bytes looks for every
 * anchor at once; each rule's expression then runs only around its anchors, so the cost of a scan
 * hardly grows with the number of rules. The buffer is read in windows short enough for V8 to make
 * cheap latin1 strings of (each byte is one character), each window reaching `MAX_MATCH` further so
 * that a match starting in it is seen whole.
 */
import { shannonEntropy } from "./entropy.js";
import { isPlaceholder, MAX_MATCH, type ScanRule } from "./rules.js";

export interface RuleHit {
  /** Index of the rule in the detector's list. */
  rule: number;
  /** Offsets in the buffer scanned. */
  start: number;
  end: number;
  /** The match and its secret, as latin1 text. */
  match: string;
  secret: string;
  secretStart: number;
  /** Up to CONTEXT_BEFORE bytes before the match (latin1), to tell where it lies (an env name). */
  before: string;
  entropy: number;
}

const WINDOW = 48 << 10;
export const CONTEXT_BEFORE = 256;

interface Compiled {
  rule: ScanRule;
  re: RegExp;
}

function escapeRegex(literal: string): string {
  return literal.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
}

export class Detector {
  private readonly compiled: Compiled[];
  private readonly prefilter: RegExp | undefined;
  /** Rules by the anchor's first lower-case character, to find which anchor the prefilter hit. */
  private readonly byFirst = new Map<string, Array<{ anchor: string; rule: number }>>();
  private readonly unanchored: number[] = [];
  private readonly maxBack: number;
  private readonly longestAnchor: number;

  constructor(readonly rules: readonly ScanRule[]) {
    this.compiled = rules.map((rule) => ({ rule, re: new RegExp(rule.pattern, rule.flags.replace(/[gy]/g, "") + "g") }));
    const anchors = new Set<string>();
    rules.forEach((rule, i) => {
      if (rule.anchors.length === 0) this.unanchored.push(i);
      for (const a of rule.anchors) {
        const lower = a.toLowerCase();
        anchors.add(lower);
        const list = this.byFirst.get(lower[0]!) ?? [];
        list.push({ anchor: lower, rule: i });
        this.byFirst.set(lower[0]!, list);
      }
    });
    this.prefilter = anchors.size ? new RegExp([...anchors].map(escapeRegex).join("|"), "gi") : undefined;
    this.maxBack = Math.max(0, ...rules.map((r) => r.back));
    this.longestAnchor = Math.max(0, ...[...anchors].map((a) => a.length));
  }

  /** The bytes a caller must give beyond its own range so that matches starting in it are whole. */
  static get overlap(): number {
    return MAX_MATCH;
  }

  /** Hits in buf that start in [from, to), in order of start. */
  scan(buf: Uint8Array, from = 0, to = buf.length): RuleHit[] {
    const b = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
    const out: RuleHit[] = [];
    for (let ws = from; ws < to; ws += WINDOW) {
      const we = Math.min(to, ws + WINDOW);
      const base = Math.max(0, ws - CONTEXT_BEFORE);
      const text = b.toString("latin1", base, Math.min(b.length, we + MAX_MATCH));
      this.window(text, base, ws - base, we - base, out);
    }
    out.sort((x, y) => x.start - y.start || x.rule - y.rule);
    return out;
  }

  /** Hits starting in text[own, ownEnd); text starts at `base` in the buffer. */
  private window(text: string, base: number, own: number, ownEnd: number, out: RuleHit[]): void {
    const seen = new Set<string>();
    const take = (rule: number, m: RegExpExecArray, offset: number) => {
      const start = offset + m.index;
      if (start < own || start >= ownEnd) return;
      const key = `${rule}:${start}`;
      if (seen.has(key)) return;
      seen.add(key);
      const hit = this.hit(rule, m, text, start, base);
      if (hit) out.push(hit);
    };
    if (this.prefilter) {
      const pre = this.prefilter;
      pre.lastIndex = own;
      // An anchor may lie up to `back` bytes after the start of a match that starts in the window.
      const last = ownEnd + this.maxBack;
      for (let a = pre.exec(text); a && a.index < last; a = pre.exec(text)) {
        const p = a.index;
        const head = text.substr(p, this.longestAnchor).toLowerCase();
        for (const { anchor, rule } of this.byFirst.get(head[0]!) ?? []) {
          if (!head.startsWith(anchor)) continue;
          const r = this.compiled[rule]!;
          if (p - r.rule.back >= ownEnd) continue;
          const from = Math.max(0, p - r.rule.back);
          const sub = text.slice(from, Math.min(text.length, p + MAX_MATCH));
          r.re.lastIndex = 0;
          for (let m = r.re.exec(sub); m; m = r.re.exec(sub)) {
            if (m[0].length === 0) {
              r.re.lastIndex++;
              continue;
            }
            // Only matches that hold this anchor: others are found from their own.
            if (from + m.index > p) break;
            if (from + m.index + m[0].length > p) take(rule, m, from);
          }
        }
        // Anchors may overlap (JWT parts): look again from the next byte.
        pre.lastIndex = p + 1;
      }
    }
    for (const rule of this.unanchored) {
      const r = this.compiled[rule]!;
      r.re.lastIndex = own;
      for (let m = r.re.exec(text); m && m.index < ownEnd; m = r.re.exec(text)) {
        if (m[0].length === 0) {
          r.re.lastIndex++;
          continue;
        }
        take(rule, m, 0);
      }
    }
  }

  private hit(rule: number, m: RegExpExecArray, text: string, start: number, base: number): RuleHit | undefined {
    const r = this.compiled[rule]!.rule;
    const secret = m.groups?.secret ?? m[0];
    const within = m.groups?.secret !== undefined ? m[0].indexOf(secret) : 0;
    const entropy = shannonEntropy(secret);
    if (r.minEntropy !== undefined && entropy < r.minEntropy) return undefined;
    if (r.rejectPlaceholders && isPlaceholder(secret)) return undefined;
    return {
      rule,
      start: base + start,
      end: base + start + m[0].length,
      match: m[0],
      secret,
      secretStart: base + start + within,
      before: text.slice(Math.max(0, start - CONTEXT_BEFORE), start),
      entropy,
    };
  }
}
