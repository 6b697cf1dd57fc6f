/** How one process differs between two checkpoints: its fields, threads, environment, files and VMAs. */
import { capabilityChange } from "./capabilities.js";
import type { EnvironmentDiff, FieldChange, OpenFileChange, OpenFileJson, PagesChange, ProcessChange, ThreadJson, VmaChange, VmaJson } from "./diff-types.js";
import { diffByKey, fieldChanges } from "./keyed-diff.js";
import { CAP_FIELDS, type ProcessFacts } from "./process-facts.js";
import type { ProcessPair } from "./process-match.js";
import { vmaKeys, type VmaMatchMode } from "./vma-match.js";

function processFields(p: ProcessFacts, withParent: boolean): Record<string, string | undefined> {
  return {
    command: p.info.comm,
    cmdline: p.argv?.join(" "),
    task_state: p.info.stateName,
    ...(withParent ? { ppid: String(p.info.ppid) } : {}),
    ...p.creds,
  };
}

function withCapabilityDetail(changes: FieldChange[]): FieldChange[] {
  for (const c of changes) {
    if ((CAP_FIELDS as readonly string[]).includes(c.field) && c.a && c.b) c.detail = capabilityChange(BigInt(c.a), BigInt(c.b));
  }
  return changes;
}

/** Threads by TID for one process; by name (and rank among its namesakes) across two PIDs. */
function diffThreads(a: readonly ThreadJson[], b: readonly ThreadJson[], byTid: boolean): ProcessChange["threads"] {
  const key = (list: readonly ThreadJson[]) => {
    const seen = new Map<string, number>();
    return new Map(list.map((t) => {
      const n = seen.get(t.name) ?? 0;
      seen.set(t.name, n + 1);
      return [t, byTid ? String(t.tid) : `${t.name}#${n}`];
    }));
  };
  const ka = key(a);
  const kb = key(b);
  const d = diffByKey(a, b, (t) => (ka.get(t) ?? kb.get(t))!, () => undefined);
  return { added: d.added, removed: d.removed };
}

function diffEnvironment(a: ReadonlyMap<string, string> | undefined, b: ReadonlyMap<string, string> | undefined): EnvironmentDiff {
  const out: EnvironmentDiff = { added: {}, removed: {}, changed: {} };
  const before = a ?? new Map<string, string>();
  const after = b ?? new Map<string, string>();
  for (const [k, v] of after) {
    const old = before.get(k);
    if (old === undefined) out.added[k] = v;
    else if (old !== v) out.changed[k] = { a: old, b: v };
  }
  for (const [k, v] of before) if (!after.has(k)) out.removed[k] = v;
  return out;
}

function fileFields(f: OpenFileJson): Record<string, string | number | boolean | undefined> {
  return { type: f.type, path: f.path, flags: f.flags, pos: f.pos, cloexec: f.cloexec, state: f.socket?.state };
}

function diffFile(a: OpenFileJson, b: OpenFileJson): OpenFileChange | undefined {
  const changes = fieldChanges(fileFields(a), fileFields(b));
  return changes.length ? { fd: b.fd, a, b, changes } : undefined;
}

/** Where the two lie apart (replicas), their end addresses say nothing of their own. */
function vmaDiffer(mode: VmaMatchMode): (a: VmaJson, b: VmaJson) => VmaChange | undefined {
  const fields = (v: VmaJson) => ({ prot: v.prot, size: v.size, ...(mode === "address" ? { end: v.end } : {}) });
  return (a, b) => {
    const changes = fieldChanges(fields(a), fields(b));
    return changes.length ? { start: b.start, file: b.file, a, b, changes } : undefined;
  };
}

function diffVmas(a: readonly VmaJson[], b: readonly VmaJson[], mode: VmaMatchMode): ProcessChange["vmas"] {
  const keys = new Map<VmaJson, string>();
  for (const list of [a, b]) vmaKeys(list, mode).forEach((k, i) => keys.set(list[i]!, k));
  return diffByKey(a, b, (v) => keys.get(v)!, vmaDiffer(mode));
}

function isEmptyEnvironment(e: EnvironmentDiff): boolean {
  return !Object.keys(e.added).length && !Object.keys(e.removed).length && !Object.keys(e.changed).length;
}

/** The change of a matched process, or undefined when nothing of it differs. `vmas`: how its VMAs pair. */
export function diffProcess(pair: ProcessPair, memory: readonly PagesChange[], vmas: VmaMatchMode = "address"): ProcessChange | undefined {
  const { a, b, by } = pair;
  const change: ProcessChange = {
    pid: b.info.pid,
    command: b.info.comm,
    matched_by: by,
    changes: withCapabilityDetail(fieldChanges(processFields(a, by === "pid"), processFields(b, by === "pid"))),
    threads: diffThreads(a.threads, b.threads, by === "pid"),
    environment: diffEnvironment(a.env, b.env),
    files: diffByKey(a.files, b.files, (f) => f.fd, diffFile),
    vmas: diffVmas(a.vmas, b.vmas, vmas),
    memory: [...memory],
  };
  if (a.info.pid !== b.info.pid) change.pid_a = a.info.pid;
  if (vmas === "mapping") change.vma_match = "mapping";
  const lists = [change.changes, change.threads.added, change.threads.removed, change.files.added, change.files.removed, change.files.changed, change.vmas.added, change.vmas.removed, change.vmas.changed, change.memory];
  if (lists.every((l) => l.length === 0) && isEmptyEnvironment(change.environment) && change.pid_a === undefined) return undefined;
  return change;
}
