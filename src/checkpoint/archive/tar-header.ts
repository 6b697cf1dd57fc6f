/**
 * Tar headers (ustar, GNU long names, PAX), read straight from a seekable plain tar so that an index
 * of every member costs one 512-byte read per member, not a pass over the data.
 */
export interface TarHeader {
  name: string;
  /** "file", "directory", "symlink", "hardlink", or the raw type flag for anything else. */
  type: string;
  size: number;
  mode: number;
  linkname: string;
}

export class TarFormatError extends Error {}

function text(block: Uint8Array, offset: number, length: number): string {
  const end = block.indexOf(0, offset);
  return Buffer.from(block.subarray(offset, end === -1 || end > offset + length ? offset + length : end)).toString("utf8");
}

function octal(block: Uint8Array, offset: number, length: number): number {
  if (block[offset]! & 0x80) {
    // GNU base-256 for sizes of 8 GiB and more.
    let v = 0;
    for (let i = offset + 1; i < offset + length; i++) v = v * 256 + block[i]!;
    return v;
  }
  const s = text(block, offset, length).trim();
  if (s === "") return 0;
  if (!/^[0-7]+$/.test(s)) throw new TarFormatError(`invalid number "${s}" in tar header`);
  return parseInt(s, 8);
}

function checksumOk(block: Uint8Array): boolean {
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 0x20 : block[i]!;
  return sum === octal(block, 148, 8);
}

export function isZeroBlock(block: Uint8Array): boolean {
  return block.every((b) => b === 0);
}

const TYPES: Record<string, string> = { "0": "file", "\0": "file", "7": "file", "5": "directory", "2": "symlink", "1": "hardlink" };

/** Parses one 512-byte header block (after any long-name/PAX blocks were applied by the caller). */
export function parseHeader(block: Uint8Array): TarHeader & { flag: string } {
  if (!checksumOk(block)) throw new TarFormatError("tar header checksum mismatch (not a tar archive, or corrupt)");
  const prefix = text(block, 345, 155);
  const base = text(block, 0, 100);
  const flag = String.fromCharCode(block[156]!);
  return {
    name: prefix && text(block, 257, 6) === "ustar" ? `${prefix}/${base}` : base,
    flag,
    type: TYPES[flag] ?? flag,
    size: octal(block, 124, 12),
    mode: octal(block, 100, 8),
    linkname: text(block, 157, 100),
  };
}

/** PAX extended header records ("len key=value\n"). */
export function parsePax(data: Uint8Array): Record<string, string> {
  const out: Record<string, string> = {};
  const buf = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  // Record lengths count bytes, not characters: slice the bytes, decode each record alone.
  let pos = 0;
  while (pos < buf.length) {
    const space = buf.indexOf(0x20, pos);
    if (space === -1) break;
    const len = Number(buf.toString("latin1", pos, space));
    if (!Number.isInteger(len) || len <= 0 || pos + len > buf.length) break;
    const record = buf.toString("utf8", space + 1, pos + len - 1);
    const eq = record.indexOf("=");
    if (eq > 0) out[record.slice(0, eq)] = record.slice(eq + 1);
    pos += len;
  }
  return out;
}
