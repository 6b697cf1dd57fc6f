/**
 * What both node agents check and derive from a request before their runtimes take over, so that
 * the built-in runc runtime and a CRI runtime answer a client alike.
 */
import { BackendError, type RestoreRequest } from "../kubelet-endpoint/node-backend.js";
import type { OpenOptions } from "../checkpoint/archive/checkpoint-archive.js";
import { isRegistryReference } from "../restore/image-target.js";
import { checkpointedContainerName } from "./container-restore.js";
import { ManifestError, parsePodManifest, type PodManifest } from "./pod-manifest.js";

/** A pod manifest a client sent; one that does not parse is a 400 naming what is wrong. */
export function requestedPodManifest(text: string): PodManifest {
  try {
    return parsePodManifest(text);
  } catch (err) {
    if (err instanceof ManifestError) throw new BackendError("invalid", err.message);
    throw err;
  }
}

/** A 400 unless `ref` (the request's `field`) names an image in a registry: a client never chooses a path on the node. */
export function requireRegistryReference(field: string, ref: string): void {
  if (!isRegistryReference(ref)) throw new BackendError("invalid", `${field} ${JSON.stringify(ref)}: only a registry reference is accepted (HOST/REPO:TAG)`);
}

/**
 * The restored container's name: the request's, else the checkpointed container's. `locate` finds
 * the checkpoint the source names (undefined for a plain image); a source that is none is a 400.
 */
export async function restoredContainerName(req: RestoreRequest, locate: (source: string) => Promise<string | undefined>, open?: OpenOptions): Promise<string> {
  if (req.container) return req.container;
  try {
    const checkpoint = await locate(req.source);
    if (!checkpoint) throw new Error("not a checkpoint archive or checkpoint image");
    return await checkpointedContainerName(checkpoint, open);
  } catch (err) {
    throw new BackendError("invalid", `${req.source}: ${(err as Error).message}`, { cause: err });
  }
}
