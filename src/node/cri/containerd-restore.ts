/**
 * A checkpoint made ready for containerd's CRI restore (CreateContainer with an archive as image):
 * the restore preflight, the base image pulled through the CRI and pinned by its registry digest,
 * and the archive rewritten into containerd's layout (containerd-restore-archive.ts). Shared by the
 * node agent and `ckpt cri restore`.
 */
import { randomUUID } from "node:crypto";
import { mkdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import type { CriClient } from "../../cri/client.js";
import { BackendError } from "../../kubelet-endpoint/node-backend.js";
import { planRestore } from "../container-restore.js";
import type { OpenOptions } from "../../checkpoint/archive/checkpoint-archive.js";
import { parseImageReference, repositoryName } from "../images/index.js";
import { writeContainerdRestoreArchive } from "./containerd-restore-archive.js";

/** The runtime's name for its shim, the one config.dump records and the preflight compares. */
export const CONTAINERD_SHIM = "io.containerd.runc.v2";

export interface ContainerdRestoreOptions {
  cri: CriClient;
  /** A checkpoint archive or an unpacked checkpoint directory. */
  source: string;
  /** CRIU binary, for the preflight's version check. */
  criu: string;
  /** The restored container's name. */
  containerName: string;
  /** Annotations the restored container gets (containerd takes them from status.dump). */
  annotations: Record<string, string>;
  /** Directory the rewritten archive is written to. */
  outDir: string;
  /** Makes the base image present (the agent applies the pod's pull policy). */
  pullBase?: (name: string) => Promise<void>;
  /** Opens a sealed archive. */
  open?: OpenOptions;
  /** What the preflight noted (differences that do not stop a restore). */
  onNotes?: (notes: string[]) => void;
}

/** Writes the archive containerd restores from and returns its path; the caller removes it. */
export async function prepareContainerdRestore(o: ContainerdRestoreOptions): Promise<string> {
  const plan = await planRestore(o.source, o.criu, CONTAINERD_SHIM, o.open).catch((err: Error) => {
    throw new BackendError("invalid", err.message, { cause: err });
  });
  try {
    if (plan.notes.length) o.onNotes?.(plan.notes);
    const baseName = plan.baseImage;
    const pull = o.pullBase ?? (async (name: string) => void ((await o.cri.imageStatus(name)) ?? (await o.cri.pullImage(name))));
    await pull(baseName);
    const base = await o.cri.imageStatus(baseName);
    if (!base) throw new BackendError("runtime", `base image ${baseName}: the runtime does not have it after a pull`);
    const repo = repositoryOf(baseName);
    const digestRef = base.repoDigests.find((d) => repo !== undefined && d.startsWith(`${repo}@`)) ?? base.repoDigests[0];
    if (!digestRef) {
      throw new BackendError("runtime", `base image ${baseName} has no registry digest (imported, not pulled): containerd pulls a checkpoint's base image by NAME@DIGEST, so it must come from a registry`);
    }
    const recorded = plan.checkpoint.config().rootfsImageRef;
    if (recorded?.startsWith("sha256:") && recorded !== base.id) {
      throw new BackendError("invalid", `base image ${baseName} is ${base.id} on this node, the checkpoint was made on ${recorded}`);
    }
    mkdirSync(o.outDir, { recursive: true, mode: 0o700 });
    const out = join(o.outDir, `${randomUUID()}.tar`);
    try {
      await writeContainerdRestoreArchive(
        { checkpoint: plan.checkpoint, baseImageRef: digestRef, baseImageName: baseName, containerName: o.containerName, annotations: o.annotations },
        out,
      );
    } catch (err) {
      rmSync(out, { force: true });
      throw new BackendError("runtime", `${o.source}: writing the restore archive: ${(err as Error).message}`, { cause: err });
    }
    return out;
  } finally {
    plan.checkpoint.close();
  }
}

/** The repository of an image name ("127.0.0.1:5000/busybox"); undefined for a short name the runtime completes. */
function repositoryOf(name: string): string | undefined {
  try {
    return repositoryName(parseImageReference(name));
  } catch {
    return undefined;
  }
}
