/** `ckpt show ARCHIVE... [--print-stats] [--format json]` */
import { Command, Option } from "commander";
import { SHOW_HEADER, showCells, showRow, STATS_HEADER, statsCells, type ShowRow } from "../analyze/show.js";
import { UserError } from "./errors.js";
import { writeStdout } from "./io.js";
import { renderTable } from "./table.js";
import { identityFrom, identityOption, openCheckpointArg } from "./checkpoint-arg.js";

export async function showRows(paths: string[], identity?: string): Promise<ShowRow[]> {
  const rows: ShowRow[] = [];
  for (const path of paths) {
    const cp = await openCheckpointArg(path, identityFrom(identity));
    try {
      rows.push(showRow(cp));
    } finally {
      cp.close();
    }
  }
  return rows;
}

export function showCommand(): Command {
  return new Command("show")
    .description("overview of container checkpoints: container, engine, sizes (and CRIU dump statistics)")
    .argument("<archives...>", "checkpoint archives (tar, tar.gz, tar.zst, tar.xz, tar.bz2) or unpacked directories")
    .option("--print-stats", "also print CRIU's dump statistics", false)
    .option("--stats", "the same as --print-stats", false)
    .addOption(new Option("--format <format>", "output format").choices(["table", "json"]).default("table"))
    .addOption(identityOption())
    .action(async (paths: string[], opts: { printStats: boolean; stats: boolean; format: "table" | "json"; identity?: string }) => {
      const rows = await showRows(paths, opts.identity);
      if (opts.format === "json") return writeStdout(JSON.stringify(rows, null, 2) + "\n");
      let out = renderTable(SHOW_HEADER, rows.map(showCells));
      if (opts.printStats || opts.stats) {
        const stats = rows.map(statsCells).filter((c): c is string[] => c !== undefined);
        if (stats.length === 0) throw new UserError(`no CRIU dump statistics (stats-dump) in ${paths.join(", ")}`);
        out += "\n" + renderTable(STATS_HEADER, stats, "CRIU dump statistics");
      }
      writeStdout(out);
    });
}
