/**
 * Real CRIU dumps made at test time: start a small Python process tree (test/support/workloads/),
 * wait until it has built its state, `criu dump --leave-running` it, kill and reap it, and hand the
 * image directory to the test. Needs root, CRIU 4.2 (docs/real-stack.md), Debian's /usr/bin/python3
 * and util-linux `unshare`; guard suites with `haveRealStack()`.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

/** Debian's interpreter: the pyenv python3 first on PATH is another build, and the workloads rely on
 * nothing but the standard library of this one. */
const PYTHON = "/usr/bin/python3";
const UNSHARE = "/usr/bin/unshare";
const WORKLOADS = fileURLToPath(new URL("./workloads/", import.meta.url));
const DUMP_LOG = "dump.log";

export type WorkloadKind = "mix" | "zombie" | "big" | "plant" | "secrets";

export interface DumpWorkloadOptions {
  /** big: MiB of anonymous memory, every page filled (default 300). */
  megabytes?: number;
  /** big: number of VMAs the memory is split into (default 3000). */
  vmas?: number;
  /** secrets: plant the secrets ("planted", default) or run the same program without them ("clean"). */
  secrets?: "planted" | "clean";
  /** Appended to the criu dump command line. */
  criuArgs?: string[];
  /** How long the workload may take to report ready (default 60 s). */
  readyTimeoutMs?: number;
  /** How long criu dump may take (default 120 s). */
  dumpTimeoutMs?: number;
  /** Keep both temp dirs when the dump fails, to look at them (default: env CKPT_KEEP_DUMPS set). */
  keepOnFailure?: boolean;
}

export interface WorkloadDump {
  /** The image directory: CRIU images, `stats-dump` and `dump.log`, as plain `criu dump -D` leaves it. */
  dir: string;
  /** Pid of the dumped root task (the workload's leader; the pids in the images are these). */
  rootPid: number;
  /** Marker name → marker string; each was assembled at run time only where the workload's
   * script says (mix.py, zombie.py, big.py). `env` is in every task's environment. */
  markers: Record<string, string>;
  /** Removes `dir` and `workDir`. No process is left to stop: that happened before the return. */
  cleanup(): Promise<void>;
  /** Role → pid as the workload reported them: leader, child, zombie, thread1, thread2 (mix). */
  pids: Record<string, number>;
  /** The workload's working directory (its FIFO, socket and lock files; their paths are in the
   * images), with its stdout/stderr in `out.log`. */
  workDir: string;
  /** Path of CRIU's log of this dump. */
  dumpLog: string;
  /** Wall time of the criu dump command. */
  dumpMs: number;
  /** big only: where the filled memory is. */
  region?: { start: number; bytes: number; vmas: number };
}

/** CRIU to test against; CKPT_CRIU overrides, as for the rest of the project. */
export function criuBinary(): string {
  return process.env.CKPT_CRIU ?? "/usr/local/sbin/criu";
}

/** The reference crit 4.2.1, to compare our codec with. */
export function critBinary(): string {
  return process.env.CKPT_CRIT ?? "/opt/ckpt-tools/bin/crit";
}

let realStack: boolean | undefined;

/** True when dumpWorkload can work here: root, CRIU 4.2 (older builds cannot dump inet sockets on
 * this kernel), the interpreter and unshare. Cached: spawning criu costs ~50 ms. */
export function haveRealStack(): boolean {
  if (realStack === undefined) {
    const version = spawnSync(criuBinary(), ["--version"], { encoding: "utf8", timeout: 10_000 });
    realStack =
      process.getuid?.() === 0 &&
      /Version: 4\.2\b/.test(version.stdout ?? "") &&
      existsSync(PYTHON) &&
      existsSync(UNSHARE);
  }
  return realStack;
}

/**
 * Starts a workload tree in private ipc/uts/net namespaces and its own session, waits for it to be
 * ready, dumps it with `criu dump -t PID -D DIR -o dump.log -v4 --leave-running --tcp-established
 * --file-locks`, then kills and reaps the whole tree. Throws (with the tail of dump.log or of the
 * workload's output) if the workload or the dump fails; the tree is killed in every case.
 */
export async function dumpWorkload(kind: WorkloadKind, opts: DumpWorkloadOptions = {}): Promise<WorkloadDump> {
  const dir = await mkdtemp(join(tmpdir(), "ckpt-dump-"));
  const workDir = await mkdtemp(join(tmpdir(), "ckpt-work-"));
  const cleanup = async (): Promise<void> => {
    await Promise.all([rm(dir, { recursive: true, force: true }), rm(workDir, { recursive: true, force: true })]);
  };
  const token = randomBytes(8).toString("hex");
  const envMarker = `CKPT_ENV_${token}`;
  const dumpLog = join(dir, DUMP_LOG);
  const keep = opts.keepOnFailure ?? process.env.CKPT_KEEP_DUMPS !== undefined;
  let workload: Workload | undefined;
  let ok = false;
  try {
    workload = Workload.start(kind, workDir, token, envMarker, workloadArgs(kind, opts));
    const ready = await workload.ready(opts.readyTimeoutMs ?? 60_000);
    const args = ["dump", "-t", String(ready.pids.leader), "-D", dir, "-o", DUMP_LOG, "-v4"];
    args.push("--leave-running", "--tcp-established", "--file-locks", ...(opts.criuArgs ?? []));
    const started = performance.now();
    const criu = await run(criuBinary(), args, dir, opts.dumpTimeoutMs ?? 120_000);
    const dumpMs = performance.now() - started;
    const log = await readFile(dumpLog, "utf8").catch(() => "");
    // Exit status alone is not enough: a criu killed by our timeout has none, and the last line
    // is the one place CRIU says the images are complete.
    if (criu.code !== 0 || !log.includes("Dumping finished successfully")) {
      throw new Error(
        `criu dump of the ${kind} workload (pid ${ready.pids.leader}) failed: ${criu.status}` +
          (keep ? ` (kept: ${dir})\n` : ` (set CKPT_KEEP_DUMPS=1 to keep ${dir})\n`) +
          `criu ${args.join(" ")}\n` +
          `--- errors in ${dumpLog} ---\n${logErrors(log)}\n--- ${dumpLog} (tail) ---\n${tail(log, 30)}` +
          (criu.output ? `\n--- output ---\n${tail(criu.output, 10)}` : ""),
      );
    }
    const markers: Record<string, string> = { env: envMarker };
    for (const [name, prefix] of Object.entries(ready.markerPrefixes)) markers[name] = prefix + token;
    ok = true;
    return {
      dir,
      rootPid: ready.pids.leader,
      markers,
      cleanup,
      pids: ready.pids,
      workDir,
      dumpLog,
      dumpMs,
      ...(ready.region ? { region: ready.region } : {}),
    };
  } finally {
    await workload?.stop();
    if (!ok && !keep) await cleanup();
  }
}

function workloadArgs(kind: WorkloadKind, opts: DumpWorkloadOptions): string[] {
  if (kind === "secrets") return [opts.secrets ?? "planted"];
  if (kind !== "big") return [];
  const megabytes = opts.megabytes ?? 300;
  const vmas = opts.vmas ?? 3000;
  if (!Number.isInteger(megabytes) || megabytes < 1) throw new Error(`megabytes must be a positive integer: ${megabytes}`);
  if (!Number.isInteger(vmas) || vmas < 1 || vmas > megabytes * 256) {
    throw new Error(`vmas must be an integer in 1..${megabytes * 256} (one page each at least): ${vmas}`);
  }
  return [String(megabytes), String(vmas)];
}

/** What a workload writes to WORKDIR/ready.json once its state is complete. */
interface Ready {
  pids: Record<string, number> & { leader: number };
  markerPrefixes: Record<string, string>;
  region?: { start: number; bytes: number; vmas: number };
}

/**
 * A workload under test/support/workloads/reaper.py. The reaper, not this process, is the workload's
 * parent: as a child subreaper it inherits and reaps every orphan of the tree, so killing the tree
 * leaves no zombie under the machine's PID 1 (which may not reap promptly, and the pids would then
 * stay taken). It kills the tree's process group when its stdin closes, so even a crashed test run
 * leaves nothing behind.
 */
class Workload {
  private readonly lines: string[] = [];
  private stderr = "";
  private readonly exited: Promise<void>;
  private running = true;

  private constructor(
    private readonly kind: WorkloadKind,
    private readonly workDir: string,
    private readonly reaper: ChildProcess,
  ) {
    let buffered = "";
    reaper.stdout?.setEncoding("utf8").on("data", (chunk: string) => {
      const parts = (buffered + chunk).split("\n");
      buffered = parts.pop() ?? "";
      this.lines.push(...parts);
    });
    reaper.stderr?.setEncoding("utf8").on("data", (chunk: string) => (this.stderr += chunk));
    // EPIPE on stdin if the reaper is already gone is expected.
    reaper.stdin?.on("error", () => {});
    this.exited = new Promise((resolve) => {
      reaper.once("close", () => {
        this.running = false;
        resolve();
      });
      reaper.once("error", (err) => {
        this.stderr += String(err);
        this.running = false;
        resolve();
      });
    });
  }

  static start(kind: WorkloadKind, workDir: string, token: string, envMarker: string, args: string[]): Workload {
    const script = join(WORKLOADS, `${kind}.py`);
    // unshare (without --fork) execs in place, so the pid the reaper reports is the leader's.
    const argv = ["-B", join(WORKLOADS, "reaper.py"), join(workDir, "out.log"), "--"];
    argv.push(UNSHARE, "--ipc", "--uts", "--net", PYTHON, "-B", script, workDir, ...args);
    const reaper = spawn(PYTHON, argv, {
      cwd: workDir,
      stdio: ["pipe", "pipe", "pipe"],
      // A minimal environment: every byte of it is dumped with each task's stack.
      env: {
        PATH: "/usr/sbin:/usr/bin:/sbin:/bin",
        LC_ALL: "C.UTF-8",
        PYTHONDONTWRITEBYTECODE: "1",
        CKPT_TOKEN: token,
        CKPT_WORKLOAD_ENV: envMarker,
      },
    });
    return new Workload(kind, workDir, reaper);
  }

  /** Polls for ready.json; fails early if the workload's leader or the reaper ends first. */
  async ready(timeoutMs: number): Promise<Ready> {
    const file = join(this.workDir, "ready.json");
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const text = await readFile(file, "utf8").catch(() => undefined);
      if (text !== undefined) return parseReady(text, file);
      const exit = this.lines.find((line) => line.startsWith("exit "));
      if (exit || !this.running) await this.fail(exit ? `its leader ended (${exit})` : "the reaper ended");
      if (performance.now() > deadline) await this.fail(`not ready after ${timeoutMs} ms`);
      await sleep(20);
    }
  }

  private async fail(why: string): Promise<never> {
    const out = await readFile(join(this.workDir, "out.log"), "utf8").catch(() => "");
    throw new Error(
      `${this.kind} workload failed to start: ${why}\n--- out.log (tail) ---\n${tail(out, 30)}` +
        (this.stderr ? `\n--- reaper stderr ---\n${tail(this.stderr, 10)}` : ""),
    );
  }

  /** Kills the tree and waits until the reaper has reaped all of it. */
  async stop(): Promise<void> {
    if (!this.running) return;
    this.reaper.stdin?.end();
    if (await settlesWithin(this.exited, 10_000)) return;
    // The reaper is stuck: kill it and the workload's group ourselves (its orphans then go to PID 1).
    const pid = this.lines.find((line) => line.startsWith("pid "));
    if (pid) killQuietly(-Number(pid.slice(4)));
    this.reaper.kill("SIGKILL");
    await this.exited;
  }
}

function parseReady(text: string, file: string): Ready {
  const ready = JSON.parse(text) as Ready;
  if (!Number.isInteger(ready?.pids?.leader) || typeof ready.markerPrefixes !== "object") {
    throw new Error(`${file}: unexpected content: ${text.slice(0, 200)}`);
  }
  return ready;
}

interface RunResult {
  code: number | null;
  /** How it ended, for messages: "exit 1", "signal SIGKILL (timed out after 120000 ms)". */
  status: string;
  output: string;
}

async function run(cmd: string, args: string[], cwd: string, timeoutMs: number): Promise<RunResult> {
  const child = spawn(cmd, args, { cwd, stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  child.stdout.setEncoding("utf8").on("data", (chunk: string) => (output += chunk));
  child.stderr.setEncoding("utf8").on("data", (chunk: string) => (output += chunk));
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    child.kill("SIGKILL");
  }, timeoutMs);
  try {
    return await new Promise<RunResult>((resolve) => {
      child.once("error", (err) => resolve({ code: null, status: String(err), output }));
      child.once("close", (code, signal) => {
        const status = code !== null ? `exit ${code}` : `signal ${signal}`;
        resolve({ code, status: timedOut ? `${status} (timed out after ${timeoutMs} ms)` : status, output });
      });
    });
  } finally {
    clearTimeout(timer);
  }
}

async function settlesWithin(promise: Promise<void>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), ms)));
  try {
    return await Promise.race([promise.then(() => true), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

function killQuietly(pid: number): void {
  try {
    process.kill(pid, "SIGKILL");
  } catch {
    // already gone
  }
}

/** The Error lines of a CRIU log, which may sit far above its tail, minus the one every run logs
 * here (no CAP_SYS_RESOURCE). */
function logErrors(log: string): string {
  const errors = log.split("\n").filter((line) => /\) Error \(/.test(line) && !line.includes("RLIMIT_NOFILE for self"));
  return errors.slice(-10).join("\n") || "(none)";
}

function tail(text: string, lines: number): string {
  return text.trimEnd().split("\n").slice(-lines).join("\n");
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
