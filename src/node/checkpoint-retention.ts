/**
 * Which checkpoint archives to delete: the kubelet never deletes any, and each holds a container's
 * whole memory. A policy keeps the newest N per container and/or caps the directory's total size
 * (oldest go first); archives named in the directory's `.pinned` file are never deleted and do not
 * count against the per-container limit.
 */
import { readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";

export interface RetentionPolicy {
  /** Newest archives kept per container (pod, namespace and container). */
  keepPerContainer?: number;
  /** Total bytes of archives kept in the directory. */
  maxTotalBytes?: number;
}

export interface ArchiveFile {
  name: string;
  size: number;
  /** Milliseconds since the epoch: the time in the name, else the file's mtime. */
  time: number;
  pinned: boolean;
}

export const PIN_FILE = ".pinned";

/** `checkpoint-<pod>_<ns>-<ctr>-<RFC3339>.tar` (`.tar.age` sealed): the container key is everything before the time. */
const NAME = /^checkpoint-(.+)-(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d))\.tar(?:\.age)?$/;

export function containerKey(name: string): string | undefined {
  return NAME.exec(name)?.[1];
}

/** The archives to delete under `policy`, oldest first. Pure. */
export function planRetention(archives: readonly ArchiveFile[], policy: RetentionPolicy): string[] {
  const doomed = new Set<string>();
  const candidates = archives.filter((a) => !a.pinned && containerKey(a.name) !== undefined);
  if (policy.keepPerContainer !== undefined) {
    const byContainer = new Map<string, ArchiveFile[]>();
    for (const a of candidates) {
      const k = containerKey(a.name)!;
      byContainer.set(k, [...(byContainer.get(k) ?? []), a]);
    }
    for (const list of byContainer.values()) {
      list.sort((x, y) => y.time - x.time || y.name.localeCompare(x.name));
      for (const a of list.slice(policy.keepPerContainer)) doomed.add(a.name);
    }
  }
  if (policy.maxTotalBytes !== undefined) {
    let total = archives.filter((a) => !doomed.has(a.name)).reduce((n, a) => n + a.size, 0);
    for (const a of [...candidates].sort((x, y) => x.time - y.time || x.name.localeCompare(y.name))) {
      if (total <= policy.maxTotalBytes) break;
      if (doomed.has(a.name)) continue;
      doomed.add(a.name);
      total -= a.size;
    }
  }
  return archives.filter((a) => doomed.has(a.name)).sort((x, y) => x.time - y.time).map((a) => a.name);
}

/** The archives in `dir` as the policy sees them. */
export function listArchives(dir: string): ArchiveFile[] {
  let pinned = new Set<string>();
  try {
    pinned = new Set(readFileSync(join(dir, PIN_FILE), "utf8").split("\n").map((l) => l.trim()).filter(Boolean));
  } catch {
    // No pins.
  }
  const out: ArchiveFile[] = [];
  for (const name of readdirSync(dir)) {
    const m = NAME.exec(name);
    if (!m) continue;
    const st = statSync(join(dir, name));
    if (!st.isFile()) continue;
    const fromName = Date.parse(m[2]!);
    out.push({ name, size: st.size, time: Number.isNaN(fromName) ? st.mtimeMs : fromName, pinned: pinned.has(name) });
  }
  return out;
}

/** Applies the policy to `dir`; returns what was (or, with dryRun, would be) deleted. */
export function applyRetention(dir: string, policy: RetentionPolicy, dryRun = false): string[] {
  const doomed = planRetention(listArchives(dir), policy);
  if (!dryRun) for (const name of doomed) rmSync(join(dir, name), { force: true });
  return doomed;
}
