/**
 * Delivers a file's bytes, arriving in order in chunks, to the places that want ranges of it: each
 * target gets the part of every chunk that falls in its range, as soon as the chunk arrives, so
 * nothing is buffered. Ranges may overlap (one shared memory object mapped by two processes).
 */
export interface RangeTarget {
  offset: number;
  length: number;
  /** Bytes of the range, `at` bytes into it. */
  write(chunk: Uint8Array, at: number): void;
}

export class PieceRouter {
  private readonly targets: RangeTarget[];
  /** Targets before this index have been served in full. */
  private next = 0;

  constructor(targets: readonly RangeTarget[]) {
    this.targets = [...targets].sort((a, b) => a.offset - b.offset);
  }

  feed(chunk: Uint8Array, offset: number): void {
    const end = offset + chunk.length;
    while (this.next < this.targets.length && this.targets[this.next]!.offset + this.targets[this.next]!.length <= offset) this.next++;
    for (let i = this.next; i < this.targets.length && this.targets[i]!.offset < end; i++) {
      const t = this.targets[i]!;
      const from = Math.max(offset, t.offset);
      const to = Math.min(end, t.offset + t.length);
      if (from < to) t.write(chunk.subarray(from - offset, to - offset), from - t.offset);
    }
  }
}
