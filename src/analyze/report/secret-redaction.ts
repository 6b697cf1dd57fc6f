/**
 * The secrets a scan found, hidden wherever else the report would show them: a command line, a path,
 * an annotation or a socket address holding a secret shows it redacted as `ckpt scan` redacts it (a
 * short prefix and suffix). A secret is known either whole (a scan run for the report, or `ckpt scan
 * --no-redact` output) or only by its redacted form and length (`ckpt scan`'s default output), which
 * still finds every secret of 10 characters or more; shorter ones are redacted to "…" by the scan and
 * cannot be recognised from that.
 */
import { printable, redact } from "../scan/redact.js";
import type { ReportModel } from "./model.js";

/** A secret as a findings source gives it. */
export type KnownSecret = { secret: string } | { redacted: string; length: number };

/** Replaces every occurrence of each known secret in a text by its redacted form. */
export type Redactor = (text: string) => string;

interface Pattern {
  /** Exact texts to replace (the secret's bytes as latin1, as UTF-8 and as the scan prints them). */
  exact: string[];
  /** Or: a prefix and suffix `length` characters apart. */
  prefix?: string;
  suffix?: string;
  length: number;
  shown: string;
}

/** The prefix and suffix of a redacted secret ("abcd…wxyz"), when the redaction kept any. */
function splitRedacted(redacted: string, length: number): { prefix: string; suffix: string } | undefined {
  const cut = redacted.indexOf("…");
  if (cut <= 0 || redacted.indexOf("…", cut + 1) !== -1) return undefined;
  const prefix = redacted.slice(0, cut);
  const suffix = redacted.slice(cut + 1);
  return suffix.length === prefix.length && length > prefix.length + suffix.length ? { prefix, suffix } : undefined;
}

function patternOf(s: KnownSecret): Pattern | undefined {
  if ("secret" in s) {
    if (s.secret === "") return undefined;
    const utf8 = Buffer.from(s.secret, "latin1").toString("utf8");
    return { exact: [...new Set([s.secret, utf8, printable(s.secret)])], length: s.secret.length, shown: redact(s.secret) };
  }
  const parts = splitRedacted(s.redacted, s.length);
  return parts ? { exact: [], ...parts, length: s.length, shown: s.redacted } : undefined;
}

function replaceAffixed(text: string, p: Pattern): string {
  const { prefix, suffix, length } = p as Required<Pattern>;
  let out = "";
  let from = 0;
  for (let at = text.indexOf(prefix); at !== -1; at = text.indexOf(prefix, at)) {
    if (text.startsWith(suffix, at + length - suffix.length)) {
      out += text.slice(from, at) + p.shown;
      from = at = at + length;
    } else at++;
  }
  return out + text.slice(from);
}

/**
 * A redactor for these secrets, and how many of them it cannot recognise (known only as "…").
 * Longer secrets are replaced first, so a secret inside another is not half-replaced.
 */
export function secretRedactor(secrets: readonly KnownSecret[]): { redact: Redactor; unrecognised: number } {
  const patterns: Pattern[] = [];
  let unrecognised = 0;
  for (const s of secrets) {
    const p = patternOf(s);
    if (p) patterns.push(p);
    else if (!("secret" in s) || s.secret !== "") unrecognised++;
  }
  patterns.sort((a, b) => b.length - a.length);
  const redactText: Redactor = (text) => {
    let out = text;
    for (const p of patterns) {
      for (const e of p.exact) if (out.includes(e)) out = out.split(e).join(p.shown);
      if (p.prefix !== undefined && out.includes(p.prefix)) out = replaceAffixed(out, p);
    }
    return out;
  };
  return { redact: redactText, unrecognised };
}

/** Fields that are digests or the report's own words, never a checkpoint's text. */
const KEPT = new Set(["sha256", "generated", "tool"]);

function redactValue(value: unknown, redactText: Redactor): unknown {
  if (typeof value === "string") return redactText(value);
  if (Array.isArray(value)) return value.map((v) => redactValue(v, redactText));
  if (value !== null && typeof value === "object" && Object.getPrototypeOf(value) === Object.prototype) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, KEPT.has(k) ? v : redactValue(v, redactText)]));
  }
  return value;
}

/** The model with every text from the checkpoint passed through `redactText`. */
export function redactModel(model: ReportModel, redactText: Redactor): ReportModel {
  return redactValue(model, redactText) as ReportModel;
}
