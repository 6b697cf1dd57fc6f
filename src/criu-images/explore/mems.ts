/** `x mems`: each process's executable and VMAs with protections and what backs them. */
import type { ImageDir } from "../image-dir.js";
import type { WireMessage } from "../wire-reader.js";
import { FileNames } from "./file-names.js";
import { listProcesses, renderPerProcess, taskImage } from "./processes.js";
import { hex, padRight } from "./pyformat.js";

export const VMA_AREA_REGULAR = 1 << 0;
export const VMA_AREA_STACK = 1 << 1;
export const VMA_AREA_VSYSCALL = 1 << 2;
export const VMA_AREA_VDSO = 1 << 3;
export const VMA_AREA_HEAP = 1 << 5;
export const VMA_FILE_PRIVATE = 1 << 6;
export const VMA_FILE_SHARED = 1 << 7;
export const VMA_ANON_SHARED = 1 << 8;
export const VMA_AREA_SYSVIPC = 1 << 10;
export const VMA_AREA_SOCKET = 1 << 11;
export const VMA_AREA_VVAR = 1 << 12;
export const VMA_AREA_MEMFD = 1 << 14;
export const MAP_GROWSDOWN = 0x100;

export interface VmaView {
  start: bigint;
  end: bigint;
  prot: string;
  /** crit's resource column: a path, shmem[N], ips[N], [stack]… with " *" for non-regular areas. */
  resource: string;
  vma: WireMessage;
}

export interface ProcessMems {
  pid: number;
  defunct?: string;
  exe?: string;
  vmas: VmaView[];
}

export function protString(prot: number): string {
  return (prot & 1 ? "r" : "-") + (prot & 2 ? "w" : "-") + (prot & 4 ? "x" : "-");
}

export function processMems(dir: ImageDir, names = new FileNames(dir)): ProcessMems[] {
  // crit numbers shared objects in first-seen order across all processes.
  const shared = new Map<string, number>();
  const sharedId = (shmid: unknown) => {
    const key = String(shmid);
    if (!shared.has(key)) shared.set(key, shared.size + 1);
    return shared.get(key)!.toString(16);
  };
  return listProcesses(dir).map((p): ProcessMems => {
    const mm = taskImage(dir, p, `mm-${p.pid}.img`);
    if (!mm) return { pid: p.pid, defunct: p.stateName.toLowerCase(), vmas: [] };
    const vmas = ((mm.vmas as WireMessage[] | undefined) ?? []).map((vma): VmaView => {
      const st = Number(vma.status ?? 0);
      const flags = Number(vma.flags ?? 0);
      let fn = "";
      if (st & VMA_AREA_SYSVIPC) fn = ` ips[${sharedId(vma.shmid)}]`;
      else if (st & VMA_ANON_SHARED) fn = ` shmem[${sharedId(vma.shmid)}]`;
      else if (st & VMA_AREA_SOCKET) fn = ` packet[${sharedId(vma.shmid)}]`;
      else if (st & (VMA_FILE_PRIVATE | VMA_FILE_SHARED)) {
        fn = " " + names.describe("REG", Number(vma.shmid));
        const pgoff = BigInt((vma.pgoff as bigint | undefined) ?? 0n);
        if (pgoff) fn += ` + 0x${pgoff.toString(16)}`;
        if (st & VMA_FILE_SHARED) fn += " (s)";
      } else if (st & VMA_AREA_STACK) fn = " [stack]";
      else if (st & VMA_AREA_VSYSCALL) fn = " [vsyscall]";
      else if (st & VMA_AREA_VDSO) fn = " [vdso]";
      else if (flags & MAP_GROWSDOWN) fn = " [stack?]";
      if (!(st & VMA_AREA_REGULAR)) fn += " *";
      return { start: vma.start as bigint, end: vma.end as bigint, prot: protString(Number(vma.prot ?? 0)), resource: fn.replace(/^ /, ""), vma };
    });
    return { pid: p.pid, exe: names.describe("REG", Number(mm.exe_file_id)), vmas };
  });
}

export function renderMems(procs: readonly ProcessMems[]): string {
  return renderPerProcess(procs, "no memory", (p, lines) => {
    lines.push(`\t${padRight("exe", 36)}    ${p.exe}`);
    for (const v of p.vmas) {
      const range = `${hex(v.start, 8)}-${hex(v.end, 8)}`;
      lines.push(`\t${padRight(range, 36)}${v.prot}${v.resource ? " " + v.resource : ""}`);
    }
  });
}
