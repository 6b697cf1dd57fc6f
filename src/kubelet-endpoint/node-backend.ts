/**
 * What the kubelet-compatible endpoint needs from the node it serves. The endpoint knows HTTP, TLS,
 * authentication and authorization; the backend knows pods, containers and checkpoints. Neither
 * reaches into the other: the node agent (src/node/agent.ts) implements this, tests use a fake.
 */

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
}

export interface CheckpointResult {
  /** Absolute path of the finished archive. */
  path: string;
  /** Its size in bytes. */
  bytes: number;
}

export interface NodeBackend {
  readonly nodeName: string;
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
}
