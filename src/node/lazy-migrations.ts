/**
 * The node's lazy (post-copy) migrations, both ends: the dumps it serves as a source
 * (lazy-dump.ts) and the restores it makes as a target (lazy-restore.ts), as the endpoint's
 * LazyMigrationBackend. A container being moved is not restarted, checkpointed or resumed by
 * anyone else until its migration is over.
 */
import { join } from "node:path";
import { BackendError, type LazyMigrationBackend } from "../kubelet-endpoint/node-backend.js";
import type { LazyDumpStarted, LazyDumpStatus, LazyRestoreBody, LazyRestoreStatus } from "../kubelet-endpoint/lazy-migration-api.js";
import { criuFeature } from "../checkpoint/host-checks.js";
import { PeerClient } from "../node-client/peer-client.js";
import { LazyDump } from "./lazy-dump.js";
import { LazyRestore, type LazySource } from "./lazy-restore.js";
import type { ContainerRecord, PodRecord } from "./node-state.js";
import { requestedPodManifest } from "./agent-requests.js";
import { PipeMaxSize } from "./pipe-max-size.js";
import type { PodRuntime } from "./pod-runtime.js";

/** What the migrations need of the agent that owns the pods. */
export interface LazyMigrationHost {
  nodeName: string;
  runtime: PodRuntime;
  /** The pod and container a request names; BackendError("not-found") otherwise. */
  container(namespace: string, pod: string, name: string): { record: PodRecord; container: ContainerRecord };
  tcpEstablished(pod: PodRecord): boolean;
  hasPod(namespace: string, name: string): boolean;
  /** Makes a pod from a manifest (JSON text), the named containers restored lazily. */
  applyPod(manifest: string, lazy: ReadonlyMap<string, LazySource>): Promise<unknown>;
  deletePod(namespace: string, name: string): Promise<void>;
  /** The container moved to another node: over here, and not to be restarted. */
  moved(record: PodRecord, container: ContainerRecord): void;
  /** A lazily restored container has all its pages. */
  pagesIn(namespace: string, pod: string, container: string): void;
  /** This node's client certificate and key (PEM), to reach a source node with. */
  peerCredentials?: { cert: string; key: string };
  log: (event: Record<string, unknown>) => void;
}

export class LazyMigrations implements LazyMigrationBackend {
  private readonly dumps = new Map<string, LazyDump>();
  private readonly restores = new Map<string, LazyRestore[]>();
  /** Container ids with a dump in progress. */
  private readonly moving = new Set<string>();
  private readonly pipeMaxSize: PipeMaxSize;

  constructor(private readonly host: LazyMigrationHost) {
    this.pipeMaxSize = new PipeMaxSize(host.log, join(host.runtime.root, "pipe-max-size.raised"));
  }

  /** Is this container being moved away (its dump not over)? */
  isMoving(containerId: string): boolean {
    return this.moving.has(containerId);
  }

  async startDump(req: { namespace: string; pod: string; container: string; timeoutSeconds: number }): Promise<LazyDumpStarted> {
    const { record, container } = this.host.container(req.namespace, req.pod, req.container);
    if (container.finished || !this.host.runtime.shimAlive(container.id)) throw new BackendError("runtime", `container ${req.container} is not running`);
    if (this.moving.has(container.id)) throw new BackendError("invalid", `container ${req.container} is being migrated already`);
    this.moving.add(container.id);
    const dump = new LazyDump({
      runtime: this.host.runtime,
      pod: record,
      container,
      tcpEstablished: this.host.tcpEstablished(record),
      timeoutSeconds: req.timeoutSeconds,
      pipeMaxSize: this.pipeMaxSize,
      log: this.host.log,
      onEnd: (moved) => {
        if (moved) this.host.moved(record, container);
        this.moving.delete(container.id);
      },
    });
    this.dumps.set(dump.id, dump);
    // Its status stays for a while, for a client that asks how it ended.
    void dump.ended.then(() => setTimeout(() => this.dumps.delete(dump.id), 10 * 60_000).unref());
    return { id: dump.id, token: dump.token };
  }

  private dump(id: string): LazyDump {
    const d = this.dumps.get(id);
    if (!d) throw new BackendError("not-found", "no such migration");
    return d;
  }

  dumpStatus(id: string): LazyDumpStatus {
    return this.dump(id).status();
  }

  async dumpArchive(id: string, token: string): Promise<{ stream: import("node:stream").Readable; bytes: number }> {
    const d = this.dump(id);
    if (!d.admit(token, "archive")) throw new BackendError("not-found", "no such migration");
    try {
      return await d.archiveStream();
    } catch (err) {
      throw new BackendError("runtime", (err as Error).message, { cause: err });
    }
  }

  dumpPages(id: string, token: string): (connection: import("node:stream").Duplex) => void {
    const d = this.dump(id);
    if (!d.admit(token, "pages")) throw new BackendError("not-found", "no such migration");
    return (connection) => d.carryPages(connection);
  }

  cancelDump(id: string): Promise<LazyDumpStatus> {
    return this.dump(id).cancel("called off by the client");
  }

  /** Ends the dumps of a pod's containers (the source runs on), before the pod is deleted. */
  async cancelPod(namespace: string, name: string): Promise<void> {
    const prefix = `${namespace}/${name}/`;
    await Promise.all([...this.dumps.values()].filter((d) => d.target.startsWith(prefix)).map((d) => d.cancel("the pod is being deleted")));
  }

  async preCopyRefusal(): Promise<string> {
    const f = await criuFeature(this.host.runtime.runc.criu ?? "criu", "mem_dirty_track");
    return f.supported
      ? "pre-copy migration is not implemented by ckpt: use --mode lazy (post-copy) or stop-copy"
      : `pre-copy migration is not available on node ${this.host.nodeName}: CRIU cannot track dirty memory on this kernel (criu check --feature mem_dirty_track: ${f.detail})`;
  }

  async restorePod(req: LazyRestoreBody): Promise<unknown> {
    const peer = this.host.peerCredentials;
    if (!peer) throw new BackendError("invalid", `node ${this.host.nodeName} has no client certificate to reach the source node with (ckpt node serve --peer-client-certificate, --peer-client-key)`);
    const text = JSON.stringify(req.pod);
    const manifest = requestedPodManifest(text);
    const { namespace, name } = manifest.metadata;
    if (this.host.hasPod(namespace, name)) throw new BackendError("invalid", `pod ${namespace}/${name} exists already`);
    for (const c of req.containers) {
      if (!manifest.spec.containers.some((m) => m.name === c.name)) throw new BackendError("invalid", `containers: no container ${c.name} in the pod`);
    }
    const client = new PeerClient({ server: req.source.url, fingerprint256: req.source.fingerprint, cert: peer.cert, key: peer.key });
    let started = false;
    const transfers = req.containers.map(
      (c) =>
        new LazyRestore({
          peer: client,
          container: c.name,
          id: c.id,
          token: c.token,
          dir: join(this.host.runtime.root, "tmp", `lazy-${c.id}`),
          criu: this.host.runtime.runc.criu ?? "criu",
          log: this.host.log,
          // The copy is killed; the pod goes too once it was made (a pod that failed to start is removed by its maker).
          onFailed: () => {
            if (started) void this.host.deletePod(namespace, name).catch(() => undefined);
          },
        }),
    );
    this.restores.set(`${namespace}/${name}`, transfers);
    for (const t of transfers) t.start();
    try {
      const pod = await this.host.applyPod(text, new Map(transfers.map((t, i) => [req.containers[i]!.name, t])));
      started = true;
      for (const t of transfers) void t.ended.then(() => t.status().state === "done" && this.host.pagesIn(namespace, name, t.status().container));
      return pod;
    } catch (err) {
      // A transfer not over when the pod failed is over now: its source runs on.
      await Promise.all(transfers.map((t) => t.fail((err as Error).message)));
      throw err;
    }
  }

  restoreStatus(namespace: string, pod: string): LazyRestoreStatus {
    const transfers = this.restores.get(`${namespace}/${pod}`);
    if (!transfers) throw new BackendError("not-found", `no lazy restore of ${namespace}/${pod} on this node`);
    return { namespace, pod, containers: transfers.map((t) => t.status()) };
  }
}
