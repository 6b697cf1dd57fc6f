/**
 * Which dumped pages differ between two checkpoints, per memory area. A's pages are streamed first and
 * only a 16-byte hash of each is kept (16 MiB per GiB of memory); B's pages are then streamed and
 * hashed against them. Neither memory is ever held: a page lives for one callback.
 *
 * Pages count against a VMA present in both checkpoints (same start and backing, or for replicas the
 * same thing mapped, vma-match.ts), page for page at the same offset from each one's start; pages of
 * VMAs only one side has are not counted (the VMA itself is reported). Shared memory objects (shared
 * anonymous mappings, memfd, SysV shm) are compared as wholes, matched by their id.
 */
import { hash } from "node:crypto";
import type { Checkpoint } from "../../checkpoint/checkpoint.js";
import { PAGE_SIZE } from "../../criu-images/memory.js";
import { memoryRegions, vmaAt, type Region } from "../memparse/regions.js";
import { MAX_LISTED_PAGES, type ListDiff, type PagesChange, type SharedMemoryJson, type VmaJson } from "./diff-types.js";
import { forEachPage } from "./page-stream.js";
import { vmaNamer, type VmaNamer } from "./process-facts.js";
import { vmaKeys, type VmaMatchMode } from "./vma-match.js";
import type { VmaView } from "../../criu-images/explore/mems.js";
import { FileNames } from "../../criu-images/explore/file-names.js";

const HASH_BYTES = 16;

function pageHash(page: Uint8Array): Buffer {
  return hash("sha1", page, "buffer").subarray(0, HASH_BYTES);
}

/** One region's page hashes, laid out by its runs (sorted by address for lookups). */
class RegionHashes {
  private readonly runs: Array<{ vaddr: bigint; end: bigint; base: number }>;
  private readonly hashes: Buffer;
  /** Pages B has too; the others are pages B did not dump. */
  readonly seen: Uint8Array;

  constructor(region: Region) {
    let base = 0;
    this.runs = region.runs.map((run) => {
      const pages = (run.fileEnd - run.fileStart) / PAGE_SIZE;
      const r = { vaddr: run.vaddr, end: run.vaddr + BigInt(pages * PAGE_SIZE), base };
      base += pages;
      return r;
    });
    this.runs.sort((x, y) => (x.vaddr < y.vaddr ? -1 : x.vaddr > y.vaddr ? 1 : 0));
    this.hashes = Buffer.alloc(base * HASH_BYTES);
    this.seen = new Uint8Array(base);
  }

  /** Index of the page at vaddr, or -1 when A did not dump it. */
  indexOf(vaddr: bigint): number {
    let lo = 0;
    let hi = this.runs.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const r = this.runs[mid]!;
      if (vaddr < r.vaddr) hi = mid - 1;
      else if (vaddr >= r.end) lo = mid + 1;
      else return r.base + Number(vaddr - r.vaddr) / PAGE_SIZE;
    }
    return -1;
  }

  add(vaddr: bigint, page: Uint8Array): void {
    pageHash(page).copy(this.hashes, this.indexOf(vaddr) * HASH_BYTES);
  }

  same(index: number, page: Uint8Array): boolean {
    return pageHash(page).equals(this.hashes.subarray(index * HASH_BYTES, (index + 1) * HASH_BYTES));
  }

  /** Every page as [address, index]. */
  *entries(): Generator<[bigint, number]> {
    for (const r of this.runs) {
      const pages = Number(r.end - r.vaddr) / PAGE_SIZE;
      for (let i = 0; i < pages; i++) yield [r.vaddr + BigInt(i * PAGE_SIZE), r.base + i];
    }
  }
}

/** Counts per area, keyed by the area's key. */
class AreaCounts {
  readonly byKey = new Map<string, PagesChange & { firstPages: bigint[] }>();

  private entry(key: string, area: VmaJson) {
    let e = this.byKey.get(key);
    if (!e) {
      e = { area, changed_pages: 0, added_pages: 0, removed_pages: 0, first_changed: [], firstPages: [] };
      this.byKey.set(key, e);
    }
    return e;
  }

  count(key: string, area: VmaJson, what: "changed_pages" | "added_pages" | "removed_pages", vaddr: bigint): void {
    const e = this.entry(key, area);
    e[what]++;
    e.firstPages.push(vaddr);
    // Keep the lowest addresses only, without holding one per page.
    if (e.firstPages.length > 4 * MAX_LISTED_PAGES) e.firstPages = sortBig(e.firstPages).slice(0, MAX_LISTED_PAGES);
  }

  list(): PagesChange[] {
    return [...this.byKey.values()]
      .map(({ firstPages, ...e }) => ({ ...e, first_changed: sortBig(firstPages).slice(0, MAX_LISTED_PAGES).map((v) => "0x" + v.toString(16)) }))
      .sort((x, y) => compareHex(x.area.start, y.area.start));
  }
}

function sortBig(list: bigint[]): bigint[] {
  return [...list].sort((x, y) => (x < y ? -1 : x > y ? 1 : 0));
}

function compareHex(x: string, y: string): number {
  const a = BigInt(x);
  const b = BigInt(y);
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * A VMA of B paired with one of A (or a shared memory object with itself): pages are compared at the
 * same offset from each one's start, which is the same address unless the two are laid out apart.
 */
interface PairedArea {
  key: string;
  /** The area as B has it. */
  area: VmaJson;
  aStart: bigint;
  aEnd: bigint;
  bStart: bigint;
  bEnd: bigint;
}

const WHOLE_OBJECT = 1n << 62n;

/** Each side's VMAs that have a partner, found by address (the last one found is kept for the next page). */
function pairAreas(ra: Region, rb: Region, namerA: VmaNamer, namerB: VmaNamer, mode: VmaMatchMode): { inA: AreaOf; inB: AreaOf } {
  if (rb.kind === "shmem") {
    const paired: PairedArea = { key: "object", area: { start: "0x0", end: "0x0", size: 0, prot: "", file: rb.label }, aStart: 0n, aEnd: WHOLE_OBJECT, bStart: 0n, bEnd: WHOLE_OBJECT };
    return { inA: () => paired, inB: () => paired };
  }
  const jsonA = ra.vmas.map(namerA);
  const jsonB = rb.vmas.map(namerB);
  const keysA = vmaKeys(jsonA, mode);
  const indexInA = new Map(keysA.map((k, i) => [k, i]));
  const ofA = new Map<VmaView, PairedArea>();
  const ofB = new Map<VmaView, PairedArea>();
  vmaKeys(jsonB, mode).forEach((key, j) => {
    const i = indexInA.get(key);
    if (i === undefined) return;
    const va = ra.vmas[i]!;
    const vb = rb.vmas[j]!;
    const paired = { key, area: jsonB[j]!, aStart: va.start, aEnd: va.end, bStart: vb.start, bEnd: vb.end };
    ofA.set(va, paired);
    ofB.set(vb, paired);
  });
  const finder = (vmas: readonly VmaView[], of: Map<VmaView, PairedArea>): AreaOf => {
    let last: { start: bigint; end: bigint; paired: PairedArea | undefined } | undefined;
    return (vaddr) => {
      if (last && vaddr >= last.start && vaddr < last.end) return last.paired;
      const v = vmaAt(vmas, vaddr);
      if (!v) return undefined;
      last = { start: v.start, end: v.end, paired: of.get(v) };
      return last.paired;
    };
  };
  return { inA: finder(ra.vmas, ofA), inB: finder(rb.vmas, ofB) };
}

/** The paired area an address lies in, if its VMA has a partner. */
type AreaOf = (vaddr: bigint) => PairedArea | undefined;

function regionId(r: Region): string {
  return r.kind === "process" ? `pid ${r.pid}` : `shmem ${r.shmid}`;
}

function pagesOf(r: Region): number {
  return r.runs.reduce((n, run) => n + (run.fileEnd - run.fileStart) / PAGE_SIZE, 0);
}

export interface MemoryDiff {
  /** By B's pid. */
  byProcess: Map<number, PagesChange[]>;
  shared: ListDiff<SharedMemoryJson, PagesChange & { shmid: number; label: string }>;
  notes: string[];
}

/** `pairs`: A's pid → B's pid for every process matched between the two, and how their VMAs pair. */
export async function diffMemory(a: Checkpoint, b: Checkpoint, pairs: ReadonlyMap<number, { pid: number; vmas: VmaMatchMode }>): Promise<MemoryDiff> {
  const regionsA = memoryRegions(a.images);
  const regionsB = memoryRegions(b.images);
  const bPidToA = new Map([...pairs].map(([pa, pb]) => [pb.pid, pa]));
  const aById = new Map(regionsA.map((r) => [regionId(r), r]));
  const partnerOf = (rb: Region): Region | undefined => {
    if (rb.kind === "shmem") return aById.get(regionId(rb));
    const pa = bPidToA.get(rb.pid!);
    return pa === undefined ? undefined : aById.get(`pid ${pa}`);
  };
  const partners = new Map<Region, Region>();
  for (const rb of regionsB) {
    const ra = partnerOf(rb);
    if (ra) partners.set(ra, rb);
  }

  // Pass over A: hashes of the pages of regions B has too.
  const hashes = new Map<Region, RegionHashes>();
  for (const ra of partners.keys()) hashes.set(ra, new RegionHashes(ra));
  await forEachPage(a, [...partners.keys()], (region, vaddr, page) => hashes.get(region)!.add(vaddr, page));

  // The areas both sides have: only their pages are counted.
  const namerA = vmaNamer(a.images, new FileNames(a.images));
  const namerB = vmaNamer(b.images, new FileNames(b.images));
  const counts = new Map<Region, AreaCounts>();
  const areas = new Map<Region, { inA: AreaOf; inB: AreaOf }>();
  for (const [ra, rb] of partners) {
    counts.set(rb, new AreaCounts());
    areas.set(rb, pairAreas(ra, rb, namerA, namerB, rb.kind === "process" ? (pairs.get(ra.pid!)?.vmas ?? "address") : "address"));
  }
  const aOf = new Map([...partners].map(([ra, rb]) => [rb, ra]));

  // Pass over B: each page against A's hash of the page at the same offset in the paired area.
  await forEachPage(b, [...partners.values()], (rb, vaddr, page) => {
    const where = areas.get(rb)!.inB(vaddr);
    if (!where) return;
    const inA = where.aStart + (vaddr - where.bStart);
    const h = hashes.get(aOf.get(rb)!)!;
    const index = inA < where.aEnd ? h.indexOf(inA) : -1;
    if (index < 0) return counts.get(rb)!.count(where.key, where.area, "added_pages", vaddr);
    h.seen[index] = 1;
    if (!h.same(index, page)) counts.get(rb)!.count(where.key, where.area, "changed_pages", vaddr);
  });

  // A's pages B did not dump, at the address they have in B's area.
  for (const [ra, rb] of partners) {
    const h = hashes.get(ra)!;
    const inA = areas.get(rb)!.inA;
    for (const [vaddr, index] of h.entries()) {
      if (h.seen[index]) continue;
      const where = inA(vaddr);
      if (where) counts.get(rb)!.count(where.key, where.area, "removed_pages", where.bStart + (vaddr - where.aStart));
    }
  }

  const byProcess = new Map<number, PagesChange[]>();
  const shared: MemoryDiff["shared"] = { added: [], removed: [], changed: [] };
  for (const [rb, c] of counts) {
    const list = c.list();
    if (rb.kind === "process") {
      if (list.length) byProcess.set(rb.pid!, list);
    } else {
      for (const e of list) shared.changed.push({ shmid: rb.shmid!, label: rb.label, ...e, area: { ...e.area, size: pagesOf(rb) * PAGE_SIZE } });
    }
  }
  const shmemJson = (r: Region): SharedMemoryJson => ({ shmid: r.shmid!, label: r.label, pages: pagesOf(r) });
  const matchedA = new Set(partners.keys());
  const matchedB = new Set(partners.values());
  shared.added = regionsB.filter((r) => r.kind === "shmem" && !matchedB.has(r)).map(shmemJson);
  shared.removed = regionsA.filter((r) => r.kind === "shmem" && !matchedA.has(r)).map(shmemJson);

  const notes: string[] = [];
  for (const [label, regions] of [["A", regionsA], ["B", regionsB]] as const) {
    const parent = regions.reduce((n, r) => n + r.parentPages, 0);
    const lazy = regions.reduce((n, r) => n + r.lazyPages, 0);
    if (parent) notes.push(`${parent} page(s) of ${label} are in a parent dump and were not compared`);
    if (lazy) notes.push(`${lazy} page(s) of ${label} were dumped lazily (not in the images) and were not compared`);
  }
  return { byProcess, shared, notes };
}
