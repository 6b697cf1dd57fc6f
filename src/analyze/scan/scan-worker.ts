/** A scanning thread of ScanPool: runs the detector on each job, whose bytes ScanPool put in the detector's memory. */
import { parentPort, workerData } from "node:worker_threads";
import { Detector } from "./detector.js";
import type { ScanRule } from "./rules.js";
import type { WorkerJob, WorkerReady, WorkerReply } from "./scan-pool.js";

const { rules, room } = workerData as { rules: ScanRule[]; room: number };
const detector = new Detector(rules, room);
const { memory, offset, capacity } = detector.input;
const ready: WorkerReady = { ready: { memory: memory.buffer as unknown as SharedArrayBuffer, offset, capacity } };
parentPort!.postMessage(ready);
parentPort!.on("message", (msg: WorkerJob) => {
  let reply: WorkerReply;
  try {
    const hits = msg.bytes ? detector.scan(msg.bytes, msg.from, msg.to) : detector.scanInPlace(msg.length, msg.from, msg.to);
    reply = { id: msg.id, hits };
  } catch (err) {
    reply = { id: msg.id, error: (err as Error).message };
  }
  parentPort!.postMessage(reply);
});
