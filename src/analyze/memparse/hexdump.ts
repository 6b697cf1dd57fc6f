/**
 * A process's dumped memory as hex and ASCII, 16 bytes a row at their real addresses, range after
 * range. Runs of identical rows print once followed by "*" (as hexdump -C does; rows are compared
 * byte for byte, so nothing different is hidden).
 */
import { DumpedMemory, PAGE_SIZE, PE_PRESENT } from "../../criu-images/memory.js";
import type { ImageDir } from "../../criu-images/image-dir.js";

export const HEXDUMP_HEADER = `${"Address".padEnd(18)}${"Hexadecimal".padEnd(50)}ASCII\n${"-".repeat(85)}\n`;

function row(address: bigint, bytes: Uint8Array): string {
  let hex = "";
  let ascii = "";
  for (let i = 0; i < 16; i++) {
    const b = bytes[i];
    hex += b === undefined ? "   " : b.toString(16).padStart(2, "0") + " ";
    if (b !== undefined) ascii += b >= 32 && b < 127 ? String.fromCharCode(b) : ".";
  }
  return `${address.toString(16).padStart(16, "0")}  ${hex} |${ascii}|\n`;
}

/** Writes the dump through `write` in pieces; `collapse` folds repeated rows. */
export function hexdumpProcess(dir: ImageDir, pid: number, write: (text: string) => void, collapse: boolean): void {
  const mem = DumpedMemory.ofProcess(dir, pid);
  const CHUNK = 1 << 20;
  for (const range of mem.index.ranges) {
    if (!(range.flags & PE_PRESENT)) {
      write(`${range.vaddr.toString(16).padStart(16, "0")}  (${range.pages} pages not in the images: ${range.flags & 1 ? "in the parent dump" : "lazy"})\n`);
      continue;
    }
    let previous: Buffer | undefined;
    let folded = false;
    const total = range.pages * PAGE_SIZE;
    for (let off = 0; off < total; off += CHUNK) {
      const n = Math.min(CHUNK, total - off);
      const data = Buffer.from(mem.read(range.vaddr + BigInt(off), n));
      let text = "";
      for (let i = 0; i < n; i += 16) {
        const line = data.subarray(i, i + 16);
        if (collapse && previous && previous.equals(line)) {
          if (!folded) text += "*\n";
          folded = true;
          continue;
        }
        folded = false;
        previous = Buffer.from(line);
        text += row(range.vaddr + BigInt(off + i), line);
      }
      write(text);
    }
  }
  mem.close();
}
