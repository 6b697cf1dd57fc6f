/**
 * The node agent: owns the pods of this machine (from Pod manifests), keeps their containers running
 * (restart on exit, by restart policy), answers the kubelet's pod list and checkpoints containers for
 * the kubelet-compatible endpoint. Its state is on disk: a restarted agent re-attaches to running
 * containers, which never depend on the agent process (each has its shim).
 */
import { checkpointOutput, type CommonAgentOptions } from "./agent-options.js";
import { join } from "node:path";
import type { PodCheckpointManifest } from "../checkpoint/pod-checkpoint-manifest.js";
import { openAgentPodCheckpoints, type PodCheckpoints } from "./pod-checkpoints.js";
import { podCheckpointMethods } from "./pod-checkpoint-backend.js";
import { checkpointedPodTemplate } from "./pod-template.js";
import { podRestoreSource } from "./pod-restore-source.js";
import { checkpointPod } from "./pod-checkpoint.js";
import { restorePodContainers, startRestoredContainers } from "./pod-restore.js";
import { randomUUID } from "node:crypto";
import { mkdirSync } from "node:fs";
import pLimit, { type LimitFunction } from "p-limit";
import {
  BackendError,
  type CheckpointRequest,
  type CheckpointResult,
  type LogRequest,
  type NodeBackend,
  type RestoreRequest,
} from "../kubelet-endpoint/node-backend.js";
import { checkpointContainer, resume } from "./container-checkpoint.js";
import { completeCheckpoint } from "./checkpoint-completion.js";
import { publishImageCopy } from "./checkpoint-publish.js";
import { ImageNotPresentError } from "./images/image-errors.js";
import { requestedPodManifest, requireRegistryReference, restoredContainerName } from "./agent-requests.js";
import { containerLogTail } from "./log-tail.js";
import { keyedLocks } from "./keyed-locks.js";
import { NodeState, type ContainerRecord, type PodRecord } from "./node-state.js";
import { restoredPodManifest, TCP_ESTABLISHED_ANNOTATION, type PodManifest } from "./pod-manifest.js";
import { recoverInterruptedCheckpoints, type PodRuntime } from "./pod-runtime.js";
import { podObject } from "./pod-status.js";
import { cleanStaleTempFiles } from "../checkpoint/writer/index.js";
import { LazyMigrations } from "./lazy-migrations.js";
import { removeCriuNetworkLock } from "./criu-network-lock.js";
import { netnsPath } from "./pod-network.js";
import type { LazySource } from "./lazy-restore.js";

export interface AgentOptions extends CommonAgentOptions {
  runtime: PodRuntime;
  /** This node's client certificate and key (PEM), to fetch a lazy migration from another node. */
  peerCredentials?: { cert: string; key: string };
}

interface LivePod {
  record: PodRecord;
  /** One operation at a time per pod: apply, delete, restart and checkpoint of its containers. */
  lock: LimitFunction;
}

export class NodeAgent implements NodeBackend {
  readonly nodeName: string;
  private readonly pods = new Map<string, LivePod>();
  private readonly state: NodeState;
  private readonly checkpoints: LimitFunction;
  private readonly containerLock = keyedLocks();
  private timer: NodeJS.Timeout | undefined;
  private readonly log: (event: Record<string, unknown>) => void;
  private podCheckpoints!: PodCheckpoints;
  declare readonly applyPodCheckpoint: NodeBackend["applyPodCheckpoint"];
  declare readonly listPodCheckpoints: NodeBackend["listPodCheckpoints"];
  declare readonly getPodCheckpoint: NodeBackend["getPodCheckpoint"];
  declare readonly deletePodCheckpoint: NodeBackend["deletePodCheckpoint"];
  declare readonly checkpointPod: NodeBackend["checkpointPod"];
  readonly lazy: LazyMigrations;

  private constructor(readonly opts: AgentOptions) {
    this.nodeName = opts.nodeName;
    this.state = new NodeState(opts.root);
    this.checkpoints = pLimit(opts.maxConcurrentCheckpoints ?? 4);
    this.log = opts.log ?? (() => undefined);
    Object.assign(this, podCheckpointMethods(() => this.podCheckpoints, async (ns, name) => this.pods.has(`${ns}/${name}`), opts));
    this.lazy = new LazyMigrations({
      nodeName: opts.nodeName,
      runtime: opts.runtime,
      container: (namespace, pod, name) => {
        const { live, container } = this.container(namespace, pod, name);
        return { record: live.record, container };
      },
      tcpEstablished: (pod) => pod.manifest.metadata.annotations[TCP_ESTABLISHED_ANNOTATION] === "true",
      hasPod: (namespace, name) => this.pods.has(`${namespace}/${name}`),
      applyPod: (manifest, lazy) => this.applyPod(manifest, lazy),
      deletePod: (namespace, name) => this.deletePod(namespace, name),
      moved: (record, container) => {
        container.finished = true;
        this.state.save(record);
        this.log({ msg: "container moved to another node", pod: key(record.manifest), container: container.name });
      },
      pagesIn: (namespace, pod, name) => {
        const live = this.pods.get(`${namespace}/${pod}`);
        const container = live?.record.containers.find((c) => c.name === name);
        if (!live || !container?.awaitingPages) return;
        delete container.awaitingPages;
        this.state.save(live.record);
      },
      ...(opts.peerCredentials ? { peerCredentials: opts.peerCredentials } : {}),
      log: this.log,
    });
  }

  /** Loads the pods of an earlier run, re-attaches to their containers and starts reconciling. */
  static async open(opts: AgentOptions): Promise<NodeAgent> {
    mkdirSync(opts.checkpointsDir, { recursive: true, mode: 0o700 });
    // A checkpoint cut short by a crash leaves only a temp file; the kubelet never sees it.
    await cleanStaleTempFiles(opts.checkpointsDir);
    const agent = new NodeAgent(opts);
    for (const record of agent.state.load((file, err) => agent.log({ msg: "unreadable pod record", file, error: String(err) }))) {
      agent.pods.set(key(record.manifest), { record, lock: pLimit(1) });
    }
    const resumed = await recoverInterruptedCheckpoints(
      opts.runtime,
      [...agent.pods.values()].flatMap((p) => [p.record.sandbox.id, ...p.record.containers.map((c) => c.id)]),
    );
    if (resumed.length) agent.log({ msg: "resumed containers an interrupted checkpoint left paused", containers: resumed });
    agent.podCheckpoints = openAgentPodCheckpoints(opts, agent.log, {
      sourcePod: async (ns, name) => agent.pods.get(`${ns}/${name}`)?.record,
      checkpoint: (req) => agent.checkpointWholePod(req),
    });
    await agent.recoverLazyMigrations(resumed);
    await agent.reconcile();
    agent.timer = setInterval(() => void agent.reconcile(), opts.reconcileIntervalMs ?? 1000);
    agent.timer.unref();
    return agent;
  }

  /**
   * After a stop in the middle of lazy migrations: a dumped container that was resumed runs without
   * CRIU's network lock; a pod restored lazily whose pages had not all come goes (its transfer broke
   * with this agent, so the source runs on).
   */
  private async recoverLazyMigrations(resumed: readonly string[]): Promise<void> {
    for (const live of [...this.pods.values()]) {
      const { record } = live;
      if (record.containers.some((c) => resumed.includes(c.id)) && (await removeCriuNetworkLock(netnsPath(record.sandbox.netns)).catch(() => false))) {
        this.log({ msg: "CRIU's network lock, left by an interrupted checkpoint, lifted", pod: key(record.manifest) });
      }
      if (record.containers.some((c) => c.awaitingPages && !c.finished)) {
        this.log({ msg: "a lazy migration to this node was cut short by the agent's stop: its pod is removed, the source runs on", pod: key(record.manifest) });
        await this.deletePod(record.manifest.metadata.namespace, record.manifest.metadata.name).catch((err: Error) =>
          this.log({ msg: "removing the pod of a cut lazy migration failed", pod: key(record.manifest), error: err.message }),
        );
      }
    }
  }

  /** Stops reconciling. Containers keep running: they belong to the node, not to this process. */
  close(): void {
    if (this.timer) clearInterval(this.timer);
    void this.podCheckpoints?.close();
  }

  /**
   * A PodCheckpoint's work: every container of the pod, frozen together. Holds every container's
   * lock and then the pod's (the order reconcile takes them in), so no restart, apply, delete or
   * container checkpoint of the pod runs meanwhile.
   */
  private async checkpointWholePod(req: { namespace: string; name: string; uid: string; dir: string; deadline: number; signal: AbortSignal }): Promise<PodCheckpointManifest> {
    const k = `${req.namespace}/${req.name}`;
    const live = this.pods.get(k);
    if (!live || live.record.uid !== req.uid) throw new Error(`pod ${k} was deleted or replaced before its checkpoint began`);
    const names = live.record.manifest.spec.containers.map((c) => c.name);
    const locked = names.reduceRight<() => Promise<PodCheckpointManifest>>(
      (inner, name) => () => this.containerLock(`${live.record.uid}/${name}`)(inner),
      () =>
        live.lock(() =>
          this.checkpoints(async () => {
            const containers = names.map((n) => live.record.containers.find((c) => c.name === n));
            for (const [i, c] of containers.entries()) {
              if (!c || c.finished || !this.opts.runtime.shimAlive(c.id)) throw new Error(`container ${names[i]} is not running: a pod is checkpointed with all its containers up`);
            }
            return checkpointPod({
              runtime: this.opts.runtime,
              pod: live.record,
              containers: containers as ContainerRecord[],
              outputDir: req.dir,
              deadline: req.deadline,
              nodeName: this.nodeName,
              podTemplate: checkpointedPodTemplate(live.record),
              signal: req.signal,
            });
          }),
        ),
    );
    return locked();
  }

  /**
   * A Pod with spec.restoreFrom: its sandbox is created as any pod's, its containers from the
   * PodCheckpoint's archives (left created), then all started together. The spec must be the
   * checkpointed template's: what runs after the restore is what was checkpointed.
   */
  private async restoreFromPodCheckpoint(manifest: PodManifest): Promise<unknown> {
    const { namespace, name } = manifest.metadata;
    const { from, dir, checkpoint } = await podRestoreSource(this.podCheckpoints, manifest);
    const k = key(manifest);
    const runtime = this.opts.runtime;
    const live = await this.newPod(manifest);
    const { record } = live;
    try {
      await live.lock(async () => {
        const started = Date.now();
        record.containers = await restorePodContainers({ runtime, pod: record, checkpointDir: dir, manifest: checkpoint, archivesVerified: true });
        this.state.save(record);
        await startRestoredContainers(runtime, record, record.containers);
        this.log({ msg: "pod restored", pod: k, from, containers: record.containers.length, ms: Date.now() - started });
      });
    } catch (err) {
      this.log({ msg: "pod restore failed", pod: k, from, error: (err as Error).message });
      await this.deletePod(namespace, name).catch(() => undefined);
      throw new BackendError("runtime", `restoring ${k} from podcheckpoint ${from}: ${(err as Error).message}`, { cause: err });
    }
    return podObject(record, runtime, this.nodeName);
  }

  /** A new pod of the node: its sandbox made, its record saved, no container yet. */
  private async newPod(manifest: PodManifest): Promise<LivePod> {
    const k = key(manifest);
    const uid = manifest.metadata.uid ?? randomUUID();
    let sandbox: PodRecord["sandbox"];
    try {
      sandbox = await this.opts.runtime.createSandbox(manifest, uid);
    } catch (err) {
      throw new BackendError("runtime", `creating the sandbox of ${k}: ${(err as Error).message}`, { cause: err });
    }
    const record: PodRecord = { uid, manifest, createdAt: new Date().toISOString(), sandbox, containers: [] };
    const live: LivePod = { record, lock: pLimit(1) };
    this.pods.set(k, live);
    this.state.save(record);
    return live;
  }

  /** `lazy`: containers restored lazily from another node (their image is their base image). */
  async applyPod(text: string, lazy?: ReadonlyMap<string, LazySource>): Promise<unknown> {
    const manifest = requestedPodManifest(text);
    const k = key(manifest);
    const existing = this.pods.get(k);
    if (existing && JSON.stringify(existing.record.manifest.spec) === JSON.stringify(manifest.spec)) {
      return podObject(existing.record, this.opts.runtime, this.nodeName);
    }
    if (manifest.spec.restoreFrom) {
      if (existing) throw new BackendError("invalid", `pod ${k} exists already: a restore makes a new pod`);
      return this.restoreFromPodCheckpoint(manifest);
    }
    if (existing) await this.deletePod(manifest.metadata.namespace, manifest.metadata.name);
    const runtime = this.opts.runtime;
    const live = await this.newPod(manifest);
    const { record } = live;
    const { sandbox } = record;
    try {
      await live.lock(async () => {
        for (const c of manifest.spec.containers) {
          record.containers.push(await runtime.startContainer(record, c, 0, lazy?.get(c.name)));
          this.state.save(record);
        }
      });
    } catch (err) {
      this.log({ msg: "pod start failed", pod: k, error: (err as Error).message });
      await this.deletePod(manifest.metadata.namespace, manifest.metadata.name).catch(() => undefined);
      throw new BackendError("runtime", `starting ${k}: ${(err as Error).message}`, { cause: err });
    }
    this.log({ msg: "pod started", pod: k, ip: sandbox.ip });
    return podObject(record, runtime, this.nodeName);
  }

  async deletePod(namespace: string, name: string): Promise<void> {
    const k = `${namespace}/${name}`;
    const live = this.pods.get(k);
    if (!live) throw new BackendError("not-found", "pod does not exist");
    // A container being moved away lazily runs on here first (its dump is called off).
    await this.lazy.cancelPod(namespace, name);
    await live.lock(async () => {
      const grace = live.record.manifest.spec.terminationGracePeriodSeconds;
      for (const c of live.record.containers) await this.opts.runtime.stopContainer(c.id, Math.min(grace, 10));
      await this.opts.runtime.removeSandbox(live.record);
      this.state.remove(live.record.uid);
      this.pods.delete(k);
    });
    this.log({ msg: "pod deleted", pod: k });
    await this.pruneImages();
  }

  /** Checkpoint images no pod names any more (each holds a container's memory). */
  private async pruneImages(): Promise<void> {
    const inUse = [...this.pods.values()].flatMap((p) => p.record.manifest.spec.containers.map((c) => c.image));
    try {
      const removed = await this.opts.runtime.pruneCheckpointImages(inUse);
      if (removed.length) this.log({ msg: "checkpoint images no pod uses removed", images: removed });
    } catch (err) {
      this.log({ msg: "removing unused checkpoint images failed", error: (err as Error).message });
    }
  }

  async listPods(): Promise<unknown> {
    const items = await Promise.all([...this.pods.values()].map((p) => podObject(p.record, this.opts.runtime, this.nodeName)));
    return { kind: "PodList", apiVersion: "v1", metadata: {}, items };
  }

  async checkpointContainer(req: CheckpointRequest): Promise<CheckpointResult> {
    const live = this.pods.get(`${req.namespace}/${req.pod}`);
    if (!live) throw new BackendError("not-found", "pod does not exist");
    const spec = live.record.manifest.spec.containers.find((c) => c.name === req.container);
    if (!spec) throw new BackendError("not-found", `container ${req.container} does not exist`);
    if (req.image) requireRegistryReference("image", req.image);
    const durations: Record<string, number> = {};
    const started = Date.now();
    // One checkpoint per container at a time (a second request waits), and a node-wide cap.
    const lock = this.containerLock(`${live.record.uid}/${req.container}`);
    return lock(() =>
      this.checkpoints(async () => {
        const container = live.record.containers.find((c) => c.name === req.container);
        if (!container || container.finished) throw new BackendError("runtime", `container ${req.container} is not running`);
        if (this.lazy.isMoving(container.id)) throw new BackendError("runtime", `container ${req.container} is being migrated`);
        // Whatever is left of the deadline after waiting in line.
        const left = Math.max(1, req.timeoutSeconds - Math.floor((Date.now() - started) / 1000));
        try {
          const written: CheckpointResult = await checkpointContainer({
            runtime: this.opts.runtime,
            pod: live.record,
            container,
            checkpointsDir: this.opts.checkpointsDir,
            timeoutSeconds: left,
            tcpEstablished: live.record.manifest.metadata.annotations[TCP_ESTABLISHED_ANNOTATION] === "true",
            leavePaused: req.leavePaused,
            onPhases: (phases) => {
              durations.checkpoint = Object.values(phases).reduce((a, b) => a + b, 0);
              this.log({ msg: "checkpoint steps (ms)", target: `${req.namespace}/${req.pod}/${req.container}`, ...phases });
            },
          });
          return await completeCheckpoint(written, req, durations, {
            ...checkpointOutput(this.opts),
            log: this.log,
            resume: () => resume(this.opts.runtime, container.id),
          });
        } catch (err) {
          if (err instanceof BackendError) throw err;
          throw new BackendError("runtime", (err as Error).message, { cause: err });
        }
      }),
    );
  }

  async resumeContainer(namespace: string, pod: string, name: string): Promise<void> {
    const { live, container } = this.container(namespace, pod, name);
    await this.containerLock(`${live.record.uid}/${name}`)(async () => {
      if (this.lazy.isMoving(container.id)) throw new BackendError("runtime", `container ${name} is being migrated: DELETE its migration to resume it`);
      if ((await this.opts.runtime.state(container.id))?.status !== "paused") return;
      await resume(this.opts.runtime, container.id);
      if ((await this.opts.runtime.state(container.id))?.status === "paused") {
        throw new BackendError("runtime", `container ${name} stays paused: runc resume failed`);
      }
      this.log({ msg: "container resumed", target: `${namespace}/${pod}/${name}` });
    });
  }

  async pullImage(image: string): Promise<{ image: string; imageId: string }> {
    try {
      const resolved = await this.opts.runtime.pullImage(image);
      return { image, imageId: resolved.imageId };
    } catch (err) {
      throw new BackendError("runtime", `pulling ${image}: ${(err as Error).message}`, { cause: err });
    }
  }

  async pushImage(image: string, target: string): Promise<{ reference: string; digest: string }> {
    requireRegistryReference("target", target);
    let exported;
    try {
      exported = await this.opts.runtime.exportImage(image);
    } catch (err) {
      const kind = err instanceof ImageNotPresentError ? "not-found" : "runtime";
      throw new BackendError(kind, `image ${image}: ${(err as Error).message}`, { cause: err });
    }
    try {
      return await publishImageCopy(exported, target, this.opts.publishing ?? {});
    } catch (err) {
      throw new BackendError("runtime", `pushing ${image} to ${target}: ${(err as Error).message}`, { cause: err });
    }
  }

  async restorePod(req: RestoreRequest): Promise<unknown> {
    if (this.pods.has(`${req.namespace}/${req.name}`)) throw new BackendError("invalid", `pod ${req.namespace}/${req.name} exists already`);
    const name = await restoredContainerName(req, async (source) => (await this.opts.runtime.checkpointLocation(source)).checkpoint, this.opts.archiveOpen);
    return this.applyPod(restoredPodManifest(req, name));
  }

  async containerLog(req: LogRequest, maxBytes: number): Promise<string> {
    const { container } = this.container(req.namespace, req.pod, req.container);
    return containerLogTail(req, container.logPath, container.restartCount, maxBytes);
  }

  private container(namespace: string, pod: string, name: string): { live: LivePod; container: ContainerRecord } {
    const live = this.pods.get(`${namespace}/${pod}`);
    if (!live) throw new BackendError("not-found", "pod does not exist");
    const container = live.record.containers.find((c) => c.name === name);
    if (!container) throw new BackendError("not-found", `container ${name} does not exist`);
    return { live, container };
  }

  /** Restarts containers that exited, as their pod's restart policy says. */
  private reconciling = false;
  async reconcile(): Promise<void> {
    if (this.reconciling) return;
    this.reconciling = true;
    try {
      for (const live of this.pods.values()) {
        for (const c of live.record.containers) {
          // A container being moved away ends here when its last page is served: not an exit.
          if (c.finished || this.lazy.isMoving(c.id)) continue;
          const exit = this.opts.runtime.exitStatus(c.id);
          if (!exit && this.opts.runtime.shimAlive(c.id)) continue;
          // The shim is gone without an exit status (the node rebooted, or it was killed): treat the
          // container as failed.
          const code = exit?.exitCode ?? 255;
          const policy = live.record.manifest.spec.restartPolicy;
          const restart = policy === "Always" || (policy === "OnFailure" && code !== 0);
          await this.containerLock(`${live.record.uid}/${c.name}`)(() => live.lock(() => this.replace(live, c, restart, code)));
        }
      }
    } catch (err) {
      this.log({ msg: "reconcile failed", error: (err as Error).message });
    } finally {
      this.reconciling = false;
    }
  }

  private async replace(live: LivePod, c: ContainerRecord, restart: boolean, code: number): Promise<void> {
    const k = key(live.record.manifest);
    const i = live.record.containers.indexOf(c);
    if (i < 0) return;
    if (!restart) {
      c.finished = true;
      this.state.save(live.record);
      this.log({ msg: "container exited", pod: k, container: c.name, exitCode: code });
      return;
    }
    const spec = live.record.manifest.spec.containers.find((s) => s.name === c.name)!;
    await this.opts.runtime.removeContainer(c.id);
    const next = await this.opts.runtime.startContainer(live.record, spec, c.restartCount + 1);
    live.record.containers[i] = next;
    this.state.save(live.record);
    this.log({ msg: "container restarted", pod: k, container: c.name, exitCode: code, restartCount: next.restartCount });
  }
}

const key = (m: PodManifest) => `${m.metadata.namespace}/${m.metadata.name}`;
