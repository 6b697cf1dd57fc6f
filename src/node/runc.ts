/**
 * runc, the OCI runtime the node agent drives. The only module that runs the runc binary.
 * Containers are started by their shim (src/node/shim/), which runs `runc run` in the foreground so
 * that it owns the container's stdio pipes and sees its exit status; everything else is a short
 * runc call made here.
 */
import { execa, type ResultPromise } from "execa";
import { spawn, type ChildProcess } from "node:child_process";
import { closeSync, constants, openSync } from "node:fs";
import { Socket } from "node:net";
import { join } from "node:path";
import { z } from "zod";

export const RuncStateSchema = z.object({
  id: z.string(),
  pid: z.number().int(),
  status: z.enum(["creating", "created", "running", "paused", "stopped"]),
  bundle: z.string(),
  created: z.string().optional(),
});
export type RuncState = z.infer<typeof RuncStateSchema>;

export class RuncError extends Error {
  override name = "RuncError";
}

export interface RuncOptions {
  /** runc's state directory (`runc --root`), private to this node so other runc users are not disturbed. */
  root: string;
  /** The runc binary. */
  binary?: string;
  /** The CRIU binary runc calls: given as `--criu` (runc 1.1) and put first in runc's PATH (later runcs). */
  criu?: string;
}

export interface CheckpointOptions {
  imagePath: string;
  workPath: string;
  tcpEstablished?: boolean;
  /** The whole call is killed (runc and the CRIU it started, as one process group) after this. */
  timeoutMs: number;
  signal?: AbortSignal;
  /**
   * After the timeout or the abort, how long runc and CRIU may still take to end on their own before
   * they are killed (default 0: at once). A CRIU killed while it holds the container's processes can
   * leave them broken (they die); one left to finish puts them back as they were.
   */
  graceMs?: number;
}

export interface LazyCheckpointOptions {
  imagePath: string;
  /** Also where the status FIFO goes. */
  workPath: string;
  /** A CRIU configuration file (CRIU_CONFIG_FILE): it must name LAZY_PAGE_SOCKET_FD as `ps-socket`. */
  criuConfig: string;
  tcpEstablished?: boolean;
}

/**
 * The fd the page server's connection has in runc, and in the CRIU it starts (which inherits it;
 * runc gives CRIU its own RPC socket as fd 3).
 */
export const LAZY_PAGE_SOCKET_FD = 4;
const LAZY_STATUS_FD = 5;

/** A running `runc checkpoint --lazy-pages`. */
export interface LazyCheckpoint {
  pid: number;
  /** The agent's end of the page server's connection (CRIU has the other as --ps-socket). */
  pages: Socket;
  /** Resolves once everything but the memory pages is dumped; rejects when runc ends before. */
  ready: Promise<void>;
  /** runc's end: ok when every page was served and runc destroyed the container. */
  exited: Promise<{ ok: boolean; message: string }>;
  /** Kills runc and its CRIU (a process group of their own). */
  kill(): void;
}

export class Runc {
  readonly binary: string;
  readonly root: string;
  readonly criu: string | undefined;

  constructor(opts: RuncOptions) {
    this.binary = opts.binary ?? "runc";
    this.root = opts.root;
    this.criu = opts.criu;
  }

  /** Global arguments of every call. */
  globalArgs(): string[] {
    return ["--root", this.root, ...(this.criu ? ["--criu", this.criu] : [])];
  }

  /** The environment runc runs in: CRIU's directory first in PATH (runc ≥ 1.2 ignores --criu). */
  env(): NodeJS.ProcessEnv {
    const dir = this.criu?.replace(/\/[^/]*$/, "");
    const path = [dir, "/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"].filter(Boolean).join(":");
    return { ...process.env, PATH: path };
  }

  /**
   * The argv of `runc restore` for a shim: in the foreground, as `run`, so the restored process tree
   * inherits the shim's pipes (runc hands its own stdio to CRIU for the dumped stdio) and runc's
   * exit status is the container's.
   */
  restoreArgv(id: string, bundle: string, imagePath: string, workPath: string, lazyPages = false): string[] {
    // Lazily: the pages come from the lazy-pages daemon listening in the work directory.
    const lazy = lazyPages ? ["--lazy-pages"] : [];
    return [this.binary, ...this.globalArgs(), "restore", "--file-locks", ...lazy, "--image-path", imagePath, "--work-path", workPath, "--bundle", bundle, id];
  }

  /** The argv of `runc run` for a shim: foreground, so runc's exit status is the container's. */
  runArgv(id: string, bundle: string): string[] {
    return [this.binary, ...this.globalArgs(), "run", "--bundle", bundle, id];
  }

  /** One runc call; the result whatever the exit status. */
  private exec(args: string[], timeoutMs = 30_000) {
    return execa(this.binary, [...this.globalArgs(), ...args], { env: this.env(), reject: false, timeout: timeoutMs, stdin: "ignore" });
  }

  private async call(args: string[], what: string, timeoutMs = 30_000): Promise<string> {
    const r = await this.exec(args, timeoutMs);
    if (r.exitCode !== 0 || r.timedOut) {
      const detail = r.timedOut ? `timed out after ${timeoutMs} ms` : lastLine(r.stderr) || `exit ${r.exitCode ?? r.signal}`;
      throw new RuncError(`runc ${what}: ${detail}`);
    }
    return r.stdout;
  }

  /** The container's state, or undefined when runc does not know it. */
  async state(id: string): Promise<RuncState | undefined> {
    const r = await this.exec(["state", id]);
    if (r.exitCode !== 0) {
      if (/does not exist|not exist|container .* not found/i.test(r.stderr)) return undefined;
      throw new RuncError(`runc state ${id}: ${lastLine(r.stderr) || `exit ${r.exitCode}`}`);
    }
    const parsed = RuncStateSchema.safeParse(JSON.parse(r.stdout));
    if (!parsed.success) throw new RuncError(`runc state ${id}: unexpected output: ${parsed.error.issues[0]?.message}`);
    return parsed.data;
  }

  pause(id: string): Promise<string> {
    return this.call(["pause", id], `pause ${id}`);
  }

  resume(id: string): Promise<string> {
    return this.call(["resume", id], `resume ${id}`);
  }

  kill(id: string, signal = "TERM", all = false): Promise<string> {
    return this.call(["kill", ...(all ? ["--all"] : []), id, signal], `kill ${id} ${signal}`);
  }

  delete(id: string): Promise<string> {
    return this.call(["delete", "--force", id], `delete ${id}`);
  }

  /**
   * `runc checkpoint --leave-running --file-locks` (as CRI-O runs it). On timeout or abort, runc and
   * CRIU are killed together; the caller resumes the container afterwards in every case.
   */
  async checkpoint(id: string, opts: CheckpointOptions): Promise<void> {
    const args = [
      ...this.globalArgs(),
      "checkpoint",
      "--leave-running",
      "--file-locks",
      ...(opts.tcpEstablished ? ["--tcp-established"] : []),
      "--image-path",
      opts.imagePath,
      "--work-path",
      opts.workPath,
      id,
    ];
    // Own process group: a timeout must take down CRIU (runc's child) too, not only runc.
    const child: ResultPromise = execa(this.binary, args, { env: this.env(), reject: false, detached: true, stdin: "ignore" });
    let why: string | undefined;
    let graceTimer: NodeJS.Timeout | undefined;
    const kill = () => {
      if (child.pid !== undefined) {
        try {
          process.kill(-child.pid, "SIGKILL");
        } catch {
          // Already gone.
        }
      }
    };
    const killGroup = (reason: string) => {
      if (why !== undefined) return;
      why = reason;
      if (opts.graceMs) graceTimer = setTimeout(kill, opts.graceMs);
      else kill();
    };
    const timer = setTimeout(() => killGroup(`timed out after ${Math.round(opts.timeoutMs / 1000)} s`), opts.timeoutMs);
    const onAbort = () => {
      const reason: unknown = opts.signal?.reason;
      killGroup(reason instanceof Error && reason.name !== "AbortError" ? reason.message : "cancelled");
    };
    opts.signal?.addEventListener("abort", onAbort, { once: true });
    try {
      const r = await child;
      if (why) throw new RuncError(`runc checkpoint ${id}: ${why}`);
      if (r.exitCode !== 0) throw new RuncError(`runc checkpoint ${id}: ${lastLine(String(r.stderr)) || `exit ${r.exitCode ?? r.signal}`}`);
    } finally {
      clearTimeout(timer);
      clearTimeout(graceTimer);
      opts.signal?.removeEventListener("abort", onAbort);
    }
  }

  /**
   * `runc checkpoint --lazy-pages --status-fd`: everything but the memory pages is dumped, then the
   * container stays frozen while CRIU serves its pages over the connection whose other end is
   * returned; runc ends when every page was served (and destroys the container) or the transfer
   * failed (CRIU resumes the tasks). The page connection is passed to CRIU as an inherited socket
   * named in a CRIU configuration file, so there is no listening port. The status fd must be opened
   * write-only (runc checks), hence a FIFO in the work directory.
   */
  async startLazyCheckpoint(id: string, opts: LazyCheckpointOptions): Promise<LazyCheckpoint> {
    const fifo = join(opts.workPath, "status.fifo");
    const made = await execa("mkfifo", ["-m", "0600", fifo], { reject: false });
    if (made.exitCode !== 0) throw new RuncError(`mkfifo ${fifo}: ${made.stderr.trim()}`);
    // Read end first and non-blocking, so that opening the write end does not wait for a reader.
    const statusRead = openSync(fifo, constants.O_RDONLY | constants.O_NONBLOCK);
    let statusWrite: number;
    try {
      statusWrite = openSync(fifo, constants.O_WRONLY);
    } catch (err) {
      closeSync(statusRead);
      throw err;
    }
    const args = [
      ...this.globalArgs(),
      "checkpoint",
      "--lazy-pages",
      "--file-locks",
      ...(opts.tcpEstablished ? ["--tcp-established"] : []),
      "--status-fd",
      String(LAZY_STATUS_FD),
      "--image-path",
      opts.imagePath,
      "--work-path",
      opts.workPath,
      id,
    ];
    // node's own spawn: execa would read the page socket as output.
    const child = spawn(this.binary, args, {
      env: { ...this.env(), CRIU_CONFIG_FILE: opts.criuConfig },
      detached: true,
      stdio: ["ignore", "ignore", "pipe", "ignore", "pipe", statusWrite],
    });
    closeSync(statusWrite);
    const status = new Socket({ fd: statusRead, readable: true, writable: false });
    let stderr = "";
    child.stderr!.on("data", (b: Buffer) => (stderr = (stderr + b.toString()).slice(-4000)));
    const exited = new Promise<{ ok: boolean; message: string }>((resolve) => {
      child.on("error", (err) => resolve({ ok: false, message: err.message }));
      // "exit", not "close": the page socket may never be read to its end.
      child.on("exit", (code, signal) => {
        status.destroy();
        afterStderr(child, () => resolve({ ok: code === 0, message: code === 0 ? "" : lastLine(stderr) || `exit ${code ?? signal}` }));
      });
    });
    const ready = new Promise<void>((resolve, reject) => {
      status.once("data", () => resolve());
      status.once("error", reject);
      void exited.then((r) => reject(new RuncError(`runc checkpoint --lazy-pages ${id}: ${r.ok ? "ended before the dump was ready" : r.message}`)));
    });
    ready.catch(() => undefined);
    return {
      pid: child.pid!,
      pages: child.stdio[LAZY_PAGE_SOCKET_FD] as Socket,
      ready,
      exited,
      kill: () => {
        try {
          process.kill(-child.pid!, "SIGKILL");
        } catch {
          // Already gone.
        }
      },
    };
  }
}

/** Calls `done` once the child's stderr is read to its end (or soon, should a grandchild hold it). */
export function afterStderr(child: ChildProcess, done: () => void): void {
  let called = false;
  const once = () => {
    if (!called) (called = true), done();
  };
  if (!child.stderr || child.stderr.readableEnded) return once();
  child.stderr.once("end", once);
  setTimeout(once, 200).unref();
}

/** runc prints logrus lines (`time=… level=error msg="…"`); the last message is the useful one. */
function lastLine(stderr: string): string {
  const lines = stderr.trim().split("\n").filter(Boolean);
  const last = lines.at(-1) ?? "";
  const msg = /msg="((?:[^"\\]|\\.)*)"/.exec(last);
  return msg ? msg[1]!.replace(/\\"/g, '"') : last;
}
