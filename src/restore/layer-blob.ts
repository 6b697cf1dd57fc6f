/**
 * A layer tar compressed into a blob file, with both digests computed on the way (the blob's digest
 * over the compressed bytes, the diffID over the tar), so nothing is read twice or held in memory.
 * gzip is Node's zlib (its header carries no timestamp, so the bytes are reproducible); zstd is the
 * `zstd` CLI, as Node 20 has no zstd encoder.
 */
import { spawn } from "node:child_process";
import { createWriteStream } from "node:fs";
import { Readable, Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { createGzip } from "node:zlib";
import { DigestMeter } from "../node/images/digest.js";

export type LayerCompression = "gzip" | "zstd";

export const LAYER_MEDIA_TYPE: Record<LayerCompression, string> = {
  gzip: "application/vnd.oci.image.layer.v1.tar+gzip",
  zstd: "application/vnd.oci.image.layer.v1.tar+zstd",
};

export interface LayerBlob {
  /** The compressed blob on disk. */
  file: string;
  digest: string;
  size: number;
  diffId: string;
  mediaType: string;
}

/** The layer could not be compressed (the zstd program is missing or failed). */
export class CompressionError extends Error {
  override name = "CompressionError";
}

export async function writeLayerBlob(tar: Readable, compression: LayerCompression, file: string): Promise<LayerBlob> {
  const diff = new DigestMeter();
  const blob = new DigestMeter();
  const out = createWriteStream(file, { mode: 0o600 });
  if (compression === "gzip") {
    await pipeline(tar, diff, createGzip({ level: 6, chunkSize: 1 << 20 }), blob, out);
  } else {
    // --no-check: no frame checksum, as containers/storage writes zstd layers; -T1 keeps output independent of core count.
    const child = spawn("zstd", ["-q", "-c", "-3", "-T1", "--no-check"], { stdio: ["pipe", "pipe", "pipe"] });
    let stderr = "";
    child.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
    const exited = new Promise<number | null>((resolve, reject) => {
      child.on("error", (err) => reject(new CompressionError(`zstd: cannot run the zstd program (${err.message}); install zstd or use --compression gzip`)));
      child.on("close", resolve);
    });
    const write = pipeline(tar, diff, child.stdin as Writable);
    const read = pipeline(child.stdout, blob, out);
    const [, , code] = await Promise.all([write, read, exited]);
    if (code !== 0) throw new CompressionError(`zstd exited with ${code}: ${stderr.trim()}`);
  }
  return { file, digest: blob.digest(), size: blob.bytes, diffId: diff.digest(), mediaType: LAYER_MEDIA_TYPE[compression] };
}
