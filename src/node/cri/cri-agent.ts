/**
 * The node agent on a CRI runtime (containerd, CRI-O): the same NodeBackend as the runc agent, with
 * every pod and container made, listed, checkpointed and removed through the CRI as the kubelet does
 * it. The agent keeps no state the runtime has: its pods are the sandboxes labelled with its node
 * name, each carrying the manifest it was made from, so a restarted agent finds them again.
 *
 * Restores go through CreateContainer with a checkpoint archive (containerd 2.1's restore): the
 * checkpoint, from an archive on the node or a checkpoint image, is first rewritten into the layout
 * containerd reads (containerd-restore-archive.ts). Pod checkpoints need containerd's own task API
 * besides the CRI, for the pause the CRI lacks (cri-pod-checkpoint.ts).
 */
import { checkpointOutput, type CommonAgentOptions } from "../agent-options.js";
import type { PodCheckpointManifest } from "../../checkpoint/pod-checkpoint-manifest.js";
import { openAgentPodCheckpoints, type PodCheckpoints } from "../pod-checkpoints.js";
import { podCheckpointMethods } from "../pod-checkpoint-backend.js";
import { podRestoreSource } from "../pod-restore-source.js";
import { podTemplate } from "../pod-template.js";
import { ContainerdTasks } from "../../cri/containerd-tasks.js";
import { checkpointCriPod, digestReference } from "./cri-pod-checkpoint.js";
import { settleAfterRuntimeCheckpoint } from "./task-settle.js";
import { randomUUID } from "node:crypto";
import { existsSync, mkdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import pLimit, { type LimitFunction } from "p-limit";
import { CriClient, CriError, type Container, type ContainerStatus, type PodSandbox } from "../../cri/client.js";
import {
  BackendError,
  type CheckpointRequest,
  type CheckpointResult,
  type LogRequest,
  type NodeBackend,
  type RestoreRequest,
} from "../../kubelet-endpoint/node-backend.js";
import { cleanStaleTempFiles, publish, removeQuietly, tempNameFor } from "../../checkpoint/writer/atomic-file.js";
import { CHECKPOINT_NAME_KEYS } from "../../restore/checkpoint-annotations.js";
import { requestedPodManifest, requireRegistryReference, restoredContainerName } from "../agent-requests.js";
import { checkpointFileName } from "../checkpoint-name.js";
import { completeCheckpoint } from "../checkpoint-completion.js";
import { isArchivePath, isCheckpointLayout } from "../container-restore.js";
import type { ImageStore } from "../images/image-store.js";
import { imageName, parseImageReference } from "../images/index.js";
import { PodManifestSchema, restoredPodManifest, TCP_ESTABLISHED_ANNOTATION, type ContainerManifest, type PodManifest } from "../pod-manifest.js";
import { podObjectOf } from "../pod-status.js";
import { volumeSource } from "../pod-volumes.js";
import { stepTimer } from "../step-timer.js";
import { containerLogTail } from "../log-tail.js";
import { keyedLocks } from "../keyed-locks.js";
import { anyStopped, continueStopped } from "./container-processes.js";
import { withCriuLogReason } from "../criu-log.js";
import { prepareContainerdRestore } from "./containerd-restore.js";
import {
  CONTAINER_NAME_LABEL,
  containerConfig,
  CRIU_CONFIG_ANNOTATION,
  MANAGED_BY_LABEL,
  MANIFEST_ANNOTATION,
  POD_UID_LABEL,
  sandboxConfig,
} from "./cri-pod-config.js";

/** `root` holds the agent's logs, volumes, restore archives, CRIU configs and checkpoint images. */
export interface CriAgentOptions extends CommonAgentOptions {
  client: CriClient;
  /** Where checkpoint images are pulled to (the runtime gets them as archives). */
  checkpointImages: ImageStore;
  /** CRIU binary, for the restore preflight's version check. */
  criu: string;
  /** The cgroup parent of the pods' sandboxes (default: the runtime's). */
  cgroupParent?: string;
}

/** A pod of this agent, as the runtime reports it. */
interface CriPod {
  sandbox: PodSandbox;
  manifest: PodManifest;
  uid: string;
}


export class CriNodeAgent implements NodeBackend {
  readonly nodeName: string;
  private readonly cri: CriClient;
  private readonly checkpoints: LimitFunction;
  private readonly lock = keyedLocks();
  private readonly log: (event: Record<string, unknown>) => void;
  private timer: NodeJS.Timeout | undefined;
  private podCheckpoints!: PodCheckpoints;
  /** containerd's task API on the CRI socket; undefined on another runtime (no pod checkpoints then). */
  private tasks: ContainerdTasks | undefined;
  declare readonly applyPodCheckpoint: NodeBackend["applyPodCheckpoint"];
  declare readonly listPodCheckpoints: NodeBackend["listPodCheckpoints"];
  declare readonly getPodCheckpoint: NodeBackend["getPodCheckpoint"];
  declare readonly deletePodCheckpoint: NodeBackend["deletePodCheckpoint"];
  declare readonly checkpointPod: NodeBackend["checkpointPod"];

  private constructor(readonly opts: CriAgentOptions) {
    this.nodeName = opts.nodeName;
    this.cri = opts.client;
    this.checkpoints = pLimit(opts.maxConcurrentCheckpoints ?? 4);
    this.log = opts.log ?? (() => undefined);
    Object.assign(this, podCheckpointMethods(() => this.podCheckpoints, async (ns, name) => (await this.pod(ns, name)) !== undefined, opts));
  }

  /** Checks that the runtime answers, cleans up after a crash and starts reconciling. */
  static async open(opts: CriAgentOptions): Promise<CriNodeAgent> {
    const version = await opts.client.version(10_000);
    // Restore archives a crash left half-written are of no use: the directory starts empty.
    rmSync(join(opts.root, "restore"), { recursive: true, force: true });
    for (const d of ["logs", "volumes", "restore", "criu"]) mkdirSync(join(opts.root, d), { recursive: true, mode: 0o700 });
    mkdirSync(opts.checkpointsDir, { recursive: true, mode: 0o700 });
    await cleanStaleTempFiles(opts.checkpointsDir);
    const agent = new CriNodeAgent(opts);
    if (version.runtimeName === "containerd") agent.tasks = new ContainerdTasks(opts.client);
    // A migration's source left stopped, or a pod checkpoint's containers left paused, by an agent
    // that died before the resume.
    const continued = await agent.continueAll();
    if (continued.length) agent.log({ msg: "resumed containers an interrupted checkpoint left paused", containers: continued });
    agent.podCheckpoints = openAgentPodCheckpoints(opts, agent.log, {
      sourcePod: (ns, name) => agent.pod(ns, name),
      checkpoint: (req) => agent.checkpointWholePod(req),
    });
    await agent.reconcile();
    agent.timer = setInterval(() => void agent.reconcile(), opts.reconcileIntervalMs ?? 1000);
    agent.timer.unref();
    return agent;
  }

  close(): void {
    if (this.timer) clearInterval(this.timer);
    void this.podCheckpoints?.close();
    this.cri.close();
  }

  /**
   * A PodCheckpoint's work: every container of the pod, frozen together. Holds every container's
   * lock and then the pod's (as the single-container checkpoint and reconcile take them), so no
   * restart, apply, delete or container checkpoint of the pod runs meanwhile.
   */
  private async checkpointWholePod(req: { namespace: string; name: string; uid: string; dir: string; deadline: number; signal: AbortSignal }): Promise<PodCheckpointManifest> {
    const k = `${req.namespace}/${req.name}`;
    const tasks = this.tasks;
    if (!tasks) {
      throw new Error(`pod ${k}: pod checkpoints need containerd (its task API pauses the containers, which the CRI cannot); this runtime is ${(await this.cri.version()).runtimeName}`);
    }
    const pod = await this.pod(req.namespace, req.name);
    if (!pod || pod.uid !== req.uid) throw new Error(`pod ${k} was deleted or replaced before its checkpoint began`);
    const names = pod.manifest.spec.containers.map((c) => c.name);
    const locked = names.reduceRight<() => Promise<PodCheckpointManifest>>(
      (inner, name) => () => this.lock(`${pod.uid}/${name}`)(inner),
      () =>
        this.lock(k)(() =>
          this.checkpoints(async () => {
            const running = await this.containers(pod);
            const containers = [];
            for (const name of names) {
              const c = running.get(name);
              if (!c || c.state !== "CONTAINER_RUNNING") throw new Error(`container ${name} is not running: a pod is checkpointed with all its containers up`);
              const { status, cgroupsPath } = await this.runtimeInfo(c.id);
              containers.push({ name, id: c.id, image: digestReference(pod.manifest.spec.containers.find((m) => m.name === name)!.image, status), ...(cgroupsPath ? { cgroupsPath } : {}) });
            }
            const images = new Map(containers.map((c) => [c.name, c.image]));
            const sandbox = (await this.cri.podSandboxStatus(pod.sandbox.id)).status;
            // Connections between the pod's containers are dumped with them (a restore closes them).
            for (const name of names) this.writeCriuConfig(pod, name, ["tcp-established"]);
            try {
              return await checkpointCriPod({
                cri: this.cri,
                tasks,
                pod: { namespace: req.namespace, name: req.name, uid: pod.uid },
                containers,
                outputDir: req.dir,
                deadline: req.deadline,
                signal: req.signal,
                nodeName: this.nodeName,
                podTemplate: podTemplate(pod.manifest, (name) => images.get(name)),
                sandbox: { hostname: pod.manifest.spec.hostname ?? req.name, ...(sandbox?.network?.ip ? { ip: sandbox.network.ip } : {}) },
                onAbandoned: (path) => this.removeLate(path),
                log: this.log,
              });
            } finally {
              for (const name of names) this.writeCriuConfig(pod, name, []);
            }
          }),
        ),
    );
    return locked();
  }

  /**
   * A Pod with spec.restoreFrom: a new sandbox, every container created from its archive in the
   * PodCheckpoint (CreateContainer restores, leaving it created) before any is started, then all
   * started. Any failure removes the sandbox with whatever was made in it.
   */
  private async restoreFromPodCheckpoint(manifest: PodManifest): Promise<unknown> {
    const { namespace, name } = manifest.metadata;
    const k = `${namespace}/${name}`;
    const { from, dir, checkpoint } = await podRestoreSource(this.podCheckpoints, manifest);
    const uid = manifest.metadata.uid ?? randomUUID();
    let sandboxId: string;
    try {
      sandboxId = await this.cri.runPodSandbox(this.sandboxConfig(manifest, uid));
    } catch (err) {
      throw new BackendError("runtime", `creating the sandbox of ${k}: ${(err as Error).message}`, { cause: err });
    }
    const pod: CriPod = { sandbox: { id: sandboxId } as PodSandbox, manifest, uid };
    const started = Date.now();
    try {
      const created: string[] = [];
      for (const c of manifest.spec.containers) {
        const archived = checkpoint.containers.find((a) => a.name === c.name);
        created.push(await this.createContainer(pod, c, 0, archived ? join(dir, archived.archive) : undefined));
      }
      for (const id of created) await this.cri.startContainer(id);
      for (const c of manifest.spec.containers) this.writeCriuConfig(pod, c.name, []);
    } catch (err) {
      this.log({ msg: "pod restore failed", pod: k, from, error: (err as Error).message });
      await this.removePod(pod).catch(() => undefined);
      throw new BackendError(err instanceof BackendError ? err.kind : "runtime", `restoring ${k} from podcheckpoint ${from}: ${(err as Error).message}`, { cause: err });
    }
    this.log({ msg: "pod restored", pod: k, from, containers: checkpoint.containers.length, ms: Date.now() - started });
    return this.podObject((await this.pod(namespace, name))!);
  }

  // ---- pods

  private async pods(): Promise<CriPod[]> {
    const sandboxes = await this.cri.listPodSandbox({ labelSelector: { [MANAGED_BY_LABEL]: this.nodeName } });
    const out: CriPod[] = [];
    for (const sandbox of sandboxes) {
      try {
        const manifest = PodManifestSchema.parse(JSON.parse(sandbox.annotations[MANIFEST_ANNOTATION] ?? ""));
        out.push({ sandbox, manifest, uid: sandbox.labels[POD_UID_LABEL] ?? sandbox.metadata?.uid ?? "" });
      } catch {
        this.log({ msg: "sandbox without a readable manifest ignored", sandbox: sandbox.id });
      }
    }
    return out;
  }

  private async pod(namespace: string, name: string): Promise<CriPod | undefined> {
    return (await this.pods()).find((p) => p.manifest.metadata.namespace === namespace && p.manifest.metadata.name === name && p.sandbox.state === "SANDBOX_READY");
  }

  /** The newest container of each name in the pod (the one a restart made last). */
  private async containers(pod: CriPod): Promise<Map<string, Container>> {
    const all = await this.cri.listContainers({ podSandboxId: pod.sandbox.id });
    const newest = new Map<string, Container>();
    for (const c of all) {
      const name = c.metadata?.name ?? c.labels[CONTAINER_NAME_LABEL] ?? "";
      const have = newest.get(name);
      if (!have || (c.metadata?.attempt ?? 0) > (have.metadata?.attempt ?? 0)) newest.set(name, c);
    }
    return newest;
  }

  private logDirectory(m: PodManifest, uid: string): string {
    return join(this.opts.root, "logs", `${m.metadata.namespace}_${m.metadata.name}_${uid}`);
  }

  /** The pod's sandbox config: what RunPodSandbox made it from, and what CreateContainer is told. */
  private sandboxConfig(manifest: PodManifest, uid: string) {
    return sandboxConfig({ manifest, uid, nodeName: this.nodeName, logDirectory: this.logDirectory(manifest, uid), ...(this.opts.cgroupParent ? { cgroupParent: this.opts.cgroupParent } : {}) });
  }

  async applyPod(text: string): Promise<unknown> {
    const manifest = requestedPodManifest(text);
    const { namespace, name } = manifest.metadata;
    return this.lock(`${namespace}/${name}`)(async () => {
      const existing = await this.pod(namespace, name);
      if (existing && JSON.stringify(existing.manifest.spec) === JSON.stringify(manifest.spec)) return this.podObject(existing);
      if (manifest.spec.restoreFrom) {
        if (existing) throw new BackendError("invalid", `pod ${namespace}/${name} exists already: a restore makes a new pod`);
        return this.restoreFromPodCheckpoint(manifest);
      }
      if (existing) await this.removePod(existing);
      const uid = manifest.metadata.uid ?? randomUUID();
      let sandboxId: string;
      try {
        sandboxId = await this.cri.runPodSandbox(this.sandboxConfig(manifest, uid));
      } catch (err) {
        throw new BackendError("runtime", `creating the sandbox of ${namespace}/${name}: ${(err as Error).message}`, { cause: err });
      }
      const pod: CriPod = { sandbox: { id: sandboxId } as PodSandbox, manifest, uid };
      try {
        for (const c of manifest.spec.containers) await this.startContainer(pod, c, 0);
      } catch (err) {
        this.log({ msg: "pod start failed", pod: `${namespace}/${name}`, error: (err as Error).message });
        await this.removePod(pod).catch(() => undefined);
        throw err instanceof BackendError ? err : new BackendError("runtime", `starting ${namespace}/${name}: ${(err as Error).message}`, { cause: err });
      }
      const made = (await this.pod(namespace, name))!;
      this.log({ msg: "pod started", pod: `${namespace}/${name}` });
      return this.podObject(made);
    });
  }

  /** Creates and starts a container of the pod, restoring it when its image is a checkpoint. */
  private async startContainer(pod: CriPod, c: ContainerManifest, attempt: number): Promise<string> {
    const id = await this.createContainer(pod, c, attempt, await this.checkpointSource(c.image, c.imagePullPolicy ?? "IfNotPresent"));
    try {
      await this.cri.startContainer(id);
    } catch (err) {
      await this.cri.removeContainer(id).catch(() => undefined);
      throw err;
    }
    this.writeCriuConfig(pod, c.name, []);
    return id;
  }

  /**
   * Creates a container of the pod, left created: restored from `checkpoint` (an archive or an
   * unpacked checkpoint) when given, else from its image.
   */
  private async createContainer(pod: CriPod, c: ContainerManifest, attempt: number, checkpoint: string | undefined): Promise<string> {
    const m = pod.manifest;
    const volumeSources: Record<string, string> = {};
    for (const v of m.spec.volumes) {
      if (c.volumeMounts.some((vm) => vm.name === v.name)) volumeSources[v.name] = volumeSource(v, join(this.opts.root, "volumes", pod.uid));
    }
    // Every container names a CRIU config file of its own, so each checkpoint can say what it needs.
    const criuConfig = this.criuConfigPath(pod.uid, c.name);
    const annotations: Record<string, string> = { [CRIU_CONFIG_ANNOTATION]: criuConfig };
    mkdirSync(join(this.logDirectory(m, pod.uid), c.name), { recursive: true, mode: 0o755 });
    let image = c.image;
    let restoreArchive: string | undefined;
    const steps = stepTimer();
    if (checkpoint) {
      // Established connections cannot follow the pod to its new address: CRIU closes them.
      this.writeCriuConfig(pod, c.name, ["tcp-close"]);
      restoreArchive = await prepareContainerdRestore({
        cri: this.cri,
        source: checkpoint,
        criu: this.opts.criu,
        containerName: c.name,
        annotations: { [CRIU_CONFIG_ANNOTATION]: criuConfig },
        outDir: join(this.opts.root, "restore"),
        ...(this.opts.archiveOpen ? { open: this.opts.archiveOpen } : {}),
        pullBase: (name) => this.ensureImage(name, "IfNotPresent"),
        onNotes: (notes) => this.log({ msg: "restore notes", container: c.name, archive: checkpoint, notes }),
      });
      image = restoreArchive;
      steps.mark("restore archive");
    } else {
      await this.ensureImage(c.image, c.imagePullPolicy ?? "IfNotPresent");
    }
    try {
      const config = containerConfig({ pod: m, uid: pod.uid, container: c, attempt, image, volumeSources, annotations });
      const id = await this.cri.createContainer(pod.sandbox.id, config, this.sandboxConfig(m, pod.uid));
      steps.mark("create");
      if (restoreArchive) this.log({ msg: "restore steps (ms)", container: c.name, checkpoint, ...steps.done() });
      return id;
    } finally {
      // containerd unpacks the archive at CreateContainer: the start restores from its own copy.
      if (restoreArchive) rmSync(restoreArchive, { force: true });
    }
  }

  private criuConfigPath(uid: string, container: string): string {
    return join(this.opts.root, "criu", uid, `${container}.conf`);
  }

  /**
   * The container's CRIU config: what the pod asks of every checkpoint (tcp-established, by its
   * annotation) and what this operation adds. runc hands the file to CRIU on dump and restore, and
   * CRIU lets it override the runtime's own options.
   */
  private writeCriuConfig(pod: CriPod, container: string, extra: string[]): void {
    const options = [...(pod.manifest.metadata.annotations[TCP_ESTABLISHED_ANNOTATION] === "true" ? ["tcp-established"] : []), ...extra];
    const path = this.criuConfigPath(pod.uid, container);
    mkdirSync(dirname(path), { recursive: true, mode: 0o755 });
    writeFileSync(path, options.map((o) => `${o}\n`).join(""), { mode: 0o644 });
  }

  private async ensureImage(image: string, policy: "Always" | "IfNotPresent" | "Never"): Promise<void> {
    if (policy !== "Always" && (await this.cri.imageStatus(image))) return;
    if (policy === "Never") throw new BackendError("runtime", `image ${image} is not present and pullPolicy is Never`);
    await this.cri.pullImage(image);
  }

  /**
   * Where a container image's checkpoint is: the path of an archive on this node, or the unpacked
   * layer of a checkpoint image (pulled into the agent's store); undefined for a plain image.
   */
  private async checkpointSource(image: string, policy: "Always" | "IfNotPresent" | "Never"): Promise<string | undefined> {
    if (isArchivePath(image)) return image;
    let annotations: Record<string, string>;
    try {
      annotations = await this.opts.checkpointImages.annotations(image);
    } catch {
      // Not an image the agent's own store can reach (a registry only the runtime is configured for):
      // the runtime pulls it as a plain image.
      return undefined;
    }
    if (!CHECKPOINT_NAME_KEYS.some((k) => annotations[k] !== undefined)) return undefined;
    const pulled = await this.opts.checkpointImages.ensure(image, { pullPolicy: policy });
    const layer = pulled.layers.length === 1 ? pulled.layers[0]! : undefined;
    if (!layer || !isCheckpointLayout(layer)) throw new BackendError("invalid", `image ${image} is annotated as a checkpoint but its layer is not a checkpoint`);
    return layer;
  }

  async pullImage(image: string): Promise<{ image: string; imageId: string }> {
    try {
      await this.ensureImage(image, "IfNotPresent");
      const status = await this.cri.imageStatus(image);
      if (!status) throw new Error("the runtime does not have it after a pull");
      return { image, imageId: status.id };
    } catch (err) {
      if (err instanceof BackendError) throw err;
      throw new BackendError("runtime", `pulling ${image}: ${(err as Error).message}`, { cause: err });
    }
  }

  async pushImage(image: string): Promise<{ reference: string; digest: string }> {
    // The CRI's ImageService pulls, lists and removes; nothing in it reads an image's content out.
    throw new BackendError(
      "invalid",
      `image ${image}: a node on a CRI runtime cannot push its images (the CRI has no call that reads an image's layers out of the runtime's store); push the image to a registry the target node reaches`,
    );
  }

  async deletePod(namespace: string, name: string): Promise<void> {
    await this.lock(`${namespace}/${name}`)(async () => {
      const pod = await this.pod(namespace, name);
      if (!pod) throw new BackendError("not-found", "pod does not exist");
      await this.removePod(pod);
    });
    this.log({ msg: "pod deleted", pod: `${namespace}/${name}` });
    await this.pruneImages();
  }

  private async removePod(pod: CriPod): Promise<void> {
    const grace = Math.min(pod.manifest.spec.terminationGracePeriodSeconds, 10);
    // Stopped containers (a migration's source) take SIGTERM only once continued.
    for (const c of (await this.containers(pod)).values()) {
      if (c.state === "CONTAINER_RUNNING") await this.continue(c.id).catch(() => undefined);
      if (c.state === "CONTAINER_RUNNING") await this.cri.stopContainer(c.id, grace).catch(() => undefined);
    }
    await this.cri.stopPodSandbox(pod.sandbox.id);
    await this.cri.removePodSandbox(pod.sandbox.id);
    rmSync(join(this.opts.root, "volumes", pod.uid), { recursive: true, force: true });
    rmSync(join(this.opts.root, "criu", pod.uid), { recursive: true, force: true });
  }

  /** Checkpoint images no pod names any more (each holds a container's memory). */
  private async pruneImages(): Promise<void> {
    try {
      const used = new Set<string>();
      for (const p of await this.pods()) {
        for (const c of p.manifest.spec.containers) {
          try {
            if (!isArchivePath(c.image)) used.add(imageName(parseImageReference(c.image)));
          } catch {
            // not a reference the store could hold
          }
        }
      }
      const store = this.opts.checkpointImages;
      const removed = await store.remove((await store.list()).filter((i) => !used.has(i.name)).map((i) => i.name));
      if (removed.length) this.log({ msg: "checkpoint images no pod uses removed", images: removed });
    } catch (err) {
      this.log({ msg: "removing unused checkpoint images failed", error: (err as Error).message });
    }
  }

  async listPods(): Promise<unknown> {
    const items = await Promise.all((await this.pods()).filter((p) => p.sandbox.state === "SANDBOX_READY").map((p) => this.podObject(p)));
    return { kind: "PodList", apiVersion: "v1", metadata: {}, items };
  }

  private async podObject(pod: CriPod): Promise<Record<string, unknown>> {
    const status = await this.cri.podSandboxStatus(pod.sandbox.id);
    const containers = await this.containers(pod);
    const statuses: Record<string, unknown>[] = [];
    for (const c of pod.manifest.spec.containers) {
      const found = containers.get(c.name);
      if (!found) continue;
      const st = (await this.cri.containerStatus(found.id)).status;
      if (st) statuses.push(v1ContainerStatus(c, st));
    }
    const createdAt = nanosToIso(status.status?.createdAt ?? pod.sandbox.createdAt);
    return podObjectOf({ manifest: pod.manifest, uid: pod.uid, createdAt, ip: status.status?.network?.ip ?? "" }, statuses, this.nodeName);
  }

  private async container(namespace: string, pod: string, name: string): Promise<{ pod: CriPod; container: Container }> {
    const p = await this.pod(namespace, pod);
    if (!p) throw new BackendError("not-found", "pod does not exist");
    if (!p.manifest.spec.containers.some((c) => c.name === name)) throw new BackendError("not-found", `container ${name} does not exist`);
    const container = (await this.containers(p)).get(name);
    if (!container) throw new BackendError("not-found", `container ${name} does not exist`);
    return { pod: p, container };
  }

  // ---- checkpoints

  async checkpointContainer(req: CheckpointRequest): Promise<CheckpointResult> {
    const { pod, container } = await this.container(req.namespace, req.pod, req.container);
    if (req.image) requireRegistryReference("image", req.image);
    const started = Date.now();
    const durations: Record<string, number> = {};
    return this.lock(`${pod.uid}/${req.container}`)(() =>
      this.checkpoints(async () => {
        const st = (await this.cri.containerStatus(container.id)).status;
        if (st?.state !== "CONTAINER_RUNNING") throw new BackendError("runtime", `container ${req.container} is not running`);
        const left = Math.max(1, req.timeoutSeconds - Math.floor((Date.now() - started) / 1000));
        const m = pod.manifest.metadata;
        const t0 = performance.now();
        this.writeCriuConfig(pod, req.container, req.leavePaused ? ["leave-stopped"] : []);
        let written: CheckpointResult;
        try {
          written = await this.checkpointTo(container.id, left, () => join(this.opts.checkpointsDir, checkpointFileName(m.name, m.namespace, req.container, new Date())));
        } catch (err) {
          if (req.leavePaused) await this.continue(container.id).catch(() => undefined);
          throw err;
        } finally {
          this.writeCriuConfig(pod, req.container, []);
        }
        durations.checkpoint = Math.round(performance.now() - t0);
        this.log({ msg: "checkpoint steps (ms)", target: `${req.namespace}/${req.pod}/${req.container}`, checkpoint: durations.checkpoint });
        return completeCheckpoint(written, req, durations, {
          ...checkpointOutput(this.opts),
          log: this.log,
          resume: async () => void (await this.continue(container.id)),
        });
      }),
    );
  }

  /**
   * CRI CheckpointContainer into a temp name beside the target, renamed once complete. containerd
   * opens `location` without truncating it, so every attempt gets a name never used before.
   */
  private async checkpointTo(id: string, timeoutSeconds: number, target: () => string): Promise<CheckpointResult> {
    const temp = tempNameFor(target());
    try {
      await this.cri.checkpointContainer(id, temp, timeoutSeconds, timeoutSeconds * 1000);
      for (;;) {
        const path = target();
        try {
          await publish(temp, path, false);
          return { path, bytes: statSync(path).size };
        } catch (err) {
          // The kubelet's names have one-second resolution: take the next second's.
          if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
          await new Promise((r) => setTimeout(r, 1000 - (Date.now() % 1000) + 1));
        }
      }
    } catch (err) {
      await removeQuietly(temp);
      if (err instanceof CriError && err.status === "DEADLINE_EXCEEDED") {
        // The runtime may still write the file after our deadline: remove it then too.
        this.removeLate(temp);
        throw new BackendError("runtime", `checkpoint timed out after ${timeoutSeconds} s`, { cause: err });
      }
      throw new BackendError("runtime", withCriuLogReason((err as Error).message), { cause: err });
    }
  }

  private removeLate(path: string): void {
    let tries = 0;
    const t = setInterval(() => {
      if (existsSync(path)) rmSync(path, { force: true });
      if (++tries >= 300) clearInterval(t);
    }, 1000);
    t.unref();
  }

  /** The container's init pid, from the runtime's verbose status (containerd's info.pid). */
  private async learnPid(id: string): Promise<number> {
    const pid = (await this.runtimeInfo(id)).pid;
    if (!pid) throw new BackendError("runtime", `container ${id.slice(0, 12)}: the runtime does not report its process (verbose ContainerStatus info.pid)`);
    return pid;
  }

  /** The container's status, and what containerd's verbose ContainerStatus says of its process: its pid and cgroup. */
  private async runtimeInfo(id: string): Promise<{ status: ContainerStatus | null; pid?: number; cgroupsPath?: string }> {
    const res = await this.cri.containerStatus(id, true);
    const info = JSON.parse(res.info.info ?? "{}") as { pid?: number; runtimeSpec?: { linux?: { cgroupsPath?: string } } };
    return { status: res.status, ...(info.pid ? { pid: Number(info.pid) } : {}), ...(info.runtimeSpec?.linux?.cgroupsPath ? { cgroupsPath: info.runtimeSpec.linux.cgroupsPath } : {}) };
  }

  /** SIGCONT to a container a migration's checkpoint left stopped; false when none was stopped. */
  private async continue(id: string): Promise<boolean> {
    return continueStopped(await this.learnPid(id)) > 0;
  }

  private async continueAll(): Promise<string[]> {
    const continued: string[] = [];
    for (const p of await this.pods()) {
      for (const c of (await this.containers(p)).values()) {
        if (c.state !== "CONTAINER_RUNNING") continue;
        // Only a pod checkpoint pauses a task of this agent's pods. One whose capture the runtime
        // still runs is resumed once that has ended.
        const tasks = this.tasks;
        if (tasks && (await tasks.status(c.id).catch(() => undefined)) === "PAUSED") {
          await tasks.resume(c.id).then(
            () => continued.push(c.id),
            async () => void settleAfterRuntimeCheckpoint(tasks, c.id, { cgroupsPath: (await this.runtimeInfo(c.id).catch(() => undefined))?.cgroupsPath, log: this.log }),
          );
        }
        if (await this.continue(c.id).catch(() => false)) continued.push(c.id);
      }
    }
    return continued;
  }

  async resumeContainer(namespace: string, pod: string, name: string): Promise<void> {
    const { pod: p, container } = await this.container(namespace, pod, name);
    await this.lock(`${p.uid}/${name}`)(async () => {
      if (await this.continue(container.id)) this.log({ msg: "container resumed", target: `${namespace}/${pod}/${name}` });
      if (anyStopped(await this.learnPid(container.id))) throw new BackendError("runtime", `container ${name} stays stopped`);
    });
  }

  async restorePod(req: RestoreRequest): Promise<unknown> {
    if (await this.pod(req.namespace, req.name)) throw new BackendError("invalid", `pod ${req.namespace}/${req.name} exists already`);
    const name = await restoredContainerName(req, (source) => this.checkpointSource(source, "IfNotPresent"), this.opts.archiveOpen);
    return this.applyPod(restoredPodManifest(req, name));
  }

  async containerLog(req: LogRequest, maxBytes: number): Promise<string> {
    const { container } = await this.container(req.namespace, req.pod, req.container);
    const st = (await this.cri.containerStatus(container.id)).status;
    return containerLogTail(req, st?.logPath ?? "", container.metadata?.attempt ?? 0, maxBytes);
  }

  // ---- restarts

  private reconciling = false;
  /** Starts a new attempt of each exited container its pod's restart policy says to restart. */
  async reconcile(): Promise<void> {
    if (this.reconciling) return;
    this.reconciling = true;
    try {
      for (const pod of await this.pods()) {
        if (pod.sandbox.state !== "SANDBOX_READY") continue;
        const k = `${pod.manifest.metadata.namespace}/${pod.manifest.metadata.name}`;
        await this.lock(k)(async () => {
          const newest = await this.containers(pod);
          for (const c of pod.manifest.spec.containers) {
            const have = newest.get(c.name);
            if (!have || have.state !== "CONTAINER_EXITED") continue;
            const st = (await this.cri.containerStatus(have.id)).status;
            const code = st?.exitCode ?? 255;
            const policy = pod.manifest.spec.restartPolicy;
            if (!(policy === "Always" || (policy === "OnFailure" && code !== 0))) continue;
            const attempt = (have.metadata?.attempt ?? 0) + 1;
            // The run before is kept for `previous` logs, as the kubelet keeps it; older ones go.
            for (const old of (await this.cri.listContainers({ podSandboxId: pod.sandbox.id })).filter((x) => x.metadata?.name === c.name && (x.metadata?.attempt ?? 0) < attempt - 1)) {
              await this.cri.removeContainer(old.id).catch(() => undefined);
            }
            await this.startContainer(pod, c, attempt);
            this.log({ msg: "container restarted", pod: k, container: c.name, exitCode: code, restartCount: attempt });
          }
        });
      }
    } catch (err) {
      this.log({ msg: "reconcile failed", error: (err as Error).message });
    } finally {
      this.reconciling = false;
    }
  }
}

/** The v1 ContainerStatus of a CRI container status. */
function v1ContainerStatus(c: ContainerManifest, st: ContainerStatus): Record<string, unknown> {
  const containerID = `containerd://${st.id}`;
  let state: Record<string, unknown>;
  if (st.state === "CONTAINER_RUNNING") state = { running: { startedAt: nanosToIso(st.startedAt) } };
  else if (st.state === "CONTAINER_EXITED") {
    state = {
      terminated: {
        exitCode: st.exitCode,
        reason: st.reason || (st.exitCode === 0 ? "Completed" : "Error"),
        startedAt: nanosToIso(st.startedAt),
        finishedAt: nanosToIso(st.finishedAt),
        containerID,
      },
    };
  } else state = { waiting: { reason: "ContainerCreating" } };
  return {
    name: c.name,
    state,
    ready: "running" in state,
    restartCount: st.metadata?.attempt ?? 0,
    image: c.image,
    imageID: st.imageRef,
    containerID,
    started: "running" in state,
  };
}

function nanosToIso(ns: string): string {
  return new Date(Number(BigInt(ns || "0") / 1_000_000n)).toISOString();
}
