/** `ckpt scan ARCHIVE|DIR [--rules FILE] [--format json] [--no-redact] [--exit-code N]` */
import { Command, Option } from "commander";
import type { Finding, Location, ScanResult } from "../analyze/scan/findings.js";
import type { OpenOptions } from "../checkpoint/archive/checkpoint-archive.js";
import { locationPlace as place, locationSource as source } from "../analyze/scan/location-text.js";
import { loadRuleFile } from "../analyze/scan/rule-file.js";
import { BUILTIN_RULES } from "../analyze/scan/rules.js";
import { scanCheckpoint } from "../analyze/scan/scan.js";
import { byteToString } from "../analyze/units.js";
import { identityFrom, identityOption, openCheckpointArg } from "./checkpoint-arg.js";
import { UserError } from "./errors.js";
import { writeStdout } from "./io.js";
import { progressBar, type Progress } from "./progress.js";
import { renderTable } from "./table.js";

interface ScanFlags {
  rules?: string;
  format: "table" | "json";
  redact: boolean;
  exitCode: string;
  identity?: string;
}

/** Rows: per finding, one row per source, its first location and how many more. */
function rows(findings: Finding[]): string[][] {
  const out: string[][] = [];
  for (const f of findings) {
    const bySource = new Map<string, Location[]>();
    for (const l of f.locations) (bySource.get(source(l)) ?? bySource.set(source(l), []).get(source(l))!).push(l);
    for (const [src, list] of bySource) {
      const kinds = [...new Set(list.map((l) => l.kind))];
      const shown = kinds.map((k) => place(list.find((l) => l.kind === k)!));
      const more = list.length - shown.length;
      out.push([f.rule, f.secret, src, shown.join("\n") + (more > 0 ? `\n(+${more} more)` : "")]);
    }
  }
  return out;
}

export function renderScan(r: ScanResult): string {
  const s = r.scanned;
  const summary =
    `Scanned ${byteToString(s.memoryBytes)} of memory in ${s.regions} regions, ${s.rootfsFiles} rootfs files (${byteToString(s.rootfsBytes)}), ` +
    `${s.ghostFiles} ghost files and ${s.queues} queues (${byteToString(s.queueBytes)}) with ${r.rules.length} rules\n`;
  const notes = r.notes.map((n) => `note: ${n}\n`).join("");
  if (r.findings.length === 0) return summary + notes + "No findings\n";
  const locations = r.findings.reduce((n, f) => n + f.locations.length, 0);
  return (
    summary +
    notes +
    renderTable(["RULE", "SECRET", "WHERE", "LOCATION"], rows(r.findings)) +
    `${r.findings.length} findings at ${locations} locations` +
    (r.redacted ? " (secrets redacted; --no-redact shows them)" : "") +
    "\n"
  );
}

export function scanCommand(): Command {
  return new Command("scan")
    .description("find secrets (keys, tokens, passwords) in a checkpoint: memory, environment, command lines, written and deleted files, pipe and socket queues")
    .argument("<archive>", "checkpoint archive or directory")
    .option("--rules <file>", "YAML file of more rules (regex or literal, name, optional min_entropy)")
    .addOption(new Option("--format <format>", "output format").choices(["table", "json"]).default("table"))
    .option("--no-redact", "show secrets whole (default: a short prefix and suffix)")
    .option("--exit-code <n>", "exit status when there are findings", "1")
    .addOption(identityOption())
    .action(async (path: string, flags: ScanFlags) => {
      const exitCode = Number(flags.exitCode);
      if (!(Number.isInteger(exitCode) && exitCode >= 0 && exitCode <= 125)) throw new UserError(`--exit-code wants a number from 0 to 125, got "${flags.exitCode}"`);
      const extra = flags.rules ? loadRuleFile(flags.rules) : [];
      const clash = extra.find((r) => BUILTIN_RULES.some((b) => b.id === r.id));
      if (clash) throw new UserError(`${flags.rules}: rule name "${clash.id}" is a built-in rule's`);
      let bar: Progress | undefined;
      try {
        // Opened by the scan: a compressed archive's memory is then scanned in its one index pass.
        const open = (extra: OpenOptions) => openCheckpointArg(path, { ...identityFrom(flags.identity), ...extra });
        const result = await scanCheckpoint(open, {
          rules: [...BUILTIN_RULES, ...extra],
          reveal: !flags.redact,
          onProgress: flags.format === "table" ? (done, total) => (bar ??= progressBar("scanning memory", total)).update(done) : undefined,
        });
        bar?.stop();
        writeStdout(flags.format === "json" ? JSON.stringify(result, null, 2) + "\n" : renderScan(result));
        if (result.findings.length) process.exitCode = exitCode;
      } finally {
        bar?.stop();
      }
    });
}
