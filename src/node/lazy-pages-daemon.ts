/**
 * CRIU's lazy-pages daemon for a lazy restore: `criu lazy-pages --page-server`, started in the
 * restore's work directory before `runc restore --lazy-pages`, which finds it by the
 * `lazy-pages.socket` it makes there. It gets the restored tasks' userfaultfds, asks the page
 * server for each page on first touch and for all the others in the background, and ends when
 * every page is in. Its page-server connection is an inherited socket (--ps-socket), whose other
 * end the agent carries to the source node: no port is opened.
 */
import { spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import type { Socket } from "node:net";
import { setPriority } from "node:os";
import { join } from "node:path";
import { criuLogError } from "./criu-log.js";
import { afterStderr } from "./runc.js";

const PAGE_SOCKET_FD = 3;
export const LAZY_PAGES_LOG = "lazy-pages.log";

export interface LazyPagesDaemon {
  pid: number;
  /** The agent's end of the daemon's page-server connection. */
  pages: Socket;
  /** The daemon's end: ok when every page was copied in; else CRIU's reason. */
  exited: Promise<{ ok: boolean; message: string }>;
  kill(): void;
}

/** Starts the daemon and waits until restores can reach it (its socket exists). */
export async function startLazyPagesDaemon(criu: string, imagesDir: string, workDir: string, timeoutMs = 10_000): Promise<LazyPagesDaemon> {
  const child = spawn(
    criu,
    ["lazy-pages", "--page-server", "--ps-socket", String(PAGE_SOCKET_FD), "--images-dir", imagesDir, "--work-dir", workDir, "--log-file", LAZY_PAGES_LOG],
    { stdio: ["ignore", "ignore", "pipe", "pipe"] },
  );
  // Once the restore is done, the daemon polls without waiting for the pages it asked for: at a
  // lower priority, it leaves the CPU to the agents that carry them.
  if (child.pid !== undefined) setPriority(child.pid, 10);
  let stderr = "";
  child.stderr!.on("data", (b: Buffer) => (stderr = (stderr + b.toString()).slice(-2000)));
  let ended = false;
  const exited = new Promise<{ ok: boolean; message: string }>((resolve) => {
    child.on("error", (err) => {
      ended = true;
      resolve({ ok: false, message: err.message });
    });
    // "exit", not "close": the page socket may never be read to its end.
    child.on("exit", (code, signal) => {
      ended = true;
      afterStderr(child, () => {
        if (code === 0) return resolve({ ok: true, message: "" });
        const why = criuLogError(readLog(join(workDir, LAZY_PAGES_LOG))) ?? (stderr.trim().split("\n").at(-1) || `exit ${code ?? signal}`);
        resolve({ ok: false, message: why });
      });
    });
  });
  const kill = () => {
    if (!ended) child.kill("SIGKILL");
  };
  const deadline = Date.now() + timeoutMs;
  while (!existsSync(join(workDir, "lazy-pages.socket"))) {
    if (ended) throw new Error(`criu lazy-pages ended before it was ready: ${(await exited).message}`);
    if (Date.now() > deadline) {
      kill();
      throw new Error(`criu lazy-pages was not ready within ${timeoutMs / 1000} s`);
    }
    await new Promise((r) => setTimeout(r, 5));
  }
  return { pid: child.pid!, pages: child.stdio[PAGE_SOCKET_FD] as Socket, exited, kill };
}

function readLog(path: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return "";
  }
}
