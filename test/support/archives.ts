/**
 * Checkpoint archives laid out exactly as CRI-O, containerd and Podman write them (member names, member
 * order, JSON formatting, modes; facts in checkpoint-node-facts.md §3 and in the engines' sources cited
 * below), built from a CRIU image directory, plus small hostile archives for the archive reader's tests.
 *
 * The tar writer is our own (no dependency): Go archive/tar style USTAR headers (magic "ustar\0" "00",
 * zero-padded octal fields, checksum "%06o\0 "), PAX 'x' records only for names that do not fit, two
 * zero blocks at the end and no padding to a 10 KiB record — what the Go engines write. Output is
 * reproducible byte for byte: fixed mtime (2026-01-01T00:00:00Z), uid/gid 0, empty user/group names,
 * fixed modes, sorted directory listings. Compression: gzip with node:zlib, zstd with the `zstd` CLI.
 *
 * Deliberate deviations from the engines are only those a caller asks for (`deletedFiles: []`,
 * `bindMounts: []`, `omit`, `noDirEntries`, `extraMembers`); the defaults are what the engine writes:
 * - CRI-O (`internal/lib/checkpoint.go` exportCheckpoint): `archive.TarWithOptions` over
 *   [stats-dump, dump.log, checkpoint, config.dump, spec.dump, bind.mounts] + [rootfs-diff.tar,
 *   deleted.files] (only when there are changes / deletions) + [io.kubernetes.cri-o.LogPath]; JSON
 *   files by `json.MarshalIndent(v, "", "  ")`; bind.mounts only when the spec has bind mounts outside
 *   CRI-O's container mounts; uncompressed.
 * - containerd (`internal/cri/server/container_checkpoint_linux.go`): `archive.Diff("", dir)`, i.e. the
 *   directory walked in lexical order with directory entries: checkpoint/…, config.dump (compact
 *   json.Marshal), container.log, dump.log, rootfs-diff.tar (the rw layer: gzip, parent directory
 *   entries, `.wh.` whiteouts, no deleted.files), spec.dump (compact: the protobuf Any value), stats-dump,
 *   status (containerd's own status file), status.dump (CRI ContainerStatus, compact, snake_case).
 * - Podman (libpod `exportCheckpoint`): `TarWithOptions` over [artifacts,
 *   devshm-checkpoint.tar, config.dump, spec.dump, network.status, stats-dump, ctr.log, checkpoint] +
 *   [rootfs-diff.tar, deleted.files] + volumes/<name>.tar (file entries only: there is no `volumes/`
 *   directory entry); no dump.log; default compression zstd.
 */
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { chmod, open, readFile, rm } from "node:fs/promises";
import { join, posix } from "node:path";
import { gunzipSync, gzipSync } from "node:zlib";

// ---------------------------------------------------------------------------------------------------
// Public types and constants

export type ArchiveLayout = "crio" | "containerd" | "podman";
export type ArchiveCompression = "none" | "gzip" | "zstd";

/** What the engines know about the container. Times are RFC 3339 strings (nanoseconds kept
 * verbatim, as Go's RFC3339Nano writes them: trailing zeros trimmed) or Dates. */
export interface ArchiveContainer {
  /** Kubernetes container name (CRI metadata name), e.g. "counter". */
  name: string;
  /** Full 64-hex container ID. */
  id: string;
  /** Pod name. */
  pod: string;
  /** Pod namespace. */
  namespace: string;
  /** Image name as requested, e.g. "quay.io/example/counter:latest". */
  image: string;
  /** Image ID: 64 hex, with or without "sha256:". CRI-O and Podman write the bare hex, containerd
   * writes "sha256:<hex>". */
  imageRef: string;
  /** Pod IP: CRI-O `io.kubernetes.cri-o.IP.0`, Podman network.status; containerd has nowhere to put it. */
  ip?: string;
  created?: string | Date;
  checkpointed?: string | Date;
  /** config.dump `runtime`. Default: CRI-O "runc", containerd "io.containerd.runc.v2", Podman "runc". */
  runtime?: string;
  /** Default: a UUID derived from namespace/pod. */
  podUid?: string;
  /** Default: 64 hex derived from namespace/pod. */
  sandboxId?: string;
  /** containerd `status` Pid (host pid of the init task). Default 4242. */
  pid?: number;
  /** Podman network.status mac_address. Default derived from the IP. */
  mac?: string;
}

/** CRI-O `bind.mounts` entry (`internal/lib/checkpoint.go` ExternalBindMount). */
export interface BindMount {
  source: string;
  destination: string;
  file_type: "directory" | "file";
  permissions: number;
}

export interface BuildArchiveOptions {
  layout: ArchiveLayout;
  /** CRIU image directory; becomes `checkpoint/`. CRIU's work-dir files in it (stats-dump, dump.log,
   * restore.log, stats-restore: where `criu dump -D DIR` without -W leaves them) are not put into
   * `checkpoint/`; stats-dump and dump.log become the top-level members unless given below. */
  imagesDir: string;
  /** Archive to write (mode 0600, replaced if it exists). */
  out: string;
  /** Default: CRI-O "none", containerd "none", Podman "zstd". */
  compression?: ArchiveCompression;
  /** The OCI runtime spec (e.g. a parsed config.json); engine annotations are merged into its
   * `annotations`. Default: a minimal spec. */
  spec?: object;
  /** Default: DEFAULT_CONTAINER. */
  container?: ArchiveContainer;
  /** Path of a plain tar of the changed files (as CRI-O's and Podman's rootfs-diff.tar). CRI-O and
   * Podman: no rootfs-diff.tar when absent (what they do when the container changed nothing).
   * containerd: always a rootfs-diff.tar, the gzip'd rw layer made from this tar and deletedFiles
   * (an empty layer when both are absent). */
  rootfsDiff?: string;
  /** Deleted paths (leading "/"). CRI-O/Podman: deleted.files, written whenever this is given, even
   * empty (the engines write it only when non-empty); containerd: whiteouts in the layer. */
  deletedFiles?: string[];
  /** Path of the stats-dump to use (default imagesDir/stats-dump if present). */
  statsDump?: string;
  /** Path of the dump.log to use (default imagesDir/dump.log if present). Podman exports have none. */
  dumpLog?: string;
  /** The container's log (CRI-O `io.kubernetes.cri-o.LogPath`, containerd `container.log`, Podman
   * `ctr.log`). Default: empty file. Use criLog() for realistic lines. */
  containerLog?: string | Buffer;
  /** CRI-O bind.mounts. Default: derived from the spec's bind mounts, member left out when there are
   * none (as CRI-O does); pass [] to force an empty member. */
  bindMounts?: BindMount[];
  /** Podman named volumes: name → path of a tar or its bytes; member `volumes/<name>.tar`. */
  volumes?: Record<string, string | Buffer>;
  /** Appended after the engine's members, in the given order; a name ending in "/" is a directory. */
  extraMembers?: Record<string, Buffer | string>;
  /** Top-level member names to leave out, e.g. ["stats-dump"] (inspect --all then fails). */
  omit?: string[];
  /** Write no directory entries (`checkpoint/` and others): checkpointctl 1.3.0 then fails with
   * "checkpoint directory is missing in the archive file". */
  noDirEntries?: boolean;
  /** mtime of every member (default FIXED_MTIME). */
  mtime?: Date;
  /** Rewrite every `pagemap-*.img` so that each entry's `compat_nr_pages` (field 2) holds its
   * `nr_pages` (field 5). CRIU 4.2 writes compat_nr_pages 0 and checkpointctl 1.3.0 reads only
   * compat_nr_pages, so on real 4.2 images it sees no memory at all (memparse sizes 0 B, --pid prints
   * nothing, ps-tree-cmd/env are blank); with this it shows what it would on old-layout images. */
  compatPagemaps?: boolean;
}

/** 2026-01-01T00:00:00Z, the mtime of every member unless told otherwise. */
export const FIXED_MTIME = new Date(Date.UTC(2026, 0, 1));

/** The sample's container (samples/counter-crio.tar); the default of buildArchive. */
export const DEFAULT_CONTAINER: ArchiveContainer & { ip: string; created: string; checkpointed: string } = {
  name: "counter",
  id: hex("ckpt-sample/default/counters/counter/container"),
  pod: "counters",
  namespace: "default",
  image: "quay.io/example/counter:latest",
  imageRef: hex("ckpt-sample/quay.io/example/counter:latest/image"),
  ip: "10.88.0.9",
  created: "2025-12-31T23:59:50.123456789Z",
  checkpointed: "2026-01-01T00:00:00.987654321Z",
};

// ---------------------------------------------------------------------------------------------------
// buildArchive

/** Writes a checkpoint archive in the engine's layout; returns `out`. */
export async function buildArchive(opts: BuildArchiveOptions): Promise<string> {
  const members = await layoutMembers(opts);
  const compression = opts.compression ?? (opts.layout === "podman" ? "zstd" : "none");
  await writeArchiveFile(opts.out, packTar(members), compression);
  return opts.out;
}

/** The uncompressed member list buildArchive writes (exported for tests that want to tweak it). */
export async function layoutMembers(opts: BuildArchiveOptions): Promise<TarMember[]> {
  const ctr = resolveContainer(opts.container ?? DEFAULT_CONTAINER, opts.layout);
  const mtime = Math.floor((opts.mtime ?? FIXED_MTIME).getTime() / 1000);
  const omit = new Set(opts.omit ?? []);
  const statsPath = opts.statsDump ?? existingFile(join(opts.imagesDir, "stats-dump"));
  const dumpLogPath = opts.dumpLog ?? existingFile(join(opts.imagesDir, "dump.log"));
  const spec = engineSpec(opts.layout, structuredClone(opts.spec ?? defaultSpec(ctr)) as Spec, ctr);
  const log = opts.containerLog ?? "";

  const file = (name: string, data: Buffer | string, mode = 0o600): TarMember => ({
    name,
    type: "file",
    data: typeof data === "string" ? Buffer.from(data) : data,
    mode,
    mtime,
  });
  const fromDisk = (name: string, path: string, mode = 0o600): TarMember => file(name, readFileSync(path), mode);
  const checkpointDir = (): TarMember[] => [
    { name: "checkpoint/", type: "dir", mode: 0o700, mtime },
    ...walkImages(opts.imagesDir).map((rel) =>
      rel.endsWith("/")
        ? ({ name: `checkpoint/${rel}`, type: "dir", mode: 0o700, mtime } as TarMember)
        : opts.compatPagemaps && /^pagemap-.*\.img$/.test(posix.basename(rel))
          ? file(`checkpoint/${rel}`, compatPagemap(readFileSync(join(opts.imagesDir, rel))), 0o644)
          : fromDisk(`checkpoint/${rel}`, join(opts.imagesDir, rel), 0o644),
    ),
  ];

  let members: TarMember[] = [];
  const add = (name: string, make: () => TarMember | TarMember[] | undefined): void => {
    if (omit.has(name) || omit.has(name.replace(/\/$/, ""))) return;
    const made = make();
    if (made) members.push(...(Array.isArray(made) ? made : [made]));
  };

  switch (opts.layout) {
    case "crio": {
      const bind = opts.bindMounts ?? crioBindMounts(spec);
      add("stats-dump", () => (statsPath ? fromDisk("stats-dump", statsPath) : undefined));
      add("dump.log", () => (dumpLogPath ? fromDisk("dump.log", dumpLogPath) : undefined));
      add("checkpoint/", checkpointDir);
      add("config.dump", () => file("config.dump", goJson(containerConfig(ctr), 2)));
      add("spec.dump", () => file("spec.dump", goJson(spec, 2)));
      add("bind.mounts", () =>
        opts.bindMounts !== undefined || bind.length > 0 ? file("bind.mounts", goJson(bind, 2)) : undefined,
      );
      add("rootfs-diff.tar", () => (opts.rootfsDiff ? fromDisk("rootfs-diff.tar", opts.rootfsDiff) : undefined));
      add("deleted.files", () => (opts.deletedFiles ? file("deleted.files", goJson(opts.deletedFiles, 2)) : undefined));
      add(CRIO_LOG_MEMBER, () => file(CRIO_LOG_MEMBER, log, 0o644));
      break;
    }
    case "containerd": {
      add("checkpoint/", checkpointDir);
      add("config.dump", () => file("config.dump", goJson(containerConfig(ctr), 0)));
      add("container.log", () => file("container.log", log));
      add("dump.log", () => (dumpLogPath ? fromDisk("dump.log", dumpLogPath) : undefined));
      // The task checkpoint always carries the rw layer, empty or not.
      add("rootfs-diff.tar", () => file("rootfs-diff.tar", containerdLayer(opts.rootfsDiff, opts.deletedFiles ?? []), 0o644));
      add("spec.dump", () => file("spec.dump", goJson(spec, 0), 0o644));
      add("stats-dump", () => (statsPath ? fromDisk("stats-dump", statsPath) : undefined));
      add("status", () => file("status", goJson(containerdStatusFile(ctr), 0)));
      add("status.dump", () => file("status.dump", goJson(containerdStatusDump(ctr), 0)));
      break;
    }
    case "podman": {
      add("config.dump", () => file("config.dump", goJson(podmanConfig(ctr, spec), 2)));
      add("spec.dump", () => file("spec.dump", goJson(spec, 2)));
      add("network.status", () => file("network.status", goJson(podmanNetworkStatus(ctr), 2)));
      add("stats-dump", () => (statsPath ? fromDisk("stats-dump", statsPath) : undefined));
      add("ctr.log", () => file("ctr.log", log));
      add("checkpoint/", checkpointDir);
      add("rootfs-diff.tar", () => (opts.rootfsDiff ? fromDisk("rootfs-diff.tar", opts.rootfsDiff) : undefined));
      add("deleted.files", () => (opts.deletedFiles ? file("deleted.files", goJson(opts.deletedFiles, 2)) : undefined));
      for (const [name, vol] of Object.entries(opts.volumes ?? {})) {
        add(`volumes/${name}.tar`, () =>
          file(`volumes/${name}.tar`, typeof vol === "string" ? readFileSync(vol) : vol, 0o644),
        );
      }
      break;
    }
    default:
      throw new Error(`unknown layout: ${String(opts.layout)}`);
  }

  for (const [name, data] of Object.entries(opts.extraMembers ?? {})) {
    members.push(name.endsWith("/") ? { name, type: "dir", mode: 0o700, mtime } : file(name, data));
  }
  if (opts.noDirEntries) members = members.filter((m) => m.type !== "dir");
  return members;
}

/** The member CRI-O stores the container log in: named after the annotation key, literally. */
export const CRIO_LOG_MEMBER = "io.kubernetes.cri-o.LogPath";

/**
 * Container log lines in the CRI logging format (`<time> stdout F <line>`), one every `stepMs`
 * from `start`. conmon (CRI-O, Podman k8s-file) writes the time as `%Y-%m-%dT%H:%M:%S.%N%:z`
 * (9 digits, "+00:00"); containerd as Go RFC3339Nano ("Z", trailing zeros trimmed).
 */
export function criLog(lines: string[], start: string | Date, style: "conmon" | "containerd" = "conmon", stepMs = 200): string {
  const t0 = toNs(start);
  return lines
    .map((line, i) => {
      const ns = t0 + BigInt(i + 1) * BigInt(stepMs) * 1_000_000n;
      const stamp = style === "conmon" ? formatNs(ns, { trim: false, zone: "+00:00" }) : formatNs(ns);
      return `${stamp} stdout F ${line}\n`;
    })
    .join("");
}

// ---------------------------------------------------------------------------------------------------
// Hostile archives

export type HostileKind =
  | "dotdot"
  | "absolute"
  | "symlink-out"
  | "hardlink-out"
  | "device"
  | "duplicate"
  | "huge-member-header"
  | "truncated"
  | "not-a-tar"
  | "no-checkpoint-dir";

/** The hostile member of each kind (for assertions). */
export const HOSTILE_MEMBER: Record<HostileKind, string | undefined> = {
  dotdot: "checkpoint/../../../tmp/ckpt-escape-dotdot",
  absolute: "/tmp/ckpt-escape-absolute",
  "symlink-out": "checkpoint/x",
  "hardlink-out": "checkpoint/y",
  device: "checkpoint/mem",
  duplicate: "config.dump",
  "huge-member-header": "checkpoint/pages-1.img",
  truncated: "checkpoint/pages-1.img",
  "not-a-tar": undefined,
  "no-checkpoint-dir": undefined,
};

/** What the huge member's header claims: 100 GiB (base-256 size field, as GNU tar and Go write sizes
 * beyond 8 GiB). */
export const HUGE_MEMBER_SIZE = 100n * 1024n ** 3n;

/**
 * Writes a small malicious or broken archive (uncompressed, mode 0600) around a minimal CRI-O layout
 * (`checkpoint/`, `checkpoint/inventory.img` — a real CRIU 4.2.1 inventory —, `checkpoint/pages-1.img`
 * of 8 KiB, config.dump, spec.dump):
 * - dotdot: + file `checkpoint/../../../tmp/ckpt-escape-dotdot`
 * - absolute: + file `/tmp/ckpt-escape-absolute`
 * - symlink-out: + symlink `checkpoint/x` → `/etc/passwd`
 * - hardlink-out: + hard link `checkpoint/y` → `/etc/shadow`
 * - device: + character device `checkpoint/mem` (1, 1: /dev/mem)
 * - duplicate: `config.dump` twice, the second with another id and name ("evil")
 * - huge-member-header: the last member `checkpoint/pages-1.img` claims 100 GiB; 4 KiB of data
 *   follow, then the file ends
 * - truncated: the file ends in the middle of `checkpoint/pages-1.img`'s data
 * - not-a-tar: 4 KiB of pseudo-random bytes (fixed seed; no gzip/zstd/xz/bzip2 magic)
 * - no-checkpoint-dir: config.dump, spec.dump, stats-dump only
 */
export async function hostileArchive(kind: HostileKind, out: string): Promise<string> {
  const mtime = Math.floor(FIXED_MTIME.getTime() / 1000);
  const f = (name: string, data: Buffer | string, extra: Partial<TarMember> = {}): TarMember => ({
    name,
    type: "file",
    data: typeof data === "string" ? Buffer.from(data) : data,
    mode: 0o600,
    mtime,
    ...extra,
  });
  const ctr = resolveContainer(DEFAULT_CONTAINER, "crio");
  const config = f("config.dump", goJson(containerConfig(ctr), 2));
  const spec = f("spec.dump", goJson(engineSpec("crio", defaultSpec(ctr), ctr), 2));
  const pages = f("checkpoint/pages-1.img", pseudoRandom("pages", 8192), { mode: 0o644 });
  const base: TarMember[] = [
    { name: "checkpoint/", type: "dir", mode: 0o700, mtime },
    f("checkpoint/inventory.img", Buffer.from(INVENTORY_IMG, "base64"), { mode: 0o644 }),
    pages,
    config,
    spec,
  ];
  let bytes: Buffer;
  switch (kind) {
    case "dotdot":
      bytes = packTar([...base, f(HOSTILE_MEMBER.dotdot!, "escaped via ..\n")]);
      break;
    case "absolute":
      bytes = packTar([...base, f(HOSTILE_MEMBER.absolute!, "escaped via an absolute name\n")]);
      break;
    case "symlink-out":
      bytes = packTar([...base, { name: "checkpoint/x", type: "symlink", linkname: "/etc/passwd", mode: 0o777, mtime }]);
      break;
    case "hardlink-out":
      bytes = packTar([...base, { name: "checkpoint/y", type: "hardlink", linkname: "/etc/shadow", mode: 0o600, mtime }]);
      break;
    case "device":
      bytes = packTar([...base, { name: "checkpoint/mem", type: "char", devmajor: 1, devminor: 1, mode: 0o600, mtime }]);
      break;
    case "duplicate": {
      const evil = { ...containerConfig(ctr), id: hex("evil"), name: "evil" };
      bytes = packTar([...base, f("config.dump", goJson(evil, 2))]);
      break;
    }
    case "huge-member-header": {
      const head = packTar([...base.filter((m) => m !== pages)], { end: false });
      const header = tarHeaders({ ...pages, data: undefined, size: HUGE_MEMBER_SIZE });
      bytes = Buffer.concat([head, header, pseudoRandom("huge", 4096)]);
      break;
    }
    case "truncated": {
      const full = packTar(base);
      const start = tarEntries(full).find((e) => e.name === "checkpoint/pages-1.img")!.offset;
      bytes = full.subarray(0, start + 3000);
      break;
    }
    case "not-a-tar":
      bytes = pseudoRandom("not-a-tar", 4096);
      bytes[0] = 0x42; // no compression magic, not a valid header either
      break;
    case "no-checkpoint-dir":
      bytes = packTar([config, spec, f("stats-dump", Buffer.alloc(0))]);
      break;
    default:
      throw new Error(`unknown hostile archive kind: ${String(kind)}`);
  }
  await writeArchiveFile(out, bytes, "none");
  return out;
}

// ---------------------------------------------------------------------------------------------------
// Reading archives back (helpers for tests)

export interface TarEntry {
  name: string;
  type: TarType | "pax-global" | "other";
  typeflag: string;
  size: bigint;
  mode: number;
  uid: number;
  gid: number;
  mtime: number;
  linkname: string;
  devmajor: number;
  devminor: number;
  /** Offset of the member's data in the uncompressed tar. */
  offset: number;
  /** The member's data; undefined when the archive ends before it does. */
  data?: Buffer;
}

/** The uncompressed bytes of an archive file (gzip, zstd, xz, bzip2 or plain tar, by magic). */
export async function archiveBytes(path: string): Promise<Buffer> {
  return decompress(await readFile(path));
}

/** Member names in archive order. */
export async function tarNamesOf(path: string): Promise<string[]> {
  return tarEntries(await archiveBytes(path)).map((e) => e.name);
}

/** All members of an archive file, with data. */
export async function readArchive(path: string): Promise<TarEntry[]> {
  return tarEntries(await archiveBytes(path));
}

/** One member's data (the last one of that name, as tar extraction would leave it). */
export async function archiveMember(path: string, name: string): Promise<Buffer> {
  const hit = (await readArchive(path)).filter((e) => e.name === name).pop();
  if (!hit?.data) throw new Error(`${path}: no member ${name}`);
  return hit.data;
}

/** Compression of a file by magic. */
export function compressionOf(bytes: Uint8Array): ArchiveCompression | "xz" | "bzip2" {
  if (bytes[0] === 0x1f && bytes[1] === 0x8b) return "gzip";
  if (bytes[0] === 0x28 && bytes[1] === 0xb5 && bytes[2] === 0x2f && bytes[3] === 0xfd) return "zstd";
  if (bytes[0] === 0xfd && bytes[1] === 0x37 && bytes[2] === 0x7a && bytes[3] === 0x58 && bytes[4] === 0x5a) return "xz";
  if (bytes[0] === 0x42 && bytes[1] === 0x5a && bytes[2] === 0x68) return "bzip2";
  return "none";
}

/** True when the `zstd` CLI is there (buildArchive needs it for zstd archives). */
export function haveZstd(): boolean {
  return spawnSync("zstd", ["--version"], { stdio: "ignore" }).status === 0;
}

// ---------------------------------------------------------------------------------------------------
// Tar writing

export type TarType = "file" | "dir" | "symlink" | "hardlink" | "char" | "block" | "fifo";

export interface TarMember {
  name: string;
  type?: TarType;
  data?: Buffer;
  /** Size written in the header; default data.length. Lets a header lie (hostile archives). */
  size?: bigint;
  mode?: number;
  uid?: number;
  gid?: number;
  uname?: string;
  gname?: string;
  /** Seconds since the epoch (default FIXED_MTIME). */
  mtime?: number;
  linkname?: string;
  devmajor?: number;
  devminor?: number;
}

const TYPEFLAG: Record<TarType, string> = {
  file: "0",
  hardlink: "1",
  symlink: "2",
  char: "3",
  block: "4",
  dir: "5",
  fifo: "6",
};

/** A tar of the members, Go archive/tar style; `end: false` leaves out the two zero blocks. */
export function packTar(members: TarMember[], opts: { end?: boolean } = {}): Buffer {
  const parts: Buffer[] = [];
  for (const m of members) {
    parts.push(tarHeaders(m));
    const data = m.data ?? Buffer.alloc(0);
    parts.push(data);
    const pad = (512 - (data.length % 512)) % 512;
    if (pad) parts.push(Buffer.alloc(pad));
  }
  if (opts.end !== false) parts.push(Buffer.alloc(1024));
  return Buffer.concat(parts);
}

/** The header block(s) of one member: a PAX 'x' header first when the name or link does not fit. */
export function tarHeaders(m: TarMember): Buffer {
  const type = m.type ?? "file";
  const size = m.size ?? BigInt(type === "file" ? (m.data?.length ?? 0) : 0);
  const pax: Array<[string, string]> = [];
  let name = m.name;
  let prefix = "";
  if (Buffer.byteLength(name) > 100) {
    const split = splitUstarName(name);
    if (split) [prefix, name] = split;
    else {
      pax.push(["path", m.name]);
      name = m.name.slice(0, 100);
    }
  }
  let linkname = m.linkname ?? "";
  if (Buffer.byteLength(linkname) > 100) {
    pax.push(["linkpath", linkname]);
    linkname = linkname.slice(0, 100);
  }
  const mtime = m.mtime ?? Math.floor(FIXED_MTIME.getTime() / 1000);
  const main = ustarHeader({
    name,
    prefix,
    typeflag: TYPEFLAG[type],
    size,
    mode: m.mode ?? (type === "dir" ? 0o755 : 0o644),
    uid: m.uid ?? 0,
    gid: m.gid ?? 0,
    uname: m.uname ?? "",
    gname: m.gname ?? "",
    mtime,
    linkname,
    devmajor: m.devmajor ?? 0,
    devminor: m.devminor ?? 0,
  });
  if (pax.length === 0) return main;
  const body = Buffer.from(pax.map(([k, v]) => paxRecord(k, v)).join(""));
  const dir = posix.dirname(m.name.replace(/\/$/, ""));
  const paxName = posix.join(dir, "PaxHeaders.0", posix.basename(m.name.replace(/\/$/, ""))).slice(0, 100);
  const paxHeader = ustarHeader({
    name: paxName,
    prefix: "",
    typeflag: "x",
    size: BigInt(body.length),
    mode: 0,
    uid: 0,
    gid: 0,
    uname: "",
    gname: "",
    mtime,
    linkname: "",
    devmajor: 0,
    devminor: 0,
  });
  const pad = Buffer.alloc((512 - (body.length % 512)) % 512);
  return Buffer.concat([paxHeader, body, pad, main]);
}

interface UstarFields {
  name: string;
  prefix: string;
  typeflag: string;
  size: bigint;
  mode: number;
  uid: number;
  gid: number;
  uname: string;
  gname: string;
  mtime: number;
  linkname: string;
  devmajor: number;
  devminor: number;
}

function ustarHeader(h: UstarFields): Buffer {
  const b = Buffer.alloc(512);
  b.write(h.name, 0, 100, "utf8");
  octal(b, 100, 8, BigInt(h.mode));
  octal(b, 108, 8, BigInt(h.uid));
  octal(b, 116, 8, BigInt(h.gid));
  if (h.size > 0o77777777777n) base256(b, 124, 12, h.size);
  else octal(b, 124, 12, h.size);
  octal(b, 136, 12, BigInt(h.mtime));
  b.fill(0x20, 148, 156);
  b.write(h.typeflag, 156, 1, "latin1");
  b.write(h.linkname, 157, 100, "utf8");
  b.write("ustar\0", 257, 6, "latin1");
  b.write("00", 263, 2, "latin1");
  b.write(h.uname, 265, 32, "utf8");
  b.write(h.gname, 297, 32, "utf8");
  octal(b, 329, 8, BigInt(h.devmajor));
  octal(b, 337, 8, BigInt(h.devminor));
  b.write(h.prefix, 345, 155, "utf8");
  let sum = 0;
  for (const byte of b) sum += byte;
  b.write(sum.toString(8).padStart(6, "0") + "\0 ", 148, 8, "latin1");
  return b;
}

function octal(b: Buffer, off: number, len: number, v: bigint): void {
  b.write(v.toString(8).padStart(len - 1, "0") + "\0", off, len, "latin1");
}

function base256(b: Buffer, off: number, len: number, v: bigint): void {
  for (let i = off + len - 1; i > off; i--) {
    b[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  b[off] = 0x80;
}

function splitUstarName(name: string): [string, string] | undefined {
  for (let i = name.length - 1; i > 0; i--) {
    if (name[i] !== "/") continue;
    const prefix = name.slice(0, i);
    const rest = name.slice(i + 1);
    if (Buffer.byteLength(prefix) <= 155 && Buffer.byteLength(rest) <= 100 && rest.length > 0) return [prefix, rest];
  }
  return undefined;
}

function paxRecord(key: string, value: string): string {
  const body = ` ${key}=${value}\n`;
  let len = Buffer.byteLength(body) + 1;
  while (String(len).length + Buffer.byteLength(body) !== len) len = String(len).length + Buffer.byteLength(body);
  return `${len}${body}`;
}

// ---------------------------------------------------------------------------------------------------
// Tar reading (ustar, GNU, PAX; enough for tests)

/** Parses a tar; stops at the end marker or where the bytes end (then the last entry has no data). */
export function tarEntries(buf: Buffer): TarEntry[] {
  const out: TarEntry[] = [];
  let off = 0;
  let pax: Record<string, string> = {};
  let longName: string | undefined;
  let longLink: string | undefined;
  while (off + 512 <= buf.length) {
    const h = buf.subarray(off, off + 512);
    if (h.every((x) => x === 0)) break;
    let sum = 0;
    for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 0x20 : h[i]!;
    const stored = parseInt(cstr(h, 148, 8).trim() || "x", 8);
    if (stored !== sum) throw new Error(`bad tar header checksum at offset ${off}`);
    const typeflag = String.fromCharCode(h[156] || 0x30);
    const magic = h.subarray(257, 265).toString("latin1");
    let name = cstr(h, 0, 100);
    if (magic === "ustar\u000000" && h[345] !== 0) name = `${cstr(h, 345, 155)}/${name}`;
    const size = numeric(h, 124, 12);
    const dataOff = off + 512;
    const end = dataOff + Number(size);
    const complete = end <= buf.length;
    const data = complete ? buf.subarray(dataOff, end) : undefined;
    off = dataOff + Math.ceil(Number(size) / 512) * 512;
    if (typeflag === "x") {
      if (data) pax = { ...pax, ...parsePax(data) };
      continue;
    }
    if (typeflag === "L" || typeflag === "K") {
      const s = data ? cstr(data, 0, data.length) : "";
      if (typeflag === "L") longName = s;
      else longLink = s;
      continue;
    }
    const entry: TarEntry = {
      name: pax.path ?? longName ?? name,
      type: typeOf(typeflag),
      typeflag,
      size: pax.size !== undefined ? BigInt(pax.size) : size,
      mode: Number(numeric(h, 100, 8)),
      uid: Number(numeric(h, 108, 8)),
      gid: Number(numeric(h, 116, 8)),
      mtime: Number(numeric(h, 136, 12)),
      linkname: pax.linkpath ?? longLink ?? cstr(h, 157, 100),
      devmajor: Number(numeric(h, 329, 8)),
      devminor: Number(numeric(h, 337, 8)),
      offset: dataOff,
      ...(data ? { data } : {}),
    };
    pax = {};
    longName = longLink = undefined;
    out.push(entry);
    if (!complete) break;
  }
  return out;
}

function typeOf(flag: string): TarEntry["type"] {
  const hit = (Object.entries(TYPEFLAG) as Array<[TarType, string]>).find(([, f]) => f === flag);
  if (hit) return hit[0];
  if (flag === "\0" || flag === "7") return "file";
  if (flag === "g") return "pax-global";
  return "other";
}

function cstr(b: Buffer, off: number, len: number): string {
  const s = b.subarray(off, off + len);
  const nul = s.indexOf(0);
  return s.subarray(0, nul < 0 ? s.length : nul).toString("utf8");
}

function numeric(b: Buffer, off: number, len: number): bigint {
  if (b[off]! & 0x80) {
    let v = BigInt(b[off]! & 0x7f);
    for (let i = off + 1; i < off + len; i++) v = (v << 8n) | BigInt(b[i]!);
    return v;
  }
  const s = cstr(b, off, len).trim();
  return s ? BigInt(`0o${s}`) : 0n;
}

function parsePax(data: Buffer): Record<string, string> {
  const out: Record<string, string> = {};
  let off = 0;
  while (off < data.length) {
    const sp = data.indexOf(0x20, off);
    if (sp < 0) break;
    const len = Number(data.subarray(off, sp).toString("latin1"));
    if (!len) break;
    const rec = data.subarray(sp + 1, off + len - 1).toString("utf8");
    const eq = rec.indexOf("=");
    if (eq > 0) out[rec.slice(0, eq)] = rec.slice(eq + 1);
    off += len;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------
// Compression and output

async function writeArchiveFile(out: string, tar: Buffer, compression: ArchiveCompression): Promise<void> {
  const bytes = compress(tar, compression);
  await rm(out, { force: true });
  const fh = await open(out, "wx", 0o600);
  try {
    await fh.writeFile(bytes);
  } finally {
    await fh.close();
  }
  await chmod(out, 0o600);
}

/** `tar` gzip'd or zstd'd as buildArchive writes archives. */
export function compress(tar: Buffer, compression: ArchiveCompression): Buffer {
  switch (compression) {
    case "none":
      return tar;
    case "gzip":
      return gzipSync(tar);
    case "zstd": {
      const r = spawnSync("zstd", ["-q", "-c", "-3", "-T1"], { input: tar, maxBuffer: 2 ** 34 });
      if (r.error || r.status !== 0) {
        throw new Error(`zstd failed (is the zstd CLI installed? apt-get install -y zstd): ${r.error ?? r.stderr}`);
      }
      return r.stdout;
    }
    default:
      throw new Error(`unknown compression: ${String(compression)}`);
  }
}

function decompress(bytes: Buffer): Buffer {
  const kind = compressionOf(bytes);
  if (kind === "none") return bytes;
  if (kind === "gzip") return gunzipSync(bytes);
  const cli = { zstd: "zstd", xz: "xz", bzip2: "bzip2" }[kind];
  const r = spawnSync(cli, ["-dc"], { input: bytes, maxBuffer: 2 ** 34 });
  if (r.error || r.status !== 0) throw new Error(`${cli} -dc failed: ${r.error ?? r.stderr}`);
  return r.stdout;
}

// ---------------------------------------------------------------------------------------------------
// Engine metadata

type Spec = Record<string, unknown> & { annotations?: Record<string, string>; mounts?: Array<Record<string, unknown>> };

interface ResolvedContainer {
  name: string;
  id: string;
  pod: string;
  namespace: string;
  image: string;
  imageHex: string;
  ip?: string;
  mac: string;
  created: string;
  checkpointed: string;
  runtime: string;
  podUid: string;
  sandboxId: string;
  pid: number;
  layout: ArchiveLayout;
  logPath: string;
}

function resolveContainer(c: ArchiveContainer, layout: ArchiveLayout): ResolvedContainer {
  const podUid = c.podUid ?? uuid(`ckpt-sample/${c.namespace}/${c.pod}/pod`);
  return {
    name: c.name,
    id: c.id,
    pod: c.pod,
    namespace: c.namespace,
    image: c.image,
    imageHex: c.imageRef.replace(/^sha256:/, ""),
    ...(c.ip ? { ip: c.ip } : {}),
    mac: c.mac ?? macFor(c.ip ?? c.id),
    created: rfc3339(c.created ?? DEFAULT_CONTAINER.created),
    checkpointed: rfc3339(c.checkpointed ?? DEFAULT_CONTAINER.checkpointed),
    runtime: c.runtime ?? (layout === "containerd" ? "io.containerd.runc.v2" : "runc"),
    podUid,
    sandboxId: c.sandboxId ?? hex(`ckpt-sample/${c.namespace}/${c.pod}/sandbox`),
    pid: c.pid ?? 4242,
    layout,
    logPath: `/var/log/pods/${c.namespace}_${c.pod}_${podUid}/${c.name}/0.log`,
  };
}

/** config.dump (checkpointctl lib ContainerConfig, field order of the Go struct). */
function containerConfig(c: ResolvedContainer): Record<string, unknown> {
  const name =
    c.layout === "crio"
      ? `k8s_${c.name}_${c.pod}_${c.namespace}_${c.podUid}_0`
      : c.layout === "containerd"
        ? `${c.name}_${c.pod}_${c.namespace}_${c.podUid}_0`
        : c.name;
  return {
    id: c.id,
    name,
    rootfsImage: c.image,
    rootfsImageRef: c.layout === "containerd" ? `sha256:${c.imageHex}` : c.imageHex,
    rootfsImageName: c.image,
    runtime: c.runtime,
    createdTime: c.created,
    checkpointedTime: c.checkpointed,
    restoredTime: "0001-01-01T00:00:00Z",
    restored: false,
  };
}

function kubeAnnotations(c: ResolvedContainer): Record<string, string> {
  return {
    "io.kubernetes.container.hash": hex(`${c.id}/hash`).slice(0, 8),
    "io.kubernetes.container.restartCount": "0",
    "io.kubernetes.container.terminationMessagePath": "/dev/termination-log",
    "io.kubernetes.container.terminationMessagePolicy": "File",
    "io.kubernetes.pod.terminationGracePeriod": "30",
  };
}

function kubeLabels(c: ResolvedContainer): Record<string, string> {
  return {
    "io.kubernetes.container.name": c.name,
    "io.kubernetes.pod.name": c.pod,
    "io.kubernetes.pod.namespace": c.namespace,
    "io.kubernetes.pod.uid": c.podUid,
  };
}

/** The spec with the engine's annotations merged in (the engine's win). */
function engineSpec(layout: ArchiveLayout, spec: Spec, c: ResolvedContainer): Spec {
  const ann: Record<string, string> = { ...(spec.annotations ?? {}) };
  if (layout === "crio") {
    const sandboxName = `k8s_${c.pod}_${c.namespace}_${c.podUid}_0`;
    Object.assign(ann, kubeAnnotations(c), kubeLabels(c), {
      "io.container.manager": "cri-o",
      "io.kubernetes.cri-o.Annotations": goJson(kubeAnnotations(c), 0),
      "io.kubernetes.cri-o.ContainerID": c.id,
      "io.kubernetes.cri-o.ContainerType": "container",
      "io.kubernetes.cri-o.Created": c.created,
      "io.kubernetes.cri-o.Image": c.imageHex,
      "io.kubernetes.cri-o.ImageName": c.image,
      "io.kubernetes.cri-o.ImageRef": c.imageHex,
      "io.kubernetes.cri-o.Labels": goJson(kubeLabels(c), 0),
      "io.kubernetes.cri-o.LogPath": c.logPath,
      "io.kubernetes.cri-o.Metadata": goJson({ name: c.name }, 0),
      "io.kubernetes.cri-o.MountPoint": `/var/lib/containers/storage/overlay/${hex(`${c.id}/layer`)}/merged`,
      "io.kubernetes.cri-o.Name": `k8s_${c.name}_${c.pod}_${c.namespace}_${c.podUid}_0`,
      "io.kubernetes.cri-o.ResolvPath": `/var/run/containers/storage/overlay-containers/${c.sandboxId}/userdata/resolv.conf`,
      "io.kubernetes.cri-o.SandboxID": c.sandboxId,
      "io.kubernetes.cri-o.SandboxName": sandboxName,
      "io.kubernetes.cri-o.SeccompProfilePath": "",
      "io.kubernetes.cri-o.Stdin": "false",
      "io.kubernetes.cri-o.StdinOnce": "false",
      "io.kubernetes.cri-o.TTY": "false",
      "io.kubernetes.cri-o.Volumes": "[]",
      "kubernetes.io/config.seen": c.created,
      "kubernetes.io/config.source": "api",
    });
    if (c.ip) ann["io.kubernetes.cri-o.IP.0"] = c.ip;
  } else if (layout === "containerd") {
    delete ann["io.container.manager"];
    Object.assign(ann, {
      "io.kubernetes.cri.container-name": c.name,
      "io.kubernetes.cri.container-type": "container",
      "io.kubernetes.cri.image-name": c.image,
      "io.kubernetes.cri.sandbox-id": c.sandboxId,
      "io.kubernetes.cri.sandbox-name": c.pod,
      "io.kubernetes.cri.sandbox-namespace": c.namespace,
      "io.kubernetes.cri.sandbox-uid": c.podUid,
    });
  } else {
    Object.assign(ann, {
      "io.container.manager": "libpod",
      "io.kubernetes.cri-o.Created": c.created,
      "org.opencontainers.image.stopSignal": "15",
    });
  }
  spec.annotations = sortKeys(ann);
  return spec;
}

/** CRI-O's container mounts, never in bind.mounts (libpod/diff.go containerMounts). */
const CRIO_CONTAINER_MOUNTS = new Set(["/dev", "/dev/shm", "/proc", "/run", "/run/.containerenv", "/run/secrets", "/sys"]);

function crioBindMounts(spec: Spec): BindMount[] {
  return (spec.mounts ?? [])
    .filter((m) => m.type === "bind" && !CRIO_CONTAINER_MOUNTS.has(String(m.destination)))
    .map((m) => ({
      source: String(m.source),
      destination: String(m.destination),
      file_type: /\.[a-z]+$|\/(hosts|hostname|resolv\.conf|termination-log)$/.test(String(m.source)) ? "file" : "directory",
      permissions: 0o644,
    }));
}

/** containerd's `status` file (internal/cri/store/container/status.go, json.Marshal). */
function containerdStatusFile(c: ResolvedContainer): Record<string, unknown> {
  const created = toNs(c.created);
  return {
    Version: "v1",
    Pid: c.pid,
    CreatedAt: new RawJson(String(created)),
    StartedAt: new RawJson(String(created + 87_654_321n)),
    FinishedAt: 0,
    ExitCode: 0,
    Reason: "",
    Message: "",
    Resources: { linux: { cpu_period: 100000, cpu_shares: 2, oom_score_adj: 1000 } },
  };
}

/** containerd's `status.dump`: the CRI ContainerStatus, json.Marshal of the gogo/protobuf struct. */
function containerdStatusDump(c: ResolvedContainer): Record<string, unknown> {
  const created = toNs(c.created);
  return {
    id: c.id,
    metadata: { name: c.name },
    state: 1,
    created_at: new RawJson(String(created)),
    started_at: new RawJson(String(created + 87_654_321n)),
    image: { image: c.image },
    image_ref: `sha256:${c.imageHex}`,
    labels: sortKeys(kubeLabels(c)),
    annotations: sortKeys(kubeAnnotations(c)),
    log_path: c.logPath,
    resources: { linux: { cpu_period: 100000, cpu_shares: 2, oom_score_adj: 1000 } },
  };
}

/** Podman's config.dump: libpod's ContainerConfig (a representative subset of its keys). */
function podmanConfig(c: ResolvedContainer, spec: Spec): Record<string, unknown> {
  const userdata = `/var/lib/containers/storage/overlay-containers/${c.id}/userdata`;
  return {
    spec,
    id: c.id,
    name: c.name,
    RawImageName: c.image,
    rootfsImageID: c.imageHex,
    rootfsImageName: c.image,
    mountLabel: "",
    processLabel: "",
    shmDir: `${userdata}/shm`,
    shmSize: 65536000,
    staticDir: userdata,
    lockID: 0,
    createCommand: ["podman", "run", "-d", "--name", c.name, c.image],
    logPath: `${userdata}/ctr.log`,
    logDriver: "k8s-file",
    createdTime: c.created,
    runtime: c.runtime,
    stopSignal: 15,
    stopTimeout: 10,
  };
}

/** Podman's network.status: map network → StatusBlock. */
function podmanNetworkStatus(c: ResolvedContainer): Record<string, unknown> {
  if (!c.ip) return {};
  const gateway = c.ip.replace(/\.\d+$/, ".1");
  return {
    podman: {
      interfaces: { eth0: { subnets: [{ ipnet: `${c.ip}/16`, gateway }], mac_address: c.mac } },
    },
  };
}

function defaultSpec(c: ResolvedContainer): Spec {
  return {
    ociVersion: "1.0.2-dev",
    process: {
      terminal: false,
      user: { uid: 0, gid: 0 },
      args: ["/bin/sh"],
      env: ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
      cwd: "/",
    },
    root: { path: "rootfs", readonly: false },
    hostname: c.pod,
    mounts: [
      { destination: "/proc", type: "proc", source: "proc" },
      { destination: "/dev", type: "tmpfs", source: "tmpfs", options: ["nosuid", "strictatime", "mode=755", "size=65536k"] },
      { destination: "/sys", type: "sysfs", source: "sysfs", options: ["nosuid", "noexec", "nodev", "ro"] },
    ],
    linux: { namespaces: [{ type: "pid" }, { type: "network" }, { type: "ipc" }, { type: "uts" }, { type: "mount" }] },
    annotations: {},
  };
}

/** containerd's rw layer from a plain diff tar: parent directories, the files, `.wh.` whiteouts for
 * deleted paths, in walk order; gzip'd. */
function containerdLayer(diffTar: string | undefined, deleted: string[]): Buffer {
  const mtime = Math.floor(FIXED_MTIME.getTime() / 1000);
  const byPath = new Map<string, TarMember>();
  const addParents = (path: string): void => {
    const parts = path.split("/");
    for (let i = 1; i < parts.length; i++) {
      const dir = parts.slice(0, i).join("/");
      if (!byPath.has(dir)) byPath.set(dir, { name: `${dir}/`, type: "dir", mode: 0o755, mtime });
    }
  };
  if (diffTar) {
    for (const e of tarEntries(decompress(readFileSync(diffTar)))) {
      if (e.type === "pax-global" || e.type === "other") continue;
      const path = e.name.replace(/^\.\//, "").replace(/\/$/, "");
      if (!path) continue;
      addParents(path);
      byPath.set(path, {
        name: e.type === "dir" ? `${path}/` : path,
        type: e.type,
        data: e.type === "file" ? e.data : undefined,
        mode: e.mode,
        uid: e.uid,
        gid: e.gid,
        mtime: e.mtime,
        linkname: e.linkname,
        devmajor: e.devmajor,
        devminor: e.devminor,
      });
    }
  }
  for (const abs of deleted) {
    const path = abs.replace(/^\/+/, "");
    const wh = posix.join(posix.dirname(path), `.wh.${posix.basename(path)}`);
    addParents(wh);
    byPath.set(wh, { name: wh, type: "file", data: Buffer.alloc(0), mode: 0, mtime });
  }
  const ordered = [...byPath.keys()].sort(walkOrder).map((k) => byPath.get(k)!);
  return gzipSync(packTar(ordered));
}

// ---------------------------------------------------------------------------------------------------
// pagemap rewriting (compatPagemaps)

/** A pagemap image with every entry's compat_nr_pages (field 2) set to its nr_pages (field 5). */
export function compatPagemap(img: Buffer): Buffer {
  const IMG_COMMON = 0x54564319;
  let off = img.readUInt32LE(0) === IMG_COMMON ? 8 : 4;
  const parts: Buffer[] = [img.subarray(0, off)];
  while (off + 4 <= img.length) {
    const len = img.readUInt32LE(off);
    const msg = img.subarray(off + 4, off + 4 + len);
    off += 4 + len;
    const fields = pbFields(msg);
    const nr = fields.find((f) => f.no === 5 && f.wire === 0);
    let out = msg;
    if (nr) {
      const value = nr.value! > 0xffffffffn ? 0xffffffffn : nr.value!;
      const rebuilt = fields.filter((f) => f.no !== 2).map((f) => f.raw);
      const at = fields.findIndex((f) => f.no === 2);
      const field2 = Buffer.concat([varint(2n << 3n), varint(value)]);
      rebuilt.splice(at < 0 ? 1 : at, 0, field2);
      out = Buffer.concat(rebuilt);
    }
    const head = Buffer.alloc(4);
    head.writeUInt32LE(out.length);
    parts.push(head, out);
  }
  return Buffer.concat(parts);
}

interface PbField {
  no: number;
  wire: number;
  value?: bigint;
  raw: Buffer;
}

function pbFields(msg: Buffer): PbField[] {
  const out: PbField[] = [];
  let off = 0;
  const readVarint = (): bigint => {
    let v = 0n;
    let shift = 0n;
    for (;;) {
      const b = msg[off++]!;
      v |= BigInt(b & 0x7f) << shift;
      if (!(b & 0x80)) return v;
      shift += 7n;
    }
  };
  while (off < msg.length) {
    const start = off;
    const tag = readVarint();
    const no = Number(tag >> 3n);
    const wire = Number(tag & 7n);
    let value: bigint | undefined;
    if (wire === 0) value = readVarint();
    else if (wire === 1) off += 8;
    else if (wire === 5) off += 4;
    else if (wire === 2) off += Number(readVarint());
    else throw new Error(`pagemap: unsupported wire type ${wire}`);
    out.push({ no, wire, ...(value !== undefined ? { value } : {}), raw: msg.subarray(start, off) });
  }
  return out;
}

function varint(v: bigint): Buffer {
  const bytes: number[] = [];
  do {
    let b = Number(v & 0x7fn);
    v >>= 7n;
    if (v) b |= 0x80;
    bytes.push(b);
  } while (v);
  return Buffer.from(bytes);
}

// ---------------------------------------------------------------------------------------------------
// Small helpers

/** Files CRIU writes into its work dir (-W, default the image dir); runc and the engines keep them
 * out of the image directory. */
const WORK_DIR_FILES = new Set(["stats-dump", "dump.log", "restore.log", "stats-restore"]);

/** Image-dir members relative to the dir, directories with a trailing "/", in filepath.Walk order. */
function walkImages(root: string, rel = ""): string[] {
  const out: string[] = [];
  for (const name of readdirSync(join(root, rel)).sort(byteOrder)) {
    const r = rel ? `${rel}/${name}` : name;
    if (!rel && WORK_DIR_FILES.has(name)) continue;
    const st = statSync(join(root, r));
    if (st.isDirectory()) out.push(`${r}/`, ...walkImages(root, r));
    else if (st.isFile()) out.push(r);
  }
  return out;
}

function byteOrder(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}

/** Order of filepath.Walk: component by component. */
function walkOrder(a: string, b: string): number {
  const pa = a.split("/");
  const pb = b.split("/");
  for (let i = 0; i < Math.min(pa.length, pb.length); i++) {
    const c = byteOrder(pa[i]!, pb[i]!);
    if (c) return c;
  }
  return pa.length - pb.length;
}

function existingFile(path: string): string | undefined {
  return existsSync(path) && statSync(path).isFile() ? path : undefined;
}

function sortKeys<T>(o: Record<string, T>): Record<string, T> {
  return Object.fromEntries(Object.entries(o).sort(([a], [b]) => byteOrder(a, b)));
}

function hex(seed: string): string {
  return createHash("sha256").update(seed).digest("hex");
}

function uuid(seed: string): string {
  const h = hex(seed);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

function macFor(seed: string): string {
  const h = hex(`mac/${seed}`);
  return ["0a", h.slice(0, 2), h.slice(2, 4), h.slice(4, 6), h.slice(6, 8), h.slice(8, 10)].join(":");
}

function pseudoRandom(seed: string, length: number): Buffer {
  const parts: Buffer[] = [];
  let block = createHash("sha256").update(seed).digest();
  for (let n = 0; n < length; n += 32) {
    parts.push(block);
    block = createHash("sha256").update(block).digest();
  }
  return Buffer.concat(parts).subarray(0, length);
}

/** A real CRIU 4.2.1 inventory.img (runc-counter fixture), 86 bytes. */
const INVENTORY_IMG =
  "FjExWE4AAAAIAhABGhgIARABGAEgASgBMAI4A0AESAZQB1gIYAUgASgBMABYAGIAaiQ0NGUyNTU3YS1kOThjLTQ1N2ItYjNmOC04ZTk1MWUzOGE2Zjg=";

// --- times ---

/** Go RFC3339Nano of a Date or a validated RFC 3339 string (kept verbatim). */
function rfc3339(t: string | Date): string {
  if (t instanceof Date) return formatNs(BigInt(t.getTime()) * 1_000_000n);
  if (!RFC3339.test(t)) throw new Error(`not an RFC 3339 time: ${t}`);
  return t;
}

const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})$/;

function toNs(t: string | Date): bigint {
  if (t instanceof Date) return BigInt(t.getTime()) * 1_000_000n;
  const m = RFC3339.exec(t);
  if (!m) throw new Error(`not an RFC 3339 time: ${t}`);
  const [, y, mo, d, h, mi, s, frac = "", zone] = m;
  let ms = Date.UTC(+y!, +mo! - 1, +d!, +h!, +mi!, +s!);
  if (zone !== "Z") {
    const sign = zone!.startsWith("-") ? -1 : 1;
    ms -= sign * (+zone!.slice(1, 3) * 60 + +zone!.slice(4, 6)) * 60_000;
  }
  return BigInt(ms) * 1_000_000n + BigInt(frac.padEnd(9, "0"));
}

function formatNs(ns: bigint, opts: { trim?: boolean; zone?: string } = {}): string {
  const ms = Number(ns / 1_000_000n);
  const base = new Date(ms).toISOString().slice(0, 19);
  let frac = String(ns % 1_000_000_000n).padStart(9, "0");
  if (opts.trim !== false) frac = frac.replace(/0+$/, "");
  return `${base}${frac ? `.${frac}` : ""}${opts.zone ?? "Z"}`;
}

// --- Go encoding/json ---

/** A number written verbatim (int64 nanoseconds do not fit a JS number). */
class RawJson {
  constructor(readonly text: string) {}
}

/**
 * JSON as Go's encoding/json writes it: `indent` 0 → json.Marshal (compact), 2 → MarshalIndent(v, "",
 * "  "); strings escaped like Go (HTML-safe \u003c \u003e \u0026, \u2028 \u2029, control characters
 * as \u00XX except \n \r \t); key order as given (sort maps before). No trailing newline.
 */
export function goJson(value: unknown, indent: 0 | 2): string {
  const nl = (depth: number): string => (indent ? `\n${" ".repeat(indent * depth)}` : "");
  const enc = (v: unknown, depth: number): string => {
    if (v instanceof RawJson) return v.text;
    if (v === null || v === undefined) return "null";
    if (typeof v === "string") return goString(v);
    if (typeof v === "number") {
      if (!Number.isFinite(v)) throw new Error("non-finite number");
      return String(v);
    }
    if (typeof v === "bigint") return v.toString();
    if (typeof v === "boolean") return String(v);
    if (Array.isArray(v)) {
      if (v.length === 0) return "[]";
      return `[${v.map((x) => nl(depth + 1) + enc(x, depth + 1)).join(",")}${nl(depth)}]`;
    }
    if (typeof v === "object") {
      const entries = Object.entries(v as Record<string, unknown>).filter(([, x]) => x !== undefined);
      if (entries.length === 0) return "{}";
      const sep = indent ? ": " : ":";
      return `{${entries.map(([k, x]) => `${nl(depth + 1)}${goString(k)}${sep}${enc(x, depth + 1)}`).join(",")}${nl(depth)}}`;
    }
    throw new Error(`cannot encode ${typeof v}`);
  };
  return enc(value, 0);
}

function goString(s: string): string {
  let out = '"';
  for (const ch of s) {
    const c = ch.codePointAt(0)!;
    if (ch === '"') out += '\\"';
    else if (ch === "\\") out += "\\\\";
    else if (ch === "\n") out += "\\n";
    else if (ch === "\r") out += "\\r";
    else if (ch === "\t") out += "\\t";
    else if (c < 0x20 || ch === "<" || ch === ">" || ch === "&" || c === 0x2028 || c === 0x2029) {
      out += `\\u${c.toString(16).padStart(4, "0")}`;
    } else out += ch;
  }
  return `${out}"`;
}
