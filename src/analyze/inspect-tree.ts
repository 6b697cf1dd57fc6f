/**
 * `ckpt inspect` as a tree, in checkpointctl's layout (treeprint edges, "[meta]  value" nodes), with
 * what ckpt adds (threads, task states, queued bytes, deleted and ghost files, refused members).
 */
import { ANNOTATIONS } from "../checkpoint/layout-names.js";
import { byteOrder, socketKinds, type InspectJson, type InspectOptions, type ProcessJson, type SocketJson } from "./inspect.js";
import { byteToString } from "./units.js";

// ---------------------------------------------------------------------------------------------------
// Tree view (checkpointctl's layout: treeprint edges, "[meta]  value" nodes)

export interface TreeNode {
  text: string;
  meta?: string;
  children: TreeNode[];
}

export function node(text: string, meta?: string): TreeNode {
  return { text, meta, children: [] };
}

export function add(parent: TreeNode, text: string, meta?: string): TreeNode {
  const n = node(text, meta);
  parent.children.push(n);
  return n;
}

/** Control characters would break the tree's lines: shown escaped (\n, \x00…). */
function printable(s: string): string {
  return s.replace(/[\x00-\x1f\x7f]/g, (c) => (c === "\n" ? "\\n" : c === "\t" ? "\\t" : `\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}`));
}

/** A unix socket address: abstract names ("\0name") as "@name", unnamed sockets as "@" (checkpointctl's),
 * paths without the NUL that may end them. */
function unixAddress(address: string | undefined): string {
  if (!address) return "@";
  return address.startsWith("\0") ? "@" + printable(address.slice(1)) : printable(address.replace(/\0+$/, ""));
}

function renderNodes(children: readonly TreeNode[], prefix: string, lines: string[]): void {
  children.forEach((child, i) => {
    const last = i === children.length - 1;
    const text = printable(child.text);
    lines.push(`${prefix}${last ? "└──" : "├──"} ${child.meta !== undefined ? `[${printable(child.meta)}]  ${text}` : text}`);
    renderNodes(child.children, prefix + (last ? "    " : "│   "), lines);
  });
}

export function renderTree(root: TreeNode): string {
  const lines = [printable(root.text)];
  renderNodes(root.children, "", lines);
  return lines.join("\n") + "\n";
}

/**
 * checkpointctl's FormatTime: µs under 1 ms, else ms or s with 5 significant digits. checkpointctl
 * trims trailing zeros even without a decimal point (100000 µs → "1 ms"); here only decimals are.
 */
export function formatMicros(us: number): string {
  if (us < 1000) return `${us} µs`;
  const [value, unit] = us < 1_000_000 ? [us / 1000, "ms"] : [us / 1_000_000, "s"];
  let s = value.toPrecision(5);
  const exp = s.indexOf("e");
  const mantissa = exp === -1 ? s : s.slice(0, exp);
  const trimmed = mantissa.includes(".") ? mantissa.replace(/0+$/, "").replace(/\.$/, "") : mantissa;
  if (exp !== -1) {
    const e = Number(s.slice(exp + 1));
    s = `${trimmed}e${e < 0 ? "-" : "+"}${String(Math.abs(e)).padStart(2, "0")}`;
  } else s = trimmed;
  return `${s} ${unit}`;
}

function queuedNote(s: SocketJson): string {
  const parts: string[] = [];
  if (s.queued_recv_bytes) parts.push(`${s.queued_recv_bytes} B to read${s.queued_packets ? ` in ${s.queued_packets} packet${s.queued_packets === 1 ? "" : "s"}` : ""}`);
  if (s.queued_send_bytes) parts.push(`${s.queued_send_bytes} B unsent`);
  return parts.length ? ` [queued: ${parts.join(", ")}]` : "";
}

/** The meta and value of an open socket as checkpointctl prints them, plus ckpt's queue counts. */
function socketLine(s: SocketJson): { meta: string; text: string } {
  const d = s.data;
  const kind = socketKinds.get(s);
  if (kind === "UNIXSK") return { meta: `UNIX (${s.socket_type ?? ""})`, text: unixAddress(d.address) + queuedNote(s) };
  if (kind === "INETSK") {
    const protocol = s.protocol ?? "";
    const meta = protocol === "TCP" ? `TCP (${d.state ?? ""})` : protocol;
    const text = `${d.src ?? ""}:${d.src_port ?? 0} -> ${d.dst ?? ""}:${d.dst_port ?? 0} (↑ ${d.send_buf ?? ""} ↓ ${d.recv_buf ?? ""})`;
    return { meta, text: text + queuedNote(s) };
  }
  // checkpointctl leaves the meta empty when the protocol number is not an IP protocol ("[]").
  const meta = s.protocol ?? (kind === "NETLINKSK" ? "NETLINK" : kind === "PACKETSK" ? "PACKET" : "");
  return { meta, text: `↑ ${d.send_buf ?? ""} ↓ ${d.recv_buf ?? ""}` + queuedNote(s) };
}

function addMetadataValue(parent: TreeNode, key: string, value: unknown): void {
  if (Array.isArray(value)) {
    const branch = add(parent, `${key}: `);
    value.forEach((v, i) => addMetadataValue(branch, `[${i}]`, v));
  } else if (value !== null && typeof value === "object") {
    const branch = add(parent, `${key}:`);
    for (const k of Object.keys(value).sort(byteOrder)) addMetadataValue(branch, k, (value as Record<string, unknown>)[k]);
  } else add(parent, `${key}: ${String(value)}`);
}

const JSON_ANNOTATIONS = new Set([ANNOTATIONS.crioMetadata, "io.kubernetes.cri-o.Labels", "io.kubernetes.cri-o.Annotations", "kubectl.kubernetes.io/last-applied-configuration"]);

function addAnnotations(parent: TreeNode, annotations: Record<string, string>): void {
  const branch = add(parent, "Annotations");
  for (const key of Object.keys(annotations)) {
    const value = annotations[key]!;
    if (JSON_ANNOTATIONS.has(key)) {
      let parsed: unknown;
      try {
        parsed = JSON.parse(value);
      } catch {
        continue; // checkpointctl leaves out what it cannot parse
      }
      if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) continue;
      const sub = add(branch, key);
      for (const k of Object.keys(parsed).sort(byteOrder)) addMetadataValue(sub, k, (parsed as Record<string, unknown>)[k]);
    } else if (key === "io.kubernetes.cri-o.Volumes") {
      const sub = add(branch, key);
      let mounts: unknown;
      try {
        mounts = JSON.parse(value);
      } catch {
        mounts = [];
      }
      for (const m of Array.isArray(mounts) ? (mounts as Record<string, unknown>[]) : []) {
        const mount = add(sub, String(m.container_path ?? ""));
        add(mount, `host path: ${String(m.host_path ?? "")}`);
        add(mount, `read-only: ${m.readonly === true}`);
        add(mount, `selinux relabel: ${m.selinux_relabel === true}`);
        add(mount, `recursive read-only: ${m.recursive_read_only === true}`);
        add(mount, `propagation: ${Number(m.propagation ?? 0)}`);
      }
    } else add(branch, `${key}: ${value}`);
  }
}

/** The tree checkpointctl prints for one archive (without its "Displaying …" heading). */
export function inspectTree(r: InspectJson, sizes: { total: number; memoryPages: number; amdGpuPages: number; rootfsDiff: number }, opts: InspectOptions): TreeNode {
  const root = node(r.container_name || "Container");
  add(root, `Image: ${r.image}`);
  add(root, `ID: ${r.id}`);
  add(root, `Runtime: ${r.runtime}`);
  add(root, `Created: ${r.created}`);
  if (r.checkpointed) add(root, `Checkpointed: ${r.checkpointed}`);
  add(root, `Engine: ${r.engine}`);
  if (r.ip) add(root, `IP: ${r.ip}`);
  const size = add(root, `Checkpoint size: ${byteToString(sizes.total)}`);
  if (sizes.memoryPages) add(size, `Memory pages size: ${byteToString(sizes.memoryPages)}`);
  if (sizes.amdGpuPages) add(size, `AMD GPU memory pages size: ${byteToString(sizes.amdGpuPages)}`);
  if (sizes.rootfsDiff) {
    const diff = add(root, `Root FS diff size: ${byteToString(sizes.rootfsDiff)}`);
    for (const f of r.rootfs_diff_files ?? []) {
      add(diff, f.path + (f.link ? ` -> ${f.link}` : "") + (f.type === "file" ? ` (${byteToString(f.size)})` : ""), f.type);
    }
  }
  if (r.statistics) {
    const s = r.statistics;
    const stats = add(root, "CRIU dump statistics");
    add(stats, `Freezing time: ${formatMicros(s.freezing_time ?? 0)}`);
    add(stats, `Frozen time: ${formatMicros(s.frozen_time ?? 0)}`);
    add(stats, `Memdump time: ${formatMicros(s.memdump_time ?? 0)}`);
    add(stats, `Memwrite time: ${formatMicros(s.memwrite_time ?? 0)}`);
    add(stats, `Pages scanned: ${s.pages_scanned ?? 0}`);
    add(stats, `Pages written: ${s.pages_written ?? 0}`);
  }
  if (r.metadata) {
    const meta = add(root, "Metadata");
    if (r.metadata.pod_name) add(meta, `Pod name: ${r.metadata.pod_name}`);
    if (r.metadata.kubernetes_namespace) add(meta, `Kubernetes namespace: ${r.metadata.kubernetes_namespace}`);
    if (r.metadata.annotations) addAnnotations(meta, r.metadata.annotations);
  }
  if (r.process_tree) {
    const files = new Map((r.file_descriptors ?? []).map((f) => [f.pid, f]));
    const socks = new Map((r.sockets ?? []).map((s) => [s.pid, s]));
    const walk = (parent: TreeNode, p: ProcessJson) => {
      const name = opts.psTreeCmd && p.cmdline ? p.cmdline : p.command;
      const n = add(parent, name, p.task_state === "Alive" ? String(p.pid) : `${p.pid} (${p.task_state})`);
      if (p.threads.length > 1) {
        const threads = add(n, "Threads");
        for (const t of p.threads) add(threads, t.name, String(t.tid));
      }
      if (opts.psTreeEnv && p.environment_variables) {
        const env = add(n, "Environment variables");
        for (const [k, v] of Object.entries(p.environment_variables)) add(env, `${k}=${v}`);
        for (const e of p.environment_malformed ?? []) add(env, e);
      }
      const f = files.get(p.pid);
      if (opts.files && f) {
        const open = add(n, "Open files");
        for (const file of f.open_files ?? []) add(open, file.path, file.fd);
        if (!f.open_files) add(open, `none (${p.task_state.toLowerCase()} task)`);
      }
      const s = socks.get(p.pid);
      if (opts.sockets && s) {
        const open = add(n, "Open sockets");
        for (const sk of s.open_sockets ?? []) {
          const line = socketLine(sk);
          add(open, line.text, line.meta);
        }
      }
      for (const child of p.children ?? []) walk(n, child);
    };
    walk(add(root, "Process tree"), r.process_tree);
  }
  if (r.mounts) {
    const mounts = add(root, "Overview of mounts");
    for (const m of r.mounts) {
      const mount = add(mounts, `Destination: ${m.destination}`);
      add(mount, `Type: ${m.type}`);
      add(mount, `Source: ${m.source}`);
    }
  }
  if (r.deleted_files?.length) {
    const deleted = add(root, "Deleted files (deleted.files)");
    for (const f of r.deleted_files) add(deleted, f);
  }
  if (r.ghost_files?.length) {
    const ghosts = add(root, "Ghost files (deleted while open)");
    for (const g of r.ghost_files) {
      const holders = g.open_by.map((h) => `${h.pid}:${h.fd}`).join(", ");
      add(ghosts, `${g.path} (${byteToString(g.size)}${holders ? `, open by pid:fd ${holders}` : ""})`, g.image);
    }
  }
  if (r.refused_members?.length) {
    const refused = add(root, "Refused archive members");
    for (const m of r.refused_members) add(refused, `${m.name}: ${m.reason}`);
  }
  return root;
}
