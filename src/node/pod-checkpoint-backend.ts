/**
 * The endpoint's PodCheckpoint methods (NodeBackend) over a node's PodCheckpoints, the same for
 * every runtime: errors become BackendErrors the endpoint turns into status codes.
 */
import { BackendError, type NodeBackend, type PodCheckpointRequest } from "../kubelet-endpoint/node-backend.js";
import { parsePodCheckpoint, PodCheckpointError, podCheckpointList, POD_CHECKPOINT_API, readyReason, type PodCheckpoint } from "./pod-checkpoint-object.js";
import { DEFAULT_POD_CHECKPOINT_TIMEOUT_SECONDS, type PodCheckpoints } from "./pod-checkpoints.js";

type PodCheckpointMethods = Pick<NodeBackend, "applyPodCheckpoint" | "listPodCheckpoints" | "getPodCheckpoint" | "deletePodCheckpoint" | "checkpointPod">;

/** How long POST /checkpoint/{ns}/{pod} waits beyond the checkpoint's own timeout before answering. */
const ANSWER_GRACE_MS = 30_000;

export function podCheckpointMethods(
  store: () => PodCheckpoints,
  hasPod: (namespace: string, name: string) => Promise<boolean>,
  opts: { podCheckpointTimeoutSeconds?: number },
): PodCheckpointMethods {
  const ceilingSeconds = opts.podCheckpointTimeoutSeconds ?? DEFAULT_POD_CHECKPOINT_TIMEOUT_SECONDS;
  const apply = (o: PodCheckpoint): PodCheckpoint => {
    try {
      return store().apply(o);
    } catch (err) {
      if (err instanceof PodCheckpointError) throw new BackendError("invalid", err.message);
      throw err;
    }
  };
  return {
    async applyPodCheckpoint(text) {
      let o: PodCheckpoint;
      try {
        o = parsePodCheckpoint(text);
      } catch (err) {
        if (err instanceof PodCheckpointError) throw new BackendError("invalid", err.message);
        throw err;
      }
      return apply(o);
    },
    async listPodCheckpoints() {
      return podCheckpointList(store().list());
    },
    async getPodCheckpoint(namespace, name) {
      const o = store().get(namespace, name);
      if (!o) throw new BackendError("not-found", `podcheckpoint ${namespace}/${name} does not exist`);
      return o;
    },
    async deletePodCheckpoint(namespace, name) {
      if (!(await store().delete(namespace, name))) throw new BackendError("not-found", `podcheckpoint ${namespace}/${name} does not exist`);
    },
    async checkpointPod(req: PodCheckpointRequest) {
      if (!(await hasPod(req.namespace, req.pod))) throw new BackendError("not-found", "pod does not exist");
      const name = `${req.pod.slice(0, 200)}-${Date.now().toString(36)}${Math.floor(Math.random() * 1296).toString(36).padStart(2, "0")}`;
      const created = apply({
        apiVersion: POD_CHECKPOINT_API,
        kind: "PodCheckpoint",
        metadata: { name, namespace: req.namespace },
        spec: { sourcePod: { name: req.pod }, ...(req.timeoutSeconds !== undefined ? { timeoutSeconds: req.timeoutSeconds } : {}) },
      });
      const seconds = Math.min(req.timeoutSeconds ?? ceilingSeconds, ceilingSeconds);
      const ended = (await store().waitFor(req.namespace, name, seconds * 1000 + ANSWER_GRACE_MS)) ?? created;
      const reason = readyReason(ended);
      if (reason === "CheckpointCompleted") return ended;
      const message = ended.status?.conditions[0]?.message ?? "";
      throw new BackendError("runtime", `${reason}: ${message} (podcheckpoint ${req.namespace}/${name})`);
    },
  };
}
