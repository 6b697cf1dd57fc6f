/**
 * A process that holds a copy of the agent's end of a socket for as long as another process lives.
 * CRIU takes the end of a page-server connection for the end of the transfer (the source's dump
 * then kills its tasks; the target's lazy-pages daemon gives up the restored tasks' memory), so the
 * death of the agent that carries the connection must not close it: CRIU then waits, harmlessly,
 * until the restarted agent ends it.
 */
import { spawn } from "node:child_process";
import type { Socket } from "node:net";

export interface SocketHolder {
  release(): void;
}

/** Holds `socket` open until the process `pid` ends (checked each second), or release(). */
export function holdWhileAlive(socket: Socket, pid: number): SocketHolder {
  const holder = spawn("/bin/sh", ["-c", 'while kill -0 "$0" 2>/dev/null; do sleep 1; done', String(pid)], {
    stdio: ["ignore", "ignore", "ignore", socket],
    detached: true,
  });
  holder.on("error", () => undefined);
  holder.unref();
  return { release: () => void holder.kill("SIGKILL") };
}
