/** `ckpt report ARCHIVE|DIR [-o report.html] [--findings FILE]` */
import { readFileSync } from "node:fs";
import { Command } from "commander";
import { z } from "zod";
import { collectReport } from "../analyze/report/collect.js";
import type { ReportFinding } from "../analyze/report/model.js";
import { renderReport } from "../analyze/report/render.js";
import { UserError } from "./errors.js";
import { writeOutput } from "./io.js";
import { identityFrom, identityOption, openCheckpointArg } from "./checkpoint-arg.js";

const Findings = z.array(z.object({ rule: z.string(), where: z.string(), preview: z.string() }));

function readFindings(path: string): ReportFinding[] {
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(path, "utf8"));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code) throw err;
    throw new UserError(`${path}: not JSON (${(err as Error).message})`);
  }
  const parsed = Findings.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new UserError(`${path}: not a list of findings ({rule, where, preview}): ${issue.path.join(".") || "top level"}: ${issue.message}`);
  }
  return parsed.data;
}

export function reportCommand(): Command {
  return new Command("report")
    .description("forensic report of a checkpoint as one self-contained HTML file (metadata, processes, memory maps, files, sockets, rootfs changes, evidence hashes)")
    .argument("<archive>", "checkpoint archive (tar, tar.gz, tar.zst, tar.xz, tar.bz2) or unpacked directory")
    .option("-o, --output <file>", "where to write the HTML (default: standard output)")
    .option("--findings <file>", "secret-scan findings to include: a JSON list of {rule, where, preview}")
    .option("--scan", "run the built-in secret scan (ckpt scan, redacted) and include its findings")
    .addOption(identityOption())
    .action(async (path: string, opts: { output?: string; findings?: string; scan?: boolean; identity?: string }) => {
      if (opts.scan && opts.findings) throw new UserError("give --scan or --findings, not both");
      let findings = opts.findings === undefined ? undefined : readFindings(opts.findings);
      const cp = await openCheckpointArg(path, identityFrom(opts.identity));
      try {
        if (opts.scan) {
          const { scanCheckpoint } = await import("../analyze/scan/scan.js");
          const { findingWhere } = await import("../analyze/scan/location-text.js");
          findings = (await scanCheckpoint(cp)).findings.map((f) => ({ rule: f.rule, where: findingWhere(f), preview: f.excerpt }));
        }
        const model = await collectReport(cp, { findings, tool: `ckpt ${process.env.npm_package_version ?? "0.1.0"} report` });
        writeOutput(opts.output, renderReport(model));
      } finally {
        cp.close();
      }
    });
}
