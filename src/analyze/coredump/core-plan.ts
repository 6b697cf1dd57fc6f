/**
 * The layout of one process's core file, decided before any page is read: the notes (registers of
 * every thread, process info, auxv, mapped files), one PT_LOAD per VMA, and for each byte range of
 * the file where its bytes come from. Only metadata is held (a few records per VMA and pagemap
 * entry), so the plan's size does not grow with the process's memory.
 */
import type { ImageDir } from "../../criu-images/image-dir.js";
import { PagemapIndex, PAGE_SIZE } from "../../criu-images/memory.js";
import { FileNames, text } from "../../criu-images/explore/file-names.js";
import type { ProcessInfo } from "../../criu-images/explore/processes.js";
import {
  VMA_ANON_SHARED,
  VMA_AREA_MEMFD,
  VMA_AREA_REGULAR,
  VMA_AREA_SOCKET,
  VMA_AREA_SYSVIPC,
  VMA_AREA_VVAR,
  VMA_FILE_PRIVATE,
  VMA_FILE_SHARED,
} from "../../criu-images/explore/mems.js";
import type { WireMessage } from "../../criu-images/wire-reader.js";
import type { ContainerFiles } from "./container-files.js";
import {
  EHDR_SIZE,
  elfHeader,
  encodeNote,
  extendedNumberingSection,
  noteSize,
  NT_AUXV,
  NT_FILE,
  NT_FPREGSET,
  NT_PRPSINFO,
  NT_PRSTATUS,
  NT_X86_XSTATE,
  PHDR_SIZE,
  PN_XNUM,
  programHeader,
  PT_LOAD,
  PT_NOTE,
  segmentFlags,
  SHDR_SIZE,
  type Note,
} from "./elf-core.js";
import { vmaContents, type Backing, type PageSource, type Part } from "./vma-contents.js";
import { auxv, fpregset, ntFile, prpsinfo, prstatus, xcr0Of, xstate, type MappedFile, type ProcessSummary } from "./x86-notes.js";

export class CoreDumpError extends Error {
  override name = "CoreDumpError";
}

/** Bytes of a pages image that go to `coreOffset` of the core file. */
export interface PagesPiece {
  image: string;
  offset: number;
  length: number;
  coreOffset: number;
}

export interface FilePiece {
  path: string;
  offset: number;
  length: number;
  coreOffset: number;
}

export interface Segment {
  vaddr: bigint;
  memsz: bigint;
  filesz: number;
  flags: number;
  offset: number;
}

export interface CorePlan {
  pid: number;
  threads: number;
  segments: Segment[];
  /** ELF header and program headers, written at offset 0. */
  headers: Buffer;
  notesOffset: number;
  /** The notes, once the command line has been read from the pages (`args`). */
  notes(args: Buffer): Buffer;
  /** Where the first bytes of the command line are in the pages images, and their place in `args`. */
  args: { length: number; pieces: PagesPiece[] };
  pages: PagesPiece[];
  files: FilePiece[];
  /** Mapped files the container's files could not supply, and why; their pages are absent from the core. */
  unavailable: Map<string, string>;
  /** Pages a pagemap lists but the images do not hold (lazy, or in a parent dump), given as zeros. */
  missingPages: number;
  size: number;
}

const ARGS_MAX = 80;
const big = (v: unknown): bigint => (typeof v === "bigint" ? v : BigInt((v as number | undefined) ?? 0));
const pageUp = (n: number) => Math.ceil(n / PAGE_SIZE) * PAGE_SIZE;

/** Pagemaps by name, read once per dump. */
export class PageSources {
  private readonly cache = new Map<string, PageSource>();
  private memfdShmids: Map<string, number> | undefined;

  constructor(
    readonly dir: ImageDir,
    readonly names: FileNames,
  ) {}

  get(pagemap: string): PageSource {
    let s = this.cache.get(pagemap);
    if (!s) {
      const index = this.dir.has(pagemap) ? PagemapIndex.fromEntries(this.dir.entries(pagemap)) : undefined;
      s = { image: `pages-${index?.pagesId ?? 0}.img`, ranges: index?.ranges ?? [] };
      this.cache.set(pagemap, s);
    }
    return s;
  }

  /** The shared memory object behind a memfd mapping (files.img MEMFD → memfd.img inode → shmid). */
  memfdShmid(fileId: number): number | undefined {
    this.memfdShmids ??= new Map(this.dir.entries("memfd.img").map((m) => [String(m.inode_id), Number(m.shmid)]));
    const memfd = this.names.find("MEMFD", fileId)?.memfd as WireMessage | undefined;
    return memfd ? this.memfdShmids.get(String(memfd.inode_id)) : undefined;
  }
}

function backingOf(vma: WireMessage, sources: PageSources, files: ContainerFiles, unavailable: Map<string, string>, mapped: MappedFile[]): Backing {
  const st = Number(vma.status ?? 0);
  const offset = big(vma.pgoff);
  if (st & (VMA_AREA_VVAR | VMA_AREA_SOCKET)) return { kind: "none" };
  if (st & VMA_AREA_MEMFD) {
    const shmid = sources.memfdShmid(Number(vma.shmid));
    return shmid === undefined ? { kind: "none" } : { kind: "shmem", pages: sources.get(`pagemap-shmem-${shmid}.img`), offset };
  }
  if (st & (VMA_ANON_SHARED | VMA_AREA_SYSVIPC)) return { kind: "shmem", pages: sources.get(`pagemap-shmem-${vma.shmid}.img`), offset };
  if (st & (VMA_FILE_PRIVATE | VMA_FILE_SHARED)) {
    const reg = sources.names.find("REG", Number(vma.shmid));
    if (!reg || reg.name === undefined) return { kind: "none" };
    const path = text(reg.name);
    mapped.push({ start: big(vma.start), end: big(vma.end), offset, path });
    const found = files.find(path, reg.size === undefined ? undefined : Number(reg.size));
    if ("missing" in found) {
      unavailable.set(path, found.missing);
      return { kind: "none" };
    }
    return { kind: "file", path, size: found.size, offset };
  }
  return { kind: "anonymous" };
}

/** Consecutive parts grouped into segments: parts with bytes in one, absent parts (no bytes) in another. */
function groupParts(parts: Part[]): Part[][] {
  const groups: Part[][] = [];
  for (const p of parts) {
    const last = groups[groups.length - 1];
    if (last && (last[0]!.kind === "absent") === (p.kind === "absent")) last.push(p);
    else groups.push([p]);
  }
  return groups;
}

interface ThreadState {
  tid: number;
  core: WireMessage;
  gpregs: WireMessage;
  fpregs?: WireMessage;
}

function threadStates(dir: ImageDir, proc: ProcessInfo): ThreadState[] {
  const tids = proc.threads.length > 0 ? proc.threads.map((t) => t.tid) : [proc.pid];
  // The leader first: gdb takes the first thread's registers as the current thread.
  tids.sort((a, b) => (a === proc.pid ? -1 : b === proc.pid ? 1 : 0));
  return tids.map((tid) => {
    const name = `core-${tid}.img`;
    const core = tid === proc.pid && proc.core ? proc.core : dir.one(name);
    if (!core) throw new CoreDumpError(`${dir.file(name)}: missing for thread ${tid} of process ${proc.pid}`);
    const ti = core.thread_info as WireMessage | undefined;
    const gpregs = ti?.gpregs as WireMessage | undefined;
    if (!gpregs) throw new CoreDumpError(`${dir.file(name)}: no x86 registers (mtype ${String(core.mtype)}); only x86_64 dumps can be written as cores`);
    if (Number(gpregs.mode ?? 1) !== 1) throw new CoreDumpError(`${dir.file(name)}: thread ${tid} runs in 32-bit compat mode; only 64-bit tasks can be written as cores`);
    return { tid, core, gpregs, fpregs: ti!.fpregs as WireMessage | undefined };
  });
}

export function planCore(dir: ImageDir, proc: ProcessInfo, sources: PageSources, files: ContainerFiles): CorePlan {
  const mmName = `mm-${proc.pid}.img`;
  const mm = dir.one(mmName);
  if (!mm) throw new CoreDumpError(`${dir.file(mmName)}: missing for process ${proc.pid}`);
  const threads = threadStates(dir, proc);
  const own = sources.get(`pagemap-${proc.pid}.img`);
  const unavailable = new Map<string, string>();
  const mapped: MappedFile[] = [];
  let missingPages = 0;
  const loads: Array<{ vaddr: bigint; memsz: bigint; flags: number; parts: Part[]; filled: boolean }> = [];
  for (const vma of (mm.vmas as WireMessage[] | undefined) ?? []) {
    // Areas without REGULAR are not the process's memory: vsyscall, and the guard ranges CRIU 4.2
    // lists after the VMAs (they lie inside other VMAs).
    if (!(Number(vma.status ?? 0) & VMA_AREA_REGULAR)) continue;
    const start = big(vma.start);
    const end = big(vma.end);
    const contents = vmaContents(start, end, own, backingOf(vma, sources, files, unavailable, mapped));
    missingPages += contents.missingPages;
    for (const group of groupParts(contents.parts)) {
      const vaddr = group[0]!.vaddr;
      const memsz = group.reduce((n, p) => n + BigInt(p.length), 0n);
      loads.push({ vaddr, memsz, flags: segmentFlags(Number(vma.prot ?? 0)), parts: group, filled: group[0]!.kind !== "absent" });
    }
  }

  const ids = { pid: proc.pid, ppid: proc.ppid, pgid: proc.pgid, sid: proc.sid };
  const leader = threads[0]!;
  const creds = (leader.core.thread_core as WireMessage | undefined)?.creds as WireMessage | undefined;
  const tc = (leader.core.tc ?? {}) as WireMessage;
  const fixedNotes = (args: Buffer): Note[] => {
    const notes: Note[] = [];
    threads.forEach((t, i) => {
      const threadCore = (t.core.thread_core ?? {}) as WireMessage;
      const blocked = big(threadCore.blk_sigset ?? tc.blk_sigset);
      notes.push({ name: "CORE", type: NT_PRSTATUS, desc: prstatus({ ...ids, pid: t.tid }, t.gpregs, blocked, t.fpregs !== undefined) });
      if (t.fpregs) {
        const xsave = t.fpregs.xsave as WireMessage | undefined;
        notes.push({ name: "CORE", type: NT_FPREGSET, desc: fpregset(t.fpregs, xsave ? xcr0Of(xsave) : undefined) });
        if (xsave) notes.push({ name: "LINUX", type: NT_X86_XSTATE, desc: xstate(t.fpregs) });
      }
      if (i === 0) {
        const summary: ProcessSummary = { ...ids, state: proc.state, uid: Number(creds?.uid ?? 0), gid: Number(creds?.gid ?? 0), comm: proc.comm, args };
        notes.push({ name: "CORE", type: NT_PRPSINFO, desc: prpsinfo(summary) });
        notes.push({ name: "CORE", type: NT_AUXV, desc: auxv((mm.mm_saved_auxv as unknown[] | undefined) ?? []) });
        notes.push({ name: "CORE", type: NT_FILE, desc: ntFile(mapped) });
      }
    });
    return notes;
  };
  const argStart = big(mm.mm_arg_start);
  const argLength = Math.max(0, Math.min(ARGS_MAX, Number(big(mm.mm_arg_end) - argStart)));
  const notesSize = fixedNotes(Buffer.alloc(argLength)).reduce((n, note) => n + noteSize(note), 0);

  const phnum = 1 + loads.length;
  const extended = phnum >= PN_XNUM;
  const shoff = extended ? EHDR_SIZE + phnum * PHDR_SIZE : 0;
  const notesOffset = EHDR_SIZE + phnum * PHDR_SIZE + (extended ? SHDR_SIZE : 0);
  let offset = pageUp(notesOffset + notesSize);
  const segments: Segment[] = [];
  const pages: PagesPiece[] = [];
  const filePieces: FilePiece[] = [];
  for (const load of loads) {
    const filesz = load.filled ? Number(load.memsz) : 0;
    segments.push({ vaddr: load.vaddr, memsz: load.memsz, filesz, flags: load.flags, offset });
    for (const p of load.filled ? load.parts : []) {
      const coreOffset = offset + Number(p.vaddr - load.vaddr);
      if (p.kind === "pages") pages.push({ image: p.image, offset: p.offset, length: p.length, coreOffset });
      else if (p.kind === "file" && p.length > 0) filePieces.push({ path: p.path, offset: p.offset, length: p.length, coreOffset });
    }
    offset += filesz;
  }

  const headers = Buffer.concat([
    elfHeader(phnum, shoff),
    programHeader({ type: PT_NOTE, flags: 0, offset: notesOffset, vaddr: 0n, filesz: notesSize, memsz: 0n, align: 0 }),
    ...segments.map((s) => programHeader({ type: PT_LOAD, flags: s.flags, offset: s.offset, vaddr: s.vaddr, filesz: s.filesz, memsz: s.memsz, align: PAGE_SIZE })),
    ...(extended ? [extendedNumberingSection(phnum)] : []),
  ]);
  const argParts = vmaContents(argStart, argStart + BigInt(argLength), own, { kind: "anonymous" }).parts;
  return {
    pid: proc.pid,
    threads: threads.length,
    segments,
    headers,
    notesOffset,
    notes: (args) => Buffer.concat(fixedNotes(args).map(encodeNote)),
    args: {
      length: argLength,
      pieces: argParts.flatMap((p) => (p.kind === "pages" ? [{ image: p.image, offset: p.offset, length: p.length, coreOffset: Number(p.vaddr - argStart) }] : [])),
    },
    pages,
    files: filePieces,
    unavailable,
    missingPages,
    size: offset,
  };
}
