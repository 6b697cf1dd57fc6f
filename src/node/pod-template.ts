/**
 * A checkpointed pod's template (KEP-5823's checkpointedPodTemplate): the Pod's labels, annotations
 * and spec without what belongs to one node or one restore, its container images pinned to the
 * digests that ran. A Pod restored from the checkpoint must have this spec, so that what runs after
 * the restore is what was checkpointed.
 */
import type { PodCheckpointManifest } from "../checkpoint/pod-checkpoint-manifest.js";
import type { PodRecord } from "./node-state.js";
import type { PodManifest } from "./pod-manifest.js";

/** Fields of a Pod spec that name one node or one restore, not what the pod is. */
const NODE_LOCAL_SPEC = ["nodeName", "restoreFrom"] as const;

export function checkpointedPodTemplate(pod: PodRecord): PodCheckpointManifest["podTemplate"] {
  return podTemplate(pod.manifest, (name) => pod.containers.find((r) => r.name === name)?.image.repoDigest);
}

/** The template of a pod made from `manifest`, each container's image the digest reference that ran (when known). */
export function podTemplate(manifest: PodManifest, ranImage: (container: string) => string | undefined): PodCheckpointManifest["podTemplate"] {
  const spec: Record<string, unknown> = { ...manifest.spec };
  for (const f of NODE_LOCAL_SPEC) delete spec[f];
  spec.containers = manifest.spec.containers.map((c) => ({ ...c, image: ranImage(c.name) ?? c.image }));
  const { labels, annotations } = manifest.metadata;
  return { metadata: { labels, annotations }, spec };
}

/**
 * Where a restore Pod's spec departs from the template: the first differing field (path, both
 * values), or undefined when they are equal. Both sides are as the manifest schema reads them, so a
 * default left out on one side and written out on the other is no difference.
 */
export function templateMismatch(restore: PodManifest, template: PodCheckpointManifest["podTemplate"]): string | undefined {
  const spec: Record<string, unknown> = { ...restore.spec };
  for (const f of NODE_LOCAL_SPEC) delete spec[f];
  return firstDifference("spec", spec, template.spec);
}

function firstDifference(path: string, a: unknown, b: unknown): string | undefined {
  if (Array.isArray(a) && Array.isArray(b)) {
    if (a.length !== b.length) return `${path}: ${a.length} entries, the checkpoint has ${b.length}`;
    for (let i = 0; i < a.length; i++) {
      const d = firstDifference(`${path}[${i}]`, a[i], b[i]);
      if (d) return d;
    }
    return undefined;
  }
  if (isObject(a) && isObject(b)) {
    for (const k of [...new Set([...Object.keys(a), ...Object.keys(b)])].sort()) {
      const d = firstDifference(`${path}.${k}`, a[k], b[k]);
      if (d) return d;
    }
    return undefined;
  }
  if (JSON.stringify(a) === JSON.stringify(b)) return undefined;
  return `${path}: ${show(a)}, the checkpoint has ${show(b)}`;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);
const show = (v: unknown) => (v === undefined ? "(not set)" : JSON.stringify(v));
