/**
 * A pod restore on the runc runtime, with the CRI `RestorePod` contract (KEP-5823): the caller has
 * made the new pod's sandbox; restorePodContainers creates every container of a pod checkpoint in it
 * from its archive (matched by name, in the checkpoint's order) and leaves them created, not
 * started; startRestoredContainers then starts them all (what `StartContainer` is for a restored
 * container here). On error everything restorePodContainers created is removed.
 *
 * Containers that talked to each other over loopback get their connections back: each is restored
 * with CRIU's tcp-established when all of its connections are on loopback (the peer comes back in the
 * same namespace), and CRIU leaves its processes stopped; a DROP rule on `lo` keeps the first
 * restored end from being reset by the not-yet-restored other one. Connections to other addresses
 * cannot follow the pod to its new address: a container holding one is restored with tcp-close (all
 * of its connections are closed), and the runtime's log says so.
 */
import { rm } from "node:fs/promises";
import { join } from "node:path";
import { verifyPodCheckpointArchives } from "../checkpoint/pod-checkpoint-files.js";
import { POD_CHECKPOINT_MANIFEST, PodCheckpointManifestSchema, type PodCheckpointManifest } from "../checkpoint/pod-checkpoint-manifest.js";
import { RestoreError } from "./container-restore.js";
import type { ContainerRecord, PodRecord } from "./node-state.js";
import { ensureLoopbackUp, holdLoopback, releaseLoopback } from "./pod-netfilter.js";
import { RuntimeError, type PodRuntime } from "./pod-runtime.js";

export interface PodRestoreRequest {
  runtime: PodRuntime;
  /**
   * The new pod: its sandbox is created and running, its manifest is the restore pod's (its
   * containers are matched to the checkpoint's by name; the pod's spec says their volumes, env and
   * pull policy, the checkpoint their processes and files). Its `containers` are not touched.
   */
  pod: PodRecord;
  /** The directory holding `pod-checkpoint.json` and the archives it names. */
  checkpointDir: string;
  /** The parsed `pod-checkpoint.json` of `checkpointDir` (parsePodCheckpointManifest). */
  manifest: PodCheckpointManifest;
  /**
   * The caller has just checked every archive against this manifest (podRestoreSource does): the
   * archives, which hold the pods' memory, are not read and hashed a second time.
   */
  archivesVerified?: boolean;
}

/**
 * Creates every container of the checkpoint in the new pod, in the manifest's order, and returns
 * their records in that order. Each archive's size and sha256 are checked against the manifest
 * before anything is created. The containers' processes are left stopped and the pod's loopback
 * held (DROP rule) until startRestoredContainers; a caller that gives up instead removes the
 * containers (PodRuntime.removeContainer) and the sandbox. Containers of the pod that the
 * checkpoint does not hold are not created here.
 */
export async function restorePodContainers(req: PodRestoreRequest): Promise<ContainerRecord[]> {
  const { runtime, pod, checkpointDir } = req;
  const what = `pod ${pod.manifest.metadata.namespace}/${pod.manifest.metadata.name}`;
  // Its archive names become paths: checked again, whoever made the object.
  const checked = PodCheckpointManifestSchema.safeParse(req.manifest);
  if (!checked.success) {
    const issue = checked.error.issues[0]!;
    throw new RestoreError(`${join(checkpointDir, POD_CHECKPOINT_MANIFEST)}: ${issue.path.join(".") || "(top level)"}: ${issue.message}`);
  }
  const manifest = checked.data;
  const specs = manifest.containers.map((cc) => {
    const spec = pod.manifest.spec.containers.find((s) => s.name === cc.name);
    if (!spec) throw new RestoreError(`${what}: the checkpoint's container ${cc.name} is not in the pod's spec`);
    return { cc, spec };
  });
  if (!req.archivesVerified) await verifyArchives(checkpointDir, manifest);
  const netns = pod.sandbox.netns;
  const sandbox = await runtime.state(pod.sandbox.id);
  if (sandbox?.status !== "running") throw new RestoreError(`${what}: its sandbox is not running`);
  const created: ContainerRecord[] = [];
  try {
    await ensureLoopbackUp(netns);
    await holdLoopback(netns);
    for (const { cc, spec } of specs) {
      try {
        created.push(await runtime.restoreContainer(pod, spec, 0, join(checkpointDir, cc.archive), { leaveStopped: true, keepLoopbackTcp: true }));
      } catch (err) {
        throw new RestoreError(`container ${cc.name}: ${(err as Error).message}`, { cause: err });
      }
    }
    return created;
  } catch (err) {
    for (const c of created.reverse()) {
      await runtime.removeContainer(c.id).catch(() => undefined);
      await rm(c.logPath, { force: true });
    }
    await releaseLoopback(netns).catch(() => undefined);
    throw new RestoreError(`${what}: ${(err as Error).message}`, { cause: err });
  }
}

/**
 * Starts the containers restorePodContainers created: the loopback hold is lifted, then every
 * process of each container gets SIGCONT. Throws a RuntimeError naming the first container that
 * could not be started; the others are started all the same.
 */
export async function startRestoredContainers(runtime: PodRuntime, pod: PodRecord, containers: readonly ContainerRecord[]): Promise<void> {
  // First: a process that runs on before the rule is gone would see its packets dropped and wait
  // for a retransmission.
  await releaseLoopback(pod.sandbox.netns);
  const results = await Promise.allSettled(containers.map((c) => runtime.runc.kill(c.id, "CONT", true)));
  const failed = results.findIndex((r) => r.status === "rejected");
  if (failed >= 0) {
    const c = containers[failed]!;
    throw new RuntimeError(`container ${c.name}: cannot be started: ${((results[failed] as PromiseRejectedResult).reason as Error).message}`);
  }
}

/** Each archive is the one the manifest names (size and sha256); a restore error naming the first that is not. */
async function verifyArchives(dir: string, manifest: PodCheckpointManifest): Promise<void> {
  try {
    await verifyPodCheckpointArchives(dir, manifest);
  } catch (err) {
    throw new RestoreError((err as Error).message, { cause: err });
  }
}
