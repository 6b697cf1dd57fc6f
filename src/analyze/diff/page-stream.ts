/**
 * Every dumped page of a set of memory regions, one at a time, with its address: each pages file is
 * streamed once, in archive order, and a page is handed on where it lies in the chunk read (only a
 * page split between two chunks is copied). Nothing is kept after the callback returns.
 */
import { CHECKPOINT_DIR } from "../../checkpoint/archive/checkpoint-archive.js";
import type { Checkpoint } from "../../checkpoint/checkpoint.js";
import { MemoryError, PAGE_SIZE } from "../../criu-images/memory.js";
import type { Region, Run } from "../memparse/regions.js";

export type PageVisitor = (region: Region, vaddr: bigint, page: Uint8Array) => void;

/** Cuts one pages file's chunks into pages, following its runs (sorted by where they start in the file). */
class PageCutter {
  private runIndex = 0;
  private readonly partial = Buffer.alloc(PAGE_SIZE);
  private filled = 0;
  private readonly runs: Run[];

  constructor(
    private readonly region: Region,
    private readonly visit: PageVisitor,
  ) {
    this.runs = [...region.runs].sort((x, y) => x.fileStart - y.fileStart);
  }

  feed(data: Uint8Array, fileOffset: number): void {
    const chunk = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    let pos = 0;
    while (pos < chunk.length && this.runIndex < this.runs.length) {
      const run = this.runs[this.runIndex]!;
      const at = fileOffset + pos;
      if (at >= run.fileEnd) {
        this.runIndex++;
        continue;
      }
      if (at < run.fileStart) {
        pos += Math.min(chunk.length - pos, run.fileStart - at);
        continue;
      }
      const inRun = at - run.fileStart;
      const vaddr = run.vaddr + BigInt(inRun - (inRun % PAGE_SIZE));
      if (this.filled === 0 && inRun % PAGE_SIZE === 0 && chunk.length - pos >= PAGE_SIZE) {
        this.visit(this.region, vaddr, chunk.subarray(pos, pos + PAGE_SIZE));
        pos += PAGE_SIZE;
        continue;
      }
      const n = Math.min(PAGE_SIZE - this.filled, chunk.length - pos);
      chunk.copy(this.partial, this.filled, pos, pos + n);
      this.filled += n;
      pos += n;
      if (this.filled === PAGE_SIZE) {
        this.visit(this.region, vaddr, this.partial);
        this.filled = 0;
      }
    }
  }
}

/** Calls `visit` for every dumped page of `regions` (each region has a pages file of its own). */
export async function forEachPage(cp: Checkpoint, regions: readonly Region[], visit: PageVisitor): Promise<void> {
  const cutters = new Map<string, PageCutter>();
  for (const r of regions) {
    if (r.runs.length === 0) continue;
    const member = `${CHECKPOINT_DIR}/${r.pagesImage}`;
    const what = r.kind === "process" ? `process ${r.pid}` : `shared memory ${r.shmid}`;
    if (!cp.archive.has(member)) throw new MemoryError(`${cp.path}:${member}: missing (the pagemap of ${what} needs it)`);
    const needed = r.runs.reduce((n, run) => Math.max(n, run.fileEnd), 0);
    const size = cp.archive.size(member);
    if (size < needed) throw new MemoryError(`${cp.path}:${member}: ${size} bytes, but the pagemap of ${what} accounts for ${needed}`);
    cutters.set(member, new PageCutter(r, visit));
  }
  await cp.archive.streamMembers([...cutters.keys()], (name, chunk, offset) => cutters.get(name)!.feed(chunk, offset));
}
