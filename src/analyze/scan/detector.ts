/**
 * Finds rule matches in a buffer of bytes. A SIMD prefilter (anchor-prefilter.ts) finds the few
 * places where one of the rules' anchors may start, at several GB/s; each place is checked byte by
 * byte (case-insensitively), and the expressions of the rules whose anchor is there run only around
 * it, on a latin1 string (one character a byte) made of the bytes nearby. The cost of a scan hardly
 * grows with the number of rules. Rules without anchors run their expression over every byte, in
 * windows that reach `MAX_MATCH` further so that a match starting in one is seen whole.
 *
 * The bytes are scanned where the prefilter's memory holds them: `scan` copies them there;
 * `scanInPlace` takes them as put there by the caller (a scanning thread's jobs are copied straight
 * into it).
 */
import { AnchorPrefilter, FOLD } from "./anchor-prefilter.js";
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
  /** Tried at each place a match may start around an anchor. */
  sticky: RegExp;
  /** Run over whole windows, for rules without anchors. */
  global: RegExp;
}

interface Anchor {
  /** Lower-case latin1 bytes. */
  bytes: Uint8Array;
  rule: number;
}

/** The text around the anchors being looked at: bytes [base, base + text.length) as latin1. */
interface Around {
  text: string;
  base: number;
  /** Per rule: the offset in the buffer up to which match starts were tried. */
  tried: Float64Array;
}

export class Detector {
  private readonly compiled: Compiled[];
  private readonly prefilter: AnchorPrefilter;
  /** Anchors by their first byte. */
  private readonly byFirst: Array<Anchor[] | undefined> = new Array(256);
  private readonly unanchored: number[] = [];
  private readonly maxBack: number;
  private readonly anchored: boolean;

  /** `room`: the bytes to make room for in the prefilter's memory from the start. */
  constructor(
    readonly rules: readonly ScanRule[],
    room?: number,
  ) {
    this.compiled = rules.map((rule) => {
      const flags = rule.flags.replace(/[gy]/g, "");
      return { rule, sticky: new RegExp(rule.pattern, flags + "y"), global: new RegExp(rule.pattern, flags + "g") };
    });
    const anchors: string[] = [];
    rules.forEach((rule, i) => {
      if (rule.anchors.length === 0) this.unanchored.push(i);
      for (const a of rule.anchors) {
        const lower = a.toLowerCase();
        anchors.push(lower);
        const first = lower.charCodeAt(0);
        (this.byFirst[first] ??= []).push({ bytes: Buffer.from(lower, "latin1"), rule: i });
      }
    });
    this.anchored = anchors.length > 0;
    this.prefilter = new AnchorPrefilter(anchors, room);
    this.maxBack = Math.max(0, ...rules.map((r) => r.back));
  }

  /** The bytes a caller must give beyond its own range so that matches starting in it are whole. */
  static get overlap(): number {
    return MAX_MATCH;
  }

  /** The memory that `scanInPlace` reads (a SharedArrayBuffer), and where in it the bytes go. */
  get input(): { memory: WebAssembly.Memory; offset: number; capacity: number } {
    return { memory: this.prefilter.memory, offset: this.prefilter.dataOffset, capacity: this.prefilter.capacity };
  }

  /** Hits in buf that start in [from, to), in order of start. */
  scan(buf: Uint8Array, from = 0, to = buf.length): RuleHit[] {
    return this.scanParts([buf], from, to);
  }

  /** As `scan`, for the bytes of `parts` one after the other. */
  scanParts(parts: readonly Uint8Array[], from: number, to: number): RuleHit[] {
    const length = parts.reduce((n, p) => n + p.length, 0);
    this.prefilter.reserve(length);
    const data = this.prefilter.data();
    let at = 0;
    for (const p of parts) {
      data.set(p, at);
      at += p.length;
    }
    return this.scanInPlace(length, from, to);
  }

  /** As `scan`, for the `length` bytes put at `input.offset` of `input.memory`. */
  scanInPlace(length: number, from = 0, to = length): RuleHit[] {
    const data = this.prefilter.data();
    const b = Buffer.from(data.buffer, data.byteOffset, length);
    const out: RuleHit[] = [];
    if (this.anchored) {
      const around: Around = { text: "", base: 0, tried: new Float64Array(this.rules.length) };
      this.prefilter.candidates(from, Math.min(length, to + this.maxBack), (p) => this.atCandidate(b, p, from, to, around, out));
    }
    if (this.unanchored.length) {
      for (let ws = from; ws < to; ws += WINDOW) {
        const we = Math.min(to, ws + WINDOW);
        const base = Math.max(0, ws - CONTEXT_BEFORE);
        this.window(b.toString("latin1", base, Math.min(length, we + MAX_MATCH)), base, ws - base, we - base, out);
      }
    }
    out.sort((x, y) => x.start - y.start || x.rule - y.rule);
    return out.filter((h, i) => i === 0 || h.start !== out[i - 1]!.start || h.rule !== out[i - 1]!.rule);
  }

  /** Runs the rules whose anchor starts at b[p], if one does. */
  private atCandidate(b: Buffer, p: number, from: number, to: number, around: Around, out: RuleHit[]): void {
    const list = this.byFirst[FOLD[b[p]!]!];
    if (!list) return;
    for (const { bytes, rule } of list) {
      if (p + bytes.length > b.length) continue;
      let i = 1;
      while (i < bytes.length && FOLD[b[p + i]!] === bytes[i]) i++;
      if (i < bytes.length) continue;
      const back = this.rules[rule]!.back;
      if (p - back >= to) continue;
      // One text serves the anchors of the next MAX_MATCH bytes.
      if ((around.base > 0 && p - this.maxBack - CONTEXT_BEFORE < around.base) || (p + MAX_MATCH >= around.base + around.text.length && around.base + around.text.length < b.length)) {
        around.base = Math.max(0, p - this.maxBack - CONTEXT_BEFORE);
        around.text = b.toString("latin1", around.base, Math.min(b.length, p + 2 * MAX_MATCH));
      }
      this.atAnchor(rule, p, from, to, around, out);
    }
  }

  /**
   * Runs a rule's expression at each place a match holding the anchor at b[p] may start. Each place
   * is tried once per rule (`tried`; anchors come in order), so the work stays linear whatever the
   * bytes, even bytes made of anchors.
   */
  private atAnchor(rule: number, p: number, from: number, to: number, around: Around, out: RuleHit[]): void {
    const r = this.compiled[rule]!;
    const { text, base, tried } = around;
    let start = Math.max(0, p - r.rule.back, tried[rule]!);
    while (start <= p) {
      r.sticky.lastIndex = start - base;
      const m = r.sticky.exec(text);
      if (!m || m[0].length === 0) {
        start++;
        continue;
      }
      if (start + m[0].length > p && start >= from && start < to) {
        const hit = this.hit(rule, m, text, m.index, base);
        if (hit) out.push(hit);
      }
      // Matches of one rule do not overlap: the next may start after this one.
      start += m[0].length;
    }
    tried[rule] = Math.max(tried[rule]!, start);
  }

  /** Rules without anchors: hits starting in text[own, ownEnd); text starts at `base` in the buffer. */
  private window(text: string, base: number, own: number, ownEnd: number, out: RuleHit[]): void {
    for (const rule of this.unanchored) {
      const re = this.compiled[rule]!.global;
      re.lastIndex = own;
      for (let m = re.exec(text); m && m.index < ownEnd; m = re.exec(text)) {
        if (m[0].length === 0) {
          re.lastIndex++;
          continue;
        }
        const hit = this.hit(rule, m, text, m.index, base);
        if (hit) out.push(hit);
      }
    }
  }

  private hit(rule: number, m: RegExpExecArray, text: string, start: number, base: number): RuleHit | undefined {
    const r = this.compiled[rule]!.rule;
    const secret = m.groups?.secret ?? m[0];
    const within = m.groups?.secret !== undefined ? m[0].indexOf(secret) : 0;
    const entropy = shannonEntropy(secret);
    if (r.minEntropy !== undefined && entropy < r.minEntropy) return undefined;
    if (r.maxEntropy !== undefined && entropy >= r.maxEntropy) return undefined;
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
