/**
 * One row per CRIU image type: its magic name, the message its entries hold, how the entries are laid
 * out, and the payload that follows each entry. Adding an image type is adding a row.
 */
import { ipcMsgPayload, ipcSemPayload, ipcShmPayload } from "./payloads/ipc.js";
import { num, type PayloadCodec } from "./payloads/payload-codec.js";
import { rawBytesPayload } from "./payloads/raw-bytes.js";
import { tcpStreamPayload } from "./payloads/tcp-stream.js";

export interface ImageType {
  readonly name: string;
  /** The message of every entry ("entries"), of the first entry ("pagemap", "ghost"). */
  readonly message: string;
  /**
   * "entries": length-prefixed messages to the end of the file, each maybe followed by a payload.
   * "pagemap": a pagemap_head, then pagemap_entry messages.
   * "ghost": a ghost_file_entry, then either the file body to the end of the file or, when `chunks`
   * is set, ghost_chunk_entry messages each followed by `len` bytes.
   */
  readonly layout: "entries" | "pagemap" | "ghost";
  readonly payload?: PayloadCodec;
}

const pipeData = rawBytesPayload("pipe data", (e) => num(e.bytes));

const ROWS: ReadonlyArray<readonly [string, string, PayloadCodec?]> = [
  ["INVENTORY", "inventory_entry"],
  ["CORE", "core_entry"],
  ["IDS", "task_kobj_ids_entry"],
  ["CREDS", "creds_entry"],
  ["UTSNS", "utsns_entry"],
  ["TIMENS", "timens_entry"],
  ["PIDNS", "pidns_entry"],
  ["IPC_VAR", "ipc_var_entry"],
  ["FS", "fs_entry"],
  ["MM", "mm_entry"],
  ["CGROUP", "cgroup_entry"],
  ["TCP_STREAM", "tcp_stream_entry", tcpStreamPayload],
  ["STATS", "stats_entry"],
  ["PSTREE", "pstree_entry"],
  ["REG_FILES", "reg_file_entry"],
  ["NS_FILES", "ns_file_entry"],
  ["EVENTFD_FILE", "eventfd_file_entry"],
  ["EVENTPOLL_FILE", "eventpoll_file_entry"],
  ["EVENTPOLL_TFD", "eventpoll_tfd_entry"],
  ["SIGNALFD", "signalfd_entry"],
  ["TIMERFD", "timerfd_entry"],
  ["INOTIFY_FILE", "inotify_file_entry"],
  ["INOTIFY_WD", "inotify_wd_entry"],
  ["FANOTIFY_FILE", "fanotify_file_entry"],
  ["FANOTIFY_MARK", "fanotify_mark_entry"],
  ["VMAS", "vma_entry"],
  ["PIPES", "pipe_entry"],
  ["FIFO", "fifo_entry"],
  ["SIGACT", "sa_entry"],
  ["NETLINK_SK", "netlink_sk_entry"],
  ["REMAP_FPATH", "remap_file_path_entry"],
  ["MNTS", "mnt_entry"],
  ["TTY_FILES", "tty_file_entry"],
  ["TTY_INFO", "tty_info_entry"],
  ["TTY_DATA", "tty_data_entry"],
  ["RLIMIT", "rlimit_entry"],
  ["TUNFILE", "tunfile_entry"],
  ["EXT_FILES", "ext_file_entry"],
  ["IRMAP_CACHE", "irmap_cache_entry"],
  ["FILE_LOCKS", "file_lock_entry"],
  ["FDINFO", "fdinfo_entry"],
  ["UNIXSK", "unix_sk_entry"],
  ["INETSK", "inet_sk_entry"],
  ["PACKETSK", "packet_sock_entry"],
  ["ITIMERS", "itimer_entry"],
  ["POSIX_TIMERS", "posix_timer_entry"],
  ["NETDEV", "net_device_entry"],
  ["PIPES_DATA", "pipe_data_entry", pipeData],
  ["FIFO_DATA", "pipe_data_entry", pipeData],
  ["SK_QUEUES", "sk_packet_entry", rawBytesPayload("socket queue data", (e) => num(e.length))],
  ["IPCNS_SHM", "ipc_shm_entry", ipcShmPayload],
  ["IPCNS_SEM", "ipc_sem_entry", ipcSemPayload],
  ["IPCNS_MSG", "ipc_msg_entry", ipcMsgPayload],
  ["NETNS", "netns_entry"],
  ["USERNS", "userns_entry"],
  ["SECCOMP", "seccomp_entry"],
  ["AUTOFS", "autofs_entry"],
  ["FILES", "file_entry"],
  ["CPUINFO", "cpuinfo_entry"],
  ["MEMFD_INODE", "memfd_inode_entry"],
  ["BPFMAP_FILE", "bpfmap_file_entry"],
  ["BPFMAP_DATA", "bpfmap_data_entry", rawBytesPayload("BPF map data", (e) => num(e.keys_bytes) + num(e.values_bytes))],
  ["APPARMOR", "apparmor_entry"],
  // crit has no handler for these three; CRIU writes them with these messages.
  ["SIGNAL", "siginfo_entry"],
  ["BINFMT_MISC", "binfmt_misc_entry"],
  ["PIDFD", "pidfd_entry"],
];

export const IMAGE_TYPES: ReadonlyMap<string, ImageType> = new Map<string, ImageType>([
  ...ROWS.map(([name, message, payload]): [string, ImageType] => [name, { name, message, layout: "entries", payload }]),
  ["PAGEMAP", { name: "PAGEMAP", message: "pagemap_head", layout: "pagemap" }],
  ["GHOST_FILE", { name: "GHOST_FILE", message: "ghost_file_entry", layout: "ghost" }],
]);

/** The head magic an encoder writes before the type magic (crit's rule). */
export function headMagicFor(name: string): "none" | "service" | "common" {
  if (name === "INVENTORY") return "none";
  return name === "STATS" || name === "IRMAP_CACHE" ? "service" : "common";
}
