/**
 * What the kubelet-compatible endpoint needs from the node it serves. The endpoint knows HTTP, TLS,
 * authentication and authorization; the backend knows pods, containers and checkpoints. Neither
 * reaches into the other: the node agent (src/node/agent.ts) implements this, tests use a fake.
 */

import type { Duplex, Readable } from "node:stream";
import type { LazyDumpStarted, LazyDumpStatus, LazyRestoreBody, LazyRestoreStatus } from "./lazy-migration-api.js";

/** A failure the endpoint turns into a status code: not-found → 404, invalid → 400, runtime → 500. */
export class BackendError extends Error {
  override name = "BackendError";
  constructor(
    readonly kind: "not-found" | "invalid" | "runtime",
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export interface CheckpointRequest {
  namespace: string;
  /** The pod's name (the kubelet route calls it podID). */
  pod: string;
  container: string;
  /** Already the effective deadline: the larger of the request's `timeout` and the node's default. */
  timeoutSeconds: number;
  /** Leave the container paused once checkpointed (a migration's source); resumeContainer ends it. */
  leavePaused?: boolean;
  /** Also publish the archive as a checkpoint image to this registry reference. */
  image?: string;
  /** The base image the checkpoint image names instead of the container's (a copy pushed by pushImage). */
  baseImage?: string;
}

export interface CheckpointResult {
  /** Absolute path of the finished archive. */
  path: string;
  /** Its size in bytes. */
  bytes: number;
  /** The checkpoint image, when one was asked for. */
  image?: { reference: string; digest: string; bytes: number };
  /** How long each step took, in milliseconds. */
  durations?: Record<string, number>;
}

/** What a restore makes: a new pod whose container is restored from a checkpoint. */
export interface RestoreRequest {
  /** A checkpoint archive on the node, or a checkpoint image reference. */
  source: string;
  namespace: string;
  name: string;
  /** The container's name; by default the checkpointed container's. */
  container?: string;
}

/** A pod checkpoint asked for over HTTP: a PodCheckpoint object made for it, waited for. */
export interface PodCheckpointRequest {
  namespace: string;
  pod: string;
  /** The object's spec.timeoutSeconds; the node's ceiling when absent. */
  timeoutSeconds?: number;
}

export interface LogRequest {
  namespace: string;
  pod: string;
  container: string;
  /** The log of the container's previous run (before its last restart). */
  previous: boolean;
}

/** A lazy (post-copy) migration's two ends, on a node that can do them (lazy-migration-api.ts). */
export interface LazyMigrationBackend {
  /** Freezes the container and starts dumping everything but its memory; answers at once. */
  startDump(req: { namespace: string; pod: string; container: string; timeoutSeconds: number }): Promise<LazyDumpStarted>;
  dumpStatus(id: string): LazyDumpStatus;
  /** The dump's archive once written; BackendError("not-found") for an unknown id, a wrong or spent token. */
  dumpArchive(id: string, token: string): Promise<{ stream: Readable; bytes: number }>;
  /** Takes over the connection that carries the dump's pages (once per token). */
  dumpPages(id: string, token: string): (connection: Duplex) => void;
  /** Calls the dump off unless every page is served: the container runs on here. */
  cancelDump(id: string): Promise<LazyDumpStatus>;
  /** Why pre-copy migration is not offered by this node. */
  preCopyRefusal(): Promise<string>;
  /** Makes the pod, its named containers restored lazily from the source node; answers once they run. */
  restorePod(req: LazyRestoreBody): Promise<unknown>;
  restoreStatus(namespace: string, pod: string): LazyRestoreStatus;
}

export interface NodeBackend {
  readonly nodeName: string;
  /** Absent on a node that cannot migrate lazily (a CRI runtime's). */
  readonly lazy?: LazyMigrationBackend;
  /**
   * Checkpoints one running container, leaving it running, and returns the archive. Throws
   * BackendError("not-found", "pod does not exist" | "container X does not exist") before any work,
   * BackendError("runtime", …) when the runtime fails (the container is left running and unpaused).
   */
  checkpointContainer(req: CheckpointRequest): Promise<CheckpointResult>;
  /** The node's pods as a Kubernetes v1 PodList object ({kind: "PodList", apiVersion: "v1", items}). */
  listPods(): Promise<unknown>;
  /**
   * Creates or updates a pod from a Kubernetes Pod manifest (YAML or JSON text) and returns the v1 Pod
   * object. BackendError("invalid", …) for a manifest that does not parse or is not a Pod.
   */
  applyPod(manifest: string): Promise<unknown>;
  /** Stops and removes a pod; BackendError("not-found", "pod does not exist") when there is none. */
  deletePod(namespace: string, name: string): Promise<void>;
  /** Resumes a container a checkpoint left paused (leavePaused); a running one is left as it is. */
  resumeContainer(namespace: string, pod: string, container: string): Promise<void>;
  /** Restores a checkpoint as a new pod and returns the v1 Pod object, as applyPod does. */
  restorePod(req: RestoreRequest): Promise<unknown>;
  /**
   * Makes an image present on the node, pulled as a pod's image would be, and returns its image ID.
   * BackendError("runtime", …) when the node cannot get it (unreachable, unknown, refused).
   */
  pullImage(image: string): Promise<{ image: string; imageId: string }>;
  /**
   * Pushes an image the node has, unchanged, to a registry reference; returns the manifest digest.
   * BackendError("invalid", …) when this node cannot read its images out.
   */
  pushImage(image: string, target: string): Promise<{ reference: string; digest: string }>;
  /**
   * The container's log in the CRI logging format ("TIME STREAM F|P TEXT" lines), at most its last
   * `maxBytes` bytes.
   */
  containerLog(req: LogRequest, maxBytes: number): Promise<string>;
  /**
   * Accepts a PodCheckpoint object (YAML or JSON text) and returns it as stored, its status Pending
   * while the node checkpoints the pod in the background. BackendError("invalid", …) for text that
   * is not one, or for another spec under an existing name (spec is immutable).
   */
  applyPodCheckpoint(text: string): Promise<unknown>;
  /** The node's PodCheckpoint objects as a PodCheckpointList. */
  listPodCheckpoints(): Promise<unknown>;
  /** One PodCheckpoint; BackendError("not-found", …) when there is none of that name. */
  getPodCheckpoint(namespace: string, name: string): Promise<unknown>;
  /** Removes a PodCheckpoint and its checkpoint's files (cancelling one in progress). */
  deletePodCheckpoint(namespace: string, name: string): Promise<void>;
  /**
   * Checkpoints a whole pod through a new PodCheckpoint object and returns the object once it has
   * ended; BackendError("not-found", "pod does not exist") before any work, BackendError("runtime", …)
   * carrying the object's message when the checkpoint failed.
   */
  checkpointPod(req: PodCheckpointRequest): Promise<unknown>;
}
