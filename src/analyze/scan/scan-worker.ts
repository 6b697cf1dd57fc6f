/** A scanning thread of ScanPool: runs the detector on each buffer it is sent. */
import { parentPort, workerData } from "node:worker_threads";
import { Detector } from "./detector.js";
import type { ScanRule } from "./rules.js";
import type { WorkerReply } from "./scan-pool.js";

const detector = new Detector((workerData as { rules: ScanRule[] }).rules);
parentPort!.on("message", (msg: { id: number; buf: Uint8Array; from: number; to: number }) => {
  let reply: WorkerReply;
  try {
    reply = { id: msg.id, hits: detector.scan(msg.buf, msg.from, msg.to) };
  } catch (err) {
    reply = { id: msg.id, error: (err as Error).message };
  }
  parentPort!.postMessage(reply);
});
