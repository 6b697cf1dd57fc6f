/** `ckpt report ARCHIVE|DIR [-o report.html] [--scan | --findings FILE]` */
import { readFileSync } from "node:fs";
import { Command } from "commander";
import { z } from "zod";
import { collectReport } from "../analyze/report/collect.js";
import { findingsOfRows, findingsOfScan, type ReportFindings } from "../analyze/report/report-findings.js";
import { ScanResult } from "../analyze/scan/findings.js";
import { renderReport } from "../analyze/report/render.js";
import { UserError } from "./errors.js";
import { writeOutput } from "./io.js";
import { identityFrom, identityOption, openCheckpointArg } from "./checkpoint-arg.js";

const FindingRows = z.array(z.object({ rule: z.string(), where: z.string(), preview: z.string(), secret: z.string().optional() }));

/** A findings file: `ckpt scan --format json` output, or a list of {rule, where, preview[, secret]}. */
function readFindings(path: string): ReportFindings {
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(path, "utf8"));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code) throw err;
    throw new UserError(`${path}: not JSON (${(err as Error).message})`);
  }
  const [parsed, what] = Array.isArray(json)
    ? [FindingRows.safeParse(json), "a list of findings ({rule, where, preview})"]
    : [ScanResult.safeParse(json), "`ckpt scan --format json` output"];
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new UserError(`${path}: not ${what}: ${issue.path.join(".") || "top level"}: ${issue.message}`);
  }
  return Array.isArray(parsed.data) ? findingsOfRows(parsed.data) : findingsOfScan(parsed.data as ScanResult);
}

export function reportCommand(): Command {
  return new Command("report")
    .description("forensic report of a checkpoint as one self-contained HTML file (metadata, processes, memory maps, files, sockets, rootfs changes, evidence hashes)")
    .argument("<archive>", "checkpoint archive (tar, tar.gz, tar.zst, tar.xz, tar.bz2) or unpacked directory")
    .option("-o, --output <file>", "where to write the HTML (default: standard output)")
    .option("--findings <file>", "secret-scan findings to include: `ckpt scan --format json` output, or a JSON list of {rule, where, preview[, secret]}; text holding their secrets is shown redacted")
    .option("--scan", "run the built-in secret scan (ckpt scan) and include its findings; text holding their secrets is shown redacted")
    .addOption(identityOption())
    .action(async (path: string, opts: { output?: string; findings?: string; scan?: boolean; identity?: string }) => {
      if (opts.scan && opts.findings) throw new UserError("give --scan or --findings, not both");
      let found = opts.findings === undefined ? undefined : readFindings(opts.findings);
      const cp = await openCheckpointArg(path, identityFrom(opts.identity));
      try {
        if (opts.scan) {
          const { scanCheckpoint } = await import("../analyze/scan/scan.js");
          // In the clear, in this process only: each is hidden wherever the page would show it.
          found = findingsOfScan(await scanCheckpoint(cp, { reveal: true }));
        }
        const model = await collectReport(cp, {
          ...(found ? { findings: found.findings, secrets: found.secrets, findingNotes: found.notes } : {}),
          tool: `ckpt ${process.env.npm_package_version ?? "0.1.0"} report`,
        });
        writeOutput(opts.output, renderReport(model));
      } finally {
        cp.close();
      }
    });
}
