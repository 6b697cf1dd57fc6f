/**
 * The process tree of a dump as data: pids, threads, task state, comm, and where each task's other
 * images are. Zombie and dead tasks have only a core image (no ids, mm, fs or fdinfo): they are kept
 * and marked, not treated as broken.
 */
import { TASK_STATE_NAMES } from "../crit-json/flag-maps.js";
import type { ImageDir } from "../image-dir.js";
import type { WireMessage } from "../wire-reader.js";
import { text } from "./file-names.js";

export interface ThreadInfo {
  tid: number;
  comm?: string;
}

export interface ProcessInfo {
  pid: number;
  ppid: number;
  pgid: number;
  sid: number;
  comm: string;
  /** CRIU's task_state: 1 alive, 2 dead (zombies are dumped so), 3 stopped, 6 zombie. */
  state: number;
  stateName: string;
  threads: ThreadInfo[];
  core?: WireMessage;
}

/** A task with no ids/mm/fs/fdinfo images: CRIU dumps zombies (state 2 or 6) with a core image only. */
export function isDefunct(p: ProcessInfo): boolean {
  return p.state === 2 || p.state === 6;
}

function taskId(entry: WireMessage, key: "pid" | "pgid" | "sid"): number {
  // Images before CRIU 3.x kept pids in ns_pid lists.
  const v = entry[key] ?? (entry[`ns_${key}`] as number[] | undefined)?.[0];
  return Number(v ?? 0);
}

export function listProcesses(dir: ImageDir): ProcessInfo[] {
  return dir.entries("pstree.img").map((entry) => {
    const pid = taskId(entry, "pid");
    const core = dir.one(`core-${pid}.img`);
    const tc = core?.tc as WireMessage | undefined;
    const state = Number(tc?.task_state ?? 0);
    const threads = ((entry.threads as number[] | undefined) ?? []).map((tid) => {
      const threadCore = tid === pid ? core : dir.has(`core-${tid}.img`) ? dir.one(`core-${tid}.img`) : undefined;
      const comm = (threadCore?.thread_core as WireMessage | undefined)?.comm ?? (tid === pid ? tc?.comm : undefined);
      return { tid, comm: comm === undefined ? undefined : text(comm) };
    });
    return {
      pid,
      ppid: Number(entry.ppid ?? 0),
      pgid: taskId(entry, "pgid"),
      sid: taskId(entry, "sid"),
      comm: tc?.comm === undefined ? "" : text(tc.comm),
      state,
      stateName: TASK_STATE_NAMES.get(state) ?? String(state),
      threads,
      core,
    };
  });
}

/**
 * A task's one-entry image (ids, mm, fs…): undefined for a zombie or dead task, which CRIU dumps
 * without them; an error naming the file for a live task whose image is missing.
 */
export function taskImage(dir: ImageDir, p: ProcessInfo, name: string): WireMessage | undefined {
  const entry = dir.one(name);
  if (!entry && !isDefunct(p)) throw new Error(`${dir.file(name)}: missing for live task ${p.pid}`);
  return entry;
}

/** Text views list each process as its pid, then its lines, or one note for a task without images. */
export function renderPerProcess<T extends { pid: number; defunct?: string }>(procs: readonly T[], missing: string, body: (p: T, lines: string[]) => void): string {
  const lines: string[] = [];
  for (const p of procs) {
    lines.push(String(p.pid));
    if (p.defunct) lines.push(`\t(${p.defunct}: ${missing})`);
    else body(p, lines);
  }
  return lines.join("\n") + "\n";
}
