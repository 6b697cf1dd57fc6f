/**
 * The searchable memory of a dump: each process's dumped pages and each shared memory object
 * (anonymous shared mappings, memfd, SysV shm: pagemap-shmem-<id>.img), as runs of address-contiguous
 * bytes located in their pages file. Lazy pages (not in the images) and pages that live in a parent
 * dump are counted but cannot be read.
 */
import { ImageDir } from "../../criu-images/image-dir.js";
import { pageRanges, PAGE_SIZE, PE_PARENT, PE_PRESENT } from "../../criu-images/memory.js";
import { listProcesses, type ProcessInfo } from "../../criu-images/explore/processes.js";
import { processMems, type VmaView } from "../../criu-images/explore/mems.js";
import { FileNames } from "../../criu-images/explore/file-names.js";
import type { WireMessage } from "../../criu-images/wire-reader.js";

export interface Run {
  /** Where the run's bytes start and end in the pages file. */
  fileStart: number;
  fileEnd: number;
  vaddr: bigint;
}

export interface Region {
  kind: "process" | "shmem";
  pid?: number;
  comm?: string;
  shmid?: number;
  /** What the shared object is (memfd name, /dev/zero for anonymous shared memory, SysV). */
  label: string;
  pagesImage: string;
  runs: Run[];
  vmas: VmaView[];
  /** Pages the pagemap lists that are not in the pages file. */
  lazyPages: number;
  parentPages: number;
}

export function runsOf(entries: WireMessage[]): { pagesId: number; runs: Run[]; lazy: number; parent: number } {
  const { pagesId, ranges } = pageRanges(entries);
  const runs: Run[] = [];
  let lazy = 0;
  let parent = 0;
  for (const r of ranges) {
    if (!(r.flags & PE_PRESENT)) {
      if (r.flags & PE_PARENT) parent += r.pages;
      else lazy += r.pages;
      continue;
    }
    const bytes = r.pages * PAGE_SIZE;
    const last = runs[runs.length - 1];
    if (last && last.fileEnd === r.fileOffset && last.vaddr + BigInt(last.fileEnd - last.fileStart) === r.vaddr) last.fileEnd += bytes;
    else runs.push({ fileStart: r.fileOffset!, fileEnd: r.fileOffset! + bytes, vaddr: r.vaddr });
  }
  return { pagesId, runs, lazy, parent };
}

export function shmemLabels(dir: ImageDir): Map<number, string> {
  const labels = new Map<number, string>();
  for (const m of dir.entries("memfd.img")) labels.set(Number(m.shmid), m.name === "/dev/zero" ? "shared anonymous memory" : `memfd ${m.name}`);
  for (const name of dir.files.list()) {
    const ns = /^ipcns-shm-(\d+)\.img$/.exec(name);
    if (!ns) continue;
    for (const seg of dir.entries(name)) {
      const desc = seg.desc as WireMessage | undefined;
      if (desc) labels.set(Number(desc.id), `SysV shm key 0x${Number(desc.key).toString(16)}`);
    }
  }
  return labels;
}

export function memoryRegions(dir: ImageDir, onlyPid?: number): Region[] {
  const names = new FileNames(dir);
  const mems = new Map(processMems(dir, names).map((m) => [m.pid, m]));
  const regions: Region[] = [];
  const procs: ProcessInfo[] = listProcesses(dir).filter((p) => onlyPid === undefined || p.pid === onlyPid);
  for (const p of procs) {
    const pagemap = `pagemap-${p.pid}.img`;
    if (!dir.has(pagemap)) continue;
    const { pagesId, runs, lazy, parent } = runsOf(dir.entries(pagemap));
    regions.push({ kind: "process", pid: p.pid, comm: p.comm, label: p.comm, pagesImage: `pages-${pagesId}.img`, runs, vmas: mems.get(p.pid)?.vmas ?? [], lazyPages: lazy, parentPages: parent });
  }
  if (onlyPid === undefined) {
    const labels = shmemLabels(dir);
    for (const name of dir.files.list().sort()) {
      const m = /^pagemap-shmem-(\d+)\.img$/.exec(name);
      if (!m) continue;
      const shmid = Number(m[1]);
      const { pagesId, runs, lazy, parent } = runsOf(dir.entries(name));
      regions.push({ kind: "shmem", shmid, label: labels.get(shmid) ?? `shared memory ${shmid}`, pagesImage: `pages-${pagesId}.img`, runs, vmas: [], lazyPages: lazy, parentPages: parent });
    }
  }
  return regions;
}

/** The VMA holding an address (VMAs are sorted by start in mm images). */
export function vmaAt(vmas: readonly VmaView[], address: bigint): VmaView | undefined {
  let lo = 0;
  let hi = vmas.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const v = vmas[mid]!;
    if (address < v.start) hi = mid - 1;
    else if (address >= v.end) lo = mid + 1;
    else return v;
  }
  return undefined;
}
