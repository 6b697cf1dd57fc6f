/**
 * `ckpt inspect`: everything checkpointctl 1.3.0's `inspect` shows about a checkpoint, as the same
 * JSON object (same keys, same values), plus what it cannot show under keys of its own: threads and
 * task state of every process, bytes queued in sockets, the rootfs-diff file list, deleted.files,
 * ghost (deleted but open) files and archive members refused as hostile.
 *
 * Where checkpointctl's value is wrong the value here is right, and says so in the docs of the field:
 * cmdline/environment (1.3.0 reads CRIU 4.x pagemaps with the old nr_pages field, finds no page and
 * prints NUL bytes turned into spaces, and no environment at all) and IPv6 addresses (1.3.0 writes
 * every word over the first four bytes). Zombie and dead tasks have no files, memory or sockets;
 * they are listed with their task state instead of failing like 1.3.0 does.
 */
import { ArchiveError, CHECKPOINT_DIR, type CheckpointArchive } from "../checkpoint/archive/checkpoint-archive.js";
import { listTar } from "../checkpoint/archive/tar-listing.js";
import type { Checkpoint } from "../checkpoint/checkpoint.js";
import { ANNOTATIONS, DELETED_FILES, ROOTFS_DIFF } from "../checkpoint/layout-names.js";
import { formatIpWords } from "../criu-images/crit-json/ip-address.js";
import { socketQueues, tcpQueues } from "../criu-images/explore/sk.js";
import { FileNames, InvalidUtf8, isDefunct, listProcesses, PAGE_SIZE, PagemapIndex, PE_PRESENT, readEntries, readImageHeader, type ImageDir, type ProcessInfo, type WireMessage } from "../criu-images/index.js";
import { dumpStatistics } from "./show.js";
import { byteToString, tenths } from "./units.js";

// ---------------------------------------------------------------------------------------------------
// Options

export interface InspectFlags {
  psTree?: boolean;
  psTreeCmd?: boolean;
  psTreeEnv?: boolean;
  files?: boolean;
  sockets?: boolean;
  mounts?: boolean;
  stats?: boolean;
  metadata?: boolean;
  all?: boolean;
  /** Prune the process tree to this PID's subtree (0 or undefined: whole tree). */
  pid?: number;
}

export interface InspectOptions {
  psTree: boolean;
  psTreeCmd: boolean;
  psTreeEnv: boolean;
  files: boolean;
  sockets: boolean;
  mounts: boolean;
  /** "required": --stats (no stats-dump is an error); "if-present": --all; false: not shown. */
  stats: "required" | "if-present" | false;
  metadata: boolean;
  pid?: number;
}

/** checkpointctl's flag logic: --all turns on everything; --pid, --files, --sockets, --ps-tree-cmd
 * and --ps-tree-env imply --ps-tree. */
export function inspectOptions(f: InspectFlags): InspectOptions {
  const all = f.all === true;
  const o: InspectOptions = {
    psTree: f.psTree === true,
    psTreeCmd: all || f.psTreeCmd === true,
    psTreeEnv: all || f.psTreeEnv === true,
    files: all || f.files === true,
    sockets: all || f.sockets === true,
    mounts: all || f.mounts === true,
    stats: f.stats ? "required" : all ? "if-present" : false,
    metadata: all || f.metadata === true,
    pid: f.pid ? f.pid : undefined,
  };
  if (o.pid !== undefined || o.files || o.sockets || o.psTreeCmd || o.psTreeEnv) o.psTree = true;
  return o;
}

// ---------------------------------------------------------------------------------------------------
// The result: checkpointctl 1.3.0's JSON keys first, then ckpt's own.

export interface CheckpointSizeJson {
  total_size?: number;
  memory_pages_size?: number;
  amd_gpu_memory_pages_size?: number;
  root_fs_diff_size?: number;
}

export interface StatisticsJson {
  freezing_time?: number;
  frozen_time?: number;
  memdump_time?: number;
  memwrite_time?: number;
  pages_scanned?: number;
  pages_written?: number;
}

export interface ThreadJson {
  tid: number;
  name: string;
}

export interface ProcessJson {
  pid: number;
  command: string;
  /** argv, each NUL turned into a space (so with a trailing space), as checkpointctl builds it. */
  cmdline?: string;
  /** Sorted by name, as Go writes a map. */
  environment_variables?: Record<string, string>;
  /** ckpt: CRIU's task state (Alive, Dead, Stopped, Zombie). */
  task_state: string;
  /** ckpt: every thread with its name (comm); none for zombie and dead tasks. */
  threads: ThreadJson[];
  /** ckpt: environment entries with no name (no "=", or starting with it); checkpointctl fails on them. */
  environment_malformed?: string[];
  children?: ProcessJson[];
}

export interface OpenFileJson {
  type: string;
  fd: string;
  path: string;
}

export interface FdsJson {
  pid: number;
  open_files?: OpenFileJson[];
}

export interface SocketDataJson {
  type?: string;
  address?: string;
  state?: string;
  src?: string;
  src_port?: number;
  dst?: string;
  dst_port?: number;
  send_buf?: string;
  recv_buf?: string;
}

export interface SocketJson {
  protocol?: string;
  data: SocketDataJson;
  /** ckpt: the descriptor, the socket's inode, its type (STREAM, DGRAM…). */
  fd: number;
  inode?: number;
  socket_type?: string;
  /** ckpt: bytes waiting to be read (TCP in-queue, queued unix/packet datagrams). */
  queued_recv_bytes?: number;
  /** ckpt: bytes not yet sent or acknowledged (TCP out-queue). */
  queued_send_bytes?: number;
  /** ckpt: packets in the receive queue (unix and packet sockets). */
  queued_packets?: number;
}

export interface SocketsJson {
  pid: number;
  open_sockets?: SocketJson[];
}

export interface MountJson {
  destination: string;
  type: string;
  source: string;
}

export interface MetadataJson {
  pod_name?: string;
  kubernetes_namespace?: string;
  annotations?: Record<string, string>;
}

export interface RootfsDiffFileJson {
  path: string;
  /** file, directory, symlink, hardlink, char-device, block-device, fifo, or the tar type flag. */
  type: string;
  size: number;
  link?: string;
}

export interface GhostFileJson {
  /** Where the file was before it was deleted. */
  path: string;
  /** Its size (bytes of content CRIU saved for it). */
  size: number;
  /** The image in checkpoint/ that holds the content. */
  image: string;
  mode: number;
  uid: number;
  gid: number;
  /** Which processes hold it open, on which descriptor. */
  open_by: Array<{ pid: number; fd: number }>;
  /** Set when the archive lacks the image (size and mode then come from files.img). */
  image_missing?: true;
}

export interface RefusedMemberJson {
  name: string;
  reason: string;
}

export interface InspectJson {
  container_name: string;
  image: string;
  id: string;
  runtime: string;
  created: string;
  checkpointed?: string;
  engine: string;
  ip?: string;
  checkpoint_size: CheckpointSizeJson;
  statistics?: StatisticsJson;
  metadata?: MetadataJson;
  process_tree?: ProcessJson;
  file_descriptors?: FdsJson[];
  sockets?: SocketsJson[];
  mounts?: MountJson[];
  deleted_files?: string[];
  rootfs_diff_files?: RootfsDiffFileJson[];
  ghost_files?: GhostFileJson[];
  refused_members?: RefusedMemberJson[];
}

// ---------------------------------------------------------------------------------------------------
// Small value helpers (Go's formatting, as checkpointctl and go-criu print)

/** Go's time.Format(RFC3339) of a time parsed from RFC 3339: seconds precision, "Z" for offset 0;
 * undefined for Go's zero time. */
export function goRfc3339(time: string | undefined): string | undefined {
  if (!time) return undefined;
  const s = time.replace(/(\d{2}:\d{2}:\d{2})\.\d+/, "$1").replace(/[+-]00:00$/, "Z");
  return s === "0001-01-01T00:00:00Z" ? undefined : s;
}

/** go-criu's countBytes: "N B" under 1024, else "%.1f" and K/M/G… B. */
export function countBytes(n: number): string {
  const unit = 1024;
  if (n < unit) return `${n} B`;
  let div = unit;
  let exp = 0;
  for (let i = Math.floor(n / unit); i >= unit; i = Math.floor(i / unit)) {
    div *= unit;
    exp++;
  }
  return `${tenths(n, div)} ${"KMGTPE"[exp]}B`;
}

const TCP_STATES = ["", "ESTABLISHED", "SYN_SENT", "SYN_RECEIVED", "FIN_WAIT_1", "FIN_WAIT_2", "TIME_WAIT", "CLOSE", "CLOSE_WAIT", "LAST_ACK", "LISTEN", "CLOSING", "NEW_SYN_RECV"];
const SOCK_TYPES: Record<number, string> = { 1: "STREAM", 2: "DGRAM", 3: "RAW", 4: "RDM", 5: "SEQPACKET", 10: "PACKET" };
const IP_PROTOCOLS: Record<number, string> = { 1: "ICMP", 58: "ICMPV6", 2: "IGMP", 255: "RAW", 6: "TCP", 17: "UDP", 136: "UDPLITE" };

const skState = (v: unknown) => TCP_STATES[Number(v ?? 0) & 0xff] ?? "";
const skType = (v: unknown) => SOCK_TYPES[Number(v ?? 0)] ?? "";
/** go-criu names every socket's protocol number from the IP protocol table (netlink and packet too). */
const skProtocol = (v: unknown) => IP_PROTOCOLS[Number(v ?? 0)] ?? "";

/** Go's string(bytes) / proto string as JSON writes it (invalid UTF-8 → U+FFFD). */
function goText(v: unknown): string {
  if (v === undefined || v === null) return "";
  if (v instanceof InvalidUtf8) return Buffer.from(v.bytes).toString("utf8");
  if (v instanceof Uint8Array) return Buffer.from(v).toString("utf8");
  return String(v);
}

/** An address as Go's net.IP prints it: 1 word IPv4, 4 words IPv6 (IPv4-mapped ones dotted). */
function ipString(words: unknown): string {
  const w = (words as number[] | undefined) ?? [];
  if (w.length !== 1 && w.length !== 4) return "";
  if (w.length === 4 && w[0] === 0 && w[1] === 0 && w[2] === 0xffff0000) return formatIpWords([w[3]!])!;
  return formatIpWords(w) ?? "";
}

function nonEmpty<T>(list: T[]): T[] | undefined {
  return list.length ? list : undefined;
}

function omitUndefined<T extends object>(o: T): T {
  for (const k of Object.keys(o) as (keyof T)[]) if (o[k] === undefined) delete o[k];
  return o;
}

// ---------------------------------------------------------------------------------------------------
// Inspect

export async function inspectCheckpoint(cp: Checkpoint, opts: InspectOptions): Promise<InspectJson> {
  const c = cp.container();
  const config = cp.config();
  const spec = cp.spec();
  const sizes = cp.sizes();
  const created = c.engine === "CRI-O" ? c.created : (goRfc3339(config.createdTime) ?? "0001-01-01T00:00:00Z");
  const out: InspectJson = {
    container_name: c.name,
    image: c.image,
    id: c.id,
    runtime: c.runtime,
    created,
    checkpointed: goRfc3339(config.checkpointedTime),
    engine: c.engine,
    ip: c.ip || undefined,
    checkpoint_size: omitUndefined({
      total_size: sizes.total || undefined,
      memory_pages_size: sizes.memoryPages || undefined,
      amd_gpu_memory_pages_size: sizes.amdGpuPages || undefined,
      root_fs_diff_size: sizes.rootfsDiff || undefined,
    }),
  };

  if (opts.stats) {
    const s = dumpStatistics(cp);
    if (!s && opts.stats === "required") throw new ArchiveError(`${cp.path}: no CRIU dump statistics (stats-dump) in the archive`);
    if (s) {
      out.statistics = omitUndefined({
        freezing_time: s.freezingTime || undefined,
        frozen_time: s.frozenTime || undefined,
        memdump_time: s.memdumpTime || undefined,
        memwrite_time: s.memwriteTime || undefined,
        pages_scanned: s.pagesScanned || undefined,
        pages_written: s.pagesWritten || undefined,
      });
    }
  }

  if (opts.metadata) {
    const annotations = spec.annotations ?? {};
    const keys = Object.keys(annotations).sort(byteOrder);
    out.metadata = omitUndefined({
      pod_name: c.pod || undefined,
      kubernetes_namespace: c.namespace || undefined,
      annotations: keys.length ? Object.fromEntries(keys.map((k) => [k, annotations[k]!])) : undefined,
    });
  }

  const dir = cp.images;
  const names = new FileNames(dir);
  const procs = opts.psTree || opts.files || opts.sockets ? listProcesses(dir) : [];

  // One prefetch for everything page data or big images are needed for (a no-op unless compressed).
  const memory = opts.psTreeCmd || opts.psTreeEnv ? planMemory(cp, procs, opts) : new Map<number, ProcessMemory>();
  const ghosts = opts.files ? planGhosts(cp) : [];
  await cp.archive.prefetch([...[...memory.values()].flatMap((m) => m.fetch), ...ghosts.map((g) => g.fetch)]);

  if (opts.psTree) out.process_tree = processTree(cp, procs, memory, opts);
  // Empty lists are left out, as Go leaves out a nil slice.
  if (opts.files) out.file_descriptors = nonEmpty(fileDescriptors(dir, procs, names));
  if (opts.sockets) out.sockets = nonEmpty(sockets(dir, procs, names));
  if (opts.mounts && spec.mounts?.length) {
    out.mounts = spec.mounts.map((m) => ({ destination: m.destination, type: m.type ?? "", source: m.source ?? "" }));
  }
  if (opts.files) {
    out.deleted_files = deletedFiles(cp);
    if (cp.archive.has(ROOTFS_DIFF)) out.rootfs_diff_files = await listTar(cp.archive, ROOTFS_DIFF);
    const ghostList = ghostFiles(cp, procs, names, ghosts);
    if (ghostList.length) out.ghost_files = ghostList;
  }
  if (cp.archive.refused.length) out.refused_members = cp.archive.refused.map((r) => ({ name: r.name, reason: r.reason }));
  return omitUndefined(out);
}

export function byteOrder(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}

/** A live task's one-entry image; an error naming the member when it is missing. */
function liveImage(dir: ImageDir, p: ProcessInfo, name: string): WireMessage {
  const entry = dir.one(name);
  if (!entry) throw new ArchiveError(`${dir.file(name)}: missing for live task ${p.pid}`);
  return entry;
}

// --- process tree, argv and environment ---

export interface MemorySpan {
  length: number;
  /** Offset in the pages image when the page was dumped; absent pages read as zeros (as checkpointctl). */
  fileOffset?: number;
}

export interface MemoryArea {
  spans: MemorySpan[];
}

export interface ProcessMemory {
  pagesMember: string;
  args?: MemoryArea;
  env?: MemoryArea;
  fetch: Array<{ name: string; offset: number; length: number }>;
}

/** Generous bound on an argv or environment area (the kernel's is a quarter of the stack limit). */
const MAX_AREA = 64 << 20;

/** Where each live task's argv and environment (as opts asks) lie in its pages, for one prefetch. */
export function planMemory(cp: Checkpoint, procs: readonly ProcessInfo[], opts: Pick<InspectOptions, "psTreeCmd" | "psTreeEnv">): Map<number, ProcessMemory> {
  const dir = cp.images;
  const plans = new Map<number, ProcessMemory>();
  for (const p of procs) {
    if (isDefunct(p)) continue;
    const mm = liveImage(dir, p, `mm-${p.pid}.img`);
    const pagemap = `pagemap-${p.pid}.img`;
    if (!dir.has(pagemap)) throw new ArchiveError(`${dir.file(pagemap)}: missing for live task ${p.pid}`);
    const index = PagemapIndex.fromEntries(dir.entries(pagemap));
    const pagesMember = `${CHECKPOINT_DIR}/pages-${index.pagesId}.img`;
    const plan: ProcessMemory = { pagesMember, fetch: [] };
    const area = (startV: unknown, endV: unknown, what: string): MemoryArea => {
      const start = BigInt((startV as bigint | number | undefined) ?? 0);
      const end = BigInt((endV as bigint | number | undefined) ?? 0);
      if (end <= start) return { spans: [] };
      if (end - start > BigInt(MAX_AREA)) throw new ArchiveError(`${dir.file(`mm-${p.pid}.img`)}: ${what} area of ${end - start} bytes is not plausible`);
      const spans: MemorySpan[] = [];
      for (let at = start; at < end; ) {
        const pageEnd = (at / BigInt(PAGE_SIZE) + 1n) * BigInt(PAGE_SIZE);
        const stop = end < pageEnd ? end : pageEnd;
        const length = Number(stop - at);
        const range = index.find(at);
        const fileOffset = range && range.flags & PE_PRESENT && cp.archive.has(pagesMember) ? range.fileOffset! + Number(at - range.vaddr) : undefined;
        const last = spans[spans.length - 1];
        if (last && last.fileOffset !== undefined && fileOffset !== undefined && last.fileOffset + last.length === fileOffset) last.length += length;
        else if (last && last.fileOffset === undefined && fileOffset === undefined) last.length += length;
        else spans.push({ length, fileOffset });
        at = stop;
      }
      for (const s of spans) if (s.fileOffset !== undefined) plan.fetch.push({ name: pagesMember, offset: s.fileOffset, length: s.length });
      return { spans };
    };
    if (opts.psTreeCmd) plan.args = area(mm.mm_arg_start, mm.mm_arg_end, "argument");
    if (opts.psTreeEnv) plan.env = area(mm.mm_env_start, mm.mm_env_end, "environment");
    plans.set(p.pid, plan);
  }
  return plans;
}

export function readArea(archive: CheckpointArchive, member: string, area: MemoryArea): Buffer {
  return Buffer.concat(area.spans.map((s) => (s.fileOffset === undefined ? Buffer.alloc(s.length) : Buffer.from(archive.readRange(member, s.fileOffset, s.length)))));
}

/** An environment area: NAME=value entries (the last of a name wins), and entries with no name. */
export function parseEnvironment(area: Buffer): { vars: Map<string, string>; malformed: string[] } {
  const vars = new Map<string, string>();
  const malformed: string[] = [];
  for (const e of area.toString("utf8").split("\0")) {
    if (e === "") continue;
    const i = e.indexOf("=");
    if (i <= 0) malformed.push(e);
    else vars.set(e.slice(0, i), e.slice(i + 1));
  }
  return { vars, malformed };
}

function processTree(cp: Checkpoint, procs: readonly ProcessInfo[], memory: Map<number, ProcessMemory>, opts: InspectOptions): ProcessJson | undefined {
  const nodes = new Map<number, ProcessJson>();
  for (const p of procs) {
    const mem = memory.get(p.pid);
    let cmdline: string | undefined;
    let environment: Record<string, string> | undefined;
    const malformed: string[] = [];
    if (mem?.args) cmdline = readArea(cp.archive, mem.pagesMember, mem.args).toString("utf8").replace(/\0/g, " ") || undefined;
    if (mem?.env) {
      const env = parseEnvironment(readArea(cp.archive, mem.pagesMember, mem.env));
      malformed.push(...env.malformed);
      if (env.vars.size) environment = Object.fromEntries([...env.vars.keys()].sort(byteOrder).map((k) => [k, env.vars.get(k)!]));
    }
    const node: ProcessJson = omitUndefined({
      pid: p.pid,
      command: p.comm,
      cmdline,
      environment_variables: environment,
      task_state: p.stateName,
      // A zombie's threads are gone; CRIU leaves an uninitialised value in its pstree entry.
      threads: isDefunct(p) ? [] : p.threads.map((t) => ({ tid: t.tid, name: t.comm ?? "" })),
      environment_malformed: malformed.length ? malformed : undefined,
    });
    nodes.set(p.pid, node);
  }
  let root: ProcessJson | undefined;
  for (const p of procs) {
    const node = nodes.get(p.pid)!;
    const parent = p.ppid === 0 ? undefined : nodes.get(p.ppid);
    if (parent) (parent.children ??= []).push(node);
    else root ??= node;
  }
  for (const n of nodes.values()) n.children?.sort((a, b) => a.pid - b.pid);
  if (opts.pid === undefined) return root;
  // Searched from the root, as checkpointctl does.
  const find = (n: ProcessJson | undefined): ProcessJson | undefined => {
    if (!n || n.pid === opts.pid) return n;
    for (const c of n.children ?? []) {
      const hit = find(c);
      if (hit) return hit;
    }
    return undefined;
  };
  const found = find(root);
  if (!found) throw new ArchiveError(`${cp.path}: no process with PID ${opts.pid} (use \`inspect --ps-tree\` to view all PIDs)`);
  return found;
}

// --- files ---

/** go-criu's getFilePath: the path of a regular file, pipe[N], unix[ino (peer) name], TYPE.id. */
function filePath(names: FileNames, type: string, id: number): string {
  switch (type) {
    case "REG": {
      const reg = names.find("REG", id);
      return reg ? goText(reg.name) : "unknown";
    }
    case "PIPE": {
      const pipe = names.find("PIPE", id);
      return pipe ? `pipe[${pipe.pipe_id ?? 0}]` : "pipe[?]";
    }
    case "UNIXSK": {
      const usk = names.find("UNIXSK", id);
      return usk ? `unix[${usk.ino ?? 0} (${usk.peer ?? 0}) ${goText(usk.name)}]` : "unix[?]";
    }
    default:
      return `${type}.${id}`;
  }
}

function fileDescriptors(dir: ImageDir, procs: readonly ProcessInfo[], names: FileNames): FdsJson[] {
  return procs.map((p): FdsJson => {
    // A zombie or dead task has no files (checkpointctl 1.3.0 fails here).
    if (isDefunct(p) && !dir.has(`ids-${p.pid}.img`)) return { pid: p.pid };
    const ids = liveImage(dir, p, `ids-${p.pid}.img`);
    const files: OpenFileJson[] = dir.entries(`fdinfo-${ids.files_id}.img`).map((fd) => {
      const type = names.typeName(fd.type as number);
      return { type, fd: `${type} ${fd.fd}`, path: filePath(names, type, fd.id as number) };
    });
    const fs = liveImage(dir, p, `fs-${p.pid}.img`);
    files.push({ type: "", fd: "cwd", path: filePath(names, "REG", fs.cwd_id as number) });
    files.push({ type: "", fd: "root", path: filePath(names, "REG", fs.root_id as number) });
    return { pid: p.pid, open_files: files };
  });
}

// --- sockets ---

/** The fd type each socket came from (INETSK, UNIXSK…), for the tree; not part of the JSON. */
export const socketKinds = new WeakMap<SocketJson, string>();

function sockets(dir: ImageDir, procs: readonly ProcessInfo[], names: FileNames): SocketsJson[] {
  const queues = socketQueues(dir);
  const out: SocketsJson[] = [];
  const push = (list: SocketJson[], kind: string, s: SocketJson) => {
    socketKinds.set(s, kind);
    list.push(s);
  };
  for (const p of procs) {
    if (isDefunct(p) && !dir.has(`ids-${p.pid}.img`)) continue;
    const ids = liveImage(dir, p, `ids-${p.pid}.img`);
    const list: SocketJson[] = [];
    for (const fd of dir.entries(`fdinfo-${ids.files_id}.img`)) {
      const type = names.typeName(fd.type as number);
      const file = names.fileEntries().get(fd.id as number);
      const base = { fd: fd.fd as number };
      const q = queues.get(fd.id as number);
      const queued = q ? { queued_recv_bytes: q.bytes, queued_packets: q.packets } : {};
      const bufs = (sk: WireMessage) => {
        const o = sk.opts as WireMessage | undefined;
        return { send_buf: countBytes(Number(o?.so_sndbuf ?? 0)), recv_buf: countBytes(Number(o?.so_rcvbuf ?? 0)) };
      };
      if (type === "INETSK") {
        const isk = file?.isk as WireMessage | undefined;
        if (!isk) {
          push(list, type, { data: {}, ...base });
          continue;
        }
        const protocol = skProtocol(isk.proto);
        const ino = Number(isk.ino ?? 0);
        const s: SocketJson = {
          protocol: protocol || undefined,
          data: omitUndefined({
            type: protocol || undefined,
            state: skState(isk.state) || undefined,
            src: ipString(isk.src_addr) || undefined,
            src_port: Number(isk.src_port ?? 0) || undefined,
            dst: ipString(isk.dst_addr) || undefined,
            dst_port: Number(isk.dst_port ?? 0) || undefined,
            ...bufs(isk),
          }),
          ...base,
          inode: ino,
          socket_type: skType(isk.type) || undefined,
          ...queued,
        };
        const tcp = Number(isk.proto) === 6 ? tcpQueues(dir, ino) : undefined;
        if (tcp) {
          s.queued_recv_bytes = tcp.recv;
          s.queued_send_bytes = tcp.send;
        }
        push(list, type, omitUndefined(s));
      } else if (type === "UNIXSK") {
        const usk = (file?.usk as WireMessage | undefined) ?? names.find("UNIXSK", fd.id as number);
        if (!usk) {
          push(list, type, { data: {}, ...base });
          continue;
        }
        push(
          list,
          type,
          omitUndefined({
            data: omitUndefined({ type: "UNIX", address: goText(usk.name) || undefined }),
            ...base,
            inode: Number(usk.ino ?? 0),
            socket_type: skType(usk.type) || undefined,
            queued_recv_bytes: q?.bytes ?? 0,
            queued_packets: q?.packets ?? 0,
          }),
        );
      } else if (type === "PACKETSK" || type === "NETLINKSK") {
        const sk = file?.[type === "PACKETSK" ? "psk" : "nlsk"] as WireMessage | undefined;
        if (!sk) {
          push(list, type, { data: {}, ...base });
          continue;
        }
        push(
          list,
          type,
          omitUndefined({
            protocol: skProtocol(sk.protocol) || undefined,
            data: bufs(sk),
            ...base,
            inode: sk.ino === undefined ? undefined : Number(sk.ino),
            socket_type: type === "PACKETSK" ? skType(sk.type) || undefined : undefined,
            ...(type === "PACKETSK" ? { queued_recv_bytes: q?.bytes ?? 0, queued_packets: q?.packets ?? 0 } : {}),
          }),
        );
      }
    }
    if (list.length) out.push({ pid: p.pid, open_sockets: list });
  }
  return out;
}

// --- deleted files, ghost files, rootfs diff ---

function deletedFiles(cp: Checkpoint): string[] | undefined {
  return cp.archive.has(DELETED_FILES) ? cp.deletedFiles() : undefined;
}

export interface GhostPlan {
  origId: number;
  image: string;
  member: string;
  fetch: { name: string; offset: number; length: number };
}

/** The ghost_file_entry header is small; this much of the image holds it. */
const GHOST_HEAD = 4096;

export function planGhosts(cp: Checkpoint): GhostPlan[] {
  return cp.images
    .entries("remap-fpath.img")
    .filter((r) => Number(r.remap_type ?? 0) === 1)
    .map((r) => {
      const image = `ghost-file-${Number(r.remap_id).toString(16)}.img`;
      const member = `${CHECKPOINT_DIR}/${image}`;
      const length = cp.archive.has(member) ? Math.min(GHOST_HEAD, cp.archive.size(member)) : 0;
      return { origId: Number(r.orig_id), image, member, fetch: { name: member, offset: 0, length } };
    });
}

export function ghostFiles(cp: Checkpoint, procs: readonly ProcessInfo[], names: FileNames, plans: readonly GhostPlan[]): GhostFileJson[] {
  const dir = cp.images;
  const holders = new Map<number, Array<{ pid: number; fd: number }>>();
  if (plans.length) {
    const wanted = new Set(plans.map((g) => g.origId));
    for (const p of procs) {
      const ids = dir.one(`ids-${p.pid}.img`);
      if (!ids) continue;
      for (const fd of dir.entries(`fdinfo-${ids.files_id}.img`)) {
        const id = fd.id as number;
        if (wanted.has(id)) (holders.get(id) ?? holders.set(id, []).get(id)!).push({ pid: p.pid, fd: fd.fd as number });
      }
    }
  }
  return plans.map((g): GhostFileJson => {
    const reg = names.find("REG", g.origId);
    const base = { path: reg ? goText(reg.name) : "unknown", image: g.image, open_by: holders.get(g.origId) ?? [] };
    if (!g.fetch.length) {
      // The image is missing (or empty): what files.img says about the file is all there is.
      return { path: base.path, size: Number(reg?.size ?? 0), image: g.image, mode: Number(reg?.mode ?? 0), uid: 0, gid: 0, open_by: base.open_by, image_missing: true };
    }
    const head = cp.archive.readRange(g.member, 0, g.fetch.length);
    const where = `${cp.path}:${g.member}`;
    const { start } = readImageHeader(head, where);
    const first = readEntries(head, where).next();
    if (first.done) throw new ArchiveError(`${where}: no ghost_file_entry`);
    const gfe = first.value.message;
    const headerEnd = start + 4 + (head[start]! | (head[start + 1]! << 8) | (head[start + 2]! << 16) | (head[start + 3]! << 24));
    const size = gfe.size !== undefined ? Number(gfe.size) : gfe.chunks !== true ? cp.archive.size(g.member) - headerEnd : Number(reg?.size ?? 0);
    return { path: base.path, size, image: g.image, mode: Number(gfe.mode ?? 0), uid: Number(gfe.uid ?? 0), gid: Number(gfe.gid ?? 0), open_by: base.open_by };
  });
}

