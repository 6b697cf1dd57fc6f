/**
 * `ckpt diff A B` as data: two checkpoints (archives or image directories) of one container, or of
 * two replicas, compared process by process, descriptor by descriptor, VMA by VMA and page by page,
 * and their file changes file by file. Pure of printing: the CLI draws a tree or prints the JSON.
 */
import type { Checkpoint } from "../../checkpoint/checkpoint.js";
import type { CheckpointDiff } from "./diff-types.js";
import { diffMemory } from "./memory-diff.js";
import { diffProcess } from "./process-diff.js";
import { processSummary, readProcessFacts } from "./process-facts.js";
import { matchProcesses } from "./process-match.js";
import { diffRootfs } from "./rootfs-diff.js";
import { laidOutElsewhere } from "./vma-match.js";

export interface DiffOptions {
  /** Pair every process's VMAs by what they map, as for two separately started replicas (by default,
   * only for processes whose file mappings lie at other addresses). */
  replicas?: boolean;
}

/**
 * Why the environment diff can miss changes: it reads each process's initial environment area, and
 * setenv/putenv (or a language runtime's own copy of the environment) keep what they set elsewhere
 * in memory, which no image describes (libc's symbols are not in the dump, static programs have
 * none, and runtimes like Go's keep their own list).
 */
export const ENVIRONMENT_NOTE =
  "environment: read from each process's initial environment area; variables set or changed after the start (setenv, putenv, a runtime's own copy) are not visible there and were not compared";

export async function diffCheckpoints(a: Checkpoint, b: Checkpoint, opts: DiffOptions = {}): Promise<CheckpointDiff> {
  const match = matchProcesses(await readProcessFacts(a), await readProcessFacts(b));
  const vmaMatch = new Map(match.pairs.map((p) => [p.b.info.pid, opts.replicas || laidOutElsewhere(p.a.vmas, p.b.vmas) ? ("mapping" as const) : ("address" as const)]));
  const memory = await diffMemory(a, b, new Map(match.pairs.map((p) => [p.a.info.pid, { pid: p.b.info.pid, vmas: vmaMatch.get(p.b.info.pid)! }])));
  const { rootfs, notes } = await diffRootfs(a, b);
  const environmentsRead = match.pairs.some((p) => p.a.env && p.b.env);
  const byPid = <T extends { pid: number }>(list: T[]) => list.sort((x, y) => x.pid - y.pid);
  return {
    a: a.path,
    b: b.path,
    processes: {
      added: byPid(match.added.map(processSummary)),
      removed: byPid(match.removed.map(processSummary)),
      changed: byPid(match.pairs.flatMap((p) => diffProcess(p, memory.byProcess.get(p.b.info.pid) ?? [], vmaMatch.get(p.b.info.pid)) ?? [])),
    },
    shared_memory: memory.shared,
    rootfs,
    notes: [...memory.notes, ...notes, ...(environmentsRead ? [ENVIRONMENT_NOTE] : [])],
  };
}
