/**
 * A layer blob's compression: the media type announces it, the first bytes decide (Docker and
 * containerd do the same, and images whose media type lies about it exist). gzip with Node's zlib,
 * zstd with fzstd's streaming decoder; the OCI spec allows no other.
 */
import { open } from "node:fs/promises";
import { PassThrough, type Transform } from "node:stream";
import { detectCompression, gunzipper, zstdDecompressor } from "../../checkpoint/archive/compression.js";
import { LayerError } from "./image-errors.js";
import { LAYER_MEDIA_TYPES } from "./oci-documents.js";

export type LayerCompression = "none" | "gzip" | "zstd";

export async function layerCompression(blobPath: string, digest: string, mediaType: string): Promise<LayerCompression> {
  const announced = LAYER_MEDIA_TYPES.get(mediaType);
  if (announced === undefined) throw new LayerError(digest, undefined, `media type ${mediaType} is not a layer this node can unpack`);
  const head = Buffer.alloc(6);
  const file = await open(blobPath, "r");
  let got: number;
  try {
    ({ bytesRead: got } = await file.read(head, 0, head.length, 0));
  } finally {
    await file.close();
  }
  const found = detectCompression(head.subarray(0, got));
  if (found === "xz" || found === "bzip2") {
    throw new LayerError(digest, undefined, "xz or bzip2 compressed; OCI layers are tar, gzip or zstd");
  }
  return found;
}

export function decompressor(compression: LayerCompression): Transform {
  switch (compression) {
    case "none":
      return new PassThrough();
    case "gzip":
      return gunzipper();
    case "zstd":
      return zstdDecompressor();
  }
}
