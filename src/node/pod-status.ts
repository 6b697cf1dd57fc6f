/**
 * A pod as the kubelet reports it in `GET /pods`: the v1.Pod object with its status (phase, pod IP,
 * container statuses), built from the agent's record and what runc and the shims say now (or, on a
 * CRI runtime, from what the runtime reports).
 */
import type { ContainerRecord, PodRecord } from "./node-state.js";
import type { PodManifest } from "./pod-manifest.js";
import type { PodRuntime } from "./pod-runtime.js";

async function containerStatus(c: ContainerRecord, runtime: PodRuntime): Promise<Record<string, unknown>> {
  const exit = runtime.exitStatus(c.id);
  const st = exit ? undefined : await runtime.state(c.id);
  let state: Record<string, unknown>;
  if (exit) {
    state = {
      terminated: {
        exitCode: exit.exitCode,
        reason: exit.exitCode === 0 ? "Completed" : "Error",
        startedAt: exit.startedAt,
        finishedAt: exit.finishedAt,
        containerID: `runc://${c.id}`,
        ...(exit.signal ? { signal: exit.signal } : {}),
      },
    };
  } else if (st && (st.status === "running" || st.status === "paused")) {
    state = { running: { startedAt: st.created ?? c.createdAt } };
  } else {
    state = { waiting: { reason: "ContainerCreating" } };
  }
  return {
    name: c.name,
    state,
    ready: "running" in state,
    restartCount: c.restartCount,
    image: c.image.reference,
    imageID: c.image.repoDigest ?? c.image.imageId,
    containerID: `runc://${c.id}`,
    started: "running" in state,
  };
}

export async function podObject(record: PodRecord, runtime: PodRuntime, nodeName: string): Promise<Record<string, unknown>> {
  const statuses = await Promise.all(record.containers.map((c) => containerStatus(c, runtime)));
  return podObjectOf({ manifest: record.manifest, uid: record.uid, createdAt: record.createdAt, ip: record.sandbox.ip }, statuses, nodeName);
}

/** What a v1 Pod object is made of, whichever runtime runs the pod. */
export interface PodFacts {
  manifest: PodManifest;
  uid: string;
  /** RFC 3339. */
  createdAt: string;
  ip: string;
}

/** The v1 Pod object from the pod's facts and its containers' v1 ContainerStatus objects. */
export function podObjectOf(pod: PodFacts, statuses: Record<string, unknown>[], nodeName: string): Record<string, unknown> {
  const m = pod.manifest;
  const running = statuses.filter((s) => s.ready).length;
  const terminated = statuses.map((s) => (s.state as { terminated?: { exitCode: number } }).terminated).filter(Boolean);
  let phase = "Pending";
  if (statuses.length === m.spec.containers.length && running === statuses.length) phase = "Running";
  else if (statuses.length > 0 && terminated.length === statuses.length) phase = terminated.every((t) => t!.exitCode === 0) ? "Succeeded" : "Failed";
  else if (running > 0) phase = "Running";
  const ready = phase === "Running" && running === m.spec.containers.length;
  return {
    kind: "Pod",
    apiVersion: "v1",
    metadata: {
      name: m.metadata.name,
      namespace: m.metadata.namespace,
      uid: pod.uid,
      creationTimestamp: pod.createdAt,
      labels: m.metadata.labels,
      annotations: m.metadata.annotations,
    },
    spec: { ...m.spec, nodeName },
    status: {
      phase,
      conditions: [
        { type: "Ready", status: ready ? "True" : "False" },
        { type: "ContainersReady", status: ready ? "True" : "False" },
        { type: "PodScheduled", status: "True" },
      ],
      podIP: pod.ip,
      podIPs: [{ ip: pod.ip }],
      startTime: pod.createdAt,
      containerStatuses: statuses,
    },
  };
}
