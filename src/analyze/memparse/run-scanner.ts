/**
 * Finds matches in a run of bytes that arrives in chunks: matches that cross a chunk boundary are
 * found, each with `context` bytes around it. A run is address-contiguous memory; the caller ends a
 * run where the dumped addresses jump, so no match is made of bytes that are not neighbours.
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
  private carry: Buffer = Buffer.alloc(0);
  /** Run offset of carry[0]. */
  private carryOffset = 0;
  /** Offset in the run from which matches are still to be reported. */
  private reportFrom = 0;

  constructor(
    private readonly matcher: Matcher,
    private readonly context: number,
    private readonly onMatch: (m: RunMatch) => void,
  ) {}

  /** The next bytes of the run. */
  feed(chunk: Uint8Array): void {
    this.scan(Buffer.concat([this.carry, chunk]), false);
  }

  /** The run is complete: report what is left. */
  end(): void {
    this.scan(this.carry, true);
    this.carry = Buffer.alloc(0);
  }

  private scan(buf: Buffer, final: boolean): void {
    const base = this.carryOffset;
    // A match starting at or after `limit` may continue in bytes not yet seen: left for later.
    const limit = final ? buf.length : Math.max(0, buf.length - (this.matcher.maxLength - 1) - this.context);
    let reportedTo = this.reportFrom - base;
    for (const m of this.matcher.find(buf, Math.max(0, reportedTo))) {
      if (m.index >= limit) break;
      const from = Math.max(0, m.index - this.context);
      const to = Math.min(buf.length, m.index + m.length + this.context);
      this.onMatch({ offset: base + m.index, length: m.length, context: Buffer.from(buf.subarray(from, to)), contextStart: m.index - from });
      reportedTo = m.index + m.length;
    }
    const keepFrom = Math.max(0, Math.min(limit, buf.length) - this.context);
    this.carry = Buffer.from(buf.subarray(keepFrom));
    this.carryOffset = base + keepFrom;
    this.reportFrom = base + Math.max(limit, reportedTo);
  }
}
