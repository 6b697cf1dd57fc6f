/** How `ckpt node podcheckpoints` and `ckpt node checkpoint NS/POD` show PodCheckpoint objects. */
import { z } from "zod";
import { UserError } from "./errors.js";

const Shown = z
  .object({
    metadata: z.object({ name: z.string(), namespace: z.string().default("default"), creationTimestamp: z.string().optional() }).loose(),
    spec: z.object({ sourcePod: z.object({ name: z.string() }).loose() }).loose(),
    status: z
      .object({
        nodeName: z.string().optional(),
        checkpointLocation: z.object({ nodeLocal: z.object({ path: z.string() }).loose() }).loose().optional(),
        checkpointedContainers: z.array(z.object({ name: z.string() }).loose()).optional(),
        completionTime: z.string().optional(),
        conditions: z.array(z.object({ status: z.string(), reason: z.string(), message: z.string().default("") }).loose()).default([]),
      })
      .loose()
      .optional(),
  })
  .loose();

const TERMINAL = new Set(["CheckpointCompleted", "CheckpointFailed", "SourcePodReplaced"]);

function parse(o: unknown): z.infer<typeof Shown> {
  const parsed = Shown.safeParse(o);
  if (!parsed.success) throw new UserError(`the agent answered with something that is not a PodCheckpoint: ${parsed.error.issues[0]!.path.join(".")}: ${parsed.error.issues[0]!.message}`);
  return parsed.data;
}

function age(from: string | undefined, now: Date): string {
  if (!from) return "";
  const s = Math.max(0, Math.round((now.getTime() - Date.parse(from)) / 1000));
  return s < 120 ? `${s}s` : s < 7200 ? `${Math.round(s / 60)}m` : `${Math.round(s / 3600)}h`;
}

export function podCheckpointRows(items: unknown[], now: Date): string[][] {
  return items.map((raw) => {
    const o = parse(raw);
    const ready = o.status?.conditions[0];
    return [
      o.metadata.namespace,
      o.metadata.name,
      o.spec.sourcePod.name,
      ready?.status ?? "Unknown",
      ready?.reason ?? "Pending",
      o.status?.checkpointLocation?.nodeLocal.path ?? "",
      age(o.metadata.creationTimestamp, now),
    ];
  });
}

/** The outcome of a pod checkpoint, a few lines for people. */
export function describePodCheckpoint(raw: unknown): string {
  const o = parse(raw);
  const ready = o.status?.conditions[0];
  const lines = [
    `podcheckpoint/${o.metadata.name} (namespace ${o.metadata.namespace}): ${ready?.reason ?? "Pending"}${ready?.message ? `: ${ready.message}` : ""}`,
  ];
  if (o.status?.checkpointLocation) lines.push(`location: ${o.status.checkpointLocation.nodeLocal.path} on node ${o.status.nodeName ?? "?"}`);
  if (o.status?.checkpointedContainers) lines.push(`containers: ${o.status.checkpointedContainers.map((c) => c.name).join(", ")}`);
  return lines.join("\n") + "\n";
}

/** Polls until the object's checkpoint has ended, or fails after `timeoutMs`. */
export async function waitForPodCheckpoint(get: () => Promise<unknown>, timeoutMs: number): Promise<unknown> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const raw = await get();
    const reason = parse(raw).status?.conditions[0]?.reason;
    if (reason && TERMINAL.has(reason)) return raw;
    if (Date.now() > deadline) throw new UserError(`the checkpoint has not ended within ${timeoutMs / 1000} s (${reason ?? "Pending"})`);
    await new Promise((r) => setTimeout(r, 200));
  }
}
