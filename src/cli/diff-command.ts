/**
 * `ckpt diff A B [--format tree|json] [--replicas]`: what changed between two checkpoints of one container (or of
 * two replicas): processes, threads, credentials, environment, open files and sockets, VMAs, memory
 * pages, and the container's file changes.
 */
import { Command } from "commander";
import { z } from "zod";
import { diffCheckpoints } from "../analyze/diff/diff-checkpoints.js";
import { diffTree } from "../analyze/diff/diff-tree.js";
import { renderTree } from "../analyze/inspect-tree.js";
import type { Checkpoint } from "../checkpoint/checkpoint.js";
import { identityFrom, identityOption, openCheckpointArg } from "./checkpoint-arg.js";
import { UserError } from "./errors.js";
import { writeStdout } from "./io.js";

const Flags = z.object({ format: z.enum(["tree", "json"]), identity: z.string().optional(), replicas: z.boolean().optional() });

export function diffCommand(): Command {
  return new Command("diff")
    .description("differences between two checkpoints: processes, files, sockets, memory, environment, root FS changes")
    .argument("<a>", "the first checkpoint (archive, unpacked directory, CRIU image directory or checkpoint image)")
    .argument("<b>", "the second checkpoint")
    .option("--format <format>", "output format: tree or json", "tree")
    .option("--replicas", "pair every process's VMAs by what they map, not by address (two separately started replicas; done by default where file mappings lie at other addresses)")
    .addOption(identityOption())
    .action(async (pathA: string, pathB: string, raw: unknown) => {
      const parsed = Flags.safeParse(raw);
      if (!parsed.success) throw new UserError(`invalid output format: ${(raw as { format?: string }).format} (use tree or json)`);
      const opened: Checkpoint[] = [];
      try {
        const open = identityFrom(parsed.data.identity);
        for (const path of [pathA, pathB]) opened.push(await openCheckpointArg(path, open));
        const diff = await diffCheckpoints(opened[0]!, opened[1]!, { replicas: parsed.data.replicas === true });
        if (parsed.data.format === "json") writeStdout(JSON.stringify(diff, null, 2) + "\n");
        else writeStdout(renderTree(diffTree(diff)));
      } finally {
        for (const cp of opened) cp.close();
      }
    });
}
