/**
 * A node's checkpoint archive pushed as a checkpoint image, for a migration's target node to pull:
 * built next to the archive (the node's disk, not the client's) and sent straight to the registry.
 */
import { credentialsFor } from "../restore/auth-file.js";
import { buildCheckpointImage } from "../restore/checkpoint-image.js";
import { isInsecureRegistry, parseImageTarget } from "../restore/image-target.js";
import { RegistryPusher, type PushableImage } from "../restore/registry-push.js";
import type { LayerCompression } from "../restore/layer-blob.js";
import { publishImage } from "../restore/publish.js";

export interface ImagePublishing {
  /** Registries reached over plain HTTP. */
  insecureRegistries?: readonly string[];
  /** Docker-style auth file with the registries' credentials. */
  authFile?: string;
  compression?: LayerCompression;
  /** Where the layer is built (the node's own directory, not the checkpoint directory users read). */
  workDir?: string;
}

/** The registry reference `reference` names, with the push options for its registry. */
function registryTarget(reference: string, opts: ImagePublishing) {
  const target = parseImageTarget(reference);
  if (target.kind !== "registry") throw new Error(`${reference} is not a registry reference`);
  const credentials = opts.authFile ? credentialsFor(opts.authFile, target.ref.registry) : undefined;
  return { target, credentials, insecure: isInsecureRegistry(target.ref.registry, opts.insecureRegistries ?? []) };
}

/**
 * `archive` as a checkpoint image at the registry `reference`. `baseImage` replaces the archive's
 * base image name (see BuildOptions.baseImage).
 */
export async function publishCheckpointImage(
  archive: string,
  reference: string,
  opts: ImagePublishing,
  baseImage?: string,
): Promise<{ reference: string; digest: string; bytes: number }> {
  const { target, credentials } = registryTarget(reference, opts);
  // zstd by default: it compresses memory pages several times faster than gzip, and containerd,
  // CRI-O and ckpt's node all read it.
  const image = await buildCheckpointImage(archive, {
    compression: opts.compression ?? "zstd",
    ...(opts.workDir ? { tmpDir: opts.workDir } : {}),
    ...(baseImage !== undefined ? { baseImage } : {}),
  });
  try {
    const digest = await publishImage(image, target, {
      insecureRegistries: opts.insecureRegistries ?? [],
      ...(credentials ? { credentials } : {}),
    });
    return { reference, digest, bytes: image.layer.descriptor.size };
  } finally {
    image.dispose();
  }
}

/**
 * An image the node has, pushed unchanged (same manifest digest, same image ID) to the registry
 * `reference`: a migration's base image, for a target that cannot reach where it came from.
 */
export async function publishImageCopy(image: PushableImage, reference: string, opts: ImagePublishing): Promise<{ reference: string; digest: string }> {
  const { target, credentials, insecure } = registryTarget(reference, opts);
  if (target.kind !== "registry") throw new Error(`${reference} is not a registry reference`);
  const digest = await new RegistryPusher(target.ref, { insecure, ...(credentials ? { credentials } : {}) }).pushImage(image);
  return { reference, digest };
}
