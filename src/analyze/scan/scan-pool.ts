/**
 * Runs a Detector over buffers on worker threads when there is more than one CPU and much to scan,
 * in this thread otherwise. Submitting is asynchronous only when every thread is busy: the caller
 * (the page walker) then waits. Each thread has one shared buffer that a job's bytes are copied
 * into, so memory stays the same however much is scanned (buffers moved to a thread would pile up
 * there until its next garbage collection).
 */
import { existsSync } from "node:fs";
import { availableParallelism } from "node:os";
import { fileURLToPath } from "node:url";
import { Worker } from "node:worker_threads";
import { Detector, type RuleHit } from "./detector.js";
import type { ScanRule } from "./rules.js";

export interface ScanJob {
  buf: Uint8Array;
  from: number;
  to: number;
  done(hits: RuleHit[]): void;
}

/** What a worker is sent: its shared buffer (again when it grew) and the job's length and range. */
export interface WorkerJob {
  id: number;
  shared: SharedArrayBuffer;
  length: number;
  from: number;
  to: number;
}

/** What the worker answers. */
export interface WorkerReply {
  id: number;
  hits?: RuleHit[];
  error?: string;
}

const WORKER_FILE = new URL("./scan-worker.js", import.meta.url);

export class ScanPool {
  private readonly detector: Detector;
  private readonly workers: Worker[] = [];
  private readonly idle: Worker[] = [];
  private readonly pending = new Map<number, { job: ScanJob; worker: Worker }>();
  private readonly shared = new Map<Worker, SharedArrayBuffer>();
  private readonly waiting: Array<() => void> = [];
  private nextId = 0;
  private failure: Error | undefined;
  private drained: Array<() => void> = [];

  /** `bytes`: about how much will be scanned (threads are not worth starting for little). */
  constructor(rules: readonly ScanRule[], bytes: number, threads = defaultThreads(bytes)) {
    this.detector = new Detector(rules);
    if (threads < 2 || !existsSync(fileURLToPath(WORKER_FILE))) return;
    for (let i = 0; i < threads; i++) {
      const w = new Worker(WORKER_FILE, { workerData: { rules } });
      w.on("message", (reply: WorkerReply) => this.onReply(w, reply));
      w.on("error", (err) => this.fail(err));
      this.workers.push(w);
      this.idle.push(w);
    }
  }

  get threads(): number {
    return this.workers.length;
  }

  /** Scans now (one thread) or hands the job to a thread; a promise when all threads are busy. */
  submit(job: ScanJob): void | Promise<void> {
    if (this.failure) throw this.failure;
    if (this.workers.length === 0) {
      job.done(this.detector.scan(job.buf, job.from, job.to));
      return;
    }
    const worker = this.idle.pop();
    if (worker) return this.send(worker, job);
    return new Promise<void>((resolve) => this.waiting.push(resolve)).then(() => this.submit(job));
  }

  private send(worker: Worker, job: ScanJob): void {
    const id = this.nextId++;
    let shared = this.shared.get(worker);
    if (!shared || shared.byteLength < job.buf.length) {
      shared = new SharedArrayBuffer(Math.max(job.buf.length, 9 << 20));
      this.shared.set(worker, shared);
    }
    new Uint8Array(shared, 0, job.buf.length).set(job.buf);
    this.pending.set(id, { job, worker });
    const msg: WorkerJob = { id, shared, length: job.buf.length, from: job.from, to: job.to };
    worker.postMessage(msg);
  }

  private onReply(worker: Worker, reply: WorkerReply): void {
    const p = this.pending.get(reply.id);
    this.pending.delete(reply.id);
    if (reply.error !== undefined) this.fail(new Error(reply.error));
    else if (p) p.job.done(reply.hits ?? []);
    this.idle.push(worker);
    this.waiting.shift()?.();
    if (this.pending.size === 0) for (const d of this.drained.splice(0)) d();
  }

  private fail(err: Error): void {
    this.failure ??= err;
    for (const w of this.waiting.splice(0)) w();
    for (const d of this.drained.splice(0)) d();
  }

  /** Waits for every job handed out; throws what a thread threw. */
  async drain(): Promise<void> {
    if (this.pending.size > 0 && !this.failure) await new Promise<void>((resolve) => this.drained.push(resolve));
    if (this.failure) throw this.failure;
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}

/** Below this, starting threads costs more than it saves. */
const THREADS_FROM = 64 << 20;

/** CKPT_SCAN_THREADS, when set, decides (1: scan in this thread); otherwise the CPUs, up to 4. */
function defaultThreads(bytes: number): number {
  const env = Number(process.env.CKPT_SCAN_THREADS);
  if (Number.isInteger(env) && env >= 1) return Math.min(env, 16);
  if (bytes < THREADS_FROM) return 1;
  return Math.min(4, availableParallelism());
}
