/**
 * `ckpt migrate NAMESPACE/POD[/CONTAINER] --from URL --to URL --registry REG`: moves a pod between
 * two ckpt nodes with its memory state, printing each step as it ends and the downtime.
 */
import { Command, Option } from "commander";
import type { NodeClientOptions } from "../node-client/node-client.js";
import { UserError } from "./errors.js";
import { writeStdout } from "./io.js";
import { withCredentialOptions } from "./node-command.js";

interface MigrateOptions extends Omit<NodeClientOptions, "server"> {
  from: string;
  to: string;
  registry: string;
  keep: boolean;
  timeout?: number;
  wait: number;
  format: "text" | "json";
}

const seconds = (what: string) => (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0) throw new UserError(`${what} must be a whole number of seconds, not ${JSON.stringify(v)}`);
  return n;
};

const fmt = (ms: number) => `${(ms / 1000).toFixed(2)} s`;

export function migrateCommand(): Command {
  const cmd = new Command("migrate")
    .description("move a pod to another node with its memory state: checkpoint, push the checkpoint image, restore, stop the source")
    .argument("<namespace/pod[/container]>", "the pod (all its containers) or one container of it")
    .requiredOption("--from <url>", "the source node's endpoint (https://HOST:PORT)")
    .requiredOption("--to <url>", "the target node's endpoint")
    .requiredOption("--registry <host[:port][/prefix]>", "registry both nodes reach: the source pushes the checkpoint images, the target pulls them")
    .option("--keep", "leave the source pod running (a copy, not a move); downtime is then not measured", false)
    .option("--timeout <seconds>", "checkpoint deadline", seconds("--timeout"))
    .option("--wait <seconds>", "how long the restored pod may take to run", seconds("--wait"), 60)
    .addOption(new Option("--format <format>", "output format").choices(["text", "json"]).default("text"));
  // Both nodes are reached with the same credentials.
  withCredentialOptions(cmd);
  return cmd.action(async (target: string, o: MigrateOptions) => {
    const parts = target.split("/");
    if (parts.length < 2 || parts.length > 3 || parts.some((p) => !p)) throw new UserError(`expected NAMESPACE/POD or NAMESPACE/POD/CONTAINER, not ${JSON.stringify(target)}`);
    const [namespace, pod, container] = parts as [string, string, string?];
    const { NodeClient } = await import("../node-client/node-client.js");
    const { migratePod } = await import("../restore/migration.js");
    const source = new NodeClient({ ...o, server: o.from });
    const dest = new NodeClient({ ...o, server: o.to });
    try {
      const text = o.format === "text";
      const result = await migratePod({
        source,
        target: dest,
        namespace,
        pod,
        ...(container ? { container } : {}),
        registry: o.registry,
        keep: o.keep,
        ...(o.timeout ? { checkpointTimeoutSeconds: o.timeout } : {}),
        waitMs: o.wait * 1000,
        onStep: (s) => text && writeStdout(`${s.step.padEnd(13)} ${fmt(s.ms).padStart(8)}  ${s.detail}\n`),
      });
      if (!text) return writeStdout(JSON.stringify(result, null, 2) + "\n");
      for (const d of result.downtime) {
        writeStdout(
          `downtime      ${fmt(d.ms).padStart(8)}  ${result.containers.length > 1 ? `${d.container}: ` : ""}` +
            `last output on the source ${d.last.time} ${JSON.stringify(d.last.text)}, first on the target ${d.first.time} ${JSON.stringify(d.first.text)}\n`,
        );
      }
      if (result.downtimeNote) writeStdout(`downtime                ${result.downtimeNote}\n`);
      writeStdout(`migrated ${namespace}/${pod} in ${fmt(result.totalMs)}${result.targetIP ? ` (new IP ${result.targetIP})` : ""}\n`);
    } finally {
      source.close();
      dest.close();
    }
  });
}
