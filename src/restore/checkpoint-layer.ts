/**
 * The layer of a checkpoint image as a file: it is the archive's layout, tarred and compressed, so
 * the archive reader opens it like any compressed checkpoint archive. From an OCI layout the blob is
 * used where it lies; from a registry it is downloaded (digest and size checked) into `tmpDir`.
 */
import { createWriteStream } from "node:fs";
import { join } from "node:path";
import { pipeline } from "node:stream/promises";
import { DigestVerifier } from "../node/images/digest.js";
import { ImageError } from "../node/images/image-errors.js";
import { RegistrySource } from "../node/images/registry-source.js";
import { inspectImage } from "./image-inspect.js";
import { isInsecureRegistry, type ImageTarget } from "./image-target.js";
import { blobPath } from "./layout-writer.js";

export async function checkpointLayerFile(target: ImageTarget, tmpDir: string, opts: { insecureRegistries?: readonly string[] } = {}): Promise<string> {
  const image = await inspectImage(target, opts);
  if (!image.checkpoint.isCheckpoint) throw new ImageError(`${target.text}: not a checkpoint image (no checkpoint annotation)`);
  if (image.layers.length !== 1) throw new ImageError(`${target.text}: a checkpoint image has one layer, this one has ${image.layers.length}`);
  const layer = image.layers[0]!;
  if (target.kind === "oci") return blobPath(target.path, layer.digest);
  if (target.kind !== "registry") throw new ImageError(`${target.text}: read an oci-archive image by unpacking it first (tar -x) and naming it oci:DIR`);
  const source = new RegistrySource(target.ref, { insecure: isInsecureRegistry(target.ref.registry, opts.insecureRegistries ?? []) });
  const { stream, where } = await source.openBlob({ mediaType: layer.mediaType, digest: layer.digest, size: layer.size });
  const file = join(tmpDir, "layer");
  await pipeline(stream, new DigestVerifier({ digest: layer.digest, size: layer.size }, where), createWriteStream(file, { mode: 0o600 }));
  return file;
}
