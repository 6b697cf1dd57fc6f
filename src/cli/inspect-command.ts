/**
 * `ckpt inspect ARCHIVE... [--ps-tree] [--ps-tree-cmd] [--ps-tree-env] [--files] [--sockets]
 *  [--mounts] [--stats] [--metadata] [--all] [-p PID] [--format tree|json]`
 *
 * checkpointctl 1.3.0's inspect: same flags, same JSON keys and values, the same tree; plus threads,
 * task states, socket queues, rootfs-diff contents, deleted and ghost files and refused members.
 */
import { Command } from "commander";
import type { Checkpoint } from "../checkpoint/checkpoint.js";
import { inspectCheckpoint, inspectOptions, type InspectFlags, type InspectJson } from "../analyze/inspect.js";
import { inspectTree, renderTree } from "../analyze/inspect-tree.js";
import { UserError } from "./errors.js";
import { writeStdout } from "./io.js";
import { identityFrom, identityOption, openCheckpointArg } from "./checkpoint-arg.js";

interface CommandFlags extends Omit<InspectFlags, "pid"> {
  pid?: string;
  format: string;
  identity?: string;
}

function parsePid(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  if (!/^\d+$/.test(text) || Number(text) > 0xffffffff) throw new UserError(`invalid PID "${text}": expected a number from 0 to 4294967295`);
  return Number(text);
}

export function inspectCommand(): Command {
  return new Command("inspect")
    .description("low-level information about container checkpoints: processes, files, sockets, mounts, statistics")
    .argument("<archives...>", "checkpoint archives (tar, tar.gz, tar.zst, tar.xz, tar.bz2) or unpacked directories")
    .option("--stats", "CRIU's dump statistics")
    .option("--mounts", "the container's mounts")
    .option("-p, --pid <pid>", "only the process tree below this PID")
    .option("--ps-tree", "the process tree (with threads and task states)")
    .option("--ps-tree-cmd", "the process tree with each process's command line")
    .option("--ps-tree-env", "the process tree with each process's environment")
    .option("--files", "open files of each process, rootfs-diff contents, deleted and ghost files")
    .option("--sockets", "open sockets of each process, with queued bytes")
    .option("--metadata", "pod, namespace and annotations")
    .option("--all", "everything above (statistics only when the archive has them)")
    .option("--format <format>", "output format: tree or json", "tree")
    .addOption(identityOption())
    .action(async (paths: string[], flags: CommandFlags) => {
      if (flags.format !== "tree" && flags.format !== "json") throw new UserError(`invalid output format: ${flags.format} (use tree or json)`);
      const opts = inspectOptions({ ...flags, pid: parsePid(flags.pid) });
      const results: Array<{ path: string; json: InspectJson; sizes: ReturnType<Checkpoint["sizes"]> }> = [];
      for (const path of paths) {
        const cp = await openCheckpointArg(path, identityFrom(flags.identity));
        try {
          results.push({ path, json: await inspectCheckpoint(cp, opts), sizes: cp.sizes() });
        } finally {
          cp.close();
        }
      }
      if (flags.format === "json") return writeStdout(JSON.stringify(results.map((r) => r.json), null, 2) + "\n");
      writeStdout(results.map((r) => `\nDisplaying container checkpoint tree view from ${r.path}\n\n${renderTree(inspectTree(r.json, r.sizes, opts))}\n`).join(""));
    });
}
