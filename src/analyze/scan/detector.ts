/**
 * Finds rule matches in a buffer of bytes. One case-insensitive pass over the bytes looks for every
 * anchor at once (anchors without letters, such as "://", are found apart with a native byte
 * search: short ones would slow that pass down several times); each rule's expression then runs only
 * around its anchors, so the cost of a scan hardly grows with the number of rules. The buffer is read in windows short enough for V8 to make
 * cheap latin1 strings of (each byte is one character), each window reaching `MAX_MATCH` further so
 * that a match starting in it is seen whole.
 */
import { shannonEntropy } from "./entropy.js";
import { escapeRegex, isPlaceholder, MAX_MATCH, type ScanRule } from "./rules.js";

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
  /** Tried at each place a match may start around an anchor. */
  sticky: RegExp;
  /** Run over whole windows, for rules without anchors. */
  global: RegExp;
}


export class Detector {
  private readonly compiled: Compiled[];
  private readonly prefilter: RegExp | undefined;
  /** Rules by the anchor's first lower-case character, to find which anchor the prefilter hit. */
  private readonly byFirst = new Map<string, Array<{ anchor: string; rule: number }>>();
  private readonly unanchored: number[] = [];
  /** Anchors without letters, searched for byte by byte. */
  private readonly bytewise: Buffer[];
  private readonly maxBack: number;
  private readonly longestAnchor: number;

  constructor(readonly rules: readonly ScanRule[]) {
    this.compiled = rules.map((rule) => {
      const flags = rule.flags.replace(/[gy]/g, "");
      return { rule, sticky: new RegExp(rule.pattern, flags + "y"), global: new RegExp(rule.pattern, flags + "g") };
    });
    const anchors = new Set<string>();
    const bytewise = new Set<string>();
    rules.forEach((rule, i) => {
      if (rule.anchors.length === 0) this.unanchored.push(i);
      for (const a of rule.anchors) {
        const lower = a.toLowerCase();
        (lower === a.toUpperCase() ? bytewise : anchors).add(lower);
        const list = this.byFirst.get(lower[0]!) ?? [];
        list.push({ anchor: lower, rule: i });
        this.byFirst.set(lower[0]!, list);
      }
    });
    this.prefilter = anchors.size ? new RegExp([...anchors].map(escapeRegex).join("|"), "gi") : undefined;
    this.bytewise = [...bytewise].map((a) => Buffer.from(a, "latin1"));
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
    if (this.bytewise.length) this.scanBytewise(b, from, to, out);
    out.sort((x, y) => x.start - y.start || x.rule - y.rule);
    // A rule whose anchors are found both ways may see a match twice.
    return out.filter((h, i) => i === 0 || h.start !== out[i - 1]!.start || h.rule !== out[i - 1]!.rule);
  }

  /** Hits starting in text[own, ownEnd); text starts at `base` in the buffer. */
  private window(text: string, base: number, own: number, ownEnd: number, out: RuleHit[]): void {
    const seen = new Set<string>();
    const tried = new Float64Array(this.rules.length);
    const take = (rule: number, m: RegExpExecArray) => {
      const start = m.index;
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
        this.atAnchor(text, a.index, ownEnd, tried, take);
        // Anchors may overlap: look again from the next byte.
        pre.lastIndex = a.index + 1;
      }
    }
    for (const rule of this.unanchored) {
      const re = this.compiled[rule]!.global;
      re.lastIndex = own;
      for (let m = re.exec(text); m && m.index < ownEnd; m = re.exec(text)) {
        if (m[0].length === 0) {
          re.lastIndex++;
          continue;
        }
        take(rule, m);
      }
    }
  }

  /**
   * Runs the expressions of the rules whose anchor is at text[p], keeping matches that hold it. Each
   * place a match may start is tried once per rule (`tried[rule]`: text offset up to which starts
   * were tried; anchors come in order), so the work stays linear whatever the bytes, even a text made
   * of anchors.
   */
  private atAnchor(text: string, p: number, ownEnd: number, tried: Float64Array, take: (rule: number, m: RegExpExecArray) => void): void {
    const head = text.substr(p, this.longestAnchor).toLowerCase();
    for (const { anchor, rule } of this.byFirst.get(head[0]!) ?? []) {
      if (!head.startsWith(anchor)) continue;
      const r = this.compiled[rule]!;
      if (p - r.rule.back >= ownEnd) continue;
      let start = Math.max(0, p - r.rule.back, tried[rule]!);
      while (start <= p) {
        r.sticky.lastIndex = start;
        const m = r.sticky.exec(text);
        if (!m || m[0].length === 0) {
          start++;
          continue;
        }
        if (start + m[0].length > p) take(rule, m);
        // Matches of one rule do not overlap: the next may start after this one.
        start += m[0].length;
      }
      tried[rule] = Math.max(tried[rule]!, start);
    }
  }

  /** The anchors without letters: each occurrence is looked at in a text around it. */
  private scanBytewise(b: Buffer, from: number, to: number, out: RuleHit[]): void {
    const seen = new Set<string>();
    for (const anchor of this.bytewise) {
      let text = "";
      let base = 0;
      const tried = new Float64Array(this.rules.length);
      for (let at = b.indexOf(anchor, from); at !== -1 && at < to + this.maxBack; at = b.indexOf(anchor, at + 1)) {
        // One text serves the anchors of the next MAX_MATCH bytes.
        if (at - this.maxBack - CONTEXT_BEFORE < base || at + MAX_MATCH > base + text.length) {
          const next = Math.max(0, at - this.maxBack - CONTEXT_BEFORE);
          // `tried` holds offsets in the text: move them with it.
          for (let i = 0; i < tried.length; i++) tried[i] = Math.max(0, tried[i]! - (next - base));
          base = next;
          text = b.toString("latin1", base, Math.min(b.length, at + 2 * MAX_MATCH));
        }
        this.atAnchor(text, at - base, to - base, tried, (rule, m) => {
          const start = base + m.index;
          const key = `${rule}:${start}`;
          if (start < from || start >= to || seen.has(key)) return;
          seen.add(key);
          const hit = this.hit(rule, m, text, m.index, base);
          if (hit) out.push(hit);
        });
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
