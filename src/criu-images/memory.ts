/**
 * Process memory from a dump: pagemap-<pid>.img says which pages were dumped and in which order;
 * pages-<pages_id>.img holds the present ones back to back. Pages are read by range, never loaded
 * whole, so memory use does not grow with the dump.
 */
import { ImageDir } from "./image-dir.js";
import type { WireMessage } from "./wire-reader.js";

export const PAGE_SIZE = 4096;
export const PE_PARENT = 1;
export const PE_LAZY = 2;
export const PE_PRESENT = 4;

export interface PageRange {
  vaddr: bigint;
  pages: number;
  flags: number;
  /** Offset in the pages file, for PE_PRESENT ranges. */
  fileOffset?: number;
}

export class MemoryError extends Error {
  override name = "MemoryError";
}

function big(v: unknown): bigint {
  return typeof v === "bigint" ? v : BigInt((v as number | undefined) ?? 0);
}

/**
 * The ranges of a pagemap image in file order (entry 0 is the head), with CRIU's compat rules for
 * images of older versions: in_parent means PE_PARENT, no flags means PE_PRESENT, no nr_pages means
 * compat_nr_pages.
 */
export function pageRanges(entries: readonly WireMessage[]): { pagesId: number; ranges: PageRange[] } {
  const [head, ...rest] = entries;
  let offset = 0;
  const ranges = rest.map((e): PageRange => {
    const flags = e.in_parent === true ? PE_PARENT : e.flags === undefined ? PE_PRESENT : (e.flags as number);
    const pages = Number(e.nr_pages !== undefined ? big(e.nr_pages) : big(e.compat_nr_pages));
    const range: PageRange = { vaddr: big(e.vaddr), pages, flags };
    if (flags & PE_PRESENT) {
      range.fileOffset = offset;
      offset += pages * PAGE_SIZE;
    }
    return range;
  });
  return { pagesId: Number(head?.pages_id ?? 0), ranges };
}

/** The ranges of one pagemap image, sorted by address for lookups. */
export class PagemapIndex {
  private constructor(
    readonly pagesId: number,
    readonly ranges: readonly PageRange[],
  ) {}

  static fromEntries(entries: readonly WireMessage[]): PagemapIndex {
    const { pagesId, ranges } = pageRanges(entries);
    const sorted = [...ranges].sort((a, b) => (a.vaddr < b.vaddr ? -1 : a.vaddr > b.vaddr ? 1 : 0));
    return new PagemapIndex(pagesId, sorted);
  }

  /** Bytes of the pages file that the present ranges account for. */
  get presentBytes(): number {
    return this.ranges.reduce((n, r) => n + (r.flags & PE_PRESENT ? r.pages * PAGE_SIZE : 0), 0);
  }

  find(vaddr: bigint): PageRange | undefined {
    let lo = 0;
    let hi = this.ranges.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const r = this.ranges[mid]!;
      if (vaddr < r.vaddr) hi = mid - 1;
      else if (vaddr >= r.vaddr + BigInt(r.pages * PAGE_SIZE)) lo = mid + 1;
      else return r;
    }
    return undefined;
  }
}

/**
 * Reads the dumped memory of a process (pagemap-<pid>.img) or of a shared memory object
 * (pagemap-shmem-<id>.img, addresses are offsets in the object).
 */
export class DumpedMemory {
  private checkedSize = false;
  private parentMemory: DumpedMemory | undefined | null = null;

  constructor(
    readonly dir: ImageDir,
    readonly pagemapName: string,
  ) {
    if (!dir.has(pagemapName)) throw new MemoryError(`${dir.file(pagemapName)}: no such pagemap image`);
    this.index = PagemapIndex.fromEntries(dir.entries(pagemapName));
  }

  readonly index: PagemapIndex;

  static ofProcess(dir: ImageDir, pid: number): DumpedMemory {
    return new DumpedMemory(dir, `pagemap-${pid}.img`);
  }

  static ofShmem(dir: ImageDir, shmid: number | bigint): DumpedMemory {
    return new DumpedMemory(dir, `pagemap-shmem-${shmid}.img`);
  }

  get pagesName(): string {
    return `pages-${this.index.pagesId}.img`;
  }

  get pagesFile(): string {
    return this.dir.file(this.pagesName);
  }

  private readPages(offset: number, length: number): Uint8Array {
    if (!this.checkedSize) {
      const size = this.dir.files.has(this.pagesName) ? this.dir.files.size(this.pagesName) : 0;
      if (size < this.index.presentBytes) {
        throw new MemoryError(`${this.pagesFile}: ${size} bytes, but the pagemap accounts for ${this.index.presentBytes}`);
      }
      this.checkedSize = true;
    }
    return this.dir.files.readRange(this.pagesName, offset, length);
  }

  private parent(): DumpedMemory | undefined {
    if (this.parentMemory === null) {
      const parentDir = this.dir.parent();
      this.parentMemory = parentDir?.has(this.pagemapName) ? new DumpedMemory(parentDir, this.pagemapName) : undefined;
    }
    return this.parentMemory;
  }

  /** `length` bytes at `vaddr`; throws MemoryError naming the first address that was not dumped. */
  read(vaddr: bigint, length: number): Buffer {
    const out = Buffer.alloc(length);
    let done = 0;
    while (done < length) {
      const at = vaddr + BigInt(done);
      const range = this.index.find(at);
      if (!range) throw new MemoryError(`address 0x${at.toString(16)} is not in the dump`);
      const inRange = Number(at - range.vaddr);
      const n = Math.min(length - done, range.pages * PAGE_SIZE - inRange);
      if (range.flags & PE_PRESENT) {
        out.set(this.readPages(range.fileOffset! + inRange, n), done);
      } else if (range.flags & PE_PARENT) {
        const parent = this.parent();
        if (!parent) throw new MemoryError(`address 0x${at.toString(16)} is in the parent dump, which is missing`);
        parent.read(at, n).copy(out, done);
      } else {
        throw new MemoryError(`address 0x${at.toString(16)} was dumped lazily: its pages are not in the images`);
      }
      done += n;
    }
    return out;
  }

  close(): void {
    this.parentMemory?.close();
  }
}
