/**
 * The Findings section's rows, from a scan run for the report or from a findings file, with the
 * secrets the rest of the page must hide (secret-redaction.ts) and what the page should say when
 * some cannot be hidden.
 */
import type { ScanResult } from "../scan/findings.js";
import { findingWhere } from "../scan/location-text.js";
import { printable } from "../scan/redact.js";
import type { ReportFinding } from "./model.js";
import { secretRedactor, type KnownSecret } from "./secret-redaction.js";

/** A row of a findings file: `secret`, when given, is the secret itself (hidden elsewhere in the page). */
export interface FindingRow extends ReportFinding {
  secret?: string;
}

export interface ReportFindings {
  findings: ReportFinding[];
  secrets: KnownSecret[];
  notes: string[];
}

/** `ckpt scan` cuts a redacted excerpt to this many characters; previews made here are cut the same. */
const PREVIEW_MAX = 120;

function unrecognisedNote(n: number): string[] {
  return n ? [`${n} secret(s) are known only as "…" (too short for the scan to show any part): text holding them elsewhere in this report is not redacted.`] : [];
}

/**
 * Rows of a scan result. Secrets in the clear (a scan run with `reveal`, or `ckpt scan --no-redact`
 * output) are redacted in the rows as the scan redacts them; redacted ones are known by their
 * prefix, suffix and length.
 */
export function findingsOfScan(result: ScanResult): ReportFindings {
  const secrets: KnownSecret[] = result.findings.map((f) => (result.redacted ? { redacted: f.secret, length: f.length } : { secret: f.secret }));
  const { redact, unrecognised } = secretRedactor(secrets);
  const findings = result.findings.map((f) => {
    // A redacted excerpt prints the redaction's "…" escaped, as it prints every byte that is not ASCII.
    const preview = result.redacted ? f.excerpt.split(printable(f.secret)).join(f.secret) : redact(f.excerpt);
    return { rule: f.rule, where: redact(findingWhere(f)), preview: preview.length > PREVIEW_MAX ? preview.slice(0, PREVIEW_MAX - 1) + "…" : preview };
  });
  return { findings, secrets, notes: unrecognisedNote(unrecognised) };
}

/** Rows of a findings file's list, as they are; only rows that give `secret` can be hidden elsewhere. */
export function findingsOfRows(rows: readonly FindingRow[]): ReportFindings {
  const secrets: KnownSecret[] = rows.flatMap((r) => (r.secret ? [{ secret: r.secret }] : []));
  const { redact } = secretRedactor(secrets);
  const findings = rows.map((r) => ({ rule: r.rule, where: redact(r.where), preview: redact(r.preview) }));
  const missing = rows.length - secrets.length;
  const notes = missing
    ? [`${missing} finding(s) of the findings file give no secret: text holding them elsewhere in this report is shown as dumped (give \`ckpt scan --format json\` output to have it redacted).`]
    : [];
  return { findings, secrets, notes };
}
