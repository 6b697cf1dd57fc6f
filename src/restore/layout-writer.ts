/**
 * Writing a checkpoint image into an OCI image layout (image-spec image-layout.md): blobs under
 * blobs/sha256, the `oci-layout` file, and index.json, to which the image is added (an entry with the
 * same tag is replaced, others are kept). index.json is replaced by rename, so a reader never sees it
 * half written.
 */
import { copyFileSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ImageError } from "../node/images/image-errors.js";
import { ImageIndex, MediaType, parseDocument, REF_NAME_ANNOTATION, type Descriptor } from "../node/images/oci-documents.js";
import { canonicalJson } from "./canonical-json.js";
import type { CheckpointImage } from "./checkpoint-image.js";

export function blobPath(layout: string, digest: string): string {
  return join(layout, "blobs", "sha256", digest.slice("sha256:".length));
}

/** Adds `image` to the layout at `layout` (created if missing) under `tag`; returns the index entry. */
export function writeToLayout(image: CheckpointImage, layout: string, tag: string | undefined): Descriptor {
  mkdirSync(join(layout, "blobs", "sha256"), { recursive: true });
  const layoutFile = join(layout, "oci-layout");
  if (!existsSync(layoutFile)) writeFileSync(layoutFile, canonicalJson({ imageLayoutVersion: "1.0.0" }));
  const put = (digest: string, write: (path: string) => void) => {
    const path = blobPath(layout, digest);
    if (existsSync(path)) return;
    write(`${path}.tmp`);
    renameSync(`${path}.tmp`, path);
  };
  put(image.layer.descriptor.digest, (p) => copyFileSync(image.layer.file!, p));
  put(image.config.descriptor.digest, (p) => writeFileSync(p, image.config.bytes!));
  put(image.manifest.digest, (p) => writeFileSync(p, image.manifestBytes));

  const indexFile = join(layout, "index.json");
  let manifests: Descriptor[] = [];
  let extra: Record<string, unknown> = {};
  if (existsSync(indexFile)) {
    const bytes = readFileSync(indexFile);
    const index = parseDocument(ImageIndex, bytes, indexFile);
    manifests = index.manifests;
    // Keys this module does not know (the index's own annotations) are kept as they were.
    extra = JSON.parse(bytes.toString("utf8")) as Record<string, unknown>;
  }
  const entry: Descriptor = { ...image.manifest, annotations: { ...image.manifest.annotations, ...(tag ? { [REF_NAME_ANNOTATION]: tag } : {}) } };
  const kept = manifests.filter((m) => (tag ? m.annotations?.[REF_NAME_ANNOTATION] !== tag : m.digest !== entry.digest));
  const index = { ...extra, schemaVersion: 2, mediaType: MediaType.ociIndex, manifests: [...kept, entry] };
  writeFileSync(`${indexFile}.tmp`, canonicalJson(index));
  renameSync(`${indexFile}.tmp`, indexFile);
  return entry;
}

/** The manifest entry of `tag` in a layout's index.json (the only entry when no tag is given). */
export function findInIndex(index: ImageIndex, tag: string | undefined, where: string): Descriptor {
  if (tag) {
    const hit = index.manifests.find((m) => m.annotations?.[REF_NAME_ANNOTATION] === tag);
    if (!hit) throw new ImageError(`${where}: no image tagged ${JSON.stringify(tag)}`);
    return hit;
  }
  if (index.manifests.length !== 1) throw new ImageError(`${where}: ${index.manifests.length} images and no tag given; name one with :TAG`);
  return index.manifests[0]!;
}
