/**
 * Finds matches in a run of bytes that arrives in chunks: matches that cross a chunk boundary are
 * found, each with `context` bytes around it. A run is address-contiguous memory; the caller ends a
 * run where the dumped addresses jump, so no match is made of bytes that are not neighbours.
 *
 * Chunks are searched where they lie. Only a short tail of each chunk is copied and kept, for matches
 * that begin at its end; those are found in the tail joined with the start of the next chunk.
 */
import type { Matcher } from "./matcher.js";

export interface RunMatch {
  /** Offset of the match in the run. */
  offset: number;
  length: number;
  /** The bytes around the match and where the match starts in them. */
  context: Buffer;
  contextStart: number;
}

export class RunScanner {
  /** The last bytes seen, kept for matches starting there and for context. */
  private tail: Buffer = Buffer.alloc(0);
  /** Run offset of tail[0]. */
  private tailOffset = 0;
  /** Run offset from which matches are still to be reported. */
  private reportFrom = 0;
  /** Bytes a match plus its trailing context can span past its first byte. */
  private readonly overlap: number;

  constructor(
    private readonly matcher: Matcher,
    private readonly context: number,
    private readonly onMatch: (m: RunMatch) => void,
  ) {
    this.overlap = matcher.maxLength - 1 + context;
  }

  /** The next bytes of the run. */
  feed(data: Uint8Array): void {
    const chunk = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    const chunkOffset = this.tailOffset + this.tail.length;
    if (chunk.length < 2 * (this.overlap + 1)) {
      // A short chunk: join it to the tail and treat them as one.
      this.advance(Buffer.concat([this.tail, chunk]), this.tailOffset, undefined);
      return;
    }
    if (this.tail.length > 0) {
      // Matches that start in the tail; the chunk's first bytes hold their end and context.
      const joined = Buffer.concat([this.tail, chunk.subarray(0, this.overlap + 1)]);
      this.report(joined, this.tailOffset, this.tail.length, undefined);
    }
    this.advance(chunk, chunkOffset, this.tail);
  }

  /** The run is complete: report what is left. */
  end(): void {
    this.report(this.tail, this.tailOffset, this.tail.length, undefined);
    this.tail = Buffer.alloc(0);
  }

  /** Reports what can be reported in buf (at run offset base) and keeps its last bytes as the tail. */
  private advance(buf: Buffer, base: number, before: Buffer | undefined): void {
    const limit = Math.max(0, buf.length - this.overlap);
    this.report(buf, base, limit, before);
    const keepFrom = Math.max(0, limit - this.context);
    this.tail = Buffer.from(buf.subarray(keepFrom));
    this.tailOffset = base + keepFrom;
  }

  /**
   * Reports matches in buf that start at or after reportFrom and before `limit`; context before
   * buf[0] comes from `before` (the bytes just preceding buf).
   */
  private report(buf: Buffer, base: number, limit: number, before: Buffer | undefined): void {
    for (const m of this.matcher.find(buf, Math.max(0, this.reportFrom - base))) {
      if (m.index >= limit) break;
      const to = Math.min(buf.length, m.index + m.length + this.context);
      let context: Buffer;
      let contextStart: number;
      if (m.index >= this.context || !before) {
        const from = Math.max(0, m.index - this.context);
        context = Buffer.from(buf.subarray(from, to));
        contextStart = m.index - from;
      } else {
        const fromBefore = Math.min(before.length, this.context - m.index);
        context = Buffer.concat([before.subarray(before.length - fromBefore), buf.subarray(0, to)]);
        contextStart = fromBefore + m.index;
      }
      this.onMatch({ offset: base + m.index, length: m.length, context, contextStart });
      this.reportFrom = base + m.index + m.length;
    }
    this.reportFrom = Math.max(this.reportFrom, base + limit);
  }
}
