/**
 * The byte stream between CRIU's lazy-pages daemon (on the target) and the page server of a lazy
 * dump (on the source), as the two node agents carry it. Requests are fixed 32-byte records
 * (struct page_server_iov: u32 cmd, 4 bytes of padding, u64 nr_pages, vaddr, dst_id, little-endian);
 * each answer is such a record followed by nr_pages pages; a close request is answered by a 4-byte
 * status.
 *
 * CRIU 4.2's page server takes the end of its connection without a close request for a finished
 * transfer, and the dump then kills the source's tasks with pages never sent. So the agents must
 * see where the close request is (only it may end the source), and say "failed" in CRIU's own
 * terms when the connection breaks: a request with a command no page server knows, which fails
 * the transfer and lets the dump resume its tasks.
 */

export const PAGE_SIZE = 4096;
export const REQUEST_BYTES = 32;

const PS_IOV_ADD = 1;
const PS_IOV_ADD_F = 6;
const PS_IOV_CLOSE = 0x1023;
const PS_IOV_FORCE_CLOSE = 0x1024;
const PS_CMD_MASK = 0xffff;

/** Splits the daemon's side of the stream into whole requests (a chunk may end mid-record). */
export class RequestFramer {
  private pending = Buffer.alloc(0);

  /** The whole requests completed by `chunk`, in order. */
  push(chunk: Buffer): Buffer[] {
    const data = this.pending.length ? Buffer.concat([this.pending, chunk]) : chunk;
    const whole = data.length - (data.length % REQUEST_BYTES);
    const records: Buffer[] = [];
    for (let at = 0; at < whole; at += REQUEST_BYTES) records.push(data.subarray(at, at + REQUEST_BYTES));
    this.pending = Buffer.from(data.subarray(whole));
    return records;
  }

  /** Bytes of a request not yet complete. */
  get partial(): number {
    return this.pending.length;
  }
}

export function isCloseRequest(record: Buffer): boolean {
  const cmd = record.readUInt32LE(0) & PS_CMD_MASK;
  return cmd === PS_IOV_CLOSE || cmd === PS_IOV_FORCE_CLOSE;
}

/** A request with a command no page server knows: it fails the transfer, and the dump resumes its tasks. */
export function failingRequest(): Buffer {
  return Buffer.alloc(REQUEST_BYTES, 0xff);
}

/** Counts the pages in the page server's answers as they pass (a chunk may end anywhere). */
export class AnswerCounter {
  pages = 0;
  bytes = 0;
  private header = Buffer.alloc(REQUEST_BYTES);
  private headerBytes = 0;
  private dataLeft = 0;
  /** Set once an answer was not a page answer (the status after a close): nothing more is counted. */
  private stopped = false;

  push(chunk: Buffer): void {
    this.bytes += chunk.length;
    let at = 0;
    while (at < chunk.length && !this.stopped) {
      if (this.dataLeft > 0) {
        const n = Math.min(this.dataLeft, chunk.length - at);
        this.dataLeft -= n;
        at += n;
        continue;
      }
      const n = Math.min(REQUEST_BYTES - this.headerBytes, chunk.length - at);
      chunk.copy(this.header, this.headerBytes, at, at + n);
      this.headerBytes += n;
      at += n;
      if (this.headerBytes < REQUEST_BYTES) break;
      this.headerBytes = 0;
      const cmd = this.header.readUInt32LE(0) & PS_CMD_MASK;
      if (cmd !== PS_IOV_ADD && cmd !== PS_IOV_ADD_F) {
        this.stopped = true;
        break;
      }
      const pages = Number(this.header.readBigUInt64LE(8));
      this.pages += pages;
      this.dataLeft = pages * PAGE_SIZE;
    }
  }
}
