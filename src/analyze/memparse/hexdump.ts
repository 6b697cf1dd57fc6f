/**
 * A process's dumped memory as hex and ASCII, 16 bytes a row at their real addresses, range after
 * range in pagemap order. Runs of identical rows print once followed by "*" (as hexdump -C does;
 * rows are compared byte for byte, so nothing different is hidden). The pages are streamed, so a
 * compressed archive is read once and memory does not grow with the process.
 */
import type { Checkpoint } from "../../checkpoint/checkpoint.js";
import { CHECKPOINT_DIR } from "../../checkpoint/archive/checkpoint-archive.js";
import { pageRanges, PAGE_SIZE, PE_PARENT, PE_PRESENT, type PageRange } from "../../criu-images/memory.js";

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

function missing(range: PageRange): string {
  const where = range.flags & PE_PARENT ? "in the parent dump" : "lazy";
  return `${range.vaddr.toString(16).padStart(16, "0")}  (${range.pages} pages not in the images: ${where})\n`;
}

/** Rows of one process's memory, fed with the pages file's bytes in order. */
class RowWriter {
  private previous: Buffer | undefined;
  private folded = false;
  /** Index of the range whose bytes come next, and how many of them have come. */
  private index = 0;
  private done = 0;
  private partial = Buffer.alloc(0);

  constructor(
    private readonly ranges: readonly PageRange[],
    private readonly write: (text: string) => void,
    private readonly collapse: boolean,
  ) {}

  /** Prints the markers of ranges that are not in the pages file, up to the next present one. */
  private skipMissing(): void {
    while (this.index < this.ranges.length && !(this.ranges[this.index]!.flags & PE_PRESENT)) {
      this.write(missing(this.ranges[this.index]!));
      this.previous = undefined;
      this.index++;
    }
  }

  feed(chunk: Uint8Array): void {
    let text = "";
    let pos = 0;
    while (pos < chunk.length) {
      this.skipMissing();
      const range = this.ranges[this.index];
      if (!range) break;
      const size = range.pages * PAGE_SIZE;
      // A new range starts at another address: its first row always prints.
      if (this.done === 0) this.previous = undefined;
      const n = Math.min(chunk.length - pos, size - this.done);
      let bytes = Buffer.from(chunk.buffer, chunk.byteOffset + pos, n);
      if (this.partial.length) bytes = Buffer.concat([this.partial, bytes]);
      const start = this.done - this.partial.length;
      const whole = bytes.length - (bytes.length % 16);
      for (let i = 0; i < whole; i += 16) text += this.line(range.vaddr + BigInt(start + i), bytes.subarray(i, i + 16));
      this.partial = Buffer.from(bytes.subarray(whole));
      this.done += n;
      pos += n;
      if (this.done === size) {
        this.index++;
        this.done = 0;
      }
    }
    if (text) this.write(text);
  }

  end(): void {
    this.skipMissing();
  }

  private line(address: bigint, bytes: Buffer): string {
    if (this.collapse && this.previous?.equals(bytes)) {
      if (this.folded) return "";
      this.folded = true;
      return "*\n";
    }
    this.folded = false;
    this.previous = Buffer.from(bytes);
    return row(address, bytes);
  }
}

/** Writes the dump of process `pid` through `write` in pieces; `collapse` folds repeated rows. */
export async function hexdumpProcess(cp: Checkpoint, pid: number, write: (text: string) => void, collapse: boolean): Promise<void> {
  const { pagesId, ranges } = pageRanges(cp.images.entries(`pagemap-${pid}.img`));
  const writer = new RowWriter(ranges, write, collapse);
  const member = `${CHECKPOINT_DIR}/pages-${pagesId}.img`;
  if (ranges.some((r) => r.flags & PE_PRESENT)) await cp.archive.streamMembers([member], (_name, chunk) => writer.feed(chunk));
  writer.end();
}
