/**
 * `x rss`: each dumped page range (pagemap entry) with the VMAs it overlaps. The text follows crit's
 * loop exactly, including how it marks a VMA already printed on the previous line ("~").
 */
import type { ImageDir } from "../image-dir.js";
import { pageRanges, PAGE_SIZE } from "../memory.js";
import type { WireMessage } from "../wire-reader.js";
import { FileNames } from "./file-names.js";
import { VMA_FILE_PRIVATE, VMA_FILE_SHARED } from "./mems.js";
import { listProcesses, renderPerProcess, taskImage } from "./processes.js";
import { hex, padRight } from "./pyformat.js";

export interface RssRange {
  vaddr: bigint;
  pages: number;
  flags: number;
  /** Indexes into `vmas` of the VMAs the range overlaps. */
  vmas: number[];
}

export interface ProcessRss {
  pid: number;
  defunct?: string;
  vmas: { start: bigint; end: bigint; pages: number; file?: string }[];
  ranges: RssRange[];
  /** Pages dumped for this process. */
  residentPages: number;
}

export function processRss(dir: ImageDir, names = new FileNames(dir)): ProcessRss[] {
  return listProcesses(dir).map((p): ProcessRss => {
    const mm = taskImage(dir, p, `mm-${p.pid}.img`);
    if (!mm) return { pid: p.pid, defunct: p.stateName.toLowerCase(), vmas: [], ranges: [], residentPages: 0 };
    const vmaEntries = (mm.vmas as WireMessage[] | undefined) ?? [];
    const vmas = vmaEntries.map((v) => {
      const st = Number(v.status ?? 0);
      const start = v.start as bigint;
      const end = v.end as bigint;
      const file = st & (VMA_FILE_PRIVATE | VMA_FILE_SHARED) ? names.describe("REG", Number(v.shmid)) : undefined;
      return { start, end, pages: Number((end - start) >> 12n), file };
    });
    const ranges: RssRange[] = [];
    // crit walks the entries in file order with one VMA cursor that steps back one after each entry
    // (and, like Python, reads a cursor of -1 as the last VMA).
    let vmi = 0;
    const at = (i: number) => vmas[i < 0 ? vmas.length + i : i]!;
    for (const r of pageRanges(dir.entries(`pagemap-${p.pid}.img`)).ranges) {
      while (vmi < vmas.length && at(vmi).end <= r.vaddr) vmi++;
      const end = r.vaddr + BigInt(r.pages * PAGE_SIZE);
      const hit: number[] = [];
      while (vmi < vmas.length && at(vmi).start < end) {
        hit.push(vmi < 0 ? vmas.length + vmi : vmi);
        vmi++;
      }
      vmi--;
      ranges.push({ vaddr: r.vaddr, pages: r.pages, flags: r.flags, vmas: hit });
    }
    return { pid: p.pid, vmas, ranges, residentPages: ranges.reduce((n, r) => n + r.pages, 0) };
  });
}

export function renderRss(procs: readonly ProcessRss[]): string {
  return renderPerProcess(procs, "no memory", (p, lines) => {
    let previous = -1;
    for (const r of p.ranges) {
      const head = `\t${hex(r.vaddr)} / ${padRight(r.pages, 8)}`;
      let tail = "";
      for (const i of r.vmas) {
        const v = p.vmas[i]!;
        if (i === previous) tail += " ~";
        else {
          tail += ` ${hex(v.start, 8)} / ${padRight(v.pages, 8)}`;
          if (v.file !== undefined) tail += " " + v.file;
          previous = i;
        }
        tail += "\n\t" + " ".repeat(23);
      }
      lines.push(padRight(head, 24) + tail);
    }
  });
}
