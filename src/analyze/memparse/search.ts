/**
 * Search across all dumped memory of a checkpoint: every process (or one) and every shared memory
 * object. Page data is streamed once, in archive order, and never loaded whole.
 */
import type { Checkpoint } from "../../checkpoint/checkpoint.js";
import { CHECKPOINT_DIR } from "../../checkpoint/archive/checkpoint-archive.js";
import type { VmaView } from "../../criu-images/explore/mems.js";
import type { Matcher } from "./matcher.js";
import { memoryRegions, vmaAt, type Region, type Run } from "./regions.js";
import { RunScanner } from "./run-scanner.js";

export interface MemoryMatch {
  region: Region;
  address: bigint;
  length: number;
  vma?: VmaView;
  context: Buffer;
  contextStart: number;
}

export interface SearchResult {
  matches: MemoryMatch[];
  searchedBytes: number;
  lazyPages: number;
  parentPages: number;
  regions: number;
}

/** Feeds a pages file's chunks to one scanner per run, split where the runs are. */
class RegionScanner {
  private runIndex = 0;
  private scanner: RunScanner | undefined;

  constructor(
    private readonly region: Region,
    private readonly matcher: Matcher,
    private readonly context: number,
    private readonly out: MemoryMatch[],
  ) {}

  private startRun(run: Run): RunScanner {
    return new RunScanner(this.matcher, this.context, (m) => {
      const address = run.vaddr + BigInt(m.offset);
      this.out.push({ region: this.region, address, length: m.length, vma: vmaAt(this.region.vmas, address), context: m.context, contextStart: m.contextStart });
    });
  }

  feed(chunk: Uint8Array, fileOffset: number): void {
    let pos = 0;
    while (pos < chunk.length && this.runIndex < this.region.runs.length) {
      const run = this.region.runs[this.runIndex]!;
      const at = fileOffset + pos;
      if (at >= run.fileEnd) {
        this.scanner?.end();
        this.scanner = undefined;
        this.runIndex++;
        continue;
      }
      if (at < run.fileStart) {
        pos += Math.min(chunk.length - pos, run.fileStart - at);
        continue;
      }
      this.scanner ??= this.startRun(run);
      const n = Math.min(chunk.length - pos, run.fileEnd - at);
      this.scanner.feed(chunk.subarray(pos, pos + n));
      pos += n;
    }
  }

  end(): void {
    this.scanner?.end();
    this.scanner = undefined;
  }
}

export async function searchMemory(
  cp: Checkpoint,
  matcher: Matcher,
  opts: { pid?: number; context?: number; onProgress?: (done: number, total: number) => void } = {},
): Promise<SearchResult> {
  const regions = memoryRegions(cp.images, opts.pid);
  if (opts.pid !== undefined && regions.length === 0) throw new Error(`${cp.path}: no dumped memory for process ${opts.pid}`);
  const matches: MemoryMatch[] = [];
  const scanners = new Map<string, RegionScanner>();
  for (const r of regions) {
    if (r.runs.length === 0) continue;
    const member = `${CHECKPOINT_DIR}/${r.pagesImage}`;
    if (!cp.archive.has(member)) throw new Error(`${cp.path}: ${member} is missing (the pagemap of ${r.kind === "process" ? `process ${r.pid}` : `shared memory ${r.shmid}`} needs it)`);
    scanners.set(member, new RegionScanner(r, matcher, opts.context ?? 16, matches));
  }
  let searchedBytes = 0;
  const total = [...scanners.keys()].reduce((n, name) => n + cp.archive.size(name), 0);
  await cp.archive.streamMembers([...scanners.keys()], (name, chunk, offset) => {
    searchedBytes += chunk.length;
    scanners.get(name)!.feed(chunk, offset);
    opts.onProgress?.(searchedBytes, total);
  });
  for (const s of scanners.values()) s.end();
  // Report in a stable order: regions as listed, addresses ascending.
  const order = new Map(regions.map((r, i) => [r, i]));
  matches.sort((a, b) => order.get(a.region)! - order.get(b.region)! || (a.address < b.address ? -1 : a.address > b.address ? 1 : 0));
  return {
    matches,
    searchedBytes,
    lazyPages: regions.reduce((n, r) => n + r.lazyPages, 0),
    parentPages: regions.reduce((n, r) => n + r.parentPages, 0),
    regions: regions.length,
  };
}
