/**
 * A checkpoint: its archive, its metadata parsed with the engine's conventions, and its CRIU images.
 * Container facts follow checkpointctl 1.3.0 (engine from spec.dump's io.container.manager; name,
 * pod, IP and creation time from the engine's own annotations), so that ckpt and checkpointctl agree.
 */
import { ImageDir } from "../criu-images/image-dir.js";
import type { WireMessage } from "../criu-images/wire-reader.js";
import { readEntries } from "../criu-images/image-file.js";
import { ArchiveError, CheckpointArchive, CHECKPOINT_DIR, type OpenOptions } from "./archive/checkpoint-archive.js";
import { AMDGPU_PAGES_PREFIX, ANNOTATIONS, CONFIG_DUMP, DELETED_FILES, PAGES_PREFIX, POD_CHECKPOINT_MANIFEST, ROOTFS_DIFF, SPEC_DUMP, STATS_DUMP } from "./layout-names.js";
import { ConfigDump, DeletedFiles, parseMetadata, SpecDump } from "./metadata.js";

export type Engine = "CRI-O" | "Podman" | "containerd";

export interface ContainerInfo {
  name: string;
  image: string;
  id: string;
  runtime: string;
  created: string;
  checkpointed?: string;
  engine: Engine;
  ip?: string;
  pod?: string;
  namespace?: string;
}

export interface CheckpointSizes {
  /** Regular members whose name starts with "checkpoint" (checkpointctl's rule). */
  total: number;
  memoryPages: number;
  amdGpuPages: number;
  rootfsDiff: number;
}

/** Go's time.Format(RFC3339) of an RFC3339Nano string: fractional seconds dropped, offset kept. */
export function rfc3339Seconds(time: string): string {
  return time.replace(/(\d{2}:\d{2}:\d{2})\.\d+/, "$1");
}

export class Checkpoint {
  private configCache?: ConfigDump;
  private specCache?: SpecDump;
  readonly images: ImageDir;

  private constructor(readonly archive: CheckpointArchive) {
    this.images = new ImageDir(archive.imageFiles());
  }

  static async open(path: string, opts: OpenOptions = {}): Promise<Checkpoint> {
    return Checkpoint.fromArchive(await CheckpointArchive.open(path, opts));
  }

  /** The checkpoint held by an open archive (closed here when it holds none). */
  static fromArchive(archive: CheckpointArchive): Checkpoint {
    if (!archive.hasDirectory(CHECKPOINT_DIR)) {
      archive.close();
      if (archive.has(POD_CHECKPOINT_MANIFEST)) {
        // Also a pod checkpoint's tar whose manifest is not its first member, which is not read as one.
        throw new ArchiveError(`${archive.path}: no checkpoint directory but a ${POD_CHECKPOINT_MANIFEST}: pod checkpoints are read by show, inspect and list (in a tar, the manifest must be the first member)`);
      }
      throw new ArchiveError(`${archive.path}: checkpoint directory is missing in the archive`);
    }
    return new Checkpoint(archive);
  }

  get path(): string {
    return this.archive.path;
  }

  private where(member: string): string {
    return `${this.path}: ${member}`;
  }

  /** Whether the archive has container metadata (a bare CRIU image directory has none). */
  get hasMetadata(): boolean {
    return this.archive.has(CONFIG_DUMP) && this.archive.has(SPEC_DUMP);
  }

  config(): ConfigDump {
    if (!this.configCache) {
      if (!this.archive.has(CONFIG_DUMP)) throw new ArchiveError(`${this.where(CONFIG_DUMP)}: missing in the archive`);
      this.configCache = parseMetadata(ConfigDump, this.archive.read(CONFIG_DUMP), this.where(CONFIG_DUMP));
    }
    return this.configCache;
  }

  spec(): SpecDump {
    if (!this.specCache) {
      if (!this.archive.has(SPEC_DUMP)) throw new ArchiveError(`${this.where(SPEC_DUMP)}: missing in the archive`);
      this.specCache = parseMetadata(SpecDump, this.archive.read(SPEC_DUMP), this.where(SPEC_DUMP));
    }
    return this.specCache;
  }

  /** The paths deleted.files lists (CRI-O's layout): files the container removed from its image. */
  deletedFiles(): string[] {
    if (!this.archive.has(DELETED_FILES)) return [];
    return parseMetadata(DeletedFiles, this.archive.read(DELETED_FILES), this.where(DELETED_FILES));
  }

  engine(): Engine {
    const manager = this.spec().annotations?.[ANNOTATIONS.manager];
    return manager === "libpod" ? "Podman" : manager === "cri-o" ? "CRI-O" : "containerd";
  }

  container(): ContainerInfo {
    const config = this.config();
    const annotations = this.spec().annotations ?? {};
    const engine = this.engine();
    const base = {
      image: config.rootfsImageName ?? "",
      id: config.id,
      runtime: config.runtime ?? "",
      engine,
      checkpointed: config.checkpointedTime,
    };
    if (engine === "CRI-O") {
      let name: string;
      try {
        name = metadataName(JSON.parse(annotations[ANNOTATIONS.crioMetadata] ?? ""));
      } catch {
        throw new ArchiveError(`${this.where(SPEC_DUMP)}: annotation ${ANNOTATIONS.crioMetadata} is not JSON with a name`);
      }
      return {
        ...base,
        name,
        created: annotations[ANNOTATIONS.crioCreated] ?? "",
        ip: annotations[ANNOTATIONS.crioIp],
        pod: annotations[ANNOTATIONS.podName],
        namespace: annotations[ANNOTATIONS.podNamespace],
      };
    }
    const created = config.createdTime ? rfc3339Seconds(config.createdTime) : "";
    if (engine === "Podman") return { ...base, name: config.name, created };
    return {
      ...base,
      name: annotations[ANNOTATIONS.containerdName] ?? "",
      created,
      pod: annotations[ANNOTATIONS.containerdSandboxName],
      namespace: annotations[ANNOTATIONS.containerdSandboxNamespace],
    };
  }

  sizes(): CheckpointSizes {
    const sizes: CheckpointSizes = { total: 0, memoryPages: 0, amdGpuPages: 0, rootfsDiff: 0 };
    for (const m of this.archive.members.values()) {
      if (m.type !== "file") continue;
      if (m.name.startsWith(CHECKPOINT_DIR)) sizes.total += m.size;
      if (m.name.startsWith(PAGES_PREFIX)) sizes.memoryPages += m.size;
      if (m.name.startsWith(AMDGPU_PAGES_PREFIX)) sizes.amdGpuPages += m.size;
      if (m.name === ROOTFS_DIFF) sizes.rootfsDiff = m.size;
    }
    return sizes;
  }

  /** CRIU's dump statistics (stats-dump at the top of the archive, or in checkpoint/), if present. */
  dumpStats(): WireMessage | undefined {
    for (const name of [STATS_DUMP, `${CHECKPOINT_DIR}/${STATS_DUMP}`]) {
      if (!this.archive.has(name)) continue;
      const [entry] = readEntries(this.archive.read(name), `${this.path}:${name}`);
      return entry?.message.dump as WireMessage | undefined;
    }
    return undefined;
  }

  close(): void {
    this.archive.close();
  }
}

function metadataName(metadata: unknown): string {
  const name = (metadata as { name?: unknown } | null)?.name;
  if (typeof name !== "string") throw new Error("no name");
  return name;
}
