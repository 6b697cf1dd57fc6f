/**
 * memparse's overview: each process's dumped memory and the size of its shared mappings, in
 * process-tree order. Page counts come from `nr_pages` or, in images before CRIU 4.2, from
 * `compat_nr_pages` (checkpointctl 1.3.0 reads only the old field and shows 0 B for 4.2 dumps).
 */
import type { ImageDir } from "../../criu-images/image-dir.js";
import { pageRanges, PAGE_SIZE } from "../../criu-images/memory.js";
import { psTree, type PsNode } from "../../criu-images/explore/ps.js";
import type { WireMessage } from "../../criu-images/wire-reader.js";

export interface ProcessMemorySize {
  pid: number;
  comm: string;
  state: string;
  memorySize: number;
  sharedMemorySize: number;
}

const MAP_SHARED = 1;

export function processMemorySizes(dir: ImageDir): ProcessMemorySize[] {
  const out: ProcessMemorySize[] = [];
  const visit = (n: PsNode) => {
    const pagemap = `pagemap-${n.pid}.img`;
    const pages = dir.has(pagemap) ? pageRanges(dir.entries(pagemap)).ranges.reduce((s, r) => s + r.pages, 0) : 0;
    const vmas = (dir.one(`mm-${n.pid}.img`)?.vmas as WireMessage[] | undefined) ?? [];
    const shared = vmas.filter((v) => Number(v.flags ?? 0) & MAP_SHARED).reduce((s, v) => s + Number((v.end as bigint) - (v.start as bigint)), 0);
    out.push({ pid: n.pid, comm: n.comm, state: n.stateName, memorySize: pages * PAGE_SIZE, sharedMemorySize: shared });
    n.children.forEach(visit);
  };
  psTree(dir).forEach(visit);
  return out;
}
