/**
 * Scans one stream of bytes (a run of memory, a file, a queue) that arrives in pieces, through a
 * ScanPool: pieces are gathered into segments of a few MiB (a piece that big is sent as it is, in
 * parts of at most SEGMENT bytes; the pieces are copied when kept, so a feeder may reuse its buffer
 * once a feed has returned or settled);
 * each segment owns the matches that start in it except in its last MAX_MATCH bytes,
 * which a small seam made of its tail and the next segment's head owns, so a match across pieces
 * is found once and whole.
 */
import type { RuleHit } from "./detector.js";
import { CONTEXT_BEFORE } from "./detector.js";
import { MAX_MATCH } from "./rules.js";
import type { ScanPool } from "./scan-pool.js";

const BATCH = 2 << 20;
/** The largest segment: with its seam, a job fits a scanning thread's memory (JOB_ROOM). */
const SEGMENT = 4 << 20;
/** Bytes kept from the end of a segment for the seam: the unowned tail and context before it. */
const CARRY = MAX_MATCH + CONTEXT_BEFORE;

export class StreamScanner {
  private pending: Uint8Array[] = [];
  private pendingBytes = 0;
  /** Stream offset of the first pending byte. */
  private offset = 0;
  private carry: Buffer = Buffer.alloc(0);
  /** Everything before this stream offset belongs to a segment sent already. */
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

  private feedPart(piece: Uint8Array): void | Promise<void> {
    let wait: void | Promise<void> = undefined;
    if (this.pendingBytes >= MAX_MATCH && this.pendingBytes + piece.length > BATCH) wait = this.flush(false);
    const add = () => {
      this.pending.push(piece);
      this.pendingBytes += piece.length;
      if (this.pendingBytes >= BATCH) return this.flush(false);
      // Kept past this call: the feeder may reuse its buffer.
      this.pending[this.pending.length - 1] = Buffer.from(piece);
    };
    return wait ? wait.then(add) : add();
  }

  end(): void | Promise<void> {
    return this.flush(true);
  }

  private flush(final: boolean): void | Promise<void> {
    if (this.pendingBytes === 0 && !(final && this.carry.length)) return;
    const seg = this.pending.length === 1 ? this.pending[0]! : Buffer.concat(this.pending);
    const segOffset = this.offset;
    this.pending = [];
    this.offset += this.pendingBytes;
    this.pendingBytes = 0;
    const waits: Array<void | Promise<void>> = [];
    if (this.carry.length && this.owned < segOffset) {
      // The seam: the previous segment's unowned tail, followed by enough of this one.
      const carryOffset = segOffset - this.carry.length;
      const seam = Buffer.concat([this.carry, seg.subarray(0, Math.min(seg.length, MAX_MATCH))]);
      const ownTo = final && seg.length <= MAX_MATCH ? seam.length : this.carry.length;
      waits.push(this.job(seam, this.owned - carryOffset, ownTo, carryOffset));
      this.owned = carryOffset + ownTo;
    }
    const ownFrom = Math.max(0, this.owned - segOffset);
    const ownTo = final ? seg.length : Math.max(ownFrom, seg.length - MAX_MATCH);
    this.carry = seg.length >= CARRY ? Buffer.from(seg.subarray(seg.length - CARRY)) : Buffer.concat([this.carry, seg]).subarray(-CARRY);
    if (ownFrom < ownTo) waits.push(this.job(seg, ownFrom, ownTo, segOffset));
    this.owned = Math.max(this.owned, segOffset + ownTo);
    if (final) this.carry = Buffer.alloc(0);
    const pending = waits.filter((w): w is Promise<void> => w !== undefined);
    if (pending.length) return Promise.all(pending).then(() => undefined);
  }

  private job(buf: Uint8Array, from: number, to: number, base: number): void | Promise<void> {
    return this.pool.submit({ buf, from, to, done: (hits) => hits.forEach((h) => this.onHit(h, base)) });
  }
}
