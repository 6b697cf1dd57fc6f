/**
 * Moving a pod from one node to another with its memory state: checkpoint its containers on the
 * source node, which pushes each as a checkpoint image; create the pod on the target node from those
 * images; wait until it runs; then stop the source pod. Unless the source is kept (`keep`), its
 * containers stay paused from their checkpoint on, so nothing they do after it is lost; if any later
 * step fails they are resumed and the target's half-made pod is removed.
 *
 * Downtime is measured from the containers' own output, as the nodes logged it: from the last line
 * the source wrote before it was paused to the first line the target wrote after the restore.
 */
import { z } from "zod";
import { byteToString } from "../analyze/units.js";
import { rfc3339Nanos } from "../kubelet-endpoint/cri-log.js";
import type { NodeClient } from "../node-client/node-client.js";

export class MigrationError extends Error {
  override name = "MigrationError";
}

export interface MigrationStep {
  step: "base image" | "checkpoint" | "push" | "restore" | "running" | "pages" | "stop source" | "resume source";
  /** What was done, for people: the archive, the image, the new pod's address. */
  detail: string;
  ms: number;
}

export interface Downtime {
  container: string;
  ms: number;
  /** The source's last output line before the checkpoint and the target's first after the restore. */
  last: { time: string; text: string };
  first: { time: string; text: string };
}

export interface MigrationResult {
  mode: "stop-copy" | "lazy";
  namespace: string;
  pod: string;
  containers: string[];
  images: string[];
  steps: MigrationStep[];
  /** One per migrated container that wrote output on both sides (none with `keep`). */
  downtime: Downtime[];
  /** Why downtime was not measured, when it was not. */
  downtimeNote?: string;
  targetIP?: string;
  /** A lazy migration's page transfer, after the pod ran on the target. */
  pages?: { pages: number; bytes: number; ms: number };
  totalMs: number;
}

export interface MigrationOptions {
  source: NodeClient;
  target: NodeClient;
  namespace: string;
  pod: string;
  /** Only this container is restored from a checkpoint; the pod's others start afresh. Default: all. */
  container?: string;
  /** Registry (HOST[:PORT][/PREFIX]) both nodes reach: the source pushes, the target pulls. */
  registry: string;
  keep: boolean;
  checkpointTimeoutSeconds?: number;
  /** How long the target's pod may take to run, and its first output to appear. */
  waitMs?: number;
  onStep?: (step: MigrationStep) => void;
  /** For tests: a clock. */
  now?: () => number;
}

export const PodSchema = z.object({
  metadata: z.object({
    name: z.string(),
    namespace: z.string(),
    labels: z.record(z.string(), z.string()).optional(),
    annotations: z.record(z.string(), z.string()).optional(),
  }),
  spec: z.object({ containers: z.array(z.object({ name: z.string(), image: z.string() }).passthrough()) }).passthrough(),
  status: z
    .object({
      phase: z.string().optional(),
      podIP: z.string().optional(),
      containerStatuses: z
        .array(z.object({ name: z.string(), image: z.string().optional(), ready: z.boolean().optional(), state: z.record(z.string(), z.unknown()).optional() }))
        .optional(),
    })
    .optional(),
});
export type Pod = z.infer<typeof PodSchema>;
const PodListSchema = z.object({ items: z.array(PodSchema) });

const CheckpointAnswer = z.object({
  items: z.array(z.string()).min(1),
  bytes: z.number().optional(),
  image: z.object({ reference: z.string(), digest: z.string(), bytes: z.number() }).optional(),
  durations: z.record(z.string(), z.number()).optional(),
});

const PushAnswer = z.object({ reference: z.string(), digest: z.string() });

/** A log line as /containerLogs?timestamps=true gives it. */
export interface LogLine {
  time: string;
  text: string;
}

export async function findPod(node: NodeClient, namespace: string, name: string): Promise<Pod | undefined> {
  const list = PodListSchema.parse(await node.json("GET", "/pods"));
  return list.items.find((p) => p.metadata.namespace === namespace && p.metadata.name === name);
}

function logLines(text: string): LogLine[] {
  return text
    .split("\n")
    .filter((l) => l !== "")
    .map((l) => {
      const space = l.indexOf(" ");
      return { time: l.slice(0, space), text: l.slice(space + 1) };
    });
}

export const path = (...parts: string[]) => "/" + parts.map(encodeURIComponent).join("/");
export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
export const round = (ms: number) => Math.round(ms * 10) / 10;

/** A repository name the registry takes: lower case, the pod and container in it. */
export function checkpointImageName(registry: string, namespace: string, pod: string, container: string, at: Date): string {
  const stamp = at.toISOString().replace(/[-:]/g, "").replace(/\.\d+Z$/, "z").toLowerCase();
  return `${registry.replace(/\/+$/, "")}/${namespace}/${pod}-${container}:checkpoint-${stamp}`;
}

/** Where a container's base image is copied for a target that cannot pull it. */
export function baseImageCopyName(registry: string, namespace: string, pod: string, container: string): string {
  return `${registry.replace(/\/+$/, "")}/${namespace}/${pod}-${container}-base:base`;
}

/** Nanosecond-exact difference of two RFC3339 times, in milliseconds (NaN when one is not a time). */
function msBetween(a: string, b: string): number {
  const [x, y] = [rfc3339Nanos(a), rfc3339Nanos(b)];
  return x === undefined || y === undefined ? NaN : Number(y - x) / 1e6;
}

/**
 * What every migration starts with: its clock, its steps as they end (rounded, kept and told to
 * `onStep`), and the pod on the source with the containers to move (refused when the target has a
 * pod of its name).
 */
export async function startMigration(o: Omit<MigrationOptions, "registry" | "keep">) {
  const now = o.now ?? (() => performance.now());
  const t0 = now();
  const steps: MigrationStep[] = [];
  const step = (s: MigrationStep) => {
    s.ms = round(s.ms);
    steps.push(s);
    o.onStep?.(s);
  };
  const id = `${o.namespace}/${o.pod}`;
  const pod = await findPod(o.source, o.namespace, o.pod);
  if (!pod) throw new MigrationError(`${id}: no such pod on ${o.source.server}`);
  if (await findPod(o.target, o.namespace, o.pod)) throw new MigrationError(`${id}: the target node ${o.target.server} has a pod of that name already`);
  const names = o.container ? [o.container] : pod.spec.containers.map((c) => c.name);
  for (const n of names) {
    if (!pod.spec.containers.some((c) => c.name === n)) throw new MigrationError(`${id}: no container ${n} in the pod`);
  }
  return { now, t0, steps, step, id, waitMs: o.waitMs ?? 60_000, pod, names };
}

export async function migratePod(o: MigrationOptions): Promise<MigrationResult> {
  const { now, t0, steps, step, id, waitMs, pod, names } = await startMigration(o);

  const paused: string[] = [];
  const images = new Map<string, string>();
  const lastOutput = new Map<string, LogLine>();
  let targetCreated = false;
  let failedAt: MigrationStep["step"] = "base image";
  try {
    const baseCopies = await ensureBaseImages(o, pod, names, step, now);
    for (const name of names) {
      failedAt = "checkpoint";
      const ref = checkpointImageName(o.registry, o.namespace, o.pod, name, new Date());
      const q = new URLSearchParams({ image: ref });
      const baseCopy = baseCopies.get(name);
      if (baseCopy) q.set("baseImage", baseCopy);
      if (!o.keep) q.set("pause", "true");
      if (o.checkpointTimeoutSeconds) q.set("timeout", String(o.checkpointTimeoutSeconds));
      const started = now();
      const answer = CheckpointAnswer.parse(await o.source.json("POST", `${path("checkpoint", o.namespace, o.pod, name)}?${q}`));
      if (!o.keep) paused.push(name);
      if (!answer.image) throw new MigrationError(`${o.source.server} did not push ${ref}: it is not a ckpt node`);
      const total = now() - started;
      const push = answer.durations?.push ?? 0;
      step({ step: "checkpoint", detail: `${id}/${name} → ${answer.items[0]} (${byteToString(answer.bytes ?? 0)})`, ms: total - push });
      step({ step: "push", detail: `${answer.image.reference}@${answer.image.digest} (layer ${byteToString(answer.image.bytes)})`, ms: push });
      // By digest: the target verifies it pulls exactly what was pushed.
      images.set(name, `${ref.replace(/:[^:/]+$/, "")}@${answer.image.digest}`);
      if (!o.keep) {
        const last = await lastOutputLine(o.source, o.namespace, o.pod, name);
        if (last) lastOutput.set(name, last);
      }
    }

    failedAt = "restore";
    const manifest = targetManifest(pod, images);
    let started = now();
    targetCreated = true;
    const created = PodSchema.parse(await o.target.json("POST", "/pods", manifest));
    step({ step: "restore", detail: `${id} on ${o.target.server} (IP ${created.status?.podIP ?? "none"})`, ms: now() - started });

    failedAt = "running";
    started = now();
    const deadline = Date.now() + waitMs;
    const running = await waitUntilRunning(o.target, o.namespace, o.pod, names, deadline, waitMs);
    step({ step: "running", detail: `${names.length} container(s) restored and running`, ms: now() - started });
    const downtime = await measureDowntime(o.target, o.namespace, o.pod, lastOutput, deadline + 10_000);

    if (!o.keep) {
      failedAt = "stop source";
      started = now();
      await o.source.call("DELETE", path("pods", o.namespace, o.pod));
      paused.length = 0;
      step({ step: "stop source", detail: `${id} deleted on ${o.source.server}`, ms: now() - started });
    }
    return migrationResult({
      mode: "stop-copy",
      namespace: o.namespace,
      pod: o.pod,
      containers: names,
      images: [...images.values()],
      steps,
      downtime,
      downtimeNote: o.keep ? "the source was kept running (--keep): no downtime, the target continues from the checkpoint" : missingDowntime(lastOutput, downtime),
      running,
      totalMs: now() - t0,
    });
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    if (failedAt === "stop source") {
      throw new MigrationError(`migrating ${id}: the pod runs on ${o.target.server}, but deleting it on ${o.source.server} failed (${why}); it is still there, paused`, { cause: err });
    }
    const undo: string[] = [];
    if (targetCreated) {
      await o.target.call("DELETE", path("pods", o.namespace, o.pod)).then(
        () => undo.push("the target's pod was removed"),
        () => undefined,
      );
    }
    for (const name of paused) {
      const started = now();
      try {
        await o.source.call("POST", path("resume", o.namespace, o.pod, name));
        step({ step: "resume source", detail: `${id}/${name} runs on`, ms: now() - started });
      } catch (e) {
        undo.push(`resuming ${name} failed (${(e as Error).message})`);
      }
    }
    // A checkpoint that failed was undone by the source node itself: its container runs on too.
    if (!o.keep) undo.push("the source pod runs on");
    throw new MigrationError(`migrating ${id} failed at ${failedAt}: ${why}${undo.length ? `; ${undo.join(", ")}` : ""}`, { cause: err });
  }
}

/**
 * Before anything is paused: the target pulls each container's base image now (its restore needs
 * it), and one it cannot reach is copied by the source to the registry, unchanged. Returns the
 * copies (by container), pinned by digest.
 */
export async function ensureBaseImages(
  o: { source: NodeClient; target: NodeClient; namespace: string; pod: string; registry?: string },
  pod: Pod,
  names: readonly string[],
  step: (s: MigrationStep) => void,
  now: () => number,
): Promise<Map<string, string>> {
  const copies = new Map<string, string>();
  for (const name of names) {
    const base = baseImageOf(pod, name);
    const started = now();
    const unreachable = await o.target.json("POST", "/images/pull", { image: base }).then(
      () => undefined,
      (err: Error) => err.message,
    );
    if (unreachable === undefined) {
      step({ step: "base image", detail: `${base}: the target has it`, ms: now() - started });
      continue;
    }
    if (!o.registry) throw new MigrationError(`the target cannot pull ${base} (${unreachable}), and no registry was given to copy it through (--registry)`);
    const copy = baseImageCopyName(o.registry, o.namespace, o.pod, name);
    let pushed;
    try {
      pushed = PushAnswer.parse(await o.source.json("POST", "/images/push", { image: base, target: copy }));
    } catch (err) {
      throw new MigrationError(`the target cannot pull ${base} (${unreachable}), and the source cannot copy it to ${copy}: ${(err as Error).message}`, { cause: err });
    }
    const pinned = `${copy.replace(/:[^:/]+$/, "")}@${pushed.digest}`;
    copies.set(name, pinned);
    step({ step: "base image", detail: `${base} copied to ${pinned}: the target could not pull it (${unreachable})`, ms: now() - started });
  }
  return copies;
}

/** The image a container of the pod runs, as the node resolved it. */
export function baseImageOf(pod: Pod, name: string): string {
  return pod.status?.containerStatuses?.find((s) => s.name === name)?.image ?? pod.spec.containers.find((c) => c.name === name)!.image;
}

/** The source pod's manifest for the target, with some containers' images replaced. */
export function targetManifest(pod: Pod, images: ReadonlyMap<string, string>): Record<string, unknown> {
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: {
      name: pod.metadata.name,
      namespace: pod.metadata.namespace,
      ...(pod.metadata.labels ? { labels: pod.metadata.labels } : {}),
      ...(pod.metadata.annotations ? { annotations: pod.metadata.annotations } : {}),
    },
    spec: {
      ...Object.fromEntries(Object.entries(pod.spec).filter(([k]) => k !== "nodeName")),
      containers: pod.spec.containers.map((c) => (images.has(c.name) ? { ...c, image: images.get(c.name) } : c)),
    },
  };
}

/** The container's last output line so far (after its freeze: its last before it). */
export async function lastOutputLine(node: NodeClient, namespace: string, pod: string, name: string): Promise<LogLine | undefined> {
  return logLines(await node.call("GET", `${path("containerLogs", namespace, pod, name)}?timestamps=true&tailLines=1`))[0];
}

/** Waits until the pod runs with the named containers ready. */
export async function waitUntilRunning(node: NodeClient, namespace: string, name: string, names: readonly string[], deadline: number, waitMs: number): Promise<Pod> {
  for (;;) {
    const running = await findPod(node, namespace, name);
    const statuses = running?.status?.containerStatuses ?? [];
    if (running?.status?.phase === "Running" && names.every((n) => statuses.some((s) => s.name === n && s.ready))) return running;
    if (running?.status?.phase === "Failed") throw new MigrationError(`the restored pod failed on ${node.server}`);
    if (Date.now() > deadline) throw new MigrationError(`the restored pod did not run within ${waitMs / 1000} s`);
    await sleep(100);
  }
}

/** The source's output stopped at its freeze; the target's first line after that ends the gap. */
export async function measureDowntime(node: NodeClient, namespace: string, pod: string, lastOutput: ReadonlyMap<string, LogLine>, deadline: number): Promise<Downtime[]> {
  const downtime: Downtime[] = [];
  for (const [name, last] of lastOutput) {
    const since = encodeURIComponent(last.time);
    for (;;) {
      const lines = logLines(await node.call("GET", `${path("containerLogs", namespace, pod, name)}?timestamps=true&sinceTime=${since}`));
      const first = lines.find((l) => msBetween(last.time, l.time) > 0);
      if (first) {
        downtime.push({ container: name, ms: round(msBetween(last.time, first.time)), last, first });
        break;
      }
      if (Date.now() > deadline) break;
      await sleep(20);
    }
  }
  return downtime;
}

/** The result of a migration whose pod runs on the target. */
export function migrationResult(r: Omit<MigrationResult, "downtimeNote" | "targetIP"> & { downtimeNote: string | undefined; running: Pod }): MigrationResult {
  const { downtimeNote, running, ...rest } = r;
  return {
    ...rest,
    ...(downtimeNote ? { downtimeNote } : {}),
    ...(running.status?.podIP ? { targetIP: running.status.podIP } : {}),
    totalMs: round(r.totalMs),
  };
}

/** Why downtime was not measured (for every container), if it was not. */
export function missingDowntime(lastOutput: ReadonlyMap<string, LogLine>, downtime: readonly Downtime[]): string | undefined {
  if (lastOutput.size === 0) return "not measured: the source container wrote no output before its checkpoint";
  if (downtime.length < lastOutput.size) return "not measured for every container: a restored container wrote no output in time";
  return undefined;
}
