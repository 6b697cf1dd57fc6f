/**
 * What the analysis commands accept as a checkpoint: an archive or a directory on disk, or a
 * checkpoint image (`oci:DIR[:TAG]`, or `REGISTRY/REPO[:TAG|@DIGEST]`), whose layer is the archive.
 */
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Checkpoint } from "../checkpoint/checkpoint.js";
import { UserError } from "./errors.js";

/** Registries reached over plain HTTP besides loopback (CKPT_INSECURE_REGISTRIES, comma-separated). */
const insecureRegistries = () => (process.env.CKPT_INSECURE_REGISTRIES ?? "").split(",").filter(Boolean);

export async function openCheckpointArg(arg: string): Promise<Checkpoint> {
  if (existsSync(arg) || !looksLikeImage(arg)) return Checkpoint.open(arg);
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
    return await Checkpoint.open(await checkpointLayerFile(target, tmp, { insecureRegistries: insecureRegistries() }));
  } catch (err) {
    // Every image failure (missing, unreachable, not a checkpoint, a blob that fails its digest).
    if (err instanceof ImageError) throw new UserError(err.message);
    throw err;
  }
}

function looksLikeImage(arg: string): boolean {
  return arg.startsWith("oci:") || arg.startsWith("oci-archive:") || arg.startsWith("docker://") || /^[a-z0-9.-]+(:\d+)?\/[^\s]+$/i.test(arg);
}
