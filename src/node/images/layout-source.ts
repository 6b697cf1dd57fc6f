/**
 * An OCI image layout on disk (image-spec layout.md): `oci-layout`, `index.json`, `blobs/sha256/…`.
 * The image is the index entry whose org.opencontainers.image.ref.name annotation is the tag; without
 * a tag, the only entry, else the one named "latest" (what skopeo and umoci do).
 */
import { createReadStream } from "node:fs";
import { open } from "node:fs/promises";
import { join } from "node:path";
import type { Readable } from "node:stream";
import { digestHex } from "./digest.js";
import { ImageError } from "./image-errors.js";
import type { FetchedManifest, ImageSource } from "./image-source.js";
import { readCapped, verifyDocument } from "./image-source.js";
import type { LayoutReference } from "./image-reference.js";
import { type Descriptor, ImageIndex, MAX_DOCUMENT_BYTES, OciLayoutFile, parseDocument, REF_NAME_ANNOTATION } from "./oci-documents.js";

export class LayoutSource implements ImageSource {
  /** The ref name of the chosen entry, once resolve() has run (undefined for an unnamed one). */
  resolvedTag: string | undefined;

  constructor(readonly ref: LayoutReference) {}

  async resolve(): Promise<FetchedManifest> {
    const { layout, tag } = this.ref;
    const layoutFile = join(layout, "oci-layout");
    const version = parseDocument(OciLayoutFile, await this.readDocument(layoutFile), layoutFile).imageLayoutVersion;
    if (!version.startsWith("1.")) throw new ImageError(`${layoutFile}: imageLayoutVersion ${version} is not 1.x`);
    const indexFile = join(layout, "index.json");
    const index = parseDocument(ImageIndex, await this.readDocument(indexFile), indexFile);
    const names = index.manifests.map((d) => d.annotations?.[REF_NAME_ANNOTATION]);
    const pick = (wanted: string) => index.manifests.filter((d) => d.annotations?.[REF_NAME_ANNOTATION] === wanted);
    let chosen: Descriptor[];
    if (tag !== undefined) chosen = pick(tag);
    else if (index.manifests.length === 1) chosen = index.manifests;
    else chosen = pick("latest");
    const wanted = tag ?? (index.manifests.length === 1 ? "the only image" : '"latest"');
    const offered = names.filter((n) => n !== undefined).map((n) => JSON.stringify(n));
    if (chosen.length === 0) throw new ImageError(`${indexFile}: no image tagged ${tag ?? "latest"} (tags: ${offered.join(", ") || "none"})`);
    if (chosen.length > 1) throw new ImageError(`${indexFile}: ${chosen.length} entries for ${wanted}; cannot choose`);
    this.resolvedTag = chosen[0]!.annotations?.[REF_NAME_ANNOTATION];
    return this.manifest(chosen[0]!);
  }

  async manifest(descriptor: Descriptor): Promise<FetchedManifest> {
    const where = this.blobPath(descriptor.digest);
    if (descriptor.size > MAX_DOCUMENT_BYTES) throw new ImageError(`${where}: its descriptor gives ${descriptor.size} bytes; not an image document`);
    const bytes = await this.readDocument(where);
    verifyDocument(bytes, descriptor, where);
    return { digest: descriptor.digest, mediaType: descriptor.mediaType, bytes, where };
  }

  async openBlob(descriptor: Descriptor): Promise<{ stream: Readable; where: string }> {
    const where = this.blobPath(descriptor.digest);
    // Opened here so that a missing blob is an error of this call, not of the stream later.
    const handle = await open(where, "r").catch((err: NodeJS.ErrnoException) => {
      throw new ImageError(`${where}: ${err.code === "ENOENT" ? "missing from the layout" : err.message}`);
    });
    return { stream: handle.createReadStream({ highWaterMark: 1 << 20 }), where };
  }

  private blobPath(digest: string): string {
    return join(this.ref.layout, "blobs", "sha256", digestHex(digest, join(this.ref.layout, "index.json")));
  }

  private async readDocument(path: string): Promise<Buffer> {
    try {
      return await readCapped(createReadStream(path), MAX_DOCUMENT_BYTES, path);
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      if (e.code === "ENOENT") {
        throw new ImageError(`${path}: missing${path.endsWith("oci-layout") || path.endsWith("index.json") ? ` (${this.ref.layout} is not an OCI image layout)` : ""}`);
      }
      if (e.code) throw new ImageError(`${path}: ${e.message}`);
      throw err;
    }
  }
}
