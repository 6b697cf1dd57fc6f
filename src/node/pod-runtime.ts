/**
 * Pods on this machine with runc: a sandbox (a pause container in the pod's network namespace, owning
 * its IPC and UTS namespaces) and the pod's containers joined to it, each started by its own shim.
 */
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmdirSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { mountRootfs, unmountRootfs } from "./container-rootfs.js";
import type { ResolvedImage } from "./images/resolved-image.js";
import type { ExportedImage } from "./images/image-store.js";
import type { OpenOptions } from "../checkpoint/archive/checkpoint-archive.js";
import { stepTimer, type StepTimer } from "./step-timer.js";
import { volumeBindMounts } from "./pod-volumes.js";
import { criuLogError } from "./criu-log.js";
import { imageName, parseImageReference } from "./images/index.js";
import type { ContainerRecord, PodRecord } from "./node-state.js";
import type { ContainerManifest, PodManifest } from "./pod-manifest.js";
import { netnsPath, type PodNetwork } from "./pod-network.js";
import { Runc, type RuncState } from "./runc.js";
import { containerArgv, containerEnv, runtimeSpec, type BindMountSpec } from "./runtime-spec.js";
import { applyRootMode, runtimeFileBinds, isArchivePath, isCheckpointLayout, planRestore, prepareRestore, type RestorePlan } from "./container-restore.js";
import { restoredBindMounts } from "../restore/bind-mount-policy.js";
import { EXIT_STATUS, ExitStatusSchema, SHIM_CONFIG, SHIM_PID, type ExitStatus, type ShimConfig } from "./shim/shim-files.js";
import { readFile } from "node:fs/promises";
import type { LazySource, RestoredCopy } from "./lazy-restore.js";
import { hostProcesses } from "./host-processes.js";

export interface ImageSource {
  ensure(reference: string, opts?: { pullPolicy?: "Always" | "IfNotPresent" | "Never" }): Promise<ResolvedImage>;
  /** Every image the store holds (reference = its normalised name). */
  list(): Promise<ResolvedImage[]>;
  /** Removes images by normalised name, with the layers and blobs only they use. */
  remove(names: readonly string[]): Promise<string[]>;
  /** An image the store has, as pulled (manifest and blobs), to be pushed elsewhere. */
  exportImage(reference: string): Promise<ExportedImage>;
}

export interface PodRuntimeOptions {
  root: string;
  runc: Runc;
  network: PodNetwork;
  images: ImageSource;
  /** argv prefix that runs a shim: `[node, bin/ckpt.js, "node", "shim"]`; the container dir is appended. */
  shimCommand: string[];
  /** The busybox binary the pause container runs (`sleep`). */
  busybox?: string;
  /** Where the runtime says what a user should know (a restore's notes). */
  log?: (event: Record<string, unknown>) => void;
  /**
   * A directory in memory (tmpfs) for CRIU's images while a checkpoint is being archived, used when
   * the node has the memory to spare: the pages are then written to disk once (into the archive)
   * instead of twice, and the archive does not wait on the write-back of the first copy.
   */
  memoryWorkDir?: string;
  /** Opens sealed archives given to restore (the node's age identity). */
  archiveOpen?: OpenOptions;
}

/** How a container is restored from a checkpoint (PodRuntime.restoreContainer). */
export interface ContainerRestoreOptions {
  /** The base image's pull policy (default: the container's, else IfNotPresent). */
  pullPolicy?: "Always" | "IfNotPresent" | "Never";
  /** CRIU leaves the restored processes stopped; SIGCONT starts them (a pod restored whole). */
  leaveStopped?: boolean;
  /** The pod's containers come back together: connections on loopback only are restored, not closed. */
  keepLoopbackTcp?: boolean;
  /** Lazily: the checkpoint (without its memory pages) comes from the source node. */
  lazy?: LazySource;
  steps?: StepTimer;
}

/** A shim process started ahead of its configuration. */
interface StartingShim {
  id: string;
  /** The end of its stderr, until the container runs. */
  stderr: string;
  /** Its exit code once it ended (null: killed by a signal). */
  ended: number | null | undefined;
  kill(): void;
  /** The container runs: its stderr is no longer read. */
  running(): void;
}

export class RuntimeError extends Error {
  override name = "RuntimeError";
}

export const newId = (): string => randomBytes(32).toString("hex");

const PAUSE_SECONDS = "2147483647";

export class PodRuntime {
  readonly root: string;
  readonly runc: Runc;

  constructor(readonly opts: PodRuntimeOptions) {
    this.root = opts.root;
    this.runc = opts.runc;
    for (const d of ["containers", "logs", "checkpoints-work"]) mkdirSync(join(this.root, d), { recursive: true, mode: 0o700 });
  }

  /** Where a checkpoint's CRIU images go: memory when `bytes` fit with room to spare, else disk. */
  checkpointWorkBase(bytes: number): string {
    const mem = this.opts.memoryWorkDir;
    if (mem && memAvailable() > bytes * 1.25 + (512 << 20)) {
      mkdirSync(mem, { recursive: true, mode: 0o700 });
      return mem;
    }
    return join(this.root, "checkpoints-work");
  }

  /** Every directory checkpoint work may be under. */
  checkpointWorkBases(): string[] {
    return [join(this.root, "checkpoints-work"), ...(this.opts.memoryWorkDir ? [this.opts.memoryWorkDir] : [])];
  }

  containerDir(id: string): string {
    return join(this.root, "containers", id);
  }

  bundleSpec(id: string): Record<string, unknown> {
    return JSON.parse(readFileSync(join(this.containerDir(id), "config.json"), "utf8")) as Record<string, unknown>;
  }

  /** The pause container's root: busybox and a `sleep` link, shared read-only by every sandbox. */
  private pauseRootfs(): string {
    const dir = join(this.root, "pause-rootfs");
    if (!existsSync(join(dir, "bin/sleep"))) {
      for (const d of ["bin", "proc", "dev", "sys"]) mkdirSync(join(dir, d), { recursive: true });
      copyFileSync(this.opts.busybox ?? "/bin/busybox", join(dir, "bin/busybox"));
      symlinkSync("busybox", join(dir, "bin/sleep"));
    }
    return dir;
  }

  /** Creates the pod's sandbox: network namespace, address, pause container. */
  async createSandbox(manifest: PodManifest, uid: string): Promise<PodRecord["sandbox"]> {
    const id = newId();
    const netns = `ckpt-${id.slice(0, 12)}`;
    const ip = await this.opts.network.setUp(id, netns);
    let shim: StartingShim | undefined;
    try {
      const dir = this.containerDir(id);
      mkdirSync(dir, { recursive: true, mode: 0o700 });
      shim = this.spawnShim(id);
      const hostname = manifest.spec.hostname ?? manifest.metadata.name;
      const spec = runtimeSpec({
        rootfs: this.pauseRootfs(),
        args: ["/bin/sleep", PAUSE_SECONDS],
        env: ["PATH=/bin"],
        cwd: "/",
        hostname,
        namespaces: { network: netnsPath(netns) },
        annotations: {
          "io.kubernetes.cri-o.ContainerType": "sandbox",
          "io.kubernetes.pod.name": manifest.metadata.name,
          "io.kubernetes.pod.namespace": manifest.metadata.namespace,
          "io.kubernetes.pod.uid": uid,
        },
        cgroupsPath: cgroupPath(uid, id),
      });
      (spec.root as { readonly: boolean }).readonly = true;
      writeFileSync(join(dir, "config.json"), JSON.stringify(spec, null, 2));
      await this.startShim(shim!, join(dir, "sandbox.log"));
      return { id, netns, ip, createdAt: new Date().toISOString() };
    } catch (err) {
      shim?.kill();
      await this.removeContainer(id).catch(() => undefined);
      await this.opts.network.tearDown(id, netns).catch(() => undefined);
      throw err;
    }
  }

  /**
   * Creates and starts one of the pod's containers; returns its record. When the container's image is
   * a checkpoint archive on this node, the container is restored from it instead (CRI-O's rule).
   */
  async startContainer(pod: PodRecord, c: ContainerManifest, restartCount: number, lazy?: LazySource): Promise<ContainerRecord> {
    const pullPolicy = c.imagePullPolicy ?? "IfNotPresent";
    const steps = stepTimer();
    if (lazy) return this.restoreContainer(pod, c, restartCount, undefined, { pullPolicy, steps, lazy });
    const found = await this.checkpointLocation(c.image, pullPolicy);
    steps.mark("image");
    if (found.checkpoint === undefined) return this.createContainer(pod, c, restartCount, found.image!, undefined);
    return this.restoreContainer(pod, c, restartCount, found.checkpoint, { pullPolicy, steps });
  }

  /**
   * Creates one of the pod's containers from a checkpoint (an archive, or a checkpoint image's unpacked
   * layer; lazily, the archive the source node sends) with `runc restore` under its shim; returns its
   * record once runc reports it running (with `leaveStopped`, its processes are then stopped until
   * they get SIGCONT).
   */
  async restoreContainer(pod: PodRecord, c: ContainerManifest, restartCount: number, checkpoint: string | undefined, opts: ContainerRestoreOptions = {}): Promise<ContainerRecord> {
    const steps = opts.steps ?? stepTimer();
    const pullPolicy = opts.pullPolicy ?? c.imagePullPolicy ?? "IfNotPresent";
    const { lazy } = opts;
    // Lazily, the container's image is its base image, known before the checkpoint arrives: made ready meanwhile.
    const lazyBase = lazy ? this.opts.images.ensure(c.image, { pullPolicy }) : undefined;
    lazyBase?.catch(() => undefined);
    let plan: RestorePlan | undefined;
    try {
      if (lazy) {
        checkpoint = await lazy.archive();
        steps.mark("archive");
      }
      if (checkpoint === undefined) throw new RuntimeError(`container ${c.name}: no checkpoint to restore from`);
      plan = await planRestore(checkpoint, this.runc.criu ?? "criu", "runc", this.opts.archiveOpen, { keepLoopbackTcp: opts.keepLoopbackTcp ?? false });
      steps.mark("plan");
      if (plan.notes.length) this.opts.log?.({ msg: "restore notes", container: c.name, archive: plan.archive, notes: plan.notes });
      const base = await (lazyBase ?? this.opts.images.ensure(plan.baseImage, { pullPolicy }));
      steps.mark("base image");
      const record = await this.createContainer(pod, c, restartCount, base, { plan, leaveStopped: opts.leaveStopped ?? false }, steps, lazy);
      this.opts.log?.({ msg: "restore steps (ms)", container: c.name, archive: plan.archive, ...(lazy ? { lazy: true } : {}), ...steps.done() });
      return record;
    } finally {
      plan?.checkpoint.close();
    }
  }

  /** Makes a plain image present, as a container's image with pullPolicy IfNotPresent. */
  pullImage(reference: string): Promise<ResolvedImage> {
    return this.opts.images.ensure(reference, { pullPolicy: "IfNotPresent" });
  }

  /** An image this node has, as it was pulled, for pushing elsewhere. */
  exportImage(reference: string): Promise<ExportedImage> {
    return this.opts.images.exportImage(reference);
  }

  /**
   * Where an image reference's checkpoint is: the archive itself (a path on this node, CRI-O's local
   * restore) or the unpacked layer of a checkpoint image (CRI-O's, checkpointctl's or ckpt's: its
   * one layer is an archive's layout). A plain image is returned as such.
   */
  async checkpointLocation(reference: string, pullPolicy: "Always" | "IfNotPresent" | "Never" = "IfNotPresent"): Promise<{ checkpoint?: string; image?: ResolvedImage }> {
    if (isArchivePath(reference)) return { checkpoint: reference };
    const image = await this.opts.images.ensure(reference, { pullPolicy });
    const layer = image.layers.length === 1 ? image.layers[0]! : undefined;
    return layer && isCheckpointLayout(layer) ? { checkpoint: layer } : { image };
  }

  /**
   * Removes the checkpoint images no pod of `inUse` (image references of the node's pods) names:
   * once restored, a container needs its checkpoint image only to be restored again on a restart,
   * and each one holds a container's memory.
   */
  async pruneCheckpointImages(inUse: readonly string[]): Promise<string[]> {
    const used = new Set<string>();
    for (const r of inUse) {
      try {
        if (!isArchivePath(r)) used.add(imageName(parseImageReference(r)));
      } catch {
        // Not a reference the store could hold.
      }
    }
    const unused = (await this.opts.images.list()).filter((i) => !used.has(i.name) && i.layers.length === 1 && isCheckpointLayout(i.layers[0]!));
    return this.opts.images.remove(unused.map((i) => i.name));
  }

  private async createContainer(
    pod: PodRecord,
    c: ContainerManifest,
    restartCount: number,
    image: ResolvedImage,
    restore: { plan: RestorePlan; leaveStopped: boolean } | undefined,
    steps?: StepTimer,
    lazy?: LazySource,
  ): Promise<ContainerRecord> {
    const { manifest, uid, sandbox } = pod;
    const plan = restore?.plan;
    const pause = await this.runc.state(sandbox.id);
    if (!pause || pause.status !== "running") throw new RuntimeError(`pod ${manifest.metadata.namespace}/${manifest.metadata.name}: its sandbox is not running`);
    const id = newId();
    const dir = this.containerDir(id);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const ns = manifest.metadata.namespace;
    const podName = manifest.metadata.name;
    const logPath = join(this.root, "logs", `${ns}_${podName}_${uid}`, c.name, `${restartCount}.log`);
    mkdirSync(dirname(logPath), { recursive: true, mode: 0o700 });
    const createdAt = new Date().toISOString();
    // Started now, it waits for its configuration: node's start-up overlaps the work below.
    const shim = this.spawnShim(id);
    try {
      const binds = plan
        ? [...restoredBindMounts(plan.mounts, this.volumeBinds(pod, c)), ...runtimeFileBinds(plan.mounts, dir, { hostname: manifest.spec.hostname ?? podName, ip: sandbox.ip })]
        : this.volumeBinds(pod, c);
      if (plan) applyRootMode(plan, dir);
      const paths = await mountRootfs(dir, image.layers);
      steps?.mark("rootfs");
      // Lazily, the images are the lazy-pages daemon's (written out as soon as they arrived).
      const lazyPages = lazy ? await lazy.daemon() : undefined;
      if (lazy) steps?.mark("lazy-pages daemon");
      const imagesDir = plan ? await prepareRestore(plan, dir, logPath, lazyPages?.images) : undefined;
      steps?.mark("images and file changes");
      const hostname = manifest.spec.hostname ?? podName;
      const labels = {
        "io.kubernetes.container.name": c.name,
        "io.kubernetes.pod.name": podName,
        "io.kubernetes.pod.namespace": ns,
        "io.kubernetes.pod.uid": uid,
      };
      const spec = runtimeSpec({
        binds,
        rootfs: paths.merged,
        args: containerArgv(image, c.command, c.args),
        env: containerEnv(image, c.env, hostname),
        cwd: c.workingDir ?? image.process.workingDir,
        hostname,
        // A restored process tree brings its IPC and UTS namespaces along (CRIU recreates them);
        // only the network namespace is the new pod's.
        namespaces: plan
          ? { network: netnsPath(sandbox.netns) }
          : { network: netnsPath(sandbox.netns), ipc: `/proc/${pause.pid}/ns/ipc`, uts: `/proc/${pause.pid}/ns/uts` },
        annotations: crioAnnotations({ id, c, image, pod, logPath, createdAt, restartCount, labels }),
        cgroupsPath: cgroupPath(uid, id),
      });
      if (plan) {
        // The process is the checkpoint's; what it was started with is kept for the next checkpoint.
        spec.process = { ...(spec.process as object), ...plan.process };
        writeFileSync(join(dir, "criu-restore.conf"), restoreCriuConfig(plan.tcpEstablished, restore.leaveStopped));
        (spec.annotations as Record<string, string>)["org.criu.config"] = join(dir, "criu-restore.conf");
      }
      writeFileSync(join(dir, "config.json"), JSON.stringify(spec, null, 2));
      if (lazy) lazy.attach(this.restoredCopy(id));
      await this.startShim(shim, logPath, imagesDir, lazyPages?.work);
      // runc hands the same file to CRIU at every checkpoint of the container: leave-stopped was
      // for this restore only (a dump would leave the tasks stopped). CRIU has ended by now.
      if (restore?.leaveStopped) writeFileSync(join(dir, "criu-restore.conf"), restoreCriuConfig(restore.plan.tcpEstablished, false));
      steps?.mark(plan ? "runc restore" : "start");
    } catch (err) {
      shim.kill();
      await this.removeContainer(id).catch(() => undefined);
      // A restore's log begins with the checkpoint's: it is not this failed attempt's to keep, and
      // another attempt under the same name must be able to start it again.
      if (plan) rmSync(logPath, { force: true });
      throw err;
    }
    return {
      name: c.name,
      id,
      createdAt,
      restartCount,
      logPath,
      image: { reference: plan && !lazy ? plan.baseImage : c.image, name: image.name, imageId: image.imageId, repoDigest: image.repoDigest },
      layers: image.layers,
      finished: false,
      ...(plan ? { restoredFrom: plan.archive } : {}),
      ...(lazy ? { awaitingPages: true } : {}),
    };
  }

  /** Where a pod's emptyDir volumes live (removed with the pod). */
  podVolumesDir(uid: string): string {
    return join(this.root, "volumes", uid);
  }

  /** The container's volume mounts as bind mounts: emptyDirs made on first use, hostPaths checked. */
  private volumeBinds(pod: PodRecord, c: ContainerManifest): BindMountSpec[] {
    try {
      return volumeBindMounts(pod.manifest, c, this.podVolumesDir(pod.uid));
    } catch (err) {
      throw new RuntimeError((err as Error).message);
    }
  }

  /**
   * Writes the shim's configuration and waits until runc reports the container running. A lazy
   * restore (`lazyWork`) runs in the work directory of its lazy-pages daemon, where runc finds it.
   */
  private async startShim(shim: StartingShim, logPath: string, restoreFrom?: string, lazyWork?: string): Promise<void> {
    const id = shim.id;
    const dir = this.containerDir(id);
    const work = lazyWork ?? join(dir, "restore-work");
    const config: ShimConfig = {
      argv: restoreFrom ? this.runc.restoreArgv(id, dir, restoreFrom, work, lazyWork !== undefined) : this.runc.runArgv(id, dir),
      env: Object.fromEntries(Object.entries(this.runc.env()).filter((e): e is [string, string] => e[1] !== undefined)),
      logPath,
    };
    rmSync(join(dir, EXIT_STATUS), { force: true });
    if (restoreFrom) mkdirSync(work, { recursive: true, mode: 0o700 });
    await this.runShim(shim, config, logPath, restoreFrom ? work : undefined);
  }

  /** A container's shim, started before its configuration is written (it waits for shim.json). */
  private spawnShim(id: string): StartingShim {
    const dir = this.containerDir(id);
    const [cmd, ...args] = [...this.opts.shimCommand, dir];
    // Without NODE_EXTRA_CA_CERTS, which node parses at start (tens of ms) and a shim never needs.
    const { NODE_EXTRA_CA_CERTS: _certs, ...env } = process.env;
    const child = spawn(cmd!, args, { detached: true, stdio: ["ignore", "ignore", "pipe"], cwd: dir, env });
    // The shim's own stderr is read only until the container runs: a shim that cannot start says why.
    const shim: StartingShim = {
      id,
      stderr: "",
      ended: undefined,
      kill: () => {
        if (shim.ended === undefined) child.kill("SIGKILL");
      },
      running: () => child.stderr!.destroy(),
    };
    child.stderr!.on("data", (b: Buffer) => (shim.stderr = (shim.stderr + b.toString()).slice(-2000)));
    child.on("exit", (code) => (shim.ended = code));
    child.unref();
    return shim;
  }

  /** A restored container as a lazy transfer sees it: frozen before it is killed, so nothing runs on missing pages. */
  private restoredCopy(id: string): RestoredCopy {
    return {
      running: async () => (await this.state(id))?.status === "running",
      kill: async () => {
        await this.runc.pause(id).catch(() => undefined);
        await this.runc.kill(id, "KILL", true).catch(() => undefined);
      },
    };
  }

  /** Hands the shim its configuration and waits until runc reports the container running. */
  private async runShim(shim: StartingShim, config: ShimConfig, logPath: string, restoreWork: string | undefined): Promise<void> {
    const id = shim.id;
    const dir = this.containerDir(id);
    // Renamed into place: the waiting shim reads it only whole.
    writeFileSync(join(dir, `${SHIM_CONFIG}.tmp`), JSON.stringify(config));
    renameSync(join(dir, `${SHIM_CONFIG}.tmp`), join(dir, SHIM_CONFIG));
    const deadline = Date.now() + 30_000;
    for (;;) {
      const exit = this.exitStatus(id);
      if (!exit && shim.ended !== undefined) {
        throw new RuntimeError(`container ${id.slice(0, 12)}: its shim ended (exit ${shim.ended}): ${shim.stderr.trim().split("\n").slice(-3).join(" | ") || "no message"}`);
      }
      if (exit) {
        // runc says only that CRIU failed; CRIU's restore log says why.
        const why = restoreWork ? criuLogError(readFileSafe(join(restoreWork, "restore.log"))) : undefined;
        throw new RuntimeError(`container ${id.slice(0, 12)} exited at start (code ${exit.exitCode}): ${why ? `CRIU: ${why}` : tail(logPath)}`);
      }
      // runc writes its state file once the container exists (a restore's, once CRIU is done):
      // looked for often and cheaply, since a restore is a pod's downtime; runc asked only then.
      const st = existsSync(join(this.runc.root, id, "state.json")) ? await this.runc.state(id).catch(() => undefined) : undefined;
      // runc says "running" from CRIU's post-restore notice on; CRIU still unlocks the network and
      // lets the tasks go (or stops them, leave-stopped) after it. Done when CRIU has ended.
      if (st?.status === "running" && !(restoreWork && criuRestoring(id))) {
        shim.running();
        return;
      }
      if (Date.now() > deadline) throw new RuntimeError(`container ${id.slice(0, 12)} did not start within 30 s: ${tail(logPath)}`);
      await new Promise((r) => setTimeout(r, 5));
    }
  }

  exitStatus(id: string): ExitStatus | undefined {
    try {
      return ExitStatusSchema.parse(JSON.parse(readFileSync(join(this.containerDir(id), EXIT_STATUS), "utf8")));
    } catch {
      return undefined;
    }
  }

  /** Is the container's shim still alive (so the container is running or about to report its exit)? */
  shimAlive(id: string): boolean {
    try {
      const pid = Number(readFileSync(join(this.containerDir(id), SHIM_PID), "utf8"));
      process.kill(pid, 0);
      return readFileSync(`/proc/${pid}/cmdline`, "utf8").includes(id);
    } catch {
      return false;
    }
  }

  state(id: string): Promise<RuncState | undefined> {
    return this.runc.state(id).catch(() => undefined);
  }

  /** Stops a container (TERM, then KILL after the grace period) and removes it. */
  async stopContainer(id: string, graceSeconds: number): Promise<void> {
    const st = await this.state(id);
    if (st && (st.status === "running" || st.status === "paused")) {
      if (st.status === "paused") await this.runc.resume(id).catch(() => undefined);
      await this.runc.kill(id, "TERM", true).catch(() => undefined);
      const deadline = Date.now() + graceSeconds * 1000;
      while (Date.now() < deadline && (await this.state(id))?.status === "running") await new Promise((r) => setTimeout(r, 100));
      if ((await this.state(id))?.status === "running") await this.runc.kill(id, "KILL", true).catch(() => undefined);
    }
    await this.removeContainer(id);
  }

  async removeContainer(id: string): Promise<void> {
    await this.runc.delete(id).catch(() => undefined);
    // The shim ends with runc; give it a moment to write its exit status before the directory goes.
    for (let i = 0; i < 50 && this.shimAlive(id); i++) await new Promise((r) => setTimeout(r, 20));
    await unmountRootfs(this.containerDir(id));
    rmSync(this.containerDir(id), { recursive: true, force: true });
  }

  async removeSandbox(pod: PodRecord): Promise<void> {
    await this.stopContainer(pod.sandbox.id, 0);
    await this.opts.network.tearDown(pod.sandbox.id, pod.sandbox.netns);
    removePodCgroups(pod.uid);
    rmSync(this.podVolumesDir(pod.uid), { recursive: true, force: true });
  }
}

/**
 * After an agent crash: checkpoints that were in flight are dead ends (their requests are gone), so
 * their runc/CRIU processes are killed (and the lazy-pages daemons of lazy restores), their work
 * directories removed, and any container left paused by them is resumed.
 */
export async function recoverInterruptedCheckpoints(runtime: PodRuntime, containerIds: string[]): Promise<string[]> {
  const killed: string[] = [];
  for (const { pid, argv } of hostProcesses()) {
    const rootAt = argv.indexOf("--root");
    // A lazy restore's lazy-pages daemon works under the agent's tmp directory.
    const lazyPages = argv.includes("lazy-pages") && argv.some((a) => a.startsWith(join(runtime.root, "tmp") + "/"));
    if (!lazyPages && (rootAt < 0 || argv[rootAt + 1] !== runtime.runc.root || !argv.includes("checkpoint"))) continue;
    try {
      // runc checkpoint runs in a process group of its own, with CRIU in it.
      process.kill(-pid, "SIGKILL");
    } catch {
      process.kill(pid, "SIGKILL");
    }
    killed.push(String(pid));
  }
  for (let i = 0; i < 100 && killed.some((pid) => existsSync(`/proc/${pid}`)); i++) await new Promise((r) => setTimeout(r, 20));
  for (const base of runtime.checkpointWorkBases()) {
    rmSync(base, { recursive: true, force: true });
    mkdirSync(base, { recursive: true, mode: 0o700 });
  }
  const resumed: string[] = [];
  for (const id of containerIds) {
    if ((await runtime.state(id))?.status === "paused") {
      await runtime.runc.resume(id).catch(() => undefined);
      resumed.push(id);
    }
  }
  return resumed;
}

/** Is CRIU still restoring the container (a `criu swrk` whose parent is the container's `runc restore`)? */
function criuRestoring(id: string): boolean {
  const all = hostProcesses();
  const runc = new Set(all.filter((p) => p.argv.includes("restore") && p.argv.includes(id)).map((p) => p.pid));
  return all.some((p) => runc.has(p.ppid) && p.argv.includes("swrk"));
}

/**
 * The CRIU configuration file of a restore (runc hands it to CRIU through `org.criu.config`).
 * Connections are closed unless the plan keeps them: a connection to another address cannot follow
 * the pod to its new one.
 */
export function restoreCriuConfig(tcpEstablished: boolean, leaveStopped: boolean): string {
  return [tcpEstablished ? "tcp-established" : "tcp-close", ...(leaveStopped ? ["leave-stopped"] : [])].join("\n") + "\n";
}

/** MemAvailable of /proc/meminfo, in bytes (0 when unknown: then nothing goes to memory). */
function memAvailable(): number {
  const m = /^MemAvailable:\s+(\d+) kB/m.exec(readFileSync("/proc/meminfo", "utf8"));
  return m ? Number(m[1]) * 1024 : 0;
}

/** The cgroup (below each controller's root) of a pod, or of one of its containers. */
function cgroupPath(uid: string, id?: string): string {
  return id ? `/ckpt/pod${uid}/${id}` : `/ckpt/pod${uid}`;
}

/** A container's memory use (its cgroup's, v1 or v2), about the size of its pages in a checkpoint; 0 when unknown. */
export async function memoryUsage(uid: string, id: string): Promise<number> {
  const path = cgroupPath(uid, id);
  for (const [file, base] of [["memory.usage_in_bytes", "/sys/fs/cgroup/memory"], ["memory.current", "/sys/fs/cgroup"]] as const) {
    const text = await readFile(`${base}${path}/${file}`, "utf8").catch(() => undefined);
    if (text !== undefined) return Number(text.trim());
  }
  return 0;
}

/** runc removes a container's cgroup, not the pod's parent ones it created on the way. */
function removePodCgroups(uid: string): void {
  const base = "/sys/fs/cgroup";
  const roots = existsSync(`${base}/cgroup.controllers`) ? [base] : readdirSync(base).map((c) => join(base, c));
  for (const r of roots) {
    const pod = join(r, cgroupPath(uid));
    // Containers' cgroups runc could not remove at once (it retries in the background); rmdir only
    // removes empty ones, so a cgroup still in use stays.
    const subs = existsSync(pod) ? readdirSync(pod, { withFileTypes: true }).filter((d) => d.isDirectory()) : [];
    for (const d of [...subs.map((d) => join(pod, d.name)), pod]) {
      try {
        rmdirSync(d);
      } catch {
        // Absent, or still in use: left for the next delete.
      }
    }
  }
}

function readFileSafe(path: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return "";
  }
}

function tail(path: string): string {
  try {
    return readFileSync(path, "utf8").trim().split("\n").slice(-3).join(" | ") || "(no output)";
  } catch {
    return "(no output)";
  }
}

/** The annotations CRI-O puts in a container's spec (checkpointctl and CRI-O's restore read them). */
function crioAnnotations(a: {
  id: string;
  c: ContainerManifest;
  image: ResolvedImage;
  pod: PodRecord;
  logPath: string;
  createdAt: string;
  restartCount: number;
  labels: Record<string, string>;
}): Record<string, string> {
  const m = a.pod.manifest.metadata;
  return {
    ...m.annotations,
    "io.container.manager": "cri-o",
    "io.kubernetes.container.hash": a.id.slice(0, 8),
    "io.kubernetes.container.name": a.c.name,
    "io.kubernetes.container.restartCount": String(a.restartCount),
    "io.kubernetes.cri-o.Annotations": JSON.stringify(m.annotations),
    "io.kubernetes.cri-o.ContainerID": a.id,
    "io.kubernetes.cri-o.ContainerType": "container",
    "io.kubernetes.cri-o.Created": a.createdAt,
    "io.kubernetes.cri-o.IP.0": a.pod.sandbox.ip,
    "io.kubernetes.cri-o.Image": a.image.imageId,
    "io.kubernetes.cri-o.ImageName": a.image.name,
    "io.kubernetes.cri-o.ImageRef": a.image.imageId,
    "io.kubernetes.cri-o.Labels": JSON.stringify(a.labels),
    "io.kubernetes.cri-o.LogPath": a.logPath,
    "io.kubernetes.cri-o.Metadata": JSON.stringify({ name: a.c.name, attempt: a.restartCount }),
    "io.kubernetes.cri-o.Name": `k8s_${a.c.name}_${m.name}_${m.namespace}_${a.pod.uid}_${a.restartCount}`,
    "io.kubernetes.cri-o.SandboxID": a.pod.sandbox.id,
    "io.kubernetes.cri-o.SandboxName": `k8s_${m.name}_${m.namespace}_${a.pod.uid}_0`,
    "io.kubernetes.cri-o.UserRequestedImage": a.c.image,
    "io.kubernetes.pod.name": m.name,
    "io.kubernetes.pod.namespace": m.namespace,
    "io.kubernetes.pod.uid": a.pod.uid,
  };
}
