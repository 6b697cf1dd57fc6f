/**
 * Which process of A is which process of B. CRIU restores PIDs, so a PID names the same process in
 * two checkpoints of one container, and in two replicas restored from one checkpoint. Where PIDs do
 * not pair up (replicas started separately), a process is found by its command line instead.
 */
import type { ProcessFacts } from "./process-facts.js";

export interface ProcessPair {
  a: ProcessFacts;
  b: ProcessFacts;
  by: "pid" | "cmdline";
}

export interface ProcessMatch {
  pairs: ProcessPair[];
  /** Only in B / only in A. */
  added: ProcessFacts[];
  removed: ProcessFacts[];
}

const argvKey = (p: ProcessFacts) => (p.argv ? p.argv.join("\0") : undefined);

export function matchProcesses(a: readonly ProcessFacts[], b: readonly ProcessFacts[]): ProcessMatch {
  const pairs: ProcessPair[] = [];
  const freeA = new Map(a.map((p) => [p.info.pid, p]));
  const freeB = new Map(b.map((p) => [p.info.pid, p]));
  const pair = (pa: ProcessFacts, pb: ProcessFacts, by: ProcessPair["by"]) => {
    pairs.push({ a: pa, b: pb, by });
    freeA.delete(pa.info.pid);
    freeB.delete(pb.info.pid);
  };
  // 1. Same PID, and the same program (command line or name): the same process.
  for (const pb of b) {
    const pa = freeA.get(pb.info.pid);
    if (pa && (argvKey(pa) === argvKey(pb) || pa.info.comm === pb.info.comm)) pair(pa, pb, "pid");
  }
  // 2. The same command line under another PID, first come first paired, in PID order.
  const byArgv = new Map<string, ProcessFacts[]>();
  for (const pa of [...freeA.values()].sort((x, y) => x.info.pid - y.info.pid)) {
    const key = argvKey(pa);
    if (key !== undefined) (byArgv.get(key) ?? byArgv.set(key, []).get(key)!).push(pa);
  }
  for (const pb of [...freeB.values()].sort((x, y) => x.info.pid - y.info.pid)) {
    const key = argvKey(pb);
    const pa = key === undefined ? undefined : byArgv.get(key)?.shift();
    if (pa) pair(pa, pb, "cmdline");
  }
  // 3. What is left under one PID on both sides: one process that became another program (exec).
  for (const pb of [...freeB.values()]) {
    const pa = freeA.get(pb.info.pid);
    if (pa) pair(pa, pb, "pid");
  }
  return { pairs, added: [...freeB.values()], removed: [...freeA.values()] };
}
