/**
 * `ckpt list`: the checkpoint archives in directories (the kubelet's checkpoint directory by
 * default), with what their names and metadata say; and the pod checkpoints (directories or tars
 * of them) with what their manifests say.
 */
import { readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import type { OpenOptions } from "../checkpoint/archive/checkpoint-archive.js";
import { isPodCheckpoint } from "../checkpoint/archive/pod-checkpoint-detect.js";
import { Checkpoint } from "../checkpoint/checkpoint.js";

export const KUBELET_CHECKPOINT_DIR = "/var/lib/kubelet/checkpoints";
/** Where the kubelet keeps pod checkpoints (KEP-5823). */
export const KUBELET_POD_CHECKPOINT_DIR = "/var/lib/kubelet/pod-checkpoints";

export interface ListedCheckpoint {
  namespace: string;
  pod: string;
  container: string;
  engine: string;
  checkpointed: string;
  name: string;
  path: string;
  /** For a pod checkpoint: its containers in the pod's order (`container` lists them too). */
  containers?: string[];
}

const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/** Go's time.RFC822 ("02 Jan 06 15:04 MST") of an RFC3339 time, in the time's own offset. */
export function rfc822(time: string | undefined): string {
  const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):\d{2}(?:\.\d+)?(Z|[+-]\d{2}:\d{2})$/.exec(time ?? "");
  if (!m) return "01 Jan 01 00:00 UTC";
  const [, y, mo, d, h, mi, zone] = m;
  const zoneText = zone === "Z" ? "UTC" : zone!.replace(":", "");
  return `${d} ${MONTHS[Number(mo) - 1]} ${y!.slice(2)} ${h}:${mi} ${zoneText}`;
}

export interface ListResult {
  found: ListedCheckpoint[];
  /** Directories with at least one checkpoint, in the order given. */
  dirs: string[];
  errors: Array<{ path: string; message: string }>;
}

export async function listCheckpoints(dirs: string[], opts: OpenOptions = {}): Promise<ListResult> {
  const result: ListResult = { found: [], dirs: [], errors: [] };
  for (const dir of dirs) {
    let names: string[];
    try {
      names = readdirSync(dir).filter((n) => n.startsWith("checkpoint-")).sort();
    } catch {
      continue;
    }
    let any = false;
    for (const name of names) {
      const path = join(dir, name);
      try {
        const listed = await listedCheckpoint(path, name, opts);
        if (!listed) continue;
        result.found.push(listed);
        any = true;
      } catch (err) {
        result.errors.push({ path, message: (err as Error).message });
      }
    }
    if (any) result.dirs.push(dir);
  }
  return result;
}

/** What one directory entry is: a pod checkpoint, a container's archive, or neither (undefined). */
async function listedCheckpoint(path: string, name: string, opts: OpenOptions): Promise<ListedCheckpoint | undefined> {
  if (await isPodCheckpoint(path, opts)) {
    // Loaded only for a pod checkpoint: its manifest's schema brings the full zod.
    const { PodCheckpointArchive } = await import("../checkpoint/archive/pod-checkpoint-archive.js");
    const pod = await PodCheckpointArchive.open(path, opts);
    try {
      const m = pod.manifest;
      const containers = m.containers.map((c) => c.name);
      return { namespace: m.pod.namespace, pod: m.pod.name, container: containers.join(", "), engine: `pod (${m.runtime})`, checkpointed: rfc822(m.completedAt), name, path, containers };
    } finally {
      pod.close();
    }
  }
  if (!statSync(path).isFile()) return undefined;
  const cp = await Checkpoint.open(path, opts);
  try {
    const c = cp.container();
    return { namespace: c.namespace ?? "", pod: c.pod ?? "", container: c.name, engine: c.engine, checkpointed: rfc822(c.checkpointed), name, path };
  } finally {
    cp.close();
  }
}
