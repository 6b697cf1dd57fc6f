/**
 * Runs a Detector over buffers on worker threads when there is more than one CPU and much to scan,
 * in this thread otherwise. Submitting is asynchronous only when every thread is busy: the caller
 * (the page walker) then waits. A job's bytes are copied straight into the scanning thread's
 * WebAssembly memory (shared with this thread), where its detector reads them: one copy, and memory
 * stays the same however much is scanned (buffers moved to a thread would pile up there until its
 * next garbage collection). A job bigger than that memory (none of StreamScanner's) is sent on its own.
 */
import { existsSync } from "node:fs";
import { availableParallelism } from "node:os";
import { fileURLToPath } from "node:url";
import { Worker } from "node:worker_threads";
import { Detector, type RuleHit } from "./detector.js";
import type { ScanRule } from "./rules.js";

export interface ScanJob {
  /** The bytes to scan: these, one after the other. */
  parts: readonly Uint8Array[];
  from: number;
  to: number;
  done(hits: RuleHit[]): void;
}

/** What a worker is sent: the job's length and range, with its bytes when they are not in the thread's memory. */
export interface WorkerJob {
  id: number;
  length: number;
  from: number;
  to: number;
  bytes?: Uint8Array;
}

/** What the worker says first: where a job's bytes go in its memory. */
export interface WorkerReady {
  ready: { memory: SharedArrayBuffer; offset: number; capacity: number };
}

/** What the worker answers to a job. */
export interface WorkerReply {
  id: number;
  hits?: RuleHit[];
  error?: string;
}

/** The jobs copied into a thread's memory are up to this big (StreamScanner's are). */
export const JOB_ROOM = (4 << 20) + (64 << 10);

const WORKER_FILE = new URL("./scan-worker.js", import.meta.url);

export class ScanPool {
  private readonly detector: Detector;
  private readonly workers: Worker[] = [];
  private readonly idle: Worker[] = [];
  private readonly pending = new Map<number, { job: ScanJob; worker: Worker }>();
  private readonly inputs = new Map<Worker, Uint8Array>();
  private readonly waiting: Array<() => void> = [];
  private nextId = 0;
  private failure: Error | undefined;
  private drained: Array<() => void> = [];
  private expected = 0;

  /**
   * `bytes`: about how much will be scanned (threads are not worth starting for little; `expect`
   * adds to it). `threads`: how many, whatever the bytes (1: this thread).
   */
  constructor(
    private readonly rules: readonly ScanRule[],
    bytes: number,
    private readonly fixedThreads?: number,
  ) {
    this.detector = new Detector(rules);
    this.expect(bytes);
  }

  /** About `bytes` more are to be scanned: the threads start once they are worth it. */
  expect(bytes: number): void {
    this.expected += bytes;
    if (this.workers.length) return;
    const threads = this.fixedThreads ?? defaultThreads(this.expected);
    if (threads < 2 || !existsSync(fileURLToPath(WORKER_FILE))) return;
    for (let i = 0; i < threads; i++) {
      const w = new Worker(WORKER_FILE, { workerData: { rules: this.rules, room: JOB_ROOM } });
      w.on("message", (msg: WorkerReply | WorkerReady) => ("ready" in msg ? this.onReady(w, msg) : this.onReply(w, msg)));
      w.on("error", (err) => this.fail(err));
      this.workers.push(w);
    }
  }

  get threads(): number {
    return this.workers.length;
  }

  /** Scans now (one thread) or hands the job to a thread; a promise when all threads are busy. */
  submit(job: ScanJob): void | Promise<void> {
    if (this.failure) throw this.failure;
    if (this.workers.length === 0) {
      job.done(this.detector.scanParts(job.parts, job.from, job.to));
      return;
    }
    const worker = this.idle.pop();
    if (worker) return this.send(worker, job);
    return new Promise<void>((resolve) => this.waiting.push(resolve)).then(() => this.submit(job));
  }

  private send(worker: Worker, job: ScanJob): void {
    const id = this.nextId++;
    const input = this.inputs.get(worker)!;
    const length = job.parts.reduce((n, p) => n + p.length, 0);
    const msg: WorkerJob = { id, length, from: job.from, to: job.to };
    let into = input;
    if (length > input.length) into = msg.bytes = new Uint8Array(length);
    let at = 0;
    for (const p of job.parts) {
      into.set(p, at);
      at += p.length;
    }
    this.pending.set(id, { job, worker });
    worker.postMessage(msg, msg.bytes ? [msg.bytes.buffer as ArrayBuffer] : []);
  }

  private onReady(worker: Worker, { ready }: WorkerReady): void {
    this.inputs.set(worker, new Uint8Array(ready.memory, ready.offset, ready.capacity));
    this.becomeIdle(worker);
  }

  private onReply(worker: Worker, reply: WorkerReply): void {
    const p = this.pending.get(reply.id);
    this.pending.delete(reply.id);
    if (reply.error !== undefined) this.fail(new Error(reply.error));
    else if (p) p.job.done(reply.hits ?? []);
    this.becomeIdle(worker);
    if (this.pending.size === 0) for (const d of this.drained.splice(0)) d();
  }

  private becomeIdle(worker: Worker): void {
    this.idle.push(worker);
    this.waiting.shift()?.();
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
