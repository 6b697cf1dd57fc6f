/**
 * A NodeBackend that records every call, for tests that must show what reached the node (and that
 * a 401 or 403 never did). Each method's behaviour can be replaced per test.
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PodCheckpoints, type PodCheckpointRunner } from "../../src/node/pod-checkpoints.js";
import { podCheckpointMethods } from "../../src/node/pod-checkpoint-backend.js";
import { POD_CHECKPOINT_MANIFEST, type PodCheckpointManifest } from "../../src/checkpoint/pod-checkpoint-manifest.js";
import {
  BackendError,
  type CheckpointRequest,
  type CheckpointResult,
  type LazyMigrationBackend,
  type LogRequest,
  type NodeBackend,
  type RestoreRequest,
} from "../../src/kubelet-endpoint/node-backend.js";

export type BackendCall =
  | { method: "checkpointContainer"; req: CheckpointRequest }
  | { method: "listPods" }
  | { method: "applyPod"; manifest: string }
  | { method: "deletePod"; namespace: string; name: string }
  | { method: "resumeContainer"; namespace: string; pod: string; container: string }
  | { method: "restorePod"; req: RestoreRequest }
  | { method: "containerLog"; req: LogRequest; maxBytes: number }
  | { method: "pullImage"; image: string }
  | { method: "pushImage"; image: string; target: string }
  | { method: "podCheckpoint"; namespace: string; name: string; dir: string; deadline: number };

/** A pod checkpoint's manifest as a runtime would write it, for default/web (uid u-1). */
export function webPodCheckpointManifest(): PodCheckpointManifest {
  const t = new Date().toISOString();
  return {
    apiVersion: "ckpt.dev/v1alpha1",
    kind: "PodCheckpointManifest",
    pod: { namespace: "default", name: "web", uid: "u-1" },
    nodeName: "node-a",
    runtime: "fake",
    startedAt: t,
    completedAt: t,
    podTemplate: { metadata: { labels: {}, annotations: {} }, spec: { containers: [{ name: "app", image: `busybox@sha256:${"cd".repeat(32)}` }] } },
    sandbox: { hostname: "web" },
    containers: [{ name: "app", archive: "app.tar", bytes: 0, sha256: "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", image: `busybox@sha256:${"cd".repeat(32)}`, pausedAt: t, captureStartedAt: t, capturedAt: t, resumedAt: t }],
  };
}

/** The CRI-format log of default/web/app. */
export const WEB_LOG = [
  "2026-11-23T12:00:00.000000001Z stdout F one",
  "2026-11-23T12:00:01.5Z stderr F two",
  "2026-11-23T12:00:02.000000000Z stdout P thr",
  "2026-11-23T12:00:02.000000100Z stdout F ee",
  "",
].join("\n");

export const POD_LIST = {
  kind: "PodList",
  apiVersion: "v1",
  metadata: {},
  items: [{ kind: "Pod", apiVersion: "v1", metadata: { name: "web", namespace: "default", uid: "u-1" }, spec: { containers: [{ name: "app", image: "busybox" }] } }],
};

export function archivePath(req: CheckpointRequest): string {
  return `/var/lib/kubelet/checkpoints/checkpoint-${req.pod}_${req.namespace}-${req.container}-2026-11-23T12:00:00Z.tar`;
}

export class FakeBackend implements NodeBackend {
  readonly nodeName = "node-a";
  readonly calls: BackendCall[] = [];
  /** None by default, as on a CRI node. */
  lazy?: LazyMigrationBackend;

  /** Knows pod default/web with container app; anything else is not found, as the node says it. */
  checkpointImpl = async (req: CheckpointRequest): Promise<CheckpointResult> => {
    if (req.namespace !== "default" || req.pod !== "web") throw new BackendError("not-found", "pod does not exist");
    if (req.container !== "app") throw new BackendError("not-found", `container ${req.container} does not exist`);
    return { path: archivePath(req), bytes: 123_456 };
  };

  applyImpl = async (manifest: string): Promise<unknown> => {
    if (!manifest.includes("kind: Pod") && !manifest.includes('"kind":"Pod"')) throw new BackendError("invalid", "manifest is not a Pod");
    return { kind: "Pod", apiVersion: "v1", metadata: { name: "web", namespace: "default", uid: "u-2" } };
  };

  async checkpointContainer(req: CheckpointRequest): Promise<CheckpointResult> {
    this.calls.push({ method: "checkpointContainer", req });
    return this.checkpointImpl(req);
  }

  async listPods(): Promise<unknown> {
    this.calls.push({ method: "listPods" });
    return POD_LIST;
  }

  async applyPod(manifest: string): Promise<unknown> {
    this.calls.push({ method: "applyPod", manifest });
    return this.applyImpl(manifest);
  }

  async resumeContainer(namespace: string, pod: string, container: string): Promise<void> {
    this.calls.push({ method: "resumeContainer", namespace, pod, container });
    this.known(namespace, pod, container);
  }

  async restorePod(req: RestoreRequest): Promise<unknown> {
    this.calls.push({ method: "restorePod", req });
    return { kind: "Pod", apiVersion: "v1", metadata: { name: req.name, namespace: req.namespace, uid: "u-3" } };
  }

  async containerLog(req: LogRequest, maxBytes: number): Promise<string> {
    this.calls.push({ method: "containerLog", req, maxBytes });
    this.known(req.namespace, req.pod, req.container);
    return WEB_LOG;
  }

  /**
   * Pod checkpoints go through the node's real PodCheckpoints (state in a temp directory); only the
   * runtime's work is scripted: by default it writes default/web's manifest.
   */
  podCheckpointImpl: PodCheckpointRunner["checkpoint"] = async (req) => {
    const m = webPodCheckpointManifest();
    writeFileSync(join(req.dir, "app.tar"), "");
    writeFileSync(join(req.dir, POD_CHECKPOINT_MANIFEST), JSON.stringify(m));
    return m;
  };

  readonly podCheckpointRoot = mkdtempSync(join(tmpdir(), "ckpt-fake-pod-checkpoints-"));
  private store: PodCheckpoints | undefined;
  private podCheckpointStore(): PodCheckpoints {
    this.store ??= PodCheckpoints.open({
      stateDir: join(this.podCheckpointRoot, "state"),
      checkpointRoot: join(this.podCheckpointRoot, "pod-checkpoints"),
      nodeName: this.nodeName,
      ceilingSeconds: 15,
      runner: {
        sourcePod: async (namespace, name) => (namespace === "default" && name === "web" ? { uid: "u-1" } : undefined),
        checkpoint: (req) => {
          this.calls.push({ method: "podCheckpoint", namespace: req.namespace, name: req.name, dir: req.dir, deadline: req.deadline });
          return this.podCheckpointImpl(req);
        },
      },
    });
    return this.store;
  }
  private readonly podCheckpointApi = podCheckpointMethods(() => this.podCheckpointStore(), async (ns, name) => ns === "default" && name === "web", { podCheckpointTimeoutSeconds: 15 });
  readonly applyPodCheckpoint = this.podCheckpointApi.applyPodCheckpoint;
  readonly listPodCheckpoints = this.podCheckpointApi.listPodCheckpoints;
  readonly getPodCheckpoint = this.podCheckpointApi.getPodCheckpoint;
  readonly deletePodCheckpoint = this.podCheckpointApi.deletePodCheckpoint;
  readonly checkpointPod = this.podCheckpointApi.checkpointPod;

  private known(namespace: string, pod: string, container: string): void {
    if (namespace !== "default" || pod !== "web") throw new BackendError("not-found", "pod does not exist");
    if (container !== "app") throw new BackendError("not-found", `container ${container} does not exist`);
  }

  /** Has image "busybox" only. */
  async pullImage(image: string): Promise<{ image: string; imageId: string }> {
    this.calls.push({ method: "pullImage", image });
    if (image !== "busybox") throw new BackendError("runtime", `pulling ${image}: not found`);
    return { image, imageId: "sha256:cf" };
  }

  async pushImage(image: string, target: string): Promise<{ reference: string; digest: string }> {
    this.calls.push({ method: "pushImage", image, target });
    if (image !== "busybox") throw new BackendError("not-found", `image ${image}: not in the image store`);
    return { reference: target, digest: "sha256:ma" };
  }

  async deletePod(namespace: string, name: string): Promise<void> {
    this.calls.push({ method: "deletePod", namespace, name });
    if (namespace !== "default" || name !== "web") throw new BackendError("not-found", "pod does not exist");
  }
}
