/** `ckpt show ARCHIVE|POD-CHECKPOINT... [--print-stats] [--verify] [--format json]` */
import { Command, Option } from "commander";
import { renderTree } from "../analyze/inspect-tree.js";
import type { PodShow } from "../analyze/pod-show.js";
import { SHOW_HEADER, showCells, showRow, STATS_HEADER, statsCells, type ShowRow } from "../analyze/show.js";
import { UserError } from "./errors.js";
import { writeStdout } from "./io.js";
import { renderTable } from "./table.js";
import { identityFrom, identityOption, openCheckpointArg, openCheckpointOrPodArg } from "./checkpoint-arg.js";

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

/** Loaded only for a pod checkpoint: its manifest's schema brings the full zod. */
const podView = () => import("../analyze/pod-show.js");

/** A row per container archive, or a pod checkpoint with a row per container, in the order given. */
async function showAll(paths: string[], identity: string | undefined, verify: boolean): Promise<Array<ShowRow | PodShow>> {
  const out: Array<ShowRow | PodShow> = [];
  for (const path of paths) {
    const opened = await openCheckpointOrPodArg(path, identityFrom(identity));
    if ("pod" in opened) {
      try {
        out.push(await (await podView()).showPod(opened.pod, { verify }));
      } finally {
        opened.pod.close();
      }
      continue;
    }
    try {
      out.push(showRow(opened.checkpoint));
    } finally {
      opened.checkpoint.close();
    }
  }
  return out;
}

const isPod = (r: ShowRow | PodShow): r is PodShow => "kind" in r && r.kind === "pod";

export function showCommand(): Command {
  return new Command("show")
    .description("overview of container and pod checkpoints: container, engine, sizes (and CRIU dump statistics)")
    .argument("<archives...>", "checkpoint archives (tar, tar.gz, tar.zst, tar.xz, tar.bz2), unpacked directories or pod checkpoints")
    .option("--print-stats", "also print CRIU's dump statistics", false)
    .option("--stats", "the same as --print-stats", false)
    .option("--verify", "pod checkpoints: check every archive's sha256 against the manifest (sizes are always checked)", false)
    .addOption(new Option("--format <format>", "output format").choices(["table", "json"]).default("table"))
    .addOption(identityOption())
    .action(async (paths: string[], opts: { printStats: boolean; stats: boolean; verify: boolean; format: "table" | "json"; identity?: string }) => {
      const results = await showAll(paths, opts.identity, opts.verify);
      const pods = results.filter(isPod);
      const view = pods.length ? await podView() : undefined;
      for (const pod of pods) for (const m of pod.mismatches) process.stderr.write(`ckpt: warning: ${view!.describeMismatch(m)}\n`);
      if (opts.format === "json") return writeStdout(JSON.stringify(results, null, 2) + "\n");
      const printStats = opts.printStats || opts.stats;
      const containers = results.filter((r): r is ShowRow => !isPod(r));
      const blocks: string[] = [];
      let statsFound = false;
      if (containers.length) {
        let out = renderTable(SHOW_HEADER, containers.map(showCells));
        const stats = containers.map(statsCells).filter((c): c is string[] => c !== undefined);
        if (printStats && stats.length) out += "\n" + renderTable(STATS_HEADER, stats, "CRIU dump statistics");
        statsFound ||= stats.length > 0;
        blocks.push(out);
      }
      for (const pod of pods) {
        let out = renderTree(view!.podHeaderTree(pod)) + "\n" + renderTable(SHOW_HEADER, [...pod.rows.map(showCells), view!.podTotalCells(pod)]);
        const stats = pod.rows.map(statsCells).filter((c): c is string[] => c !== undefined);
        if (printStats && stats.length) out += "\n" + renderTable(STATS_HEADER, [...stats, view!.podStatsTotalCells(pod)!], "CRIU dump statistics");
        statsFound ||= stats.length > 0;
        blocks.push(out);
      }
      if (printStats && !statsFound) throw new UserError(`no CRIU dump statistics (stats-dump) in ${paths.join(", ")}`);
      writeStdout(blocks.join("\n"));
    });
}
