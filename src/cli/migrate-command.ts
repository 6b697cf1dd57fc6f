/**
 * `ckpt migrate NAMESPACE/POD[/CONTAINER] --from URL --to URL [--mode stop-copy|lazy] --registry REG`:
 * moves a pod between two ckpt nodes with its memory state, printing each step as it ends (and, when
 * lazy, how the page transfer goes) and the downtime.
 */
import { Command, Option } from "commander";
import type { NodeClientOptions } from "../node-client/node-client.js";
import { UserError } from "./errors.js";
import { writeStdout } from "./io.js";
import { withCredentialOptions } from "./node-command.js";

interface MigrateOptions extends Omit<NodeClientOptions, "server"> {
  from: string;
  to: string;
  mode: "stop-copy" | "lazy" | "pre-copy";
  registry?: string;
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

/** "131072 of 262144 pages (512.0 MiB, 50%), 512.0 MiB/s" */
function pageProgress(p: { pages: number; totalPages: number; bytes: number; ms: number }): string {
  const mib = (b: number) => `${(b / (1 << 20)).toFixed(1)} MiB`;
  const share = p.totalPages ? `, ${Math.floor((100 * p.pages) / p.totalPages)}%` : "";
  return `${p.pages} of ${p.totalPages} pages (${mib(p.pages * 4096)}${share}), ${p.ms > 0 ? mib((p.pages * 4096 * 1000) / p.ms) : "0 MiB"}/s`;
}

/** The source node says why it does not do pre-copy (the answer is always a refusal). */
async function preCopy(source: import("../node-client/node-client.js").NodeClient, namespace: string, pod: string, container?: string): Promise<never> {
  const { findPod, path } = await import("../restore/migration.js");
  const found = await findPod(source, namespace, pod);
  if (!found) throw new UserError(`${namespace}/${pod}: no such pod on ${source.server}`);
  const name = container ?? found.spec.containers[0]!.name;
  try {
    await source.call("POST", `${path("migrations", namespace, pod, name)}?mode=pre-copy`);
  } catch (err) {
    throw new UserError(`migrating ${namespace}/${pod}: ${(err as Error).message.replace(/^POST \S+: 400 /, "")}`);
  }
  throw new UserError(`migrating ${namespace}/${pod}: ${source.server} did not refuse pre-copy, which ckpt does not do`);
}

export function migrateCommand(): Command {
  const cmd = new Command("migrate")
    .description("move a pod to another node with its memory state: checkpoint, push the checkpoint image, restore, stop the source (or lazily: restore first, the memory follows)")
    .argument("<namespace/pod[/container]>", "the pod (all its containers) or one container of it")
    .requiredOption("--from <url>", "the source node's endpoint (https://HOST:PORT)")
    .requiredOption("--to <url>", "the target node's endpoint")
    .addOption(
      new Option("--mode <mode>", "stop-copy: the pod stops until its checkpoint image is restored; lazy: restored at once, its memory pages follow (post-copy)")
        .choices(["stop-copy", "lazy", "pre-copy"])
        .default("stop-copy"),
    )
    .option("--registry <host[:port][/prefix]>", "registry both nodes reach: the source pushes the checkpoint images (or, lazily, a base image the target cannot pull), the target pulls them")
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
    if (o.mode === "stop-copy" && !o.registry) throw new UserError("--registry is needed: a stop-copy migration goes through a registry both nodes reach");
    if (o.mode !== "stop-copy" && o.keep) throw new UserError(`--keep copies a pod, which only --mode stop-copy does`);
    const { NodeClient } = await import("../node-client/node-client.js");
    const { migratePod } = await import("../restore/migration.js");
    const { migratePodLazily } = await import("../restore/lazy-migration.js");
    const source = new NodeClient({ ...o, server: o.from });
    const dest = new NodeClient({ ...o, server: o.to });
    try {
      const text = o.format === "text";
      const common = {
        source,
        target: dest,
        namespace,
        pod,
        ...(container ? { container } : {}),
        ...(o.timeout ? { checkpointTimeoutSeconds: o.timeout } : {}),
        waitMs: o.wait * 1000,
        onStep: (s: { step: string; ms: number; detail: string }) => text && writeStdout(`${s.step.padEnd(13)} ${fmt(s.ms).padStart(8)}  ${s.detail}\n`),
      };
      const result =
        o.mode === "stop-copy"
          ? await migratePod({ ...common, registry: o.registry!, keep: o.keep })
          : o.mode === "lazy"
            ? await migratePodLazily({
                ...common,
                ...(o.registry ? { registry: o.registry } : {}),
                onProgress: (p) => text && writeStdout(`${"pages".padEnd(13)} ${fmt(p.ms).padStart(8)}  ${pageProgress(p)}\n`),
              })
            : await preCopy(source, namespace, pod, container);
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
