/** `ckpt list [DIR...] [--format json]`: container archives and pod checkpoints. */
import { Command, Option } from "commander";
import { KUBELET_CHECKPOINT_DIR, KUBELET_POD_CHECKPOINT_DIR, listCheckpoints } from "../analyze/list.js";
import { identityFrom, identityOption } from "./checkpoint-arg.js";
import { writeStdout } from "./io.js";
import { renderTable } from "./table.js";

export function listCommand(): Command {
  return new Command("list")
    .description(`list checkpoint archives and pod checkpoints (checkpoint-*) in directories (default ${KUBELET_CHECKPOINT_DIR} and ${KUBELET_POD_CHECKPOINT_DIR})`)
    .argument("[dirs...]", "directories to search")
    .addOption(new Option("--format <format>", "output format").choices(["table", "json"]).default("table"))
    .addOption(identityOption())
    .action(async (dirs: string[], opts: { format: "table" | "json"; identity?: string }) => {
      const searched = dirs.length ? dirs : [KUBELET_CHECKPOINT_DIR, KUBELET_POD_CHECKPOINT_DIR];
      const result = await listCheckpoints(searched, identityFrom(opts.identity));
      for (const e of result.errors) process.stderr.write(`ckpt: skipped ${e.message}\n`);
      if (opts.format === "json") return writeStdout(JSON.stringify(result.found, null, 2) + "\n");
      if (result.found.length === 0) return writeStdout(`No checkpoints found in ${searched.join(", ")}\n`);
      const lines = result.dirs.map((d) => `Listing checkpoints in path: ${d}`).join("\n") + "\n";
      const rows = result.found.map((c) => [c.namespace, c.pod, c.container, c.engine, c.checkpointed, c.name]);
      writeStdout(lines + renderTable(["NAMESPACE", "POD", "CONTAINER", "ENGINE", "TIME CHECKPOINTED", "CHECKPOINT NAME"], rows));
    });
}
