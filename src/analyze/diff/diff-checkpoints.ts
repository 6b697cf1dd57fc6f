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

export async function diffCheckpoints(a: Checkpoint, b: Checkpoint): Promise<CheckpointDiff> {
  const match = matchProcesses(await readProcessFacts(a), await readProcessFacts(b));
  const memory = await diffMemory(a, b, new Map(match.pairs.map((p) => [p.a.info.pid, p.b.info.pid])));
  const { rootfs, notes } = await diffRootfs(a, b);
  const byPid = <T extends { pid: number }>(list: T[]) => list.sort((x, y) => x.pid - y.pid);
  return {
    a: a.path,
    b: b.path,
    processes: {
      added: byPid(match.added.map(processSummary)),
      removed: byPid(match.removed.map(processSummary)),
      changed: byPid(match.pairs.flatMap((p) => diffProcess(p, memory.byProcess.get(p.b.info.pid) ?? []) ?? [])),
    },
    shared_memory: memory.shared,
    rootfs,
    notes: [...memory.notes, ...notes],
  };
}
