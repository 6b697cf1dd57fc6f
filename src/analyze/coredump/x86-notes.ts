/**
 * The descriptors of an x86_64 core's notes, laid out as the kernel's structs (elf_prstatus,
 * elf_prpsinfo, user_fpregs_struct, the XSAVE area, NT_FILE), filled from CRIU's core, mm and pstree
 * entries. Pure: CRIU's decoded messages in, bytes out.
 */
import type { WireMessage } from "../../criu-images/wire-reader.js";

const big = (v: unknown): bigint => (typeof v === "bigint" ? v : BigInt((v as number | undefined) ?? 0));
const num = (v: unknown): number => Number(v ?? 0);

/** user_regs_struct order, which is also CRIU's user_x86_regs_entry field order. */
const GPREGS = ["r15", "r14", "r13", "r12", "bp", "bx", "r11", "r10", "r9", "r8", "ax", "cx", "dx", "si", "di", "orig_ax", "ip", "cs", "flags", "sp", "ss", "fs_base", "gs_base", "ds", "es", "fs", "gs"] as const;

export const PRSTATUS_SIZE = 336;
export const PRPSINFO_SIZE = 136;
export const FPREGSET_SIZE = 512;
/** Where Linux puts XCR0 in the XSAVE area it exports (bytes 464..471, the software-reserved part). */
const XCR0_OFFSET = 464;

export interface TaskIds {
  pid: number;
  ppid: number;
  pgid: number;
  sid: number;
}

/** elf_prstatus of one thread: ids, blocked signals, registers. */
export function prstatus(ids: TaskIds, gpregs: WireMessage, blockedSignals: bigint, fpValid: boolean): Buffer {
  const b = Buffer.alloc(PRSTATUS_SIZE);
  b.writeBigUInt64LE(BigInt.asUintN(64, blockedSignals), 24); // pr_sighold
  b.writeInt32LE(ids.pid, 32);
  b.writeInt32LE(ids.ppid, 36);
  b.writeInt32LE(ids.pgid, 40);
  b.writeInt32LE(ids.sid, 44);
  GPREGS.forEach((name, i) => b.writeBigUInt64LE(BigInt.asUintN(64, big(gpregs[name])), 112 + 8 * i));
  b.writeInt32LE(fpValid ? 1 : 0, 328);
  return b;
}

export interface ProcessSummary extends TaskIds {
  /** CRIU task_state: 1 alive, 3 stopped. */
  state: number;
  uid: number;
  gid: number;
  comm: string;
  /** The command line as the process's memory holds it: arguments separated by NUL bytes. */
  args: Buffer;
}

/** elf_prpsinfo: state, ids, credentials, name and the start of the command line. */
export function prpsinfo(p: ProcessSummary): Buffer {
  const b = Buffer.alloc(PRPSINFO_SIZE);
  // The kernel's index into "RSDTZW": a dumped task was running or stopped.
  const stateIndex = p.state === 3 ? 3 : 0;
  b[0] = stateIndex;
  b[1] = "RSDTZW".charCodeAt(stateIndex);
  b.writeUInt32LE(p.uid, 16);
  b.writeUInt32LE(p.gid, 20);
  b.writeInt32LE(p.pid, 24);
  b.writeInt32LE(p.ppid, 28);
  b.writeInt32LE(p.pgid, 32);
  b.writeInt32LE(p.sid, 36);
  Buffer.from(p.comm, "utf8").subarray(0, 15).copy(b, 40);
  // As the kernel fills pr_psargs: at most 79 bytes, NULs between arguments become spaces.
  let args = p.args.subarray(0, 79);
  while (args.length > 0 && args[args.length - 1] === 0) args = args.subarray(0, args.length - 1);
  const psargs = Buffer.from(args);
  for (let i = 0; i < psargs.length; i++) if (psargs[i] === 0) psargs[i] = 0x20;
  psargs.copy(b, 56);
  return b;
}

function writeWords(b: Buffer, at: number, words: unknown, count: number, size: 4 | 8): void {
  const list = (words as unknown[] | undefined) ?? [];
  for (let i = 0; i < Math.min(count, list.length); i++) {
    if (size === 4) b.writeUInt32LE(num(list[i]) >>> 0, at + 4 * i);
    else b.writeBigUInt64LE(BigInt.asUintN(64, big(list[i])), at + 8 * i);
  }
}

/** The FXSAVE image (user_fpregs_struct) from CRIU's user_x86_fpregs_entry. */
export function fpregset(fp: WireMessage, xcr0?: bigint): Buffer {
  const b = Buffer.alloc(FPREGSET_SIZE);
  b.writeUInt16LE(num(fp.cwd) & 0xffff, 0);
  b.writeUInt16LE(num(fp.swd) & 0xffff, 2);
  b.writeUInt16LE(num(fp.twd) & 0xffff, 4);
  b.writeUInt16LE(num(fp.fop) & 0xffff, 6);
  b.writeBigUInt64LE(BigInt.asUintN(64, big(fp.rip)), 8);
  b.writeBigUInt64LE(BigInt.asUintN(64, big(fp.rdp)), 16);
  b.writeUInt32LE(num(fp.mxcsr) >>> 0, 24);
  b.writeUInt32LE(num(fp.mxcsr_mask) >>> 0, 28);
  writeWords(b, 32, fp.st_space, 32, 4);
  writeWords(b, 160, fp.xmm_space, 64, 4);
  writeWords(b, 416, fp.padding, 24, 4);
  if (xcr0 !== undefined) b.writeBigUInt64LE(xcr0, XCR0_OFFSET);
  return b;
}

/**
 * XSAVE components CRIU keeps (criu/arch/x86: one field per enabled feature), with their place in
 * the standard (non-compacted) XSAVE layout. gdb recognises the layout by XCR0 and the area's size.
 */
const XSAVE_COMPONENTS = [
  { bit: 2, field: "ymmh_space", offset: 576, size: 256, words: 4 },
  { bit: 3, field: "bndreg_state", offset: 960, size: 64, words: 8 },
  { bit: 4, field: "bndcsr_state", offset: 1024, size: 64, words: 8 },
  { bit: 5, field: "opmask_reg", offset: 1088, size: 64, words: 8 },
  { bit: 6, field: "zmm_upper", offset: 1152, size: 512, words: 8 },
  { bit: 7, field: "hi16_zmm", offset: 1664, size: 1024, words: 8 },
  { bit: 9, field: "pkru", offset: 2688, size: 8, words: 4 },
] as const;

const present = (v: unknown): boolean => Array.isArray(v) && v.length > 0;

/** XCR0 as the dumped fields show it: x87 and SSE always, each other component whose field CRIU wrote. */
export function xcr0Of(xsave: WireMessage): bigint {
  let xcr0 = 0b11n;
  for (const c of XSAVE_COMPONENTS) if (present(xsave[c.field])) xcr0 |= 1n << BigInt(c.bit);
  return xcr0;
}

/** The NT_X86_XSTATE area: the FXSAVE image, XCR0 at byte 464, the XSAVE header, the components. */
export function xstate(fp: WireMessage): Buffer {
  const xsave = fp.xsave as WireMessage;
  const xcr0 = xcr0Of(xsave);
  const size = XSAVE_COMPONENTS.reduce((n, c) => (xcr0 & (1n << BigInt(c.bit)) ? Math.max(n, c.offset + c.size) : n), 576);
  const b = Buffer.alloc(size);
  fpregset(fp, xcr0).copy(b, 0);
  b.writeBigUInt64LE(BigInt.asUintN(64, big(xsave.xstate_bv)) & xcr0, 512);
  for (const c of XSAVE_COMPONENTS) {
    if (present(xsave[c.field])) writeWords(b, c.offset, xsave[c.field], c.size / c.words, c.words);
  }
  return b;
}

/** NT_AUXV: mm_saved_auxv's (type, value) pairs, ended by AT_NULL as the kernel's copy is. */
export function auxv(saved: readonly unknown[]): Buffer {
  const words = saved.map(big);
  let end = words.length - (words.length % 2);
  // Drop CRIU's trailing zero pairs, then end with exactly one AT_NULL.
  while (end >= 2 && words[end - 2] === 0n) end -= 2;
  const b = Buffer.alloc((end + 2) * 8);
  for (let i = 0; i < end; i++) b.writeBigUInt64LE(BigInt.asUintN(64, words[i]!), 8 * i);
  return b;
}

export interface MappedFile {
  start: bigint;
  end: bigint;
  /** Offset in the file, in bytes (page aligned). */
  offset: bigint;
  path: string;
}

/** NT_FILE: count, page size, one (start, end, offset in pages) triple a mapping, then the names. */
export function ntFile(files: readonly MappedFile[], pageSize = 4096): Buffer {
  const head = Buffer.alloc(16 + 24 * files.length);
  head.writeBigUInt64LE(BigInt(files.length), 0);
  head.writeBigUInt64LE(BigInt(pageSize), 8);
  files.forEach((f, i) => {
    head.writeBigUInt64LE(f.start, 16 + 24 * i);
    head.writeBigUInt64LE(f.end, 24 + 24 * i);
    head.writeBigUInt64LE(f.offset / BigInt(pageSize), 32 + 24 * i);
  });
  return Buffer.concat([head, ...files.map((f) => Buffer.from(f.path + "\0", "utf8"))]);
}
