/**
 * The node agent's image store: resolves an image reference (an OCI layout on disk or a registry
 * image) to unpacked layer directories and run defaults, pulling what is missing.
 *
 * On disk, under the root:
 *   blobs/sha256/<hex>      content-addressed cache of manifests, configs and layer blobs
 *   layers/sha256/<hex>/    one unpacked layer per diffID, usable as an overlayfs lower directory
 *   images/<hash>.json      one record per normalised image name
 *   tmp/                    work in progress; renamed into place only when complete
 * Everything is keyed by content, so two images sharing a layer share its directory, and a pull whose
 * layers are all present downloads nothing but the manifest.
 */
import { execa } from "execa";
import { mkdir, readdir, readFile, rename, rm, stat } from "node:fs/promises";
import { join, resolve } from "node:path";
import { digestHex } from "./digest.js";
import { ImageError, ImageNotPresentError } from "./image-errors.js";
import { ImageRecords, type ImageRecord } from "./image-records.js";
import { imageName, type ImageReference, parseImageReference, repositoryName } from "./image-reference.js";
import { processDefaults } from "./image-config.js";
import { type FetchedManifest, type ImageSource, verifyDocument } from "./image-source.js";
import { DEFAULT_LAYER_LIMITS, type LayerLimits, unpackLayer } from "./layer-unpacker.js";
import { LayoutSource } from "./layout-source.js";
import { type Descriptor, ImageConfig, ImageIndex, ImageManifest, manifestKind, MAX_DOCUMENT_BYTES, MediaType, parseDocument, type Platform } from "./oci-documents.js";
import { hostPlatform, selectPlatform } from "./platform.js";
import { RegistrySource } from "./registry-source.js";
import type { ResolvedImage } from "./resolved-image.js";
import { BlobStore } from "./blob-store.js";
import { SingleFlight } from "./single-flight.js";
import { tempPath } from "./store-files.js";

export type PullPolicy = "Always" | "IfNotPresent" | "Never";

/** An image's manifest and blobs, as ImageStore.exportImage gives them. */
export interface ExportedImage {
  manifest: Descriptor;
  manifestBytes: Buffer;
  /** The config first, then the layers. */
  blobs: Array<{ descriptor: Descriptor; file: string }>;
}

export interface EnsureOptions {
  /** Default: the kubelet's rule, "Always" for a ":latest" or untagged image, else "IfNotPresent". */
  pullPolicy?: PullPolicy;
  signal?: AbortSignal;
}

export interface ImageStoreOptions {
  /** Registries (host or host:port, as written in references) reached over plain HTTP. */
  insecureRegistries?: string[];
  /** The platform picked from multi-platform images; default this node's (linux/amd64 here). */
  platform?: Platform;
  /** Caps on one unpacked layer. */
  layerLimits?: Partial<LayerLimits>;
  /** How long a registry may take to answer a request (default 30 s). */
  requestTimeoutMs?: number;
}

/** Index → index nesting allowed before giving up (real images use one level). */
const MAX_INDEX_DEPTH = 4;
/** Layers downloaded and unpacked at once. */
const LAYER_CONCURRENCY = 3;

export class ImageStore {
  readonly root: string;
  private readonly tmpDir: string;
  private readonly layersDir: string;
  private readonly blobs: BlobStore;
  private readonly records: ImageRecords;
  private readonly insecure: ReadonlySet<string>;
  private readonly platform: Platform;
  private readonly limits: LayerLimits;
  private readonly pulls = new SingleFlight<ImageRecord>();
  private readonly layerFlights = new SingleFlight<string>();
  private ready: Promise<void> | undefined;

  constructor(
    root: string,
    private readonly opts: ImageStoreOptions = {},
  ) {
    this.root = resolve(root);
    // Layer directories end up in an overlay mount's lowerdir option, where ":" and "," separate.
    if (/[:,]/.test(this.root)) throw new ImageError(`image store root ${this.root}: ":" and "," cannot appear in overlayfs lowerdir paths`);
    this.tmpDir = join(this.root, "tmp");
    this.layersDir = join(this.root, "layers", "sha256");
    this.blobs = new BlobStore(join(this.root, "blobs"), this.tmpDir);
    this.records = new ImageRecords(join(this.root, "images"), this.tmpDir);
    this.insecure = new Set(opts.insecureRegistries ?? []);
    this.platform = opts.platform ?? hostPlatform();
    this.limits = { ...DEFAULT_LAYER_LIMITS, ...opts.layerLimits };
  }

  /**
   * The image, ready to run: from the store when present and the policy allows, pulled otherwise.
   * Concurrent calls for one image share one pull.
   */
  async ensure(reference: string, opts: EnsureOptions = {}): Promise<ResolvedImage> {
    const ref = parseImageReference(reference);
    const name = imageName(ref);
    const policy = opts.pullPolicy ?? defaultPullPolicy(ref);
    await this.init();
    if (policy !== "Always") {
      const present = await this.present(name);
      if (present) return this.resolved(present, reference);
      if (policy === "Never") throw new ImageNotPresentError(`image ${reference}: not in the image store ${this.root}, and pullPolicy is Never`);
    }
    const record = await this.pulls.run(name, (signal) => this.pull(ref, name, signal), opts.signal);
    return this.resolved(record, reference);
  }

  /**
   * The annotations of the image's manifest, and of the index entry that chose it: enough to tell a
   * checkpoint image from a plain one without pulling its layers.
   */
  async annotations(reference: string, signal?: AbortSignal): Promise<Record<string, string>> {
    const ref = parseImageReference(reference);
    const source = this.source(ref);
    let doc: FetchedManifest = await source.resolve(signal);
    const found: Record<string, string> = {};
    for (let depth = 0; manifestKind(doc.bytes, doc.mediaType, doc.where) === "index"; depth++) {
      if (depth === MAX_INDEX_DEPTH) throw new ImageError(`${doc.where}: image indexes nested more than ${MAX_INDEX_DEPTH} deep`);
      const entry = selectPlatform(parseDocument(ImageIndex, doc.bytes, doc.where), this.platform, doc.where);
      Object.assign(found, entry.annotations ?? {});
      doc = await source.manifest(entry, signal);
    }
    return { ...found, ...(parseDocument(ImageManifest, doc.bytes, doc.where).annotations ?? {}) };
  }

  private source(ref: ImageReference): ImageSource {
    return ref.kind === "oci-layout"
      ? new LayoutSource(ref)
      : new RegistrySource(ref, { insecure: this.insecure.has(ref.registry), ...(this.opts.requestTimeoutMs ? { requestTimeoutMs: this.opts.requestTimeoutMs } : {}) });
  }

  /** The image if the store has it, without pulling. */
  async get(reference: string): Promise<ResolvedImage | undefined> {
    const record = await this.present(imageName(parseImageReference(reference)));
    return record && this.resolved(record, reference);
  }

  /** Every image the store has, by normalised name (reference = name). */
  async list(): Promise<ResolvedImage[]> {
    const out: ResolvedImage[] = [];
    for (const record of await this.records.all()) {
      if (await this.layersPresent(record)) out.push(this.resolved(record, record.name));
    }
    return out;
  }

  /**
   * Removes these images (normalised names), and the layers and blobs no image left in the store
   * uses. Returns the names that were there.
   */
  async remove(names: readonly string[]): Promise<string[]> {
    await this.init();
    const all = await this.records.all();
    const gone = all.filter((r) => names.includes(r.name));
    if (!gone.length) return [];
    const kept = all.filter((r) => !names.includes(r.name));
    const keptLayers = new Set(kept.flatMap((r) => r.layers.map((l) => l.diffId)));
    const keptBlobs = new Set(kept.flatMap((r) => [r.digest, r.manifestDigest, r.configDigest, ...r.layers.map((l) => l.digest)]));
    for (const r of gone) {
      // The record first: an image without it is absent, whatever of its files are left.
      await this.records.remove(r.name);
      for (const l of r.layers) if (!keptLayers.has(l.diffId)) await rm(this.layerDir(l.diffId), { recursive: true, force: true });
      for (const d of [r.digest, r.manifestDigest, r.configDigest, ...r.layers.map((l) => l.digest)]) {
        if (!keptBlobs.has(d)) await rm(this.blobs.path(d), { force: true });
      }
    }
    return gone.map((r) => r.name);
  }

  /**
   * The image as it was pulled, for pushing it elsewhere unchanged (a migration's base image): its
   * platform manifest's bytes and a file for each blob it names. A layer blob the store did not keep
   * (its layer was already unpacked for another image) is fetched again from the image's source.
   */
  async exportImage(reference: string, signal?: AbortSignal): Promise<ExportedImage> {
    await this.init();
    const ref = parseImageReference(reference);
    const record = await this.present(imageName(ref));
    if (!record) throw new ImageNotPresentError(`image ${reference}: not in the image store ${this.root}`);
    const manifestPath = this.blobs.path(record.manifestDigest);
    const manifestBytes = await readFile(manifestPath).catch((err: Error) => {
      throw new ImageError(`image ${reference}: its manifest ${record.manifestDigest} is not in the store (${err.message})`, { cause: err });
    });
    verifyDocument(manifestBytes, { digest: record.manifestDigest, size: manifestBytes.length }, manifestPath);
    const manifest = parseDocument(ImageManifest, manifestBytes, manifestPath);
    const source = this.source(ref);
    const blobs: ExportedImage["blobs"] = [];
    for (const d of [manifest.config, ...manifest.layers]) {
      const descriptor = { mediaType: d.mediaType, digest: d.digest, size: d.size };
      blobs.push({ descriptor, file: await this.blobs.ensure(descriptor, () => source.openBlob(descriptor, signal), signal) });
    }
    return {
      manifest: { mediaType: manifest.mediaType ?? MediaType.ociManifest, digest: record.manifestDigest, size: manifestBytes.length },
      manifestBytes,
      blobs,
    };
  }

  /** The directory a layer with this diffID unpacks to. */
  layerDir(diffId: string): string {
    return join(this.layersDir, digestHex(diffId, "layer"));
  }

  private async present(name: string): Promise<ImageRecord | undefined> {
    const record = await this.records.get(name);
    return record && (await this.layersPresent(record)) ? record : undefined;
  }

  private async layersPresent(record: ImageRecord): Promise<boolean> {
    for (const l of record.layers) {
      if (!(await stat(this.layerDir(l.diffId)).catch(() => undefined))?.isDirectory()) return false;
    }
    return true;
  }

  private resolved(record: ImageRecord, reference: string): ResolvedImage {
    return {
      reference,
      name: record.name,
      imageId: record.configDigest,
      ...(record.repoDigest ? { repoDigest: record.repoDigest } : {}),
      layers: record.layers.map((l) => this.layerDir(l.diffId)),
      process: structuredClone(record.process),
    };
  }

  private init(): Promise<void> {
    this.ready ??= (async () => {
      for (const dir of [this.tmpDir, this.layersDir, join(this.root, "blobs", "sha256"), this.records.dir]) await mkdir(dir, { recursive: true, mode: 0o700 });
      await this.removeStaleTemps();
    })();
    return this.ready;
  }

  /** Leftovers of processes that died mid-write (temp names carry the writer's pid). */
  private async removeStaleTemps(): Promise<void> {
    for (const name of await readdir(this.tmpDir)) {
      const pid = Number(/\.(\d+)\.[0-9a-f]+$/.exec(name)?.[1]);
      if (!Number.isInteger(pid) || pid === process.pid || processAlive(pid)) continue;
      await rm(join(this.tmpDir, name), { recursive: true, force: true });
    }
  }

  private async pull(ref: ImageReference, name: string, signal: AbortSignal): Promise<ImageRecord> {
    const source = this.source(ref);
    const top = await source.resolve(signal);
    await this.blobs.putVerified(top.digest, top.bytes);
    let doc: FetchedManifest = top;
    for (let depth = 0; manifestKind(doc.bytes, doc.mediaType, doc.where) === "index"; depth++) {
      if (depth === MAX_INDEX_DEPTH) throw new ImageError(`${doc.where}: image indexes nested more than ${MAX_INDEX_DEPTH} deep`);
      const index = parseDocument(ImageIndex, doc.bytes, doc.where);
      doc = await source.manifest(selectPlatform(index, this.platform, doc.where), signal);
      await this.blobs.putVerified(doc.digest, doc.bytes);
    }
    const manifest = parseDocument(ImageManifest, doc.bytes, doc.where);
    const config = await this.config(source, manifest.config, name, signal);
    if (config.os && config.os !== this.platform.os) throw new ImageError(`image ${name}: built for os ${config.os}, this node runs ${this.platform.os}`);
    if (config.architecture && config.architecture !== this.platform.architecture) {
      throw new ImageError(`image ${name}: built for ${config.architecture}, this node is ${this.platform.architecture}`);
    }
    const diffIds = config.rootfs.diff_ids;
    if (diffIds.length !== manifest.layers.length) {
      throw new ImageError(`image ${name}: the manifest (${doc.where}) has ${manifest.layers.length} layers, its config ${diffIds.length} diff_ids`);
    }
    await mapLimit(manifest.layers, LAYER_CONCURRENCY, (layer, i) => this.ensureLayer(source, layer, diffIds[i]!, signal));
    const record: ImageRecord = {
      version: 1,
      name,
      digest: top.digest,
      manifestDigest: doc.digest,
      configDigest: manifest.config.digest,
      // The digest the reference resolved to, as `docker images --digests` and the CRI report it.
      repoDigest: `${repositoryName(ref)}@${top.digest}`,
      layers: manifest.layers.map((l, i) => ({ digest: l.digest, diffId: diffIds[i]!, mediaType: l.mediaType, size: l.size })),
      process: processDefaults(config),
      pulledAt: new Date().toISOString(),
    };
    await this.records.put(record);
    return record;
  }

  private async config(source: ImageSource, descriptor: Descriptor, name: string, signal: AbortSignal): Promise<ImageConfig> {
    const where = `config ${descriptor.digest} of ${name}`;
    if (descriptor.size > MAX_DOCUMENT_BYTES) throw new ImageError(`${where}: its descriptor gives ${descriptor.size} bytes; not an image config`);
    const path = await this.blobs.ensure(descriptor, () => source.openBlob(descriptor, signal), signal);
    const bytes = await readFile(path);
    // The cache is trusted for size only; a config is small enough to check again each time.
    verifyDocument(bytes, descriptor, path);
    return parseDocument(ImageConfig, bytes, `${path} (${where})`);
  }

  /** The layer's directory, unpacked from its blob unless already there. */
  private ensureLayer(source: ImageSource, descriptor: Descriptor, diffId: string, signal: AbortSignal): Promise<string> {
    const dir = this.layerDir(diffId);
    return this.layerFlights.run(
      diffId,
      async (shared) => {
        if ((await stat(dir).catch(() => undefined))?.isDirectory()) return dir;
        const blob = await this.blobs.ensure(descriptor, () => source.openBlob(descriptor, shared), shared);
        const tmp = tempPath(this.tmpDir, `layer-${digestHex(diffId, "layer").slice(0, 12)}`);
        await mkdir(tmp, { mode: 0o700 });
        try {
          await unpackLayer({ blobPath: blob, descriptor, diffId, target: tmp, limits: this.limits, signal: shared });
          // One syncfs for the whole tree, so that after a power loss a layer that is in place is whole.
          await execa("sync", ["-f", tmp], { cancelSignal: shared });
          await rename(tmp, dir);
        } catch (err) {
          await rm(tmp, { recursive: true, force: true });
          // Another process unpacked the same layer first: its directory is as good as ours.
          const code = (err as NodeJS.ErrnoException).code;
          if ((code === "ENOTEMPTY" || code === "EEXIST") && (await stat(dir).catch(() => undefined))?.isDirectory()) return dir;
          throw err;
        }
        return dir;
      },
      signal,
    );
  }
}

/** The kubelet's defaulting of imagePullPolicy. */
export function defaultPullPolicy(ref: ImageReference): PullPolicy {
  if (ref.kind === "registry" && ref.digest) return "IfNotPresent";
  return ref.tag === undefined || ref.tag === "latest" ? "Always" : "IfNotPresent";
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** fn over items, at most `limit` at once; after a failure no new item starts, and the first error is
 * thrown once the running ones have settled (nothing keeps writing after the pull has failed). */
async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  let failure: { err: unknown } | undefined;
  const worker = async () => {
    while (!failure && next < items.length) {
      const i = next++;
      try {
        results[i] = await fn(items[i]!, i);
      } catch (err) {
        failure ??= { err };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  if (failure) throw failure.err;
  return results;
}
