/**
 * A pod checkpoint as stored (../pod-checkpoint-manifest.ts): its directory, or the tar of it whose
 * first member is the manifest (plain, or compressed or sealed as a whole). Each container's
 * archive is a member, opened as an archive of its own: in place from the directory or a plain tar,
 * streamed from a compressed or sealed one. The manifest is checked against what is there before
 * anything is read: every archive it names present as a regular file, and its size; sha256 on demand.
 */
import { createHash } from "node:crypto";
import { join } from "node:path";
import { POD_CHECKPOINT_MANIFEST } from "../layout-names.js";
import { parsePodCheckpointManifest, type CheckpointedContainer, type PodCheckpointManifest } from "../pod-checkpoint-manifest.js";
import { ArchiveError, CheckpointArchive, type OpenOptions } from "./checkpoint-archive.js";

/** A manifest is a page of JSON; a bigger one is not read into memory. */
const MAX_MANIFEST_BYTES = 4 << 20;

export interface PodArchiveEntry {
  /** Where the manifest describes it: "containers.N". */
  field: string;
  container: CheckpointedContainer;
  /** The archive as named in messages: its path in a directory, POD:NAME in a tar. */
  label: string;
  /** Its size as stored. */
  bytes: number;
}

/** A difference between the manifest and what the pod checkpoint holds. */
export interface ManifestMismatch {
  archive: string;
  /** The manifest's field, e.g. "containers.1.sha256". */
  field: string;
  expected: string | number;
  actual: string | number;
}

export function describeMismatch(m: ManifestMismatch): string {
  return typeof m.expected === "number"
    ? `${m.archive}: ${m.actual} bytes, the manifest says ${m.expected} (${m.field})`
    : `${m.archive}: sha256 ${m.actual}, the manifest says ${m.expected} (${m.field})`;
}

export class PodCheckpointArchive {
  readonly entries: PodArchiveEntry[];
  /** Files or members the manifest does not name. */
  readonly unlisted: string[];

  private constructor(
    readonly archive: CheckpointArchive,
    readonly manifest: PodCheckpointManifest,
    /** The manifest as named in messages. */
    readonly manifestPath: string,
    private readonly opts: OpenOptions,
  ) {
    this.entries = manifest.containers.map((container, i) => this.entry(container, i));
    const listed = new Set([POD_CHECKPOINT_MANIFEST, ...manifest.containers.map((c) => c.archive)]);
    this.unlisted = [...archive.members.values()].filter((m) => m.type === "file" && !listed.has(m.name)).map((m) => m.name);
  }

  /** Opens and checks a pod checkpoint; errors name the file and the manifest's field. */
  static async open(path: string, opts: OpenOptions = {}): Promise<PodCheckpointArchive> {
    // From a compressed or sealed tar only the manifest is kept: the archives are streamed when read.
    const archive = await CheckpointArchive.open(path, { ...opts, keep: (name) => name === POD_CHECKPOINT_MANIFEST });
    try {
      const manifestPath = memberLabel(archive, POD_CHECKPOINT_MANIFEST);
      refuseIfRefused(archive, POD_CHECKPOINT_MANIFEST, manifestPath);
      if (!archive.has(POD_CHECKPOINT_MANIFEST)) throw new ArchiveError(`${path}: no ${POD_CHECKPOINT_MANIFEST}: not a pod checkpoint`);
      const size = archive.size(POD_CHECKPOINT_MANIFEST);
      if (size > MAX_MANIFEST_BYTES) throw new ArchiveError(`${manifestPath}: ${size} bytes; a pod checkpoint manifest is at most ${MAX_MANIFEST_BYTES >> 20} MiB`);
      const manifest = parsePodCheckpointManifest(Buffer.from(archive.read(POD_CHECKPOINT_MANIFEST)).toString("utf8"), manifestPath);
      return new PodCheckpointArchive(archive, manifest, manifestPath, opts);
    } catch (err) {
      archive.close();
      throw err;
    }
  }

  get path(): string {
    return this.archive.path;
  }

  private entry(container: CheckpointedContainer, i: number): PodArchiveEntry {
    const field = `containers.${i}`;
    const name = container.archive;
    refuseIfRefused(this.archive, name, `${this.manifestPath}: ${field}.archive: ${name}`);
    if (!this.archive.has(name)) throw new ArchiveError(`${this.manifestPath}: ${field}.archive: ${name} is not in ${this.path}`);
    return { field, container, label: memberLabel(this.archive, name), bytes: this.archive.size(name) };
  }

  /** A container's archive, opened for reading (the caller closes it). */
  openContainer(entry: PodArchiveEntry): Promise<CheckpointArchive> {
    return this.archive.openMember(entry.container.archive, this.opts);
  }

  /** Archives whose size is not the manifest's (known without reading them). */
  sizeMismatches(): ManifestMismatch[] {
    return this.entries
      .filter((e) => e.bytes !== e.container.bytes)
      .map((e) => ({ archive: e.label, field: `${e.field}.bytes`, expected: e.container.bytes, actual: e.bytes }));
  }

  /** Sizes, then the sha256 of every archive (one pass over a compressed or sealed pod checkpoint). */
  async verify(): Promise<ManifestMismatch[]> {
    const hashes = new Map(this.entries.map((e) => [e.container.archive, createHash("sha256")]));
    await this.archive.streamMembers([...hashes.keys()], (name, chunk) => void hashes.get(name)!.update(chunk), { reuse: true });
    const shaMismatches = this.entries.flatMap((e) => {
      const actual = hashes.get(e.container.archive)!.digest("hex");
      return actual === e.container.sha256 ? [] : [{ archive: e.label, field: `${e.field}.sha256`, expected: e.container.sha256, actual }];
    });
    return [...this.sizeMismatches(), ...shaMismatches];
  }

  close(): void {
    this.archive.close();
  }
}

function memberLabel(archive: CheckpointArchive, name: string): string {
  return archive.compression === "directory" ? join(archive.path, name) : `${archive.path}:${name}`;
}

/** A member the archive reader refused (a link, a device, a second one of the same name) is not read. */
function refuseIfRefused(archive: CheckpointArchive, name: string, where: string): void {
  const refusal = archive.refused.find((r) => r.name === name);
  if (!refusal) return;
  // The archive reader uses the first of two members of one name; here neither is trusted.
  throw new ArchiveError(`${where}: ${refusal.reason.startsWith("duplicate") ? `more than one member of this name in ${archive.path}` : refusal.reason}`);
}
