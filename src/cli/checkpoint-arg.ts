/**
 * What the analysis commands accept as a checkpoint: an archive or a directory on disk, or a
 * checkpoint image (`oci:DIR[:TAG]`, or `REGISTRY/REPO[:TAG|@DIGEST]`), whose layer is the archive;
 * for show and inspect also a pod checkpoint (a directory or tar with pod-checkpoint.json); and the
 * identity that opens a sealed archive (`--identity FILE`, else $CKPT_IDENTITY).
 */
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Option } from "commander";
import type { OpenOptions } from "../checkpoint/archive/checkpoint-archive.js";
import { isPodCheckpoint } from "../checkpoint/archive/pod-checkpoint-detect.js";
import type { PodCheckpointArchive } from "../checkpoint/archive/pod-checkpoint-archive.js";
import { Checkpoint } from "../checkpoint/checkpoint.js";
import { readIdentityFile, type Identities } from "../checkpoint/seal/identity-file.js";
import { UserError } from "./errors.js";

/** Registries reached over plain HTTP besides loopback (CKPT_INSECURE_REGISTRIES, comma-separated). */
const insecureRegistries = () => (process.env.CKPT_INSECURE_REGISTRIES ?? "").split(",").filter(Boolean);

export function identityOption(): Option {
  return new Option("-i, --identity <file>", "age identity file that opens sealed archives (default: $CKPT_IDENTITY)");
}

/** Open options whose identities are read from `file` (or $CKPT_IDENTITY) when a sealed archive asks. */
export function identityFrom(file: string | undefined): OpenOptions {
  let loaded: Identities | undefined;
  return {
    identities: () => {
      const path = file ?? (process.env.CKPT_IDENTITY || undefined);
      if (path !== undefined) loaded ??= readIdentityFile(path);
      return loaded;
    },
  };
}

export async function openCheckpointArg(arg: string, opts: OpenOptions = {}): Promise<Checkpoint> {
  if (existsSync(arg) || !looksLikeImage(arg)) return Checkpoint.open(arg, opts);
  const { parseImageTarget } = await import("../restore/image-target.js");
  const { checkpointLayerFile } = await import("../restore/checkpoint-layer.js");
  const { ImageError } = await import("../node/images/image-errors.js");
  let target;
  try {
    target = parseImageTarget(arg);
  } catch (err) {
    throw new UserError(`${arg}: neither a file nor an image reference (${(err as Error).message})`);
  }
  const tmp = mkdtempSync(join(tmpdir(), "ckpt-image-"));
  process.once("exit", () => rmSync(tmp, { recursive: true, force: true }));
  try {
    return await Checkpoint.open(await checkpointLayerFile(target, tmp, { insecureRegistries: insecureRegistries() }), opts);
  } catch (err) {
    // Every image failure (missing, unreachable, not a checkpoint, a blob that fails its digest).
    if (err instanceof ImageError) throw new UserError(err.message);
    throw err;
  }
}

/** For the commands that also read pod checkpoints (show, inspect): a pod checkpoint or a container checkpoint. */
export async function openCheckpointOrPodArg(arg: string, opts: OpenOptions = {}): Promise<{ pod: PodCheckpointArchive } | { checkpoint: Checkpoint }> {
  if (existsSync(arg) && (await isPodCheckpoint(arg, opts))) {
    // Loaded only for a pod checkpoint: its manifest's schema brings the full zod.
    const { PodCheckpointArchive } = await import("../checkpoint/archive/pod-checkpoint-archive.js");
    return { pod: await PodCheckpointArchive.open(arg, opts) };
  }
  return { checkpoint: await openCheckpointArg(arg, opts) };
}

function looksLikeImage(arg: string): boolean {
  return arg.startsWith("oci:") || arg.startsWith("oci-archive:") || arg.startsWith("docker://") || /^[a-z0-9.-]+(:\d+)?\/[^\s]+$/i.test(arg);
}
