/**
 * `ckpt scan`: secrets and indicators in a checkpoint, wherever the dump keeps bytes a process had —
 * dumped memory of every process and shared memory object (with the environment and command line),
 * files the container wrote (rootfs-diff.tar), deleted files held open (ghost files), and data
 * queued in pipes and sockets. The same secret seen in many places is one finding with every location.
 * Returns data only; printing is the CLI's.
 */
import type { OpenOptions } from "../../checkpoint/archive/checkpoint-archive.js";
import { Checkpoint } from "../../checkpoint/checkpoint.js";
import type { Finding, Location, ScanResult } from "./findings.js";
import { PassingRootfs, scanGhostFiles, scanRootfsDiff } from "./file-scan.js";
import { memoryBytes, PassingMemory, scanMemory } from "./memory-scan.js";
import { scanQueues } from "./queue-scan.js";
import type { PlacedHit } from "./raw-hit.js";
import { excerpt, redact } from "./redact.js";
import { BUILTIN_RULES, type ScanRule } from "./rules.js";
import { ScanPool } from "./scan-pool.js";

export interface ScanOptions {
  /** The rules to apply (default: the built-in ones). */
  rules?: readonly ScanRule[];
  /** Show secrets whole (default: a short prefix and suffix). */
  reveal?: boolean;
  /** Scanning threads (default: the CPUs, up to 4, when there is much memory; 1 = this thread). */
  threads?: number;
  onProgress?: (done: number, total: number) => void;
}

function compareOrder(a: PlacedHit["order"], b: PlacedHit["order"]): number {
  return a[0] - b[0] || a[1] - b[1] || (a[2] < b[2] ? -1 : a[2] > b[2] ? 1 : 0);
}

/** One finding per rule and secret, locations in scan order; findings in order of first location. */
export function groupFindings(hits: PlacedHit[], rules: readonly ScanRule[], reveal: boolean): Finding[] {
  hits.sort((a, b) => compareOrder(a.order, b.order));
  const groups = new Map<string, { first: PlacedHit; locations: Location[] }>();
  for (const h of hits) {
    const key = `${h.hit.rule}\0${h.hit.secret}`;
    const g = groups.get(key);
    if (g) g.locations.push(h.location);
    else groups.set(key, { first: h, locations: [h.location] });
  }
  return [...groups.values()].map(({ first, locations }) => {
    const { hit } = first;
    const rule = rules[hit.rule]!;
    return {
      rule: rule.id,
      description: rule.description,
      secret: reveal ? hit.secret : redact(hit.secret),
      excerpt: excerpt(hit.match, hit.secretStart - hit.start, hit.secret, reveal),
      length: hit.secret.length,
      entropy: Math.round(hit.entropy * 100) / 100,
      locations,
    };
  });
}

/** Opens a checkpoint with these options added (what the CLI does with its argument). */
export type CheckpointOpener = (opts: OpenOptions) => Promise<Checkpoint>;

/**
 * Scans a checkpoint: an open one, or one this opens (a path, or an opener) and closes. When this
 * opens a compressed archive, its memory is scanned during the index pass.
 */
export async function scanCheckpoint(archive: string | Checkpoint | CheckpointOpener, options: ScanOptions = {}): Promise<ScanResult> {
  const rules = options.rules ?? BUILTIN_RULES;
  const pool = new ScanPool(rules, 0, options.threads);
  const passingMemory = new PassingMemory(pool);
  const passingRootfs = new PassingRootfs(pool);
  const opts: OpenOptions = { passing: (name, size, a) => passingMemory.reader(name, size, a) ?? passingRootfs.reader(name, size, a) };
  let cp: Checkpoint | undefined;
  try {
    if (archive instanceof Checkpoint) cp = archive;
    else cp = typeof archive === "string" ? await Checkpoint.open(archive, opts) : await archive(opts);
    pool.expect(Math.max(0, memoryBytes(cp) - passingMemory.bytes));
    const hits: PlacedHit[] = [];
    const notes: string[] = [];
    const memory = await scanMemory(cp, pool, hits, options.onProgress, passingMemory);
    if (memory.lazyPages) notes.push(`${memory.lazyPages} pages of memory are not in the images (lazy pages) and were not scanned`);
    if (memory.parentPages) notes.push(`${memory.parentPages} pages of memory are in a parent dump and were not scanned`);
    const rootfs = await scanRootfsDiff(cp, pool, hits, passingRootfs);
    const ghosts = await scanGhostFiles(cp, pool, hits, notes);
    const queues = await scanQueues(cp, pool, hits);
    return {
      archive: cp.path,
      redacted: !options.reveal,
      rules: rules.map((r) => r.id),
      scanned: {
        memoryBytes: memory.bytes,
        regions: memory.regions,
        rootfsFiles: rootfs.files,
        rootfsBytes: rootfs.bytes,
        ghostFiles: ghosts.files,
        queues: queues.queues,
        queueBytes: queues.bytes,
      },
      notes,
      findings: groupFindings(hits, rules, options.reveal === true),
    };
  } finally {
    await pool.close();
    if (!(archive instanceof Checkpoint)) cp?.close();
  }
}
