/**
 * What `ckpt diff A B` finds, as data: `--format json` prints this object as it is, the tree is drawn
 * from it. Addresses are hex strings ("0x7f…"), so that the JSON holds them exactly. "a" is the first
 * checkpoint, "b" the second: added means in B only, removed in A only.
 */

/** One field that differs, with both values as text. */
export interface FieldChange {
  field: string;
  a: string;
  b: string;
  /** What the change means, where the values alone do not say (capabilities gained or lost). */
  detail?: string;
}

export interface ListDiff<T, C> {
  added: T[];
  removed: T[];
  changed: C[];
}

export interface ProcessSummary {
  pid: number;
  ppid: number;
  command: string;
  /** argv joined by spaces; absent for zombie and dead tasks. */
  cmdline?: string;
  task_state: string;
}

export interface ThreadJson {
  tid: number;
  name: string;
}

export interface SocketFacts {
  /** tcp, tcp6, udp, unix-stream, unix-dgram, packet, netlink… */
  proto: string;
  state: string;
  local: string;
  peer: string;
}

export interface OpenFileJson {
  /** A descriptor number, or cwd / root. */
  fd: string;
  /** CRIU's file type: REG, PIPE, INETSK, UNIXSK, EVENTFD… */
  type: string;
  /** A file's path, pipe[ino], or a socket's protocol and addresses. */
  path: string;
  /** Open flags of a regular file (O_RDWR | O_APPEND…). */
  flags?: string;
  /** File position of a regular file. */
  pos?: number;
  cloexec: boolean;
  socket?: SocketFacts;
}

export interface OpenFileChange {
  fd: string;
  a: OpenFileJson;
  b: OpenFileJson;
  changes: FieldChange[];
}

export interface VmaJson {
  start: string;
  end: string;
  size: number;
  /** rwx as crit prints it. */
  prot: string;
  /** What backs it: a path (+ offset), shmem, [stack], [vdso]…; empty for private anonymous memory. */
  file: string;
}

export interface VmaChange {
  start: string;
  file: string;
  a: VmaJson;
  b: VmaJson;
  changes: FieldChange[];
}

/** Pages of one memory area (a VMA present in both, or a shared memory object) that differ. */
export interface PagesChange {
  /** The area in B (in A for pages only A has, when B lacks the area's pages). */
  area: VmaJson;
  /** Pages in both dumps whose content differs. */
  changed_pages: number;
  /** Pages dumped in B only / in A only. */
  added_pages: number;
  removed_pages: number;
  /** Addresses of the first pages that differ (at most MAX_LISTED_PAGES). */
  first_changed: string[];
}

export interface EnvironmentDiff {
  added: Record<string, string>;
  removed: Record<string, string>;
  changed: Record<string, { a: string; b: string }>;
}

export interface ProcessChange {
  /** The process in B; pid_a is set when A's pid differs (matched by command line). */
  pid: number;
  pid_a?: number;
  command: string;
  matched_by: "pid" | "cmdline";
  /** Set when the two are laid out at other addresses (replicas): VMAs paired by what they map, their
   * pages compared at the same offset in each. */
  vma_match?: "mapping";
  changes: FieldChange[];
  threads: { added: ThreadJson[]; removed: ThreadJson[] };
  environment: EnvironmentDiff;
  files: ListDiff<OpenFileJson, OpenFileChange>;
  vmas: ListDiff<VmaJson, VmaChange>;
  memory: PagesChange[];
}

export interface SharedMemoryJson {
  shmid: number;
  label: string;
  pages: number;
}

export interface RootfsEntryJson {
  path: string;
  type: string;
  size: number;
  link?: string;
}

export interface RootfsChange {
  path: string;
  changes: FieldChange[];
  /** Unified diff of a small text file (both sides at most MAX_TEXT_BYTES of UTF-8 without NUL). */
  unified_diff?: string;
}

export interface RootfsDiff {
  added: RootfsEntryJson[];
  changed: RootfsChange[];
  /** Newly deleted: in B's deleted.files (or whiteouts) and not in A's. */
  deleted: string[];
  /** Changed or deleted in A, but in neither list of B: back to the image's version. */
  reverted: string[];
}

export interface CheckpointDiff {
  a: string;
  b: string;
  processes: { added: ProcessSummary[]; removed: ProcessSummary[]; changed: ProcessChange[] };
  shared_memory: ListDiff<SharedMemoryJson, PagesChange & { shmid: number; label: string }>;
  rootfs: RootfsDiff;
  /** What could not be compared (pages in a parent dump or lazy pages, diffs left out). */
  notes: string[];
}

/** At most this many page addresses are listed per area. */
export const MAX_LISTED_PAGES = 8;

/** Whether a diff found nothing. */
export function isEmptyDiff(d: CheckpointDiff): boolean {
  const p = d.processes;
  const s = d.shared_memory;
  const r = d.rootfs;
  return [p.added, p.removed, p.changed, s.added, s.removed, s.changed, r.added, r.changed, r.deleted, r.reverted].every((l) => l.length === 0);
}
