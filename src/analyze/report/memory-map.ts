/**
 * Each process's VMAs as the report draws them: address range, protection, what backs the area, and
 * which of its pages are in the dump. Private pages are in the process's pagemap; pages of shared
 * memory (anonymous shared, SysV shm, memfd) are in the object's pagemap-shmem-<id>.img, by offset.
 * Pages in neither were not dumped: clean file pages (read back from the file at restore), pages
 * never touched, or pages of a parent (incremental) dump.
 */
import type { ImageDir } from "../../criu-images/image-dir.js";
import { pageRanges, PAGE_SIZE, PE_PRESENT, type PageRange } from "../../criu-images/memory.js";
import type { FileNames } from "../../criu-images/explore/file-names.js";
import {
  processMems,
  VMA_ANON_SHARED,
  VMA_AREA_HEAP,
  VMA_AREA_MEMFD,
  VMA_AREA_STACK,
  VMA_AREA_SYSVIPC,
  VMA_AREA_VDSO,
  VMA_AREA_VSYSCALL,
  VMA_AREA_VVAR,
  VMA_FILE_PRIVATE,
  VMA_FILE_SHARED,
} from "../../criu-images/explore/mems.js";
import type { WireMessage } from "../../criu-images/wire-reader.js";

export const VMA_KINDS = ["anon", "file", "stack", "heap", "vdso", "shared"] as const;
export type VmaKind = (typeof VMA_KINDS)[number];

export interface VmaRow {
  start: bigint;
  end: bigint;
  /** "r-x" and the like. */
  prot: string;
  kind: VmaKind;
  /** crit's description of what backs it: a path, [stack], shmem[N]… */
  resource: string;
  pages: number;
  dumpedPages: number;
  /** Dumped runs as page offsets from the VMA's start, [from, to). */
  dumped: Array<[number, number]>;
}

export function vmaKind(status: number): VmaKind {
  if (status & VMA_AREA_STACK) return "stack";
  if (status & (VMA_AREA_VDSO | VMA_AREA_VSYSCALL | VMA_AREA_VVAR)) return "vdso";
  if (status & VMA_AREA_HEAP) return "heap";
  if (status & (VMA_ANON_SHARED | VMA_AREA_SYSVIPC | VMA_FILE_SHARED | VMA_AREA_MEMFD)) return "shared";
  if (status & VMA_FILE_PRIVATE) return "file";
  return "anon";
}

/** Present ranges sorted by address (or by offset, for shared memory). */
function presentRanges(entries: readonly WireMessage[]): PageRange[] {
  return pageRanges(entries)
    .ranges.filter((r) => r.flags & PE_PRESENT)
    .sort((a, b) => (a.vaddr < b.vaddr ? -1 : a.vaddr > b.vaddr ? 1 : 0));
}

/** The runs of `ranges` inside [from, to), as page offsets from `from`. */
function runsWithin(ranges: readonly PageRange[], from: bigint, to: bigint): Array<[number, number]> {
  const page = BigInt(PAGE_SIZE);
  let lo = 0;
  let hi = ranges.length;
  // First range that ends after `from`.
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    const r = ranges[mid]!;
    if (r.vaddr + BigInt(r.pages) * page <= from) lo = mid + 1;
    else hi = mid;
  }
  const runs: Array<[number, number]> = [];
  for (let i = lo; i < ranges.length && ranges[i]!.vaddr < to; i++) {
    const r = ranges[i]!;
    const a = r.vaddr > from ? r.vaddr : from;
    const rEnd = r.vaddr + BigInt(r.pages) * page;
    const b = rEnd < to ? rEnd : to;
    const run: [number, number] = [Number((a - from) / page), Number((b - from + page - 1n) / page)];
    const last = runs[runs.length - 1];
    if (last && last[1] === run[0]) last[1] = run[1];
    else runs.push(run);
  }
  return runs;
}

/** Which shared-memory object (pagemap-shmem-<id>) a shared VMA maps, if its pages were dumped. */
function shmemIdOf(vma: WireMessage, names: FileNames, memfdShmids: Map<number, number>): number | undefined {
  const status = Number(vma.status ?? 0);
  if (status & VMA_AREA_MEMFD) {
    const file = names.fileEntries().get(Number(vma.shmid));
    const inode = (file?.memfd as WireMessage | undefined)?.inode_id;
    return inode === undefined ? undefined : memfdShmids.get(Number(inode));
  }
  if (status & (VMA_ANON_SHARED | VMA_AREA_SYSVIPC)) return Number(vma.shmid);
  return undefined;
}

export function processMemoryMaps(dir: ImageDir, names: FileNames): Array<{ pid: number; vmas: VmaRow[] }> {
  const memfdShmids = new Map(dir.entries("memfd.img").map((m) => [Number(m.inode_id), Number(m.shmid)]));
  const shmem = new Map<number, PageRange[]>();
  const shmemRanges = (id: number): PageRange[] => {
    let r = shmem.get(id);
    if (!r) {
      const name = `pagemap-shmem-${id}.img`;
      r = dir.has(name) ? presentRanges(dir.entries(name)) : [];
      shmem.set(id, r);
    }
    return r;
  };
  const page = BigInt(PAGE_SIZE);
  return processMems(dir, names).map((p) => {
    const pagemap = `pagemap-${p.pid}.img`;
    const own = dir.has(pagemap) ? presentRanges(dir.entries(pagemap)) : [];
    const vmas = p.vmas.map((v): VmaRow => {
      const status = Number(v.vma.status ?? 0);
      const pages = Number((v.end - v.start) / page);
      const shmid = shmemIdOf(v.vma, names, memfdShmids);
      let dumped: Array<[number, number]>;
      if (shmid !== undefined) {
        const pgoff = BigInt((v.vma.pgoff as bigint | number | undefined) ?? 0);
        dumped = runsWithin(shmemRanges(shmid), pgoff, pgoff + (v.end - v.start));
      } else dumped = runsWithin(own, v.start, v.end);
      const dumpedPages = dumped.reduce((n, [a, b]) => n + b - a, 0);
      return { start: v.start, end: v.end, prot: v.prot, kind: vmaKind(status), resource: v.resource, pages, dumpedPages, dumped };
    });
    return { pid: p.pid, vmas };
  });
}
