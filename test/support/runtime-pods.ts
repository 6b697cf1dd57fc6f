/**
 * Pods run by a node's runc runtime in the test's own process (NodeEnv.runtime()), without the
 * agent: what applyPod and deletePod do, for tests and benchmarks of the runtime's functions.
 */
import { randomUUID } from "node:crypto";
import type { PodRecord } from "../../src/node/node-state.js";
import { parsePodManifest } from "../../src/node/pod-manifest.js";
import type { PodRuntime } from "../../src/node/pod-runtime.js";

/** A new pod's sandbox, with no container yet (a restore's target). */
export async function newSandbox(runtime: PodRuntime, text: string): Promise<PodRecord> {
  const manifest = parsePodManifest(text);
  const uid = randomUUID();
  return { uid, manifest, createdAt: new Date().toISOString(), sandbox: await runtime.createSandbox(manifest, uid), containers: [] };
}

/** A pod with all of its containers started. */
export async function startPod(runtime: PodRuntime, text: string): Promise<PodRecord> {
  const pod = await newSandbox(runtime, text);
  for (const c of pod.manifest.spec.containers) pod.containers.push(await runtime.startContainer(pod, c, 0));
  return pod;
}

/** Stops the pod's containers and removes its sandbox; whatever is already gone is skipped. */
export async function removePod(runtime: PodRuntime, pod: PodRecord): Promise<void> {
  for (const c of pod.containers) await runtime.stopContainer(c.id, 0).catch(() => undefined);
  await runtime.removeSandbox(pod).catch(() => undefined);
}
