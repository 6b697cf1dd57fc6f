/**
 * Where each byte of a VMA comes from in a core file. Pages the process's pagemap lists come from
 * its pages image (private mappings keep their written pages there); the rest comes from what backs
 * the mapping: a shared memory object's own pagemap (anonymous shared memory, memfd, SysV shm), the
 * mapped file (untouched pages of file mappings, e.g. program text, are never dumped), or zeros.
 * Parts that cannot be had (a file that is not available, memory never written) are "absent": the
 * core gives them no bytes, as the kernel does, and gdb then reads program text from the program's
 * own files.
 */
import { PAGE_SIZE, PE_PRESENT, type PageRange } from "../../criu-images/memory.js";

export type Part =
  | { kind: "pages"; vaddr: bigint; length: number; image: string; offset: number }
  | { kind: "file"; vaddr: bigint; length: number; path: string; offset: number }
  | { kind: "zero"; vaddr: bigint; length: number }
  | { kind: "absent"; vaddr: bigint; length: number };

/** A pagemap in address order and the pages image its present ranges are stored in. */
export interface PageSource {
  image: string;
  ranges: readonly PageRange[];
}

export type Backing =
  | { kind: "anonymous" }
  /** Shared memory: the object's pages, at `offset` (the mapping's pgoff) into the object. */
  | { kind: "shmem"; pages: PageSource; offset: bigint }
  /** A mapped file of `size` bytes from the container's files, at `offset` into it. */
  | { kind: "file"; path: string; size: number; offset: bigint }
  /** Nothing to read: a file that is not available, the vvar page, a packet socket ring. */
  | { kind: "none" };

export interface VmaContents {
  parts: Part[];
  /** Pages listed in a pagemap but not in the images (lazy, or in a parent dump): given as zeros. */
  missingPages: number;
}

/** The ranges of `source` that overlap [from, to), in order (ranges are sorted and disjoint). */
function overlapping(ranges: readonly PageRange[], from: bigint, to: bigint): PageRange[] {
  let lo = 0;
  let hi = ranges.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    const r = ranges[mid]!;
    if (r.vaddr + BigInt(r.pages * PAGE_SIZE) <= from) lo = mid + 1;
    else hi = mid;
  }
  const out: PageRange[] = [];
  for (let i = lo; i < ranges.length && ranges[i]!.vaddr < to; i++) out.push(ranges[i]!);
  return out;
}

class PartList {
  readonly parts: Part[] = [];
  missingPages = 0;

  push(part: Part): void {
    if (part.length <= 0) return;
    const last = this.parts[this.parts.length - 1];
    if (last && last.kind === part.kind && last.vaddr + BigInt(last.length) === part.vaddr) {
      const joins =
        part.kind === "zero" || part.kind === "absent" ||
        (part.kind === "pages" && last.kind === "pages" && last.image === part.image && last.offset + last.length === part.offset) ||
        (part.kind === "file" && last.kind === "file" && last.path === part.path && last.offset + last.length === part.offset);
      if (joins) {
        last.length += part.length;
        return;
      }
    }
    this.parts.push(part);
  }

  /**
   * [from, to) of memory whose addresses are `base` less than `shift` in `source` (the object
   * offset of a shared mapping, or the same address for the process's own pages), where listed;
   * `gap` fills what the source does not list.
   */
  fromPages(source: PageSource, from: bigint, to: bigint, shift: bigint, gap: (from: bigint, to: bigint) => void): void {
    let cursor = from;
    for (const r of overlapping(source.ranges, from + shift, to + shift)) {
      const rStart = r.vaddr - shift;
      const rEnd = rStart + BigInt(r.pages * PAGE_SIZE);
      if (rStart > cursor) gap(cursor, rStart);
      const a = rStart > cursor ? rStart : cursor;
      const b = rEnd < to ? rEnd : to;
      if (r.flags & PE_PRESENT) {
        this.push({ kind: "pages", vaddr: a, length: Number(b - a), image: source.image, offset: r.fileOffset! + Number(a - rStart) });
      } else {
        this.missingPages += Number(b - a) / PAGE_SIZE;
        this.push({ kind: "zero", vaddr: a, length: Number(b - a) });
      }
      cursor = b;
    }
    if (cursor < to) gap(cursor, to);
  }
}

/**
 * The parts of VMA [start, end): the process's own dumped pages first, then the backing. An
 * anonymous private mapping none of whose pages the pagemap lists was never written: absent, as
 * in a kernel core.
 */
export function vmaContents(start: bigint, end: bigint, own: PageSource, backing: Backing): VmaContents {
  const list = new PartList();
  const written = overlapping(own.ranges, start, end).length > 0;
  const fill = (from: bigint, to: bigint): void => {
    const length = Number(to - from);
    switch (backing.kind) {
      case "anonymous":
        return list.push({ kind: written ? "zero" : "absent", vaddr: from, length });
      case "none":
        return list.push({ kind: "absent", vaddr: from, length });
      case "shmem":
        return list.fromPages(backing.pages, from, to, backing.offset - start, (a, b) => list.push({ kind: "zero", vaddr: a, length: Number(b - a) }));
      case "file": {
        const offset = backing.offset + (from - start);
        const inFile = offset >= BigInt(backing.size) ? 0 : Math.min(length, backing.size - Number(offset));
        list.push({ kind: "file", vaddr: from, length: inFile, path: backing.path, offset: Number(offset) });
        // Past the end of the file: zeros up to the page end (SIGBUS beyond it, which a core cannot show).
        return list.push({ kind: "zero", vaddr: from + BigInt(inFile), length: length - inFile });
      }
    }
  };
  list.fromPages(own, start, end, 0n, fill);
  return { parts: list.parts, missingPages: list.missingPages };
}
