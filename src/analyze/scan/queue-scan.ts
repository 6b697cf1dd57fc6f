/**
 * Secrets in bytes queued in the kernel at dump time: unread pipe and FIFO data (pipes-data.img,
 * fifo-data.img), socket receive queues (sk-queues.img: unix, packet and netlink sockets) and TCP
 * streams (tcp-stream-<inode>.img: receive and send queues). The bytes of each queue are scanned as
 * one stream, so a secret split across packets is found; offsets are within the queue.
 */
import type { Checkpoint } from "../../checkpoint/checkpoint.js";
import { FileNames } from "../../criu-images/explore/file-names.js";
import type { ImageEntry } from "../../criu-images/image-file.js";
import type { WireMessage } from "../../criu-images/wire-reader.js";
import type { Location } from "./findings.js";
import type { PlacedHit } from "./raw-hit.js";
import type { ScanPool } from "./scan-pool.js";
import { StreamScanner } from "./stream-scanner.js";

type QueueKind = Extract<Location, { kind: "queue" }>["queue"];

interface Queue {
  kind: QueueKind;
  inode: number;
  image: string;
  pieces: Uint8Array[];
}

const SOCKET_FIELDS: ReadonlyArray<[string, QueueKind]> = [
  ["usk", "unix-socket"],
  ["psk", "packet-socket"],
  ["nlsk", "netlink-socket"],
];

function socketOf(names: FileNames, id: number): { kind: QueueKind; inode: number } {
  const file = names.fileEntries().get(id);
  for (const [field, kind] of SOCKET_FIELDS) {
    const sk = file?.[field] as WireMessage | undefined;
    if (sk) return { kind, inode: Number(sk.ino ?? 0) };
  }
  const usk = names.find("UNIXSK", id);
  return usk ? { kind: "unix-socket", inode: Number(usk.ino ?? 0) } : { kind: "socket", inode: 0 };
}

function* payloads(cp: Checkpoint, image: string): Generator<{ entry: WireMessage; data: Uint8Array }> {
  if (!cp.images.has(image)) return;
  const buf = cp.images.files.read(image);
  for (const e of cp.images.stream(image) as Iterable<ImageEntry>) {
    if (e.payload) yield { entry: e.message, data: buf.subarray(e.payload.offset, e.payload.offset + e.payload.size) };
  }
}

function queues(cp: Checkpoint): Queue[] {
  const out = new Map<string, Queue>();
  const add = (key: string, q: Omit<Queue, "pieces">, data: Uint8Array) => {
    const queue = out.get(key) ?? out.set(key, { ...q, pieces: [] }).get(key)!;
    if (data.length) queue.pieces.push(data);
  };
  for (const [image, kind] of [
    ["pipes-data.img", "pipe"],
    ["fifo-data.img", "fifo"],
  ] as const) {
    for (const { entry, data } of payloads(cp, image)) add(`${image}:${entry.pipe_id}`, { kind, inode: Number(entry.pipe_id ?? 0), image }, data);
  }
  const names = new FileNames(cp.images);
  for (const { entry, data } of payloads(cp, "sk-queues.img")) {
    add(`sk:${entry.id_for}`, { ...socketOf(names, Number(entry.id_for)), image: "sk-queues.img" }, data);
  }
  for (const image of cp.images.files.list().sort()) {
    const m = /^tcp-stream-([0-9a-f]+)\.img$/.exec(image);
    if (!m) continue;
    const inode = parseInt(m[1]!, 16);
    for (const { entry, data } of payloads(cp, image)) {
      const inq = Number(entry.inq_len ?? 0);
      add(`${image}:in`, { kind: "tcp-receive", inode, image }, data.subarray(0, inq));
      add(`${image}:out`, { kind: "tcp-send", inode, image }, data.subarray(inq));
    }
  }
  return [...out.values()].filter((q) => q.pieces.length > 0);
}

export async function scanQueues(cp: Checkpoint, pool: ScanPool, out: PlacedHit[]): Promise<{ queues: number; bytes: number }> {
  let bytes = 0;
  const list = queues(cp);
  for (const [i, q] of list.entries()) {
    const scanner = new StreamScanner(pool, (hit, base) => {
      const offset = base + hit.start;
      out.push({ hit, location: { kind: "queue", queue: q.kind, inode: q.inode, offset, image: q.image }, order: [3, i, BigInt(offset)] });
    });
    for (const piece of q.pieces) {
      bytes += piece.length;
      await scanner.feed(piece);
    }
    await scanner.end();
  }
  await pool.drain();
  return { queues: list.length, bytes };
}
