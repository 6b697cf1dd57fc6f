/**
 * The node's PodCheckpoint objects and the work they ask for: each object accepted is kept on disk,
 * checkpointed in the background (one at a time per pod, as the runtime's pod lock allows) and its
 * status written as it goes (Pending → CheckpointInProgress → CheckpointCompleted, or
 * CheckpointFailed / SourcePodReplaced). The checkpoint's directory, `checkpoint-<object UID>` under
 * the node's pod checkpoint root, is created exclusively and removed whole when the checkpoint fails,
 * when the object is deleted, or when the agent finds it cut short by a restart.
 */
import { randomUUID } from "node:crypto";
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { mkdir, rm } from "node:fs/promises";
import { join } from "node:path";
import type { PodCheckpointManifest } from "../checkpoint/pod-checkpoint-manifest.js";
import { podCheckpointsDir, type CommonAgentOptions } from "./agent-options.js";
import {
  checkpointDirName,
  effectiveTimeout,
  isTerminal,
  PodCheckpointError,
  PodCheckpointSchema,
  readyReason,
  withReady,
  type PodCheckpoint,
} from "./pod-checkpoint-object.js";

/** What the controller needs of the node: its pods, and a pod checkpoint into a directory. */
export interface PodCheckpointRunner {
  /** The pod as the node has it now, or undefined when it has none of that name. */
  sourcePod(namespace: string, name: string): Promise<{ uid: string } | undefined>;
  /**
   * Checkpoints the pod into `dir` (existing, empty) before `deadline` (epoch ms), leaving it
   * running; returns the manifest written there. Throws an Error that says why when it cannot.
   */
  checkpoint(req: { namespace: string; name: string; uid: string; dir: string; deadline: number; signal: AbortSignal }): Promise<PodCheckpointManifest>;
}

export interface PodCheckpointsOptions {
  /** Where the objects are kept (one JSON file each). */
  stateDir: string;
  /** The node's pod checkpoint root (the kubelet's `pod-checkpoints/`). */
  checkpointRoot: string;
  nodeName: string;
  /** The node's ceiling for a checkpoint's timeout, and the timeout of an object that gives none. */
  ceilingSeconds?: number;
  runner: PodCheckpointRunner;
  log?: (event: Record<string, unknown>) => void;
}

export const DEFAULT_POD_CHECKPOINT_TIMEOUT_SECONDS = 15;

/** A node agent's PodCheckpoints: objects under its root, checkpoints under its pod checkpoint root. */
export function openAgentPodCheckpoints(opts: CommonAgentOptions, log: (event: Record<string, unknown>) => void, runner: PodCheckpointRunner): PodCheckpoints {
  return PodCheckpoints.open({
    stateDir: join(opts.root, "podcheckpoints"),
    checkpointRoot: podCheckpointsDir(opts),
    nodeName: opts.nodeName,
    ceilingSeconds: opts.podCheckpointTimeoutSeconds,
    log,
    runner,
  });
}

const key = (namespace: string, name: string) => `${namespace}/${name}`;

export class PodCheckpoints {
  private readonly objects = new Map<string, PodCheckpoint>();
  private readonly running = new Map<string, { abort: AbortController; done: Promise<void> }>();
  private readonly waiters = new Map<string, Array<() => void>>();
  private readonly log: (event: Record<string, unknown>) => void;
  private closed = false;

  private constructor(private readonly opts: PodCheckpointsOptions) {
    this.log = opts.log ?? (() => undefined);
    mkdirSync(opts.stateDir, { recursive: true, mode: 0o700 });
    mkdirSync(opts.checkpointRoot, { recursive: true, mode: 0o700 });
  }

  /**
   * Loads the objects of an earlier run. A checkpoint that was in progress when the agent stopped is
   * a dead end: its files go and it ends CheckpointFailed. One still Pending is started now.
   */
  static open(opts: PodCheckpointsOptions): PodCheckpoints {
    const store = new PodCheckpoints(opts);
    for (const f of readdirSync(opts.stateDir)) {
      if (!f.endsWith(".json")) continue;
      let o: PodCheckpoint;
      try {
        o = PodCheckpointSchema.parse(JSON.parse(readFileSync(join(opts.stateDir, f), "utf8")));
      } catch (err) {
        store.log({ msg: "unreadable PodCheckpoint record", file: join(opts.stateDir, f), error: String(err) });
        continue;
      }
      store.objects.set(key(o.metadata.namespace, o.metadata.name), o);
      const reason = readyReason(o);
      if (reason === "CheckpointInProgress") {
        rmSync(join(opts.checkpointRoot, checkpointDirName(o)), { recursive: true, force: true });
        store.save(withReady(o, "CheckpointFailed", "the node agent restarted during the checkpoint; its partial files were removed", new Date()));
        store.log({ msg: "pod checkpoint cut short by a restart", podCheckpoint: key(o.metadata.namespace, o.metadata.name) });
      } else if (reason === "Pending") {
        store.start(o);
      }
    }
    return store;
  }

  /** Stops accepting work and cancels checkpoints in flight (their containers are resumed by the runtime). */
  async close(): Promise<void> {
    this.closed = true;
    for (const r of this.running.values()) r.abort.abort(new PodCheckpointError("the node agent is stopping"));
    await Promise.all([...this.running.values()].map((r) => r.done));
  }

  /**
   * Accepts an object: a new one is stored Pending and checkpointed in the background; the same
   * spec again returns the object as it stands; another spec under the same name is refused
   * (spec is immutable).
   */
  apply(o: PodCheckpoint): PodCheckpoint {
    if (this.closed) throw new PodCheckpointError("the node agent is stopping");
    const k = key(o.metadata.namespace, o.metadata.name);
    const existing = this.objects.get(k);
    if (existing) {
      if (JSON.stringify(existing.spec) === JSON.stringify(o.spec)) return existing;
      throw new PodCheckpointError(`PodCheckpoint ${k} exists already with another spec: spec is immutable`);
    }
    const created = withReady(
      { ...o, metadata: { ...o.metadata, uid: randomUUID(), creationTimestamp: new Date().toISOString() } },
      "Pending",
      "waiting for the node to checkpoint the pod",
      new Date(),
    );
    this.save(created);
    this.start(created);
    return created;
  }

  get(namespace: string, name: string): PodCheckpoint | undefined {
    return this.objects.get(key(namespace, name));
  }

  list(): PodCheckpoint[] {
    return [...this.objects.values()].sort((a, b) => key(a.metadata.namespace, a.metadata.name).localeCompare(key(b.metadata.namespace, b.metadata.name)));
  }

  /** The checkpoint's directory on this node (whether or not it is complete). */
  directory(o: PodCheckpoint): string {
    return join(this.opts.checkpointRoot, checkpointDirName(o));
  }

  /** Removes the object and its checkpoint's files; one in progress is cancelled first. */
  async delete(namespace: string, name: string): Promise<boolean> {
    const k = key(namespace, name);
    const o = this.objects.get(k);
    if (!o) return false;
    const r = this.running.get(k);
    if (r) {
      r.abort.abort(new PodCheckpointError("the PodCheckpoint was deleted"));
      await r.done;
    }
    await rm(this.directory(o), { recursive: true, force: true });
    rmSync(join(this.opts.stateDir, `${o.metadata.uid}.json`), { force: true });
    this.objects.delete(k);
    this.log({ msg: "PodCheckpoint deleted", podCheckpoint: k });
    return true;
  }

  /** Resolves with the object once its checkpoint has ended (completed or not), or as it stands at the timeout. */
  async waitFor(namespace: string, name: string, timeoutMs: number): Promise<PodCheckpoint | undefined> {
    const k = key(namespace, name);
    const now = this.objects.get(k);
    if (!now || isTerminal(readyReason(now))) return now;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, timeoutMs);
      const list = this.waiters.get(k) ?? [];
      list.push(() => {
        clearTimeout(timer);
        resolve();
      });
      this.waiters.set(k, list);
    });
    return this.objects.get(k);
  }

  private save(o: PodCheckpoint): void {
    const file = join(this.opts.stateDir, `${o.metadata.uid}.json`);
    writeFileSync(`${file}.tmp`, JSON.stringify(o, null, 2) + "\n", { mode: 0o600 });
    renameSync(`${file}.tmp`, file);
    const k = key(o.metadata.namespace, o.metadata.name);
    this.objects.set(k, o);
    if (isTerminal(readyReason(o))) {
      for (const w of this.waiters.get(k) ?? []) w();
      this.waiters.delete(k);
    }
  }

  private start(o: PodCheckpoint): void {
    const k = key(o.metadata.namespace, o.metadata.name);
    const abort = new AbortController();
    const done = this.run(o, abort.signal).finally(() => this.running.delete(k));
    this.running.set(k, { abort, done });
  }

  private async run(o: PodCheckpoint, signal: AbortSignal): Promise<void> {
    const k = key(o.metadata.namespace, o.metadata.name);
    const { namespace } = o.metadata;
    const source = o.spec.sourcePod;
    // Let the caller see the object Pending before the work begins.
    await new Promise((r) => setImmediate(r));
    const pod = await this.opts.runner.sourcePod(namespace, source.name).catch(() => undefined);
    const base = { nodeName: this.opts.nodeName };
    if (!pod) {
      this.save(withReady(o, "CheckpointFailed", `pod ${namespace}/${source.name} does not exist on node ${this.opts.nodeName}`, new Date(), base));
      return;
    }
    if (source.uid !== undefined && source.uid !== pod.uid) {
      this.save(
        withReady(o, "SourcePodReplaced", `pod ${namespace}/${source.name} has uid ${pod.uid}, not ${source.uid}: it was replaced`, new Date(), {
          ...base,
          sourcePodUID: pod.uid,
        }),
      );
      return;
    }
    const seconds = effectiveTimeout(o, this.opts.ceilingSeconds ?? DEFAULT_POD_CHECKPOINT_TIMEOUT_SECONDS);
    const dir = this.directory(o);
    const started = Date.now();
    this.save(withReady(o, "CheckpointInProgress", `checkpointing pod ${namespace}/${source.name} (timeout ${seconds} s)`, new Date(), { ...base, sourcePodUID: pod.uid }));
    try {
      // Exclusive: a directory of that name (a UID reused, a leftover) is never written into.
      await mkdir(dir, { mode: 0o700 });
      const manifest = await this.opts.runner.checkpoint({ namespace, name: source.name, uid: pod.uid, dir, deadline: started + seconds * 1000, signal });
      const current = this.objects.get(k);
      if (!current || signal.aborted) throw signal.reason ?? new PodCheckpointError("cancelled");
      this.save(
        withReady(current, "CheckpointCompleted", `${manifest.containers.length} container(s) checkpointed`, new Date(), {
          ...base,
          sourcePodUID: manifest.pod.uid,
          checkpointLocation: { type: "NodeLocal", nodeLocal: { path: checkpointDirName(o) } },
          completionTime: manifest.completedAt,
          checkpointedPodTemplate: manifest.podTemplate,
          checkpointedContainers: manifest.containers.map((c) => ({ name: c.name })),
        }),
      );
      this.log({ msg: "pod checkpointed", podCheckpoint: k, pod: `${namespace}/${source.name}`, dir, ms: Date.now() - started });
    } catch (err) {
      const why = err instanceof Error ? err.message : String(err);
      // Only a directory this checkpoint created is removed: EEXIST means it is someone else's.
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") await rm(dir, { recursive: true, force: true });
      const current = this.objects.get(k);
      if (current) this.save(withReady(current, "CheckpointFailed", why, new Date(), base));
      this.log({ msg: "pod checkpoint failed", podCheckpoint: k, pod: `${namespace}/${source.name}`, error: why });
    }
  }
}
