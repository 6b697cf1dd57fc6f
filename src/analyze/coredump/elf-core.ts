/**
 * The ELF64 core file container (x86_64, little-endian): file header, program headers and notes, as
 * the Linux kernel writes them (fs/binfmt_elf.c). Pure byte encoding; what goes into the notes is in
 * x86-notes.ts, where the segment bytes come from is in core-plan.ts.
 */

export const ET_CORE = 4;
export const EM_X86_64 = 62;
export const PT_LOAD = 1;
export const PT_NOTE = 4;
export const PF_X = 1;
export const PF_W = 2;
export const PF_R = 4;
/** e_phnum when the real count is in section header 0's sh_info (more than 65534 segments). */
export const PN_XNUM = 0xffff;

export const NT_PRSTATUS = 1;
export const NT_FPREGSET = 2;
export const NT_PRPSINFO = 3;
export const NT_AUXV = 6;
export const NT_X86_XSTATE = 0x202;
export const NT_FILE = 0x46494c45;

export const EHDR_SIZE = 64;
export const PHDR_SIZE = 56;
export const SHDR_SIZE = 64;

export interface ProgramHeader {
  type: number;
  flags: number;
  offset: number;
  vaddr: bigint;
  filesz: number;
  memsz: bigint;
  align: number;
}

export interface Note {
  name: "CORE" | "LINUX";
  type: number;
  desc: Buffer;
}

const align4 = (n: number) => (n + 3) & ~3;

/** The file header; `phnum` program headers follow it directly. */
export function elfHeader(phnum: number, shoff: number): Buffer {
  const b = Buffer.alloc(EHDR_SIZE);
  b.write("\x7fELF", 0, "latin1");
  b[4] = 2; // ELFCLASS64
  b[5] = 1; // ELFDATA2LSB
  b[6] = 1; // EV_CURRENT
  b[7] = 0; // ELFOSABI_NONE, as the kernel writes it
  b.writeUInt16LE(ET_CORE, 16);
  b.writeUInt16LE(EM_X86_64, 18);
  b.writeUInt32LE(1, 20);
  b.writeBigUInt64LE(BigInt(EHDR_SIZE), 32); // e_phoff
  b.writeBigUInt64LE(BigInt(shoff), 40);
  b.writeUInt16LE(EHDR_SIZE, 52);
  b.writeUInt16LE(PHDR_SIZE, 54);
  b.writeUInt16LE(phnum >= PN_XNUM ? PN_XNUM : phnum, 56);
  b.writeUInt16LE(shoff ? SHDR_SIZE : 0, 58);
  b.writeUInt16LE(shoff ? 1 : 0, 60); // e_shnum
  return b;
}

/** Section header 0 that carries the segment count when it does not fit e_phnum (extended numbering). */
export function extendedNumberingSection(phnum: number): Buffer {
  const b = Buffer.alloc(SHDR_SIZE);
  b.writeUInt32LE(phnum, 44); // sh_info
  return b;
}

export function programHeader(h: ProgramHeader): Buffer {
  const b = Buffer.alloc(PHDR_SIZE);
  b.writeUInt32LE(h.type, 0);
  b.writeUInt32LE(h.flags, 4);
  b.writeBigUInt64LE(BigInt(h.offset), 8);
  b.writeBigUInt64LE(h.vaddr, 16);
  b.writeBigUInt64LE(0n, 24); // p_paddr
  b.writeBigUInt64LE(BigInt(h.filesz), 32);
  b.writeBigUInt64LE(h.memsz, 40);
  b.writeBigUInt64LE(BigInt(h.align), 48);
  return b;
}

export function noteSize(n: Note): number {
  return 12 + align4(n.name.length + 1) + align4(n.desc.length);
}

export function encodeNote(n: Note): Buffer {
  const b = Buffer.alloc(noteSize(n));
  b.writeUInt32LE(n.name.length + 1, 0);
  b.writeUInt32LE(n.desc.length, 4);
  b.writeUInt32LE(n.type, 8);
  b.write(n.name, 12, "latin1");
  n.desc.copy(b, 12 + align4(n.name.length + 1));
  return b;
}

/** ELF segment flags from mmap protection bits (PROT_READ 1, PROT_WRITE 2, PROT_EXEC 4). */
export function segmentFlags(prot: number): number {
  return (prot & 1 ? PF_R : 0) | (prot & 2 ? PF_W : 0) | (prot & 4 ? PF_X : 0);
}
