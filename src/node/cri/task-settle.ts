/**
 * Putting a container back to running after a checkpoint of it that the runtime goes on with after
 * our call gave up (a pod checkpoint's deadline). runc's CRIU thaws the container's cgroup while it
 * holds the processes (ptrace) to dump them, and freezes it again when done if it found it frozen.
 * So, while that runs, containerd cannot resume the task ("container not paused"), and a resume that
 * got in before CRIU read the freezer is undone when CRIU ends: the task says RUNNING over a frozen
 * cgroup. Both are settled once runc's checkpoint of the container has ended, the second by thawing
 * the cgroup's freezer directly (containerd's task API cannot: its task is not paused).
 */
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { ContainerdTasks } from "../../cri/containerd-tasks.js";

const CGROUP_ROOT = "/sys/fs/cgroup";

/** Whether a runc checkpoint of the container runs (its command line ends with the container's ID). */
export function runcCheckpointRunning(id: string, proc = "/proc"): boolean {
  for (const pid of readdirSync(proc)) {
    if (!/^\d+$/.test(pid)) continue;
    let argv: string[];
    try {
      argv = readFileSync(join(proc, pid, "cmdline"), "utf8").split("\0").filter(Boolean);
    } catch {
      continue;
    }
    if (argv.at(-1) === id && argv.includes("checkpoint") && /(^|\/)runc$/.test(argv[0] ?? "")) return true;
  }
  return false;
}

/**
 * The freezer file of a cgroup path as runc's cgroupfs driver has it (`/parent/ID`): v1's
 * freezer.state, else v2's cgroup.freeze; undefined for a path it cannot place (systemd's
 * `slice:prefix:name`).
 */
export function freezerFile(cgroupsPath: string, root = CGROUP_ROOT): { path: string; v2: boolean } | undefined {
  if (!cgroupsPath.startsWith("/")) return undefined;
  const v1 = join(root, "freezer", cgroupsPath, "freezer.state");
  if (existsSync(v1)) return { path: v1, v2: false };
  const v2 = join(root, cgroupsPath, "cgroup.freeze");
  return existsSync(v2) ? { path: v2, v2: true } : undefined;
}

export function cgroupFrozen(f: { path: string; v2: boolean }): boolean {
  const state = readFileSync(f.path, "utf8").trim();
  return f.v2 ? state === "1" : state !== "THAWED";
}

export function thawCgroup(f: { path: string; v2: boolean }): void {
  writeFileSync(f.path, f.v2 ? "0" : "THAWED");
}

/** How long to wait for the runtime's checkpoint to end (the longest dump expected). */
const SETTLE_WAIT_MS = 10 * 60_000;
const POLL_MS = 250;

export interface SettleOptions {
  /** The container's cgroup (runtimeSpec.linux.cgroupsPath of the verbose ContainerStatus). */
  cgroupsPath?: string;
  log?: (event: Record<string, unknown>) => void;
  waitMs?: number;
}

/**
 * Waits until runc no longer checkpoints the container, then leaves it running: a task still
 * paused is resumed, a running task over a frozen cgroup is thawed. Resolves with what was done
 * ("resumed", "thawed", "running", or "gone"), or "waiting" when the wait ran out.
 */
export async function settleAfterRuntimeCheckpoint(tasks: ContainerdTasks, id: string, o: SettleOptions = {}): Promise<string> {
  const until = Date.now() + (o.waitMs ?? SETTLE_WAIT_MS);
  const freezer = o.cgroupsPath ? freezerFile(o.cgroupsPath) : undefined;
  let outcome = "waiting";
  try {
    while (Date.now() < until) {
      if (runcCheckpointRunning(id)) {
        await new Promise((r) => setTimeout(r, POLL_MS));
        continue;
      }
      const status = await tasks.status(id);
      if (status === "PAUSED") {
        // A CRIU that was killed leaves the cgroup thawed under a paused task: freeze it, so that
        // runc's resume (which needs it frozen) brings task and cgroup back together.
        if (freezer && !cgroupFrozen(freezer)) writeFileSync(freezer.path, freezer.v2 ? "1" : "FROZEN");
        await tasks.resume(id);
        outcome = "resumed";
      } else if (status === "RUNNING" && freezer && cgroupFrozen(freezer)) {
        thawCgroup(freezer);
        outcome = "thawed";
      } else outcome = "running";
      return outcome;
    }
    return outcome;
  } catch (err) {
    if ((err as { status?: string }).status === "NOT_FOUND") return (outcome = "gone");
    outcome = `failed: ${(err as Error).message}`;
    return outcome;
  } finally {
    o.log?.({ msg: "container after the runtime's abandoned checkpoint", container: id, outcome });
  }
}
