/**
 * `ckpt inspect ARCHIVE... [--ps-tree] [--ps-tree-cmd] [--ps-tree-env] [--files] [--sockets]
 *  [--mounts] [--stats] [--metadata] [--all] [-p PID] [--format tree|json]`
 *
 * checkpointctl 1.3.0's inspect: same flags, same JSON keys and values, the same tree; plus threads,
 * task states, socket queues, rootfs-diff contents, deleted and ghost files and refused members.
 * A pod checkpoint prints the pod, then each container's tree with the same flags.
 */
import { Command } from "commander";
import type { CheckpointSizes } from "../checkpoint/checkpoint.js";
import { inspectCheckpoint, inspectOptions, type InspectFlags, type InspectJson } from "../analyze/inspect.js";
import type { PodInspect } from "../analyze/pod-show.js";
import { inspectTree, renderTree } from "../analyze/inspect-tree.js";
import { UserError } from "./errors.js";
import { writeStdout } from "./io.js";
import { identityFrom, identityOption, openCheckpointOrPodArg } from "./checkpoint-arg.js";

/** Loaded only for a pod checkpoint: its manifest's schema brings the full zod. */
const podView = () => import("../analyze/pod-show.js");

interface CommandFlags extends Omit<InspectFlags, "pid"> {
  pid?: string;
  format: string;
  identity?: string;
  verify?: boolean;
}

function parsePid(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  if (!/^\d+$/.test(text) || Number(text) > 0xffffffff) throw new UserError(`invalid PID "${text}": expected a number from 0 to 4294967295`);
  return Number(text);
}

export function inspectCommand(): Command {
  return new Command("inspect")
    .description("low-level information about container and pod checkpoints: processes, files, sockets, mounts, statistics")
    .argument("<archives...>", "checkpoint archives (tar, tar.gz, tar.zst, tar.xz, tar.bz2), unpacked directories or pod checkpoints")
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
    .option("--verify", "pod checkpoints: check every archive's sha256 against the manifest (sizes are always checked)")
    .addOption(identityOption())
    .action(async (paths: string[], flags: CommandFlags) => {
      if (flags.format !== "tree" && flags.format !== "json") throw new UserError(`invalid output format: ${flags.format} (use tree or json)`);
      const opts = inspectOptions({ ...flags, pid: parsePid(flags.pid) });
      const json: Array<InspectJson | PodInspect> = [];
      const text: string[] = [];
      const tree = (path: string, r: InspectJson, sizes: CheckpointSizes) => `\nDisplaying container checkpoint tree view from ${path}\n\n${renderTree(inspectTree(r, sizes, opts))}\n`;
      for (const path of paths) {
        const opened = await openCheckpointOrPodArg(path, identityFrom(flags.identity));
        if ("pod" in opened) {
          try {
            const view = await podView();
            const pod = await view.inspectPod(opened.pod, { ...opts, verify: flags.verify === true });
            for (const m of pod.json.mismatches) process.stderr.write(`ckpt: warning: ${view.describeMismatch(m)}\n`);
            json.push(pod.json);
            text.push(`\nDisplaying pod checkpoint from ${path}\n\n${renderTree(view.podHeaderTree(pod.json))}`);
            pod.json.checkpoints.forEach((r, i) => text.push(tree(pod.labels[i]!, r, pod.sizes[i]!)));
          } finally {
            opened.pod.close();
          }
          continue;
        }
        const cp = opened.checkpoint;
        try {
          const r = await inspectCheckpoint(cp, opts);
          json.push(r);
          text.push(tree(path, r, cp.sizes()));
        } finally {
          cp.close();
        }
      }
      writeStdout(flags.format === "json" ? JSON.stringify(json, null, 2) + "\n" : text.join(""));
    });
}
