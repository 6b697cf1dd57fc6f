/**
 * The container shim: one small process per container, started detached by the agent, that runs
 * `runc run` in the foreground and outlives the agent. It exists because
 *  - CRIU can only dump a container whose stdio are pipes (a host file as stdout cannot be dumped),
 *    so something must own the other ends of those pipes for as long as the container lives;
 *  - the container's exit status is runc's, and only runc's parent sees it;
 *  - an agent restart must not touch running containers: it re-attaches by reading the files here.
 * Files in the container directory: shim.json (what to run, written by the agent), shim.pid,
 * exit.json (written once runc exits), and the CRI-format log file named in shim.json.
 */
import { spawn } from "node:child_process";
import { createWriteStream, existsSync, readFileSync, renameSync, watch, writeFileSync, type FSWatcher } from "node:fs";
import { join } from "node:path";
import { EXIT_STATUS, SHIM_CONFIG, SHIM_PID, type ExitStatus, type ShimConfig } from "./shim-files.js";

// No zod here (the agent checks what it reads back): the shim starts on a container's critical
// path, a restore's downtime included, and zod alone costs it some 50 ms.
function readConfig(path: string): ShimConfig {
  const c = JSON.parse(readFileSync(path, "utf8")) as Partial<ShimConfig>;
  const strings = (v: unknown) => Array.isArray(v) && v.every((x) => typeof x === "string");
  if (!strings(c.argv) || !c.argv!.length || typeof c.env !== "object" || c.env === null || !strings(Object.values(c.env)) || typeof c.logPath !== "string") {
    throw new Error(`${path}: not a shim configuration (argv, env, logPath)`);
  }
  return c as ShimConfig;
}

/** CRI log lines: `<RFC3339Nano> <stream> <F|P> <text>`; P marks a line split because it was long. */
function criLogWriter(out: NodeJS.WritableStream, stream: "stdout" | "stderr") {
  const MAX = 16 * 1024;
  let pending = "";
  const ts = () => {
    const d = new Date();
    return d.toISOString().replace(/\.(\d{3})Z$/, (_m, ms: string) => `.${ms}000000Z`);
  };
  return {
    push(chunk: Buffer) {
      pending += chunk.toString("utf8");
      let nl: number;
      while ((nl = pending.indexOf("\n")) >= 0) {
        out.write(`${ts()} ${stream} F ${pending.slice(0, nl)}\n`);
        pending = pending.slice(nl + 1);
      }
      while (pending.length > MAX) {
        out.write(`${ts()} ${stream} P ${pending.slice(0, MAX)}\n`);
        pending = pending.slice(MAX);
      }
    },
    flush() {
      if (pending) out.write(`${ts()} ${stream} P ${pending}\n`);
      pending = "";
    },
  };
}

/** How long a shim started ahead of its configuration waits for it. */
const CONFIG_WAIT_MS = 120_000;

/**
 * shim.json, once the agent has written it (it starts the shim first, so that node's start-up
 * overlaps the container's preparation, and renames the file into place when complete); undefined
 * when the container directory goes (the container was given up) or the wait runs out.
 */
async function awaitConfig(dir: string): Promise<ShimConfig | undefined> {
  const path = join(dir, SHIM_CONFIG);
  const deadline = Date.now() + CONFIG_WAIT_MS;
  let wake = () => undefined as void;
  let watcher: FSWatcher | undefined;
  try {
    watcher = watch(dir, () => wake());
    watcher.on("error", () => wake());
  } catch {
    // Polled below.
  }
  try {
    for (;;) {
      if (existsSync(path)) return readConfig(path);
      if (!existsSync(dir) || Date.now() > deadline) return undefined;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 100);
        wake = () => (clearTimeout(timer), resolve());
      });
    }
  } finally {
    watcher?.close();
  }
}

export async function runShim(dir: string): Promise<number> {
  // Signals meant for a terminal or a service manager are not the container's business: it is
  // stopped through runc, and the shim ends when runc does.
  for (const s of ["SIGINT", "SIGTERM", "SIGHUP", "SIGPIPE"] as const) process.on(s, () => undefined);
  writeFileSync(join(dir, SHIM_PID), `${process.pid}\n`);
  const config = await awaitConfig(dir);
  if (!config) return 125;
  const log = createWriteStream(config.logPath, { flags: "a", mode: 0o600 });
  const startedAt = new Date().toISOString();
  const child = spawn(config.argv[0]!, config.argv.slice(1), { env: config.env, stdio: ["pipe", "pipe", "pipe"] });
  // stdin stays open and silent, as a pod container's does without `stdin: true`.
  child.stdin.on("error", () => undefined);
  const outs = { stdout: criLogWriter(log, "stdout"), stderr: criLogWriter(log, "stderr") };
  child.stdout.on("data", (b: Buffer) => outs.stdout.push(b));
  child.stderr.on("data", (b: Buffer) => outs.stderr.push(b));
  const status = await new Promise<ExitStatus>((resolve) => {
    child.on("error", (err) => {
      log.write(`${new Date().toISOString()} stderr F shim: ${err.message}\n`);
      resolve({ exitCode: 127, signal: null, startedAt, finishedAt: new Date().toISOString() });
    });
    child.on("close", (code, signal) => {
      resolve({ exitCode: code ?? 128, signal, startedAt, finishedAt: new Date().toISOString() });
    });
  });
  outs.stdout.flush();
  outs.stderr.flush();
  await new Promise<void>((resolve) => log.end(resolve));
  const tmp = join(dir, `${EXIT_STATUS}.tmp`);
  writeFileSync(tmp, JSON.stringify(status) + "\n");
  renameSync(tmp, join(dir, EXIT_STATUS));
  return status.exitCode;
}
