/**
 * Reading a checkpoint image back (from an OCI layout, an OCI archive or a registry) and saying what
 * it holds: its annotations (manifest and index entry), its layer, and whether it is a checkpoint
 * image for CRI-O, containerd (org.criu keys) or Podman.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Readable } from "node:stream";
import { sha256Digest } from "../node/images/digest.js";
import { ImageError } from "../node/images/image-errors.js";
import { readCapped, verifyDocument } from "../node/images/image-source.js";
import { ImageConfig, ImageIndex, ImageManifest, manifestKind, MAX_DOCUMENT_BYTES, parseDocument, type Descriptor } from "../node/images/oci-documents.js";
import { RegistrySource } from "../node/images/registry-source.js";
import { summariseAnnotations, type CheckpointImageSummary } from "./checkpoint-annotations.js";
import { isInsecureRegistry, type ImageTarget } from "./image-target.js";
import { blobPath, findInIndex } from "./layout-writer.js";
import { readArchiveDocuments } from "./oci-archive.js";

export interface ImageInspection {
  image: string;
  manifestDigest: string;
  /** The manifest's annotations merged over the index entry's (registries have no index entry). */
  annotations: Record<string, string>;
  manifestAnnotations: Record<string, string>;
  indexAnnotations?: Record<string, string>;
  architecture?: string;
  os?: string;
  layers: Array<{ digest: string; size: number; mediaType: string; diffId?: string }>;
  checkpoint: CheckpointImageSummary;
}

interface Documents {
  entry?: Descriptor;
  manifest: { digest: string; bytes: Buffer; where: string };
  blob(d: Descriptor): Promise<Buffer>;
}

export async function inspectImage(target: ImageTarget, opts: { insecureRegistries?: readonly string[] } = {}): Promise<ImageInspection> {
  const docs = await documents(target, opts.insecureRegistries ?? []);
  const where = docs.manifest.where;
  if (manifestKind(docs.manifest.bytes, undefined, where) !== "manifest") throw new ImageError(`${where}: an image index, not a single image; name the image by digest`);
  const manifest = parseDocument(ImageManifest, docs.manifest.bytes, where);
  const config = parseDocument(ImageConfig, await docs.blob(manifest.config), `${where}: config ${manifest.config.digest}`);
  const manifestAnnotations = manifest.annotations ?? {};
  const indexAnnotations = docs.entry?.annotations;
  const annotations = { ...(indexAnnotations ?? {}), ...manifestAnnotations };
  return {
    image: target.text,
    manifestDigest: docs.manifest.digest,
    annotations,
    manifestAnnotations,
    ...(indexAnnotations ? { indexAnnotations } : {}),
    ...(config.architecture ? { architecture: config.architecture } : {}),
    ...(config.os ? { os: config.os } : {}),
    layers: manifest.layers.map((l, i) => ({ digest: l.digest, size: l.size, mediaType: l.mediaType, ...(config.rootfs.diff_ids[i] ? { diffId: config.rootfs.diff_ids[i] } : {}) })),
    checkpoint: summariseAnnotations(annotations),
  };
}

async function documents(target: ImageTarget, insecure: readonly string[]): Promise<Documents> {
  if (target.kind === "registry") {
    const source = new RegistrySource(target.ref, { insecure: isInsecureRegistry(target.ref.registry, insecure) });
    const fetched = await source.resolve();
    return {
      manifest: { digest: fetched.digest, bytes: fetched.bytes, where: fetched.where },
      blob: async (d) => {
        if (d.size > MAX_DOCUMENT_BYTES) throw new ImageError(`${fetched.where}: blob ${d.digest} is ${d.size} bytes; not a document`);
        const { stream, where } = await source.openBlob(d);
        const bytes = await readCapped(stream as Readable, MAX_DOCUMENT_BYTES, where);
        verifyDocument(bytes, d, where);
        return bytes;
      },
    };
  }
  let index: Buffer;
  let read: (d: Descriptor) => Buffer;
  const where = target.path;
  if (target.kind === "oci") {
    index = readFileSync(join(target.path, "index.json"));
    read = (d) => {
      if (d.size > MAX_DOCUMENT_BYTES) throw new ImageError(`${where}: blob ${d.digest} is ${d.size} bytes; not a document`);
      return readFileSync(blobPath(target.path, d.digest));
    };
  } else {
    const docs = await readArchiveDocuments(target.path);
    index = docs.index;
    read = (d) => {
      const b = docs.blobs.get(d.digest);
      if (!b) throw new ImageError(`${where}: blob ${d.digest} is missing from the archive`);
      return b;
    };
  }
  const entry = findInIndex(parseDocument(ImageIndex, index, `${where}: index.json`), target.tag, where);
  const blob = (d: Descriptor) => {
    const bytes = read(d);
    verifyDocument(bytes, d, `${where}: blob ${d.digest}`);
    return bytes;
  };
  const bytes = blob(entry);
  return { entry, manifest: { digest: sha256Digest(bytes), bytes, where: `${where}: manifest ${entry.digest}` }, blob: async (d) => blob(d) };
}
