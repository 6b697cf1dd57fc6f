/**
 * The processes of a container the agent reaches only through the CRI: those of its init process's
 * cgroup. A migration's source is held by CRIU's leave-stopped (every task SIGSTOPped once dumped),
 * since the CRI has no pause and the runtime thaws its own freeze when the dump is done; resuming
 * it is a SIGCONT to each of them.
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";

/** The pids in the cgroup of `pid` (any v1 hierarchy that has the container's cgroup, or v2). */
export function containerProcesses(pid: number, cgroupRoot = "/sys/fs/cgroup"): number[] {
  const lines = readFileSync(`/proc/${pid}/cgroup`, "utf8").trim().split("\n");
  const candidates: string[] = [];
  for (const line of lines) {
    const m = /^\d+:([^:]*):(.*)$/.exec(line);
    if (!m) continue;
    const controllers = m[1]!;
    if (controllers === "") candidates.push(join(cgroupRoot, m[2]!));
    else for (const c of controllers.split(",")) candidates.push(join(cgroupRoot, c.replace(/^name=/, ""), m[2]!));
  }
  const dir = candidates.find((d) => existsSync(join(d, "cgroup.procs")));
  if (!dir) throw new Error(`process ${pid}: its cgroup is not under ${cgroupRoot}`);
  return readFileSync(join(dir, "cgroup.procs"), "utf8")
    .split("\n")
    .filter(Boolean)
    .map(Number);
}

/** A process's state letter from /proc (T: stopped), or undefined when it is gone. */
function processState(pid: number): string | undefined {
  try {
    return /^State:\s+(\S)/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1];
  } catch {
    return undefined;
  }
}

/** Whether any of the container's processes is stopped. */
export function anyStopped(pid: number): boolean {
  return containerProcesses(pid).some((p) => processState(p) === "T");
}

/** SIGCONT to each stopped process of the container; returns how many were stopped. */
export function continueStopped(pid: number): number {
  let n = 0;
  for (const p of containerProcesses(pid)) {
    if (processState(p) !== "T") continue;
    try {
      process.kill(p, "SIGCONT");
      n++;
    } catch {
      // exited meanwhile
    }
  }
  return n;
}
