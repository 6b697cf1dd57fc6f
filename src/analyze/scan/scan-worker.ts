/** A scanning thread of ScanPool: runs the detector on each buffer it is sent. */
import { parentPort, workerData } from "node:worker_threads";
import { Detector } from "./detector.js";
import type { ScanRule } from "./rules.js";
import type { WorkerJob, WorkerReply } from "./scan-pool.js";

const detector = new Detector((workerData as { rules: ScanRule[] }).rules);
parentPort!.on("message", (msg: WorkerJob) => {
  let reply: WorkerReply;
  try {
    reply = { id: msg.id, hits: detector.scan(new Uint8Array(msg.shared, 0, msg.length), msg.from, msg.to) };
  } catch (err) {
    reply = { id: msg.id, error: (err as Error).message };
  }
  parentPort!.postMessage(reply);
});
