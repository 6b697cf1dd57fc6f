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

export type WorkloadKind = "mix" | "zombie" | "big" | "plant" | "step" | "secrets" | "secrets-edge";

export interface DumpWorkloadOptions {
  /** big: MiB of anonymous memory, every page filled (default 300). */
  megabytes?: number;
  /** big: number of VMAs the memory is split into (default 3000). */
  vmas?: number;
  /** secrets, secrets-edge: plant the secrets ("planted", default) or run the same program without them ("clean"). */
  secrets?: "planted" | "clean";
  /** Appended to the criu dump command line. */
  criuArgs?: string[];
  /** Appended to the workload's own command line (mix and plant ignore them; they end up in argv). */
  extraArgs?: string[];
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
  /** Anything else a workload reports (addresses, fds). */
  [key: string]: unknown;
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
  return dumpProgram(kind, workloadCommand(kind, opts), opts);
}

/**
 * The same for any program: `argv(workDir)` is its command line. Like the workloads, it runs in
 * workDir with CKPT_TOKEN in its environment and writes workDir/ready.json ({"pids": {"leader": PID},
 * "markerPrefixes": {…}}) once its state is complete; the dump is of its leader's tree.
 */
export async function dumpProgram(label: string, argv: (workDir: string) => string[], opts: DumpWorkloadOptions = {}): Promise<WorkloadDump> {
  const live = await startProgram(label, argv, opts);
  let dumped: WorkloadDump | undefined;
  try {
    dumped = await live.dump(opts);
  } finally {
    await live.stop({ keepWorkDir: dumped !== undefined || live.keep });
  }
  const dump = dumped;
  return { ...dump, cleanup: async () => Promise.all([dump.cleanup(), rm(live.workDir, { recursive: true, force: true })]).then(() => undefined) };
}

/** A workload's command line: Debian's python running its script in workDir. */
function workloadCommand(kind: WorkloadKind, opts: DumpWorkloadOptions): (workDir: string) => string[] {
  const args = [...workloadArgs(kind, opts), ...(opts.extraArgs ?? [])];
  return (workDir) => [PYTHON, "-B", join(WORKLOADS, `${kind}.py`), workDir, ...args];
}

export interface StartWorkloadOptions extends DumpWorkloadOptions {
  /** Extra environment variables of the whole tree. */
  env?: Record<string, string>;
  /** Run in this (existing, empty) working directory instead of a new temp one: two runs in the
   * same place have the same command lines, as replicas of one container do. */
  workDir?: string;
}

/**
 * A workload tree that keeps running between dumps, so that two dumps of it can be compared. `step`
 * signals the leader (SIGUSR1); a workload that takes steps (step.py) changes its state then and
 * writes WORKDIR/step-N.json, whose content `step` returns.
 */
export interface LiveWorkload {
  kind: string;
  workDir: string;
  pids: Record<string, number>;
  markers: Record<string, string>;
  /** What the workload wrote in ready.json besides pids and marker prefixes. */
  ready: Record<string, unknown>;
  /** Whether failed runs keep their directories (CKPT_KEEP_DUMPS). */
  keep: boolean;
  /** One more `criu dump --leave-running` of the tree into a new directory (its `cleanup` removes
   * just that directory). */
  dump(opts?: DumpWorkloadOptions): Promise<WorkloadDump>;
  step(timeoutMs?: number): Promise<Record<string, unknown>>;
  /** Kills and reaps the tree; removes the working directory unless told to keep it. */
  stop(opts?: { keepWorkDir?: boolean }): Promise<void>;
}

export function startWorkload(kind: WorkloadKind, opts: StartWorkloadOptions = {}): Promise<LiveWorkload> {
  return startProgram(kind, workloadCommand(kind, opts), opts);
}

/** startWorkload for any program that follows the workloads' protocol (see dumpProgram). */
export async function startProgram(kind: string, argv: (workDir: string) => string[], opts: StartWorkloadOptions = {}): Promise<LiveWorkload> {
  const workDir = opts.workDir ?? (await mkdtemp(join(tmpdir(), "ckpt-work-")));
  const token = randomBytes(8).toString("hex");
  const envMarker = `CKPT_ENV_${token}`;
  const keep = opts.keepOnFailure ?? process.env.CKPT_KEEP_DUMPS !== undefined;
  const workload = Workload.start(kind, workDir, token, envMarker, argv(workDir), opts.env ?? {});
  let ready: Ready;
  try {
    ready = await workload.ready(opts.readyTimeoutMs ?? 60_000);
  } catch (err) {
    await workload.stop();
    if (!keep) await rm(workDir, { recursive: true, force: true });
    throw err;
  }
  const markers: Record<string, string> = { env: envMarker };
  for (const [name, prefix] of Object.entries(ready.markerPrefixes)) markers[name] = prefix + token;
  const { pids, markerPrefixes: _prefixes, region, ...rest } = ready;
  let steps = 0;
  return {
    kind,
    workDir,
    pids,
    markers,
    ready: rest,
    keep,
    dump: (dumpOpts = {}) => dumpRunning(kind, pids, workDir, markers, region, { ...opts, ...dumpOpts }, keep),
    step: async (timeoutMs = 30_000) => {
      steps++;
      process.kill(pids.leader, "SIGUSR1");
      return workload.waitForFile(`step-${steps}.json`, timeoutMs, (text, file) => JSON.parse(text) as Record<string, unknown>);
    },
    stop: async ({ keepWorkDir = false } = {}) => {
      await workload.stop();
      if (!keepWorkDir) await rm(workDir, { recursive: true, force: true });
    },
  };
}

async function dumpRunning(
  kind: string,
  pids: Ready["pids"],
  workDir: string,
  markers: Record<string, string>,
  region: Ready["region"],
  opts: DumpWorkloadOptions,
  keep: boolean,
): Promise<WorkloadDump> {
  const dir = await mkdtemp(join(tmpdir(), "ckpt-dump-"));
  const cleanup = () => rm(dir, { recursive: true, force: true });
  const dumpLog = join(dir, DUMP_LOG);
  let ok = false;
  try {
    const args = ["dump", "-t", String(pids.leader), "-D", dir, "-o", DUMP_LOG, "-v4"];
    args.push("--leave-running", "--tcp-established", "--file-locks", ...(opts.criuArgs ?? []));
    const started = performance.now();
    const criu = await run(criuBinary(), args, dir, opts.dumpTimeoutMs ?? 120_000);
    const dumpMs = performance.now() - started;
    const log = await readFile(dumpLog, "utf8").catch(() => "");
    // Exit status alone is not enough: a criu killed by our timeout has none, and the last line
    // is the one place CRIU says the images are complete.
    if (criu.code !== 0 || !log.includes("Dumping finished successfully")) {
      throw new Error(
        `criu dump of the ${kind} workload (pid ${pids.leader}) failed: ${criu.status}` +
          (keep ? ` (kept: ${dir})\n` : ` (set CKPT_KEEP_DUMPS=1 to keep ${dir})\n`) +
          `criu ${args.join(" ")}\n` +
          `--- errors in ${dumpLog} ---\n${logErrors(log)}\n--- ${dumpLog} (tail) ---\n${tail(log, 30)}` +
          (criu.output ? `\n--- output ---\n${tail(criu.output, 10)}` : ""),
      );
    }
    ok = true;
    return { dir, rootPid: pids.leader, markers, cleanup, pids, workDir, dumpLog, dumpMs, ...(region ? { region } : {}) };
  } finally {
    if (!ok && !keep) await cleanup();
  }
}

function workloadArgs(kind: WorkloadKind, opts: DumpWorkloadOptions): string[] {
  // step.py's last argument is overwritten in place at the first step (a command-line change).
  if (kind === "step") return ["initial"];
  if (kind === "secrets" || kind === "secrets-edge") return [opts.secrets ?? "planted"];
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
    private readonly kind: string,
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

  static start(kind: string, workDir: string, token: string, envMarker: string, command: string[], env: Record<string, string>): Workload {
    // unshare (without --fork) execs in place, so the pid the reaper reports is the leader's.
    const argv = ["-B", join(WORKLOADS, "reaper.py"), join(workDir, "out.log"), "--"];
    argv.push(UNSHARE, "--ipc", "--uts", "--net", ...command);
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
        ...env,
      },
    });
    return new Workload(kind, workDir, reaper);
  }

  /** Polls for ready.json; fails early if the workload's leader or the reaper ends first. */
  ready(timeoutMs: number): Promise<Ready> {
    return this.waitForFile("ready.json", timeoutMs, parseReady);
  }

  /** Polls for a file the workload writes in its working directory (atomically, by rename). */
  async waitForFile<T>(name: string, timeoutMs: number, parse: (text: string, file: string) => T): Promise<T> {
    const file = join(this.workDir, name);
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const text = await readFile(file, "utf8").catch(() => undefined);
      if (text !== undefined) return parse(text, file);
      const exit = this.lines.find((line) => line.startsWith("exit "));
      if (exit || !this.running) await this.fail(exit ? `its leader ended (${exit})` : "the reaper ended");
      if (performance.now() > deadline) await this.fail(`no ${name} after ${timeoutMs} ms`);
      await sleep(20);
    }
  }

  private async fail(why: string): Promise<never> {
    const out = await readFile(join(this.workDir, "out.log"), "utf8").catch(() => "");
    throw new Error(
      `${this.kind} workload failed: ${why}\n--- out.log (tail) ---\n${tail(out, 30)}` +
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
