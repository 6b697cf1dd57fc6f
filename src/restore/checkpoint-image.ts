/**
 * A checkpoint archive as a single-layer OCI image (checkpoint-node-facts.md §4): the layer holds the
 * archive's members at its root, the image config names the platform and the layer's diffID, and the
 * checkpoint annotations sit on the manifest (CRI-O, checkpointctl) and on the index entry that
 * points at it (containerd reads them there). The layer is streamed to a temp file; the documents are
 * small and kept in memory. The same archive on the same host gives the same digests.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { arch, release, tmpdir } from "node:os";
import { join } from "node:path";
import { Checkpoint } from "../checkpoint/checkpoint.js";
import { CONFIG_DUMP, DUMP_LOG } from "../checkpoint/layout-names.js";
import { ArchiveError, type OpenOptions } from "../checkpoint/archive/checkpoint-archive.js";
import type { Refusal } from "../checkpoint/archive/member-policy.js";
import { sha256Digest } from "../node/images/digest.js";
import { MediaType, type Descriptor } from "../node/images/oci-documents.js";
import { canonicalJson } from "./canonical-json.js";
import { checkpointAnnotations, criuVersionFromLog, goArch } from "./checkpoint-annotations.js";
import { CompressionError, writeLayerBlob, type LayerBlob, type LayerCompression } from "./layer-blob.js";
import { layerTar } from "./layer-tar.js";

export interface BuildOptions {
  compression?: LayerCompression;
  /** Defaults: this host's (the checkpoint can only be restored on the same architecture). */
  hostArch?: string;
  hostKernel?: string;
  /** Where the layer's temp file goes (default the OS temp dir). */
  tmpDir?: string;
  /**
   * The base image to record in the image's config.dump (rootfsImage, rootfsImageName) and
   * annotations instead of the archive's: where a copy of the same image (same image ID) was pushed
   * for a node that cannot reach the original.
   */
  baseImage?: string;
  /** Opens a sealed archive. */
  open?: OpenOptions;
}

export interface Blob {
  descriptor: Descriptor;
  /** Small documents are in memory, the layer is a file. */
  bytes?: Buffer;
  file?: string;
}

export interface CheckpointImage {
  /** The manifest's descriptor, annotations included: the entry an index lists. */
  manifest: Descriptor;
  manifestBytes: Buffer;
  config: Blob;
  layer: Blob & { diffId: string };
  annotations: Record<string, string>;
  /** Archive members not put into the layer (links, devices, hostile names). */
  refused: Refusal[];
  /** Removes the layer's temp file. */
  dispose(): void;
}

/** The platform's `created` time: the checkpoint's, so that the config does not change from build to build. */
function createdTime(checkpointed: string | undefined): string {
  return checkpointed && !checkpointed.startsWith("0001-") ? checkpointed : "1970-01-01T00:00:00Z";
}

export async function buildCheckpointImage(archivePath: string, opts: BuildOptions = {}): Promise<CheckpointImage> {
  const compression = opts.compression ?? "gzip";
  const cp = await Checkpoint.open(archivePath, opts.open);
  let facts;
  const replace = new Map<string, Buffer>();
  try {
    let config = cp.config();
    if (opts.baseImage !== undefined) {
      config = { ...config, rootfsImage: opts.baseImage, rootfsImageName: opts.baseImage };
      // The file's own keys are all kept, known or not; only the base image's name changes.
      const raw = JSON.parse(Buffer.from(cp.archive.read(CONFIG_DUMP)).toString("utf8")) as Record<string, unknown>;
      replace.set(CONFIG_DUMP, Buffer.from(JSON.stringify({ ...raw, rootfsImage: opts.baseImage, rootfsImageName: opts.baseImage }, null, "  ")));
    }
    const container = cp.container();
    let criuVersion: string | undefined;
    if (cp.archive.has(DUMP_LOG)) {
      try {
        const head = cp.archive.readRange(DUMP_LOG, 0, Math.min(cp.archive.size(DUMP_LOG), 4096));
        criuVersion = criuVersionFromLog(Buffer.from(head).toString("utf8"));
      } catch {
        // A dump.log too big to be kept from a compressed archive: the version is optional.
      }
    }
    facts = { container, config, criuVersion, hostArch: opts.hostArch ?? goArch(arch()), hostKernel: opts.hostKernel ?? release() };
  } finally {
    cp.close();
  }
  const annotations = checkpointAnnotations(facts);

  const dir = mkdtempSync(join(opts.tmpDir ?? tmpdir(), "ckpt-image-"));
  const dispose = () => rmSync(dir, { recursive: true, force: true });
  let layer: LayerBlob;
  let refused: Refusal[];
  try {
    const tar = await layerTar(archivePath, replace, opts.open);
    layer = await writeLayerBlob(tar.stream, compression, join(dir, "layer"));
    refused = tar.refused;
  } catch (err) {
    dispose();
    if (err instanceof CompressionError) throw err;
    throw new ArchiveError(`${archivePath}: cannot read the archive into the image layer: ${(err as Error).message}`, { cause: err });
  }

  const created = createdTime(facts.config.checkpointedTime);
  const configBytes = canonicalJson({
    architecture: facts.hostArch,
    os: "linux",
    created,
    config: { Labels: {} },
    rootfs: { type: "layers", diff_ids: [layer.diffId] },
    history: [{ created, created_by: `ckpt image build (checkpoint of container ${facts.container.name})`, comment: "checkpoint archive" }],
  });
  const configDesc: Descriptor = { mediaType: MediaType.ociConfig, digest: sha256Digest(configBytes), size: configBytes.length };
  const layerDesc: Descriptor = { mediaType: layer.mediaType, digest: layer.digest, size: layer.size };
  const manifestBytes = canonicalJson({
    schemaVersion: 2,
    mediaType: MediaType.ociManifest,
    config: configDesc,
    layers: [layerDesc],
    annotations,
  });
  const manifest: Descriptor = {
    mediaType: MediaType.ociManifest,
    digest: sha256Digest(manifestBytes),
    size: manifestBytes.length,
    annotations,
    platform: { architecture: facts.hostArch, os: "linux" },
  };
  return {
    manifest,
    manifestBytes,
    config: { descriptor: configDesc, bytes: configBytes },
    layer: { descriptor: layerDesc, file: layer.file, diffId: layer.diffId },
    annotations,
    refused,
    dispose,
  };
}
