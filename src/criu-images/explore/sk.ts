/**
 * `x sk` (crit has no such view): every socket a process holds, with protocol, state, local and peer
 * addresses, and the bytes queued in it at dump time — TCP queues from tcp-stream-<ino>.img, queued
 * packets of unix and other sockets from sk-queues.img.
 */
import { DICT_MAPS } from "../crit-json/flag-maps.js";
import { formatIpWords } from "../crit-json/ip-address.js";
import type { ImageDir } from "../image-dir.js";
import type { WireMessage } from "../wire-reader.js";
import { FileNames } from "./file-names.js";
import { processFds } from "./fds.js";
import { padRight } from "./pyformat.js";

export interface SocketView {
  pid: number;
  fd: number;
  ino: number;
  /** tcp, tcp6, udp, udp6, icmp, icmp6, raw, unix-stream, unix-dgram, unix-seqpacket, packet, netlink */
  proto: string;
  state: string;
  local: string;
  peer: string;
  /** Bytes queued for reading (receive queue) and for sending; undefined when CRIU does not dump them. */
  recvQueue?: number;
  sendQueue?: number;
  /** Packets queued (unix and packet sockets). */
  queuedPackets?: number;
}

const SOCKET_KINDS: Record<string, string> = { INETSK: "isk", UNIXSK: "usk", PACKETSK: "psk", NETLINKSK: "nlsk" };

function skName(map: string, v: unknown): string {
  return DICT_MAPS.sk![map]!.get(Number(v)) ?? String(v);
}

function inetAddress(words: unknown, port: unknown, v6: boolean): string {
  const ip = formatIpWords((words as number[] | undefined) ?? []) ?? (v6 ? "::" : "0.0.0.0");
  return v6 ? `[${ip}]:${port ?? 0}` : `${ip}:${port ?? 0}`;
}

/** A unix socket name: "@name" for abstract names, the path without its trailing NUL otherwise. */
export function unixName(name: unknown): string {
  if (!(name instanceof Uint8Array) || name.length === 0) return "";
  const text = Buffer.from(name).toString("utf8");
  return text.startsWith("\0") ? "@" + text.slice(1) : text.replace(/\0+$/, "");
}

/** Bytes and packets queued per socket file id (sk-queues.img: unix, packet and netlink sockets). */
export function socketQueues(dir: ImageDir): Map<number, { bytes: number; packets: number }> {
  const queues = new Map<number, { bytes: number; packets: number }>();
  for (const q of dir.entries("sk-queues.img")) {
    const id = q.id_for as number;
    const cur = queues.get(id) ?? { bytes: 0, packets: 0 };
    cur.bytes += Number(q.length ?? 0);
    cur.packets++;
    queues.set(id, cur);
  }
  return queues;
}

/** A TCP socket's queued bytes (tcp-stream-<ino in hex>.img), when CRIU dumped its stream. */
export function tcpQueues(dir: ImageDir, ino: number): { recv: number; send: number } | undefined {
  const stream = `tcp-stream-${ino.toString(16)}.img`;
  if (!dir.has(stream)) return undefined;
  const t = dir.one(stream);
  return { recv: Number(t?.inq_len ?? 0), send: Number(t?.outq_len ?? 0) };
}

export function processSockets(dir: ImageDir, names = new FileNames(dir)): SocketView[] {
  const queues = socketQueues(dir);
  const out: SocketView[] = [];
  for (const p of processFds(dir, names)) {
    for (const fd of p.fds) {
      const field = SOCKET_KINDS[fd.type];
      if (!field || typeof fd.fd !== "number") continue;
      // 4.x keeps sockets in files.img; older unix sockets are in unixsk.img.
      const sk = (names.fileEntries().get(fd.id)?.[field] as WireMessage | undefined) ?? (fd.type === "UNIXSK" ? names.find(fd.type, fd.id) : undefined);
      if (!sk) continue;
      const ino = Number(sk.ino ?? 0);
      const base = { pid: p.pid, fd: fd.fd, ino };
      if (fd.type === "INETSK") {
        const v6 = Number(sk.family) === 10;
        const proto = Number(sk.proto);
        const kind = proto === 6 ? "tcp" : proto === 17 ? "udp" : proto === 136 ? "udplite" : proto === 1 || proto === 58 ? "icmp" : "raw";
        const view: SocketView = {
          ...base,
          proto: kind + (v6 ? "6" : ""),
          state: skName("state", sk.state),
          local: inetAddress(sk.src_addr, sk.src_port, v6),
          peer: inetAddress(sk.dst_addr, sk.dst_port, v6),
        };
        const tcp = proto === 6 ? tcpQueues(dir, ino) : undefined;
        if (tcp) {
          view.recvQueue = tcp.recv;
          view.sendQueue = tcp.send;
        }
        out.push(view);
      } else if (fd.type === "UNIXSK") {
        const q = queues.get(fd.id);
        const peerIno = Number(sk.peer ?? 0);
        out.push({
          ...base,
          proto: "unix-" + skName("type", sk.type).toLowerCase(),
          state: skName("state", sk.state),
          local: unixName(sk.name),
          peer: peerIno ? `ino ${peerIno}` : "",
          recvQueue: q?.bytes ?? 0,
          queuedPackets: q?.packets ?? 0,
        });
      } else if (fd.type === "PACKETSK") {
        const q = queues.get(fd.id);
        out.push({
          ...base,
          proto: "packet",
          state: skName("type", sk.type),
          local: `ifindex ${sk.ifindex ?? 0} proto 0x${Number(sk.protocol ?? 0).toString(16)}`,
          peer: "",
          recvQueue: q?.bytes ?? 0,
          queuedPackets: q?.packets ?? 0,
        });
      } else {
        out.push({
          ...base,
          proto: "netlink",
          state: String(sk.state ?? ""),
          local: `proto ${sk.protocol ?? 0} portid ${sk.portid ?? 0}`,
          peer: sk.dst_portid ? `portid ${sk.dst_portid}` : "",
        });
      }
    }
  }
  return out;
}

export function renderSockets(sockets: readonly SocketView[]): string {
  const header = ["PID", "FD", "PROTO", "STATE", "LOCAL", "PEER", "RECV-Q", "SEND-Q", "INO"];
  const rows = sockets.map((s) => [
    String(s.pid),
    String(s.fd),
    s.proto,
    s.state,
    s.local || "-",
    s.peer || "-",
    s.recvQueue === undefined ? "-" : String(s.recvQueue) + (s.queuedPackets ? ` (${s.queuedPackets} pkt)` : ""),
    s.sendQueue === undefined ? "-" : String(s.sendQueue),
    String(s.ino),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  return [header, ...rows].map((r) => r.map((c, i) => (i === r.length - 1 ? c : padRight(c, widths[i]!))).join("  ")).join("\n") + "\n";
}
