/**
 * Moving a pod lazily (post-copy): each container is frozen on the source and everything but its
 * memory pages is dumped; the target node fetches that small checkpoint from the source node
 * directly, restores the pod at once, and its pages follow over an authenticated connection between
 * the two nodes, on first touch and in the background (kubelet-endpoint/lazy-migration-api.ts).
 * The pod runs on the target long before its memory is all there: downtime does not grow with it.
 * When every page is in, the source's container is gone (CRIU ends it) and the source pod is
 * deleted. If the transfer breaks first, the target kills its copy and the source's container runs
 * again with its memory, which never left it.
 */
import { byteToString } from "../analyze/units.js";
import { NodeClientError } from "../node-client/node-client.js";
import { LazyDumpStartedSchema, LazyDumpStatusSchema, LazyRestoreStatusSchema, type LazyDumpStatus } from "../kubelet-endpoint/lazy-migration-api.js";
import {
  baseImageOf,
  ensureBaseImages,
  lastOutputLine,
  measureDowntime,
  MigrationError,
  migrationResult,
  missingDowntime,
  path,
  PodSchema,
  sleep,
  startMigration,
  targetManifest,
  waitUntilRunning,
  type LogLine,
  type MigrationOptions,
  type MigrationResult,
  type MigrationStep,
} from "./migration.js";

export interface PageProgress {
  pages: number;
  totalPages: number;
  bytes: number;
  /** Since the first page connection opened. */
  ms: number;
}

export interface LazyMigrationOptions extends Omit<MigrationOptions, "registry" | "keep"> {
  /** Only to copy a base image the target cannot pull (as stop-copy does). */
  registry?: string;
  /** Told how the page transfer goes, every `progressEveryMs`. */
  onProgress?: (p: PageProgress) => void;
  progressEveryMs?: number;
}

/** The page transfer broke: the target killed its copy. */
class TransferBroken extends Error {
  constructor(
    message: string,
    readonly progress: PageProgress,
  ) {
    super(message);
  }
}

export async function migratePodLazily(o: LazyMigrationOptions): Promise<MigrationResult> {
  const { now, t0, steps, step, id, waitMs, pod, names } = await startMigration(o);
  // The target reaches the source at the server the user reached, and checks it is the same one.
  const fingerprint = o.source.serverFingerprint;
  if (!fingerprint) throw new MigrationError(`${o.source.server}: its serving certificate could not be read`);

  const dumps: Array<{ name: string; id: string; token: string }> = [];
  let failedAt: MigrationStep["step"] = "base image";
  try {
    const baseCopies = await ensureBaseImages(o, pod, names, step, now);
    failedAt = "checkpoint";
    const q = o.checkpointTimeoutSeconds ? `&timeout=${o.checkpointTimeoutSeconds}` : "";
    for (const name of names) {
      const started = LazyDumpStartedSchema.parse(await o.source.json("POST", `${path("migrations", o.namespace, o.pod, name)}?mode=lazy${q}`));
      dumps.push({ name, ...started });
    }

    // The target makes the pod's sandbox while the source dumps, then fetches each archive from
    // the source once it is written, restores, and connects each container's pages.
    failedAt = "restore";
    const baseImages = new Map(names.map((n) => [n, baseCopies.get(n) ?? baseImageOf(pod, n)]));
    const manifest = targetManifest(pod, baseImages);
    let started = now();
    const body = { pod: manifest, source: { url: o.source.server, fingerprint }, containers: dumps };
    const created = PodSchema.parse(
      await o.target.json("POST", "/lazy-restore", body).catch(async (err: Error) => {
        // A dump that failed is the reason the target could not restore: say so.
        const failed = (await dumpStatuses(o, dumps).catch(() => [])).find((s) => s.state === "failed" && s.archiveBytes === undefined);
        if (failed) {
          failedAt = "checkpoint";
          throw new MigrationError(`${failed.target}: ${failed.error}`);
        }
        throw err;
      }),
    );
    const restoreMs = now() - started;

    // Every source container is frozen by now (its archive was written): its last line is its last.
    const lastOutput = new Map<string, LogLine>();
    for (const [i, s] of (await dumpStatuses(o, dumps)).entries()) {
      const d = s.durations;
      const frozen = (d.pause ?? 0) + (d.dump ?? 0) + (d.archive ?? 0);
      step({ step: "checkpoint", detail: `${s.target} frozen, all but its memory pages dumped (archive ${byteToString(s.archiveBytes ?? 0)})`, ms: frozen });
      const last = await lastOutputLine(o.source, o.namespace, o.pod, dumps[i]!.name);
      if (last) lastOutput.set(dumps[i]!.name, last);
    }
    step({ step: "restore", detail: `${id} on ${o.target.server} (IP ${created.status?.podIP ?? "none"}), its pages still on the source`, ms: restoreMs });

    failedAt = "running";
    started = now();
    const deadline = Date.now() + waitMs;
    const running = await waitUntilRunning(o.target, o.namespace, o.pod, names, deadline, waitMs);
    step({ step: "running", detail: `${names.length} container(s) restored and running`, ms: now() - started });
    const downtime = await measureDowntime(o.target, o.namespace, o.pod, lastOutput, deadline + 10_000);

    failedAt = "pages";
    const pages = await followPages(o);
    step({
      step: "pages",
      detail: `${pages.pages} pages (${byteToString(pages.pages * 4096)}) from ${o.source.server}, ${rate(pages)}`,
      ms: pages.ms,
    });
    // CRIU ends the source's container once its last page is served.
    await sourcesMoved(o, dumps);

    failedAt = "stop source";
    started = now();
    await o.source.call("DELETE", path("pods", o.namespace, o.pod));
    step({ step: "stop source", detail: `${id} deleted on ${o.source.server}`, ms: now() - started });
    return migrationResult({
      mode: "lazy",
      namespace: o.namespace,
      pod: o.pod,
      containers: names,
      images: [...baseImages.values()],
      steps,
      downtime,
      downtimeNote: missingDowntime(lastOutput, downtime),
      running,
      pages: { pages: pages.pages, bytes: pages.bytes, ms: pages.ms },
      totalMs: now() - t0,
    });
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    if (failedAt === "stop source") {
      throw new MigrationError(`migrating ${id}: the pod runs on ${o.target.server} with all its pages, but deleting it on ${o.source.server} failed (${why})`, { cause: err });
    }
    // The dumps called off (their containers run on at the source), the target's pod gone.
    const outcome = await callOff(o, dumps);
    if (failedAt !== "base image" && failedAt !== "checkpoint") await o.target.call("DELETE", path("pods", o.namespace, o.pod)).catch(() => undefined);
    if (err instanceof TransferBroken) {
      const p = err.progress;
      throw new MigrationError(
        `migrating ${id} failed: the page transfer broke after ${p.pages} of ${p.totalPages} pages (${byteToString(p.pages * 4096)}; ${why}); ` +
          `the target's copy was killed and removed, and ${outcome}`,
        { cause: err },
      );
    }
    throw new MigrationError(`migrating ${id} failed at ${failedAt}: ${why}; ${outcome}`, { cause: err });
  }
}

const rate = (p: { pages: number; ms: number }) => (p.ms > 0 ? `${byteToString((p.pages * 4096 * 1000) / p.ms)}/s` : "at once");

function dumpStatuses(o: LazyMigrationOptions, dumps: ReadonlyArray<{ id: string }>): Promise<LazyDumpStatus[]> {
  return Promise.all(dumps.map(async (d) => LazyDumpStatusSchema.parse(await o.source.json("GET", path("migrations", d.id)))));
}

/** The target's page transfers, followed until all are in; throws TransferBroken when one breaks. */
async function followPages(o: LazyMigrationOptions): Promise<PageProgress> {
  const every = o.progressEveryMs ?? 1000;
  let told = performance.now();
  for (;;) {
    const status = LazyRestoreStatusSchema.parse(await o.target.json("GET", path("lazy-restore", o.namespace, o.pod)));
    const sum = (f: (c: (typeof status.containers)[number]) => number) => status.containers.reduce((n, c) => n + f(c), 0);
    const progress = { pages: sum((c) => c.pages), totalPages: sum((c) => c.totalPages), bytes: sum((c) => c.bytes), ms: Math.max(0, ...status.containers.map((c) => c.ms)) };
    const broken = status.containers.find((c) => c.state === "failed");
    if (broken) throw new TransferBroken(`${broken.container}: ${broken.error ?? "failed"}`, progress);
    if (status.containers.every((c) => c.state === "done")) return progress;
    if (performance.now() - told >= every) {
      told = performance.now();
      o.onProgress?.(progress);
    }
    await sleep(100);
  }
}

/** Waits until the source says every container moved (CRIU ended it after its last page). */
async function sourcesMoved(o: LazyMigrationOptions, dumps: ReadonlyArray<{ id: string }>): Promise<void> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const statuses = await dumpStatuses(o, dumps);
    const failed = statuses.find((s) => s.state === "failed");
    if (failed) throw new MigrationError(`${failed.target} on the source: ${failed.error}`);
    if (statuses.every((s) => s.state === "moved")) return;
    if (Date.now() > deadline) throw new MigrationError(`the source did not end its containers within 30 s of the last page`);
    await sleep(50);
  }
}

/** Calls off the source's dumps; says where the pod is now. */
async function callOff(o: LazyMigrationOptions, dumps: ReadonlyArray<{ name: string; id: string }>): Promise<string> {
  const stuck: string[] = [];
  const id = `${o.namespace}/${o.pod}`;
  for (const d of dumps) {
    let status: LazyDumpStatus;
    try {
      status = LazyDumpStatusSchema.parse(await o.source.json("DELETE", path("migrations", d.id)));
    } catch (err) {
      // Unreachable, its agent stopped: CRIU holds the container until the agent runs again and resumes it.
      if (err instanceof NodeClientError && err.status === undefined) return `the source node did not answer (${err.message}): ${id} runs again there once its agent is back`;
      stuck.push(`${d.name}: ${(err as Error).message}`);
      continue;
    }
    if (status.state === "moved") stuck.push(`${d.name} had moved already`);
    else if (status.resumed === false) stuck.push(`${d.name} could not be resumed (${status.error ?? "unknown"})`);
  }
  return stuck.length ? `on ${o.source.server}: ${stuck.join(", ")}` : `${id} runs again on ${o.source.server} with its memory`;
}
