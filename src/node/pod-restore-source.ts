/**
 * What a Pod with spec.restoreFrom restores, on either runtime: the PodCheckpoint it names exists and
 * is complete, the Pod's spec is its checkpointed template (what runs after the restore is what was
 * checkpointed), the directory's manifest reads, and every archive in it is the one the manifest
 * names (size and sha256). Any of these failing refuses the Pod before anything is made.
 */
import { verifyPodCheckpointArchives, readPodCheckpointManifest } from "../checkpoint/pod-checkpoint-files.js";
import type { PodCheckpointManifest } from "../checkpoint/pod-checkpoint-manifest.js";
import { BackendError } from "../kubelet-endpoint/node-backend.js";
import { readyReason } from "./pod-checkpoint-object.js";
import type { PodCheckpoints } from "./pod-checkpoints.js";
import type { PodManifest } from "./pod-manifest.js";
import { templateMismatch } from "./pod-template.js";

export interface PodRestoreSource {
  /** `NAMESPACE/NAME` of the PodCheckpoint. */
  from: string;
  /** The checkpoint's directory on this node. */
  dir: string;
  checkpoint: PodCheckpointManifest;
}

export async function podRestoreSource(store: PodCheckpoints, manifest: PodManifest): Promise<PodRestoreSource> {
  const { namespace } = manifest.metadata;
  const name = manifest.spec.restoreFrom;
  if (!name) throw new BackendError("invalid", "spec.restoreFrom is not set");
  const from = `${namespace}/${name}`;
  const o = store.get(namespace, name);
  if (!o) throw new BackendError("invalid", `spec.restoreFrom: podcheckpoint ${from} does not exist`);
  const reason = readyReason(o);
  if (reason !== "CheckpointCompleted" || !o.status?.checkpointedPodTemplate) {
    throw new BackendError("invalid", `spec.restoreFrom: podcheckpoint ${from} is not complete (${reason})`);
  }
  const differs = templateMismatch(manifest, o.status.checkpointedPodTemplate as PodCheckpointManifest["podTemplate"]);
  if (differs) throw new BackendError("invalid", `spec.restoreFrom: the Pod's spec must equal podcheckpoint ${from}'s checkpointed template: ${differs}`);
  const dir = store.directory(o);
  try {
    const checkpoint = await readPodCheckpointManifest(dir);
    await verifyPodCheckpointArchives(dir, checkpoint);
    return { from, dir, checkpoint };
  } catch (err) {
    throw new BackendError("invalid", `spec.restoreFrom: ${(err as Error).message}`, { cause: err });
  }
}
