/**
 * Scans one stream of bytes (a run of memory, a file, a queue) that arrives in pieces, through a
 * ScanPool, in jobs of a few MiB. Each job is the previous job's last CARRY bytes followed by new
 * bytes: it owns the matches that start in its new bytes and in the previous job's last MAX_MATCH
 * bytes, except in its own last MAX_MATCH bytes (the next job's), so a match across pieces and jobs
 * is found once and whole, with the bytes before it as context. Small pieces are gathered (copied: a
 * feeder may reuse its buffer once a feed has returned or settled); a big one goes into the job as it
 * is, in parts of at most SEGMENT bytes, and its feed settles once the pool has taken the job.
 */
import type { RuleHit } from "./detector.js";
import { CONTEXT_BEFORE } from "./detector.js";
import { MAX_MATCH } from "./rules.js";
import type { ScanPool } from "./scan-pool.js";

/** New bytes gathered before a job is sent. */
const BATCH = 2 << 20;
/** The most new bytes in one job: with the carry, a job fits a scanning thread's memory (JOB_ROOM). */
const SEGMENT = 4 << 20;
/** Bytes a job hands to the next: the tail it does not own, and context before it. */
const CARRY = MAX_MATCH + CONTEXT_BEFORE;
const NONE = new Uint8Array(0);

export class StreamScanner {
  /** The previous job's last bytes (up to CARRY), at stream offset `offset`. */
  private carry: Uint8Array = NONE;
  private offset = 0;
  /** Small pieces gathered since, `gathered` bytes of it. */
  private gather: Buffer | undefined;
  private gathered = 0;
  /** Everything before this stream offset belongs to a job sent already. */
  private owned = 0;

  /** `onHit` gets each hit with its offset in the stream. */
  constructor(
    private readonly pool: ScanPool,
    private readonly onHit: (hit: RuleHit, streamOffset: number) => void,
  ) {}

  feed(piece: Uint8Array): void | Promise<void> {
    for (let at = 0; at < piece.length; at += SEGMENT) {
      const wait = this.feedPart(piece.subarray(at, at + SEGMENT));
      const next = at + SEGMENT;
      if (wait && next < piece.length) return wait.then(() => this.feed(piece.subarray(next)));
      if (wait) return wait;
    }
  }

  end(): void | Promise<void> {
    return this.send(NONE, true);
  }

  private feedPart(piece: Uint8Array): void | Promise<void> {
    if (this.gathered + piece.length < BATCH) {
      this.keep(piece);
      return;
    }
    // Gathered bytes enough to own some go first, so that a job stays within a SEGMENT and a carry.
    if (this.gathered >= MAX_MATCH) {
      const wait = this.send(NONE, false);
      if (wait) return wait.then(() => this.send(piece, false));
    }
    return this.send(piece, false);
  }

  private keep(piece: Uint8Array): void {
    const need = this.gathered + piece.length;
    if (!this.gather || this.gather.length < need) {
      const grown = Buffer.allocUnsafe(Math.min(BATCH, Math.max(need, 2 * (this.gather?.length ?? 0), 4096)));
      if (this.gather) this.gather.copy(grown, 0, 0, this.gathered);
      this.gather = grown;
    }
    this.gather.set(piece, this.gathered);
    this.gathered = need;
  }

  /** Sends the carry, the gathered bytes and `piece` as one job. */
  private send(piece: Uint8Array, final: boolean): void | Promise<void> {
    const parts = [this.carry, this.gather?.subarray(0, this.gathered) ?? NONE, piece].filter((p) => p.length > 0);
    const total = parts.reduce((n, p) => n + p.length, 0);
    const base = this.offset;
    const from = this.owned - base;
    const to = final ? total : total - MAX_MATCH;
    // The next job starts with this one's last bytes (a new buffer: this job may not be taken yet).
    const carry = new Uint8Array(Math.min(CARRY, total));
    for (let i = parts.length - 1, at = carry.length; at > 0; i--) {
      const p = parts[i]!;
      const n = Math.min(at, p.length);
      carry.set(p.subarray(p.length - n), at - n);
      at -= n;
    }
    this.carry = final ? NONE : carry;
    this.offset = base + total - this.carry.length;
    this.gathered = 0;
    if (to <= from) return;
    this.owned = base + to;
    return this.pool.submit({ parts, from, to, done: (hits) => hits.forEach((h) => this.onHit(h, base)) });
  }
}
