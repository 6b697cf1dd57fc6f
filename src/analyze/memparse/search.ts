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

/** Where one run's bytes go, in order; a promise holds the reading back until it settles. */
export interface RunSink {
  feed(bytes: Uint8Array): void | Promise<void>;
  end(): void | Promise<void>;
}

/**
 * Feeds a pages file's chunks to one sink per run, split where the runs are. Synchronous while the
 * sinks are; when one returns a promise, the rest of the chunk follows once it settles.
 */
export class RegionWalker {
  private runIndex = 0;
  private sink: RunSink | undefined;

  constructor(
    private readonly region: Region,
    private readonly sinkFor: (region: Region, run: Run) => RunSink,
  ) {}

  feed(chunk: Uint8Array, fileOffset: number): void | Promise<void> {
    const size = chunk.length;
    let pos = 0;
    while (pos < size && this.runIndex < this.region.runs.length) {
      const run = this.region.runs[this.runIndex]!;
      const at = fileOffset + pos;
      let wait: void | Promise<void> = undefined;
      if (at >= run.fileEnd) {
        wait = this.end();
        this.runIndex++;
      } else if (at < run.fileStart) {
        pos += Math.min(size - pos, run.fileStart - at);
      } else {
        this.sink ??= this.sinkFor(this.region, run);
        const n = Math.min(size - pos, run.fileEnd - at);
        wait = this.sink.feed(chunk.subarray(pos, pos + n));
        pos += n;
      }
      if (wait) {
        const rest = pos;
        return rest < size ? wait.then(() => this.feed(chunk.subarray(rest), fileOffset + rest)) : wait;
      }
    }
  }

  end(): void | Promise<void> {
    const sink = this.sink;
    this.sink = undefined;
    return sink?.end();
  }
}

/**
 * Streams the dumped bytes of `regions` once, in archive order, handing each run (address-contiguous
 * bytes) to its own sink. Returns how many bytes of pages files were read. With `reuse`, the bytes a
 * sink is fed are overwritten once its feed returns (or its promise settles): it copies what it keeps.
 */
export async function walkRegions(
  cp: Checkpoint,
  regions: readonly Region[],
  sinkFor: (region: Region, run: Run) => RunSink,
  onProgress?: (done: number, total: number) => void,
  reuse = false,
): Promise<number> {
  const walkers = new Map<string, RegionWalker>();
  for (const r of regions) {
    if (r.runs.length === 0) continue;
    const member = `${CHECKPOINT_DIR}/${r.pagesImage}`;
    if (!cp.archive.has(member)) throw new Error(`${cp.path}: ${member} is missing (the pagemap of ${r.kind === "process" ? `process ${r.pid}` : `shared memory ${r.shmid}`} needs it)`);
    walkers.set(member, new RegionWalker(r, sinkFor));
  }
  let done = 0;
  const total = [...walkers.keys()].reduce((n, name) => n + cp.archive.size(name), 0);
  await cp.archive.streamMembers([...walkers.keys()], (name, chunk, offset) => {
    done += chunk.length;
    const wait = walkers.get(name)!.feed(chunk, offset);
    if (wait) return wait.then(() => onProgress?.(done, total));
    onProgress?.(done, total);
  }, { reuse });
  for (const w of walkers.values()) await w.end();
  return done;
}

export async function searchMemory(
  cp: Checkpoint,
  matcher: Matcher,
  opts: { pid?: number; context?: number; onProgress?: (done: number, total: number) => void } = {},
): Promise<SearchResult> {
  const regions = memoryRegions(cp.images, opts.pid);
  if (opts.pid !== undefined && regions.length === 0) throw new Error(`${cp.path}: no dumped memory for process ${opts.pid}`);
  const matches: MemoryMatch[] = [];
  const context = opts.context ?? 16;
  const sinkFor = (region: Region, run: Run): RunSink =>
    new RunScanner(matcher, context, (m) => {
      const address = run.vaddr + BigInt(m.offset);
      matches.push({ region, address, length: m.length, vma: vmaAt(region.vmas, address), context: m.context, contextStart: m.contextStart });
    });
  const searchedBytes = await walkRegions(cp, regions, sinkFor, opts.onProgress);
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
