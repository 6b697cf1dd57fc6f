/**
 * Where anchors may start in a buffer, found with WebAssembly SIMD at several GB/s: a "Teddy"
 * prefilter (as in Hyperscan and Rust's aho-corasick). Each anchor's first three bytes (both cases)
 * are a fingerprint; anchors are grouped into 8 buckets, and six 16-byte tables say, for each
 * position of the fingerprint and each half (nibble) of a byte, which buckets accept it. For 16
 * positions at a time the kernel looks the nibbles of the bytes at p, p+1 and p+2 up in those tables
 * (i8x16.swizzle) and ANDs the six results: a non-zero lane is a place where some bucket's three
 * bytes may start. Candidates are a superset of the anchors' places (nibbles alias), so the caller
 * checks each. The work per byte is the same whatever the anchors and the data.
 *
 * The kernel is tiny, so it is assembled here from its opcodes (the WebAssembly text is in the
 * comments) rather than built by a toolchain.
 */

/** Memory layout: the six tables, then the stop position, the candidates, and the data. */
const TABLES = 0;
const STOP = 96;
const CANDIDATES = 128;
const CANDIDATE_CAP = 16384;
/** Where the bytes to scan start in the memory. */
const DATA = 1 << 17;
/** Bytes readable past the data (the kernel reads 16 + 2 past its last position). */
const PAD = 64;
const PAGE = 1 << 16;
const BUCKETS = 8;
const FINGERPRINT = 3;

// ---------------------------------------------------------------------------------------------
// The module.

function uleb(n: number): number[] {
  const out: number[] = [];
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n) b |= 0x80;
    out.push(b);
  } while (n);
  return out;
}

/** Signed LEB128, as i32.const wants its operand. */
function sleb(n: number): number[] {
  const out: number[] = [];
  for (;;) {
    const b = n & 0x7f;
    n >>= 7;
    if ((n === 0 && !(b & 0x40)) || (n === -1 && b & 0x40)) return [...out, b];
    out.push(b | 0x80);
  }
}

function section(id: number, body: number[]): number[] {
  return [id, ...uleb(body.length), ...body];
}

function vec(items: number[][]): number[] {
  return [...uleb(items.length), ...items.flat()];
}

function name(s: string): number[] {
  return [...uleb(s.length), ...Buffer.from(s, "latin1")];
}

const I32 = 0x7f;
const V128 = 0x7b;
const op = {
  block: 0x02,
  loop: 0x03,
  if: 0x04,
  end: 0x0b,
  br: 0x0c,
  brIf: 0x0d,
  void: 0x40,
  localGet: 0x20,
  localSet: 0x21,
  localTee: 0x22,
  i32Store: 0x36,
  i32Const: 0x41,
  i32GeU: 0x4f,
  i32GtU: 0x4b,
  i32Ctz: 0x68,
  i32Add: 0x6a,
  i32Sub: 0x6b,
  i32And: 0x71,
};
const simd = (code: number) => [0xfd, ...uleb(code)];
const v128Load = (offset: number) => [...simd(0x00), 0, ...uleb(offset)];
const v128Const = (bytes: number[]) => [...simd(0x0c), ...bytes];
const i8x16Swizzle = simd(0x0e);
const i8x16Ne = simd(0x24);
const v128And = simd(0x4e);
const v128AnyTrue = simd(0x53);
const i8x16Bitmask = simd(0x64);
const i8x16ShrU = simd(0x6d);

// Locals: parameters p, end, out, outEnd; then bits (i32), v, m, the six tables and the nibble mask (v128).
const P = 0, END = 1, OUT = 2, OUT_END = 3, BITS = 4, V = 5, M = 6, T0 = 7, NIB = 13;

/** The tables' lookups for the bytes at p + k: (lo_k[v & 15] & hi_k[v >> 4]), on the stack. */
function lookups(k: number): number[] {
  return [
    op.localGet, P, ...v128Load(k), op.localSet, V,
    op.localGet, T0 + 2 * k, op.localGet, V, op.localGet, NIB, ...v128And, ...i8x16Swizzle, // lo_k[v & 15]
    op.localGet, T0 + 2 * k + 1, op.localGet, V, op.i32Const, 4, ...i8x16ShrU, ...i8x16Swizzle, // hi_k[v >> 4]
    ...v128And,
  ];
}

/**
 * (func (param $p i32) (param $end i32) (param $out i32) (param $outEnd i32) (result i32)
 *   Writes, for 16 positions at a time from $p while $p < $end, each candidate position as an i32 at
 *   $out; stops early when fewer than 16 slots are left. Stores where it stopped at STOP and
 *   returns the end of what it wrote.
 */
function kernel(): number[] {
  const body = [
    // The six tables and the nibble mask, once.
    ...Array.from({ length: 2 * FINGERPRINT }, (_, i) => [op.i32Const, 0, ...v128Load(TABLES + 16 * i), op.localSet, T0 + i]).flat(),
    ...v128Const(Array(16).fill(0x0f)), op.localSet, NIB,
    op.block, op.void,
    op.loop, op.void,
    // while (p < end && out + 64 <= outEnd)
    op.localGet, P, op.localGet, END, op.i32GeU, op.brIf, 1,
    op.localGet, OUT, op.i32Const, ...sleb(64), op.i32Add, op.localGet, OUT_END, op.i32GtU, op.brIf, 1,
    ...lookups(0), ...lookups(1), ...v128And, ...lookups(2), ...v128And,
    op.localTee, M, ...v128AnyTrue,
    op.if, op.void,
    // bits = bitmask(m != 0); for each set bit: *out++ = p + ctz(bits)
    op.localGet, M, ...v128Const(Array(16).fill(0)), ...i8x16Ne, ...i8x16Bitmask, op.localSet, BITS,
    op.loop, op.void,
    op.localGet, OUT, op.localGet, P, op.localGet, BITS, op.i32Ctz, op.i32Add, op.i32Store, 2, 0,
    op.localGet, OUT, op.i32Const, 4, op.i32Add, op.localSet, OUT,
    op.localGet, BITS, op.localGet, BITS, op.i32Const, 1, op.i32Sub, op.i32And, op.localTee, BITS,
    op.brIf, 0,
    op.end,
    op.end,
    op.localGet, P, op.i32Const, 16, op.i32Add, op.localSet, P,
    op.br, 0,
    op.end,
    op.end,
    op.i32Const, 0, op.localGet, P, op.i32Store, 2, ...uleb(STOP),
    op.localGet, OUT,
    op.end,
  ];
  const locals = vec([[1, I32], [9, V128]]);
  const code = [...locals, ...body];
  return [...uleb(code.length), ...code];
}

function moduleBytes(): Uint8Array<ArrayBuffer> {
  const type = section(1, vec([[0x60, ...vec([[I32], [I32], [I32], [I32]]), ...vec([[I32]])]]));
  // The memory is imported, shared (0x03: shared, with a maximum), so that a scanning thread's
  // memory can be the buffer the jobs are copied into.
  const imports = section(2, vec([[...name("env"), ...name("mem"), 0x02, 0x03, ...uleb(1), ...uleb(MAX_PAGES)]]));
  const funcs = section(3, vec([[0]]));
  const exports = section(7, vec([[...name("scan"), 0x00, 0]]));
  const code = section(10, vec([kernel()]));
  return new Uint8Array([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, ...type, ...imports, ...funcs, ...exports, ...code]);
}

/**
 * Up to 256 MiB of data (jobs are a few MiB); a shared memory reserves its maximum as address space,
 * in each thread that scans.
 */
const MAX_PAGES = (256 << 20) / PAGE;

let compiled: WebAssembly.Module | undefined;

// ---------------------------------------------------------------------------------------------
// The tables.

/** Byte → the byte as the anchors are written (lower case, as String.toLowerCase in latin1). */
export const FOLD = Uint8Array.from({ length: 256 }, (_, b) => {
  const lower = String.fromCharCode(b).toLowerCase();
  return lower.length === 1 && lower.charCodeAt(0) < 256 ? lower.charCodeAt(0) : b;
});

/** The bytes that fold to each byte. */
const UNFOLD: number[][] = Array.from({ length: 256 }, () => []);
for (let b = 0; b < 256; b++) UNFOLD[FOLD[b]!]!.push(b);

interface Group {
  /** Per fingerprint position: the low and high nibbles accepted (bit sets of 16). */
  lo: number[];
  hi: number[];
}

const popcount16 = (x: number) => {
  let n = 0;
  for (; x; x &= x - 1) n++;
  return n;
};

/** About how likely a random position is to pass the group's fingerprint. */
function volume(g: Group): number {
  let v = 1;
  for (let k = 0; k < FINGERPRINT; k++) v *= (popcount16(g.lo[k]!) * popcount16(g.hi[k]!)) / 256;
  return v;
}

function groupOf(anchor: string): Group {
  const g: Group = { lo: [], hi: [] };
  for (let k = 0; k < FINGERPRINT; k++) {
    let lo = 0, hi = 0;
    if (k < anchor.length) {
      for (const b of UNFOLD[anchor.charCodeAt(k)] ?? []) {
        lo |= 1 << (b & 15);
        hi |= 1 << (b >> 4);
      }
    } else {
      lo = hi = 0xffff;
    }
    g.lo.push(lo);
    g.hi.push(hi);
  }
  return g;
}

const merge = (a: Group, b: Group): Group => ({ lo: a.lo.map((x, k) => x | b.lo[k]!), hi: a.hi.map((x, k) => x | b.hi[k]!) });

/** The anchors in at most 8 groups, merging first the pairs whose union lets the least more through. */
function buckets(anchors: readonly string[]): Group[] {
  const groups = [...new Set(anchors)].map(groupOf);
  while (groups.length > BUCKETS) {
    let best = [0, 1], cost = Infinity;
    for (let i = 0; i < groups.length; i++) {
      for (let j = i + 1; j < groups.length; j++) {
        const c = volume(merge(groups[i]!, groups[j]!)) - volume(groups[i]!) - volume(groups[j]!);
        if (c < cost) [cost, best] = [c, [i, j]];
      }
    }
    const [i, j] = best as [number, number];
    groups[i] = merge(groups[i]!, groups[j]!);
    groups.splice(j, 1);
  }
  return groups;
}

function tables(anchors: readonly string[]): Uint8Array {
  const t = new Uint8Array(16 * 2 * FINGERPRINT);
  buckets(anchors).forEach((g, bit) => {
    for (let k = 0; k < FINGERPRINT; k++) {
      for (let n = 0; n < 16; n++) {
        if (g.lo[k]! & (1 << n)) t[32 * k + n]! |= 1 << bit;
        if (g.hi[k]! & (1 << n)) t[32 * k + 16 + n]! |= 1 << bit;
      }
    }
  });
  return t;
}

// ---------------------------------------------------------------------------------------------

export class AnchorPrefilter {
  readonly memory: WebAssembly.Memory;
  private readonly kernel: (p: number, end: number, out: number, outEnd: number) => number;
  private readonly tables: Uint8Array;
  private view: Int32Array;

  /** `anchors`: lower-case latin1 strings (an empty list finds nothing). `dataBytes`: the room for data to start with. */
  constructor(anchors: readonly string[], dataBytes = 1 << 20) {
    this.memory = new WebAssembly.Memory({ initial: pagesFor(dataBytes), maximum: MAX_PAGES, shared: true });
    compiled ??= new WebAssembly.Module(moduleBytes());
    const instance = new WebAssembly.Instance(compiled, { env: { mem: this.memory } });
    this.kernel = instance.exports.scan as AnchorPrefilter["kernel"];
    this.tables = tables(anchors);
    new Uint8Array(this.memory.buffer).set(this.tables, TABLES);
    this.view = new Int32Array(this.memory.buffer);
  }

  /** Where the data starts in the memory. */
  get dataOffset(): number {
    return DATA;
  }

  /** How many bytes of data the memory holds now. */
  get capacity(): number {
    return this.memory.buffer.byteLength - DATA - PAD;
  }

  /** Makes room for `bytes` of data (the memory's buffer changes). */
  reserve(bytes: number): void {
    const have = this.memory.buffer.byteLength / PAGE;
    const want = pagesFor(bytes);
    if (want > MAX_PAGES) throw new Error(`cannot scan ${bytes} bytes at once`);
    if (want > have) {
      this.memory.grow(want - have);
      this.view = new Int32Array(this.memory.buffer);
    }
  }

  /** The memory's bytes from DATA: where the data to scan goes. */
  data(): Uint8Array {
    return new Uint8Array(this.memory.buffer, DATA, this.capacity);
  }

  /**
   * Calls `each` with every candidate position in [from, to) of the data (offsets from DATA), in
   * order. The data must be in place (`data()`); bytes past `to` are read but not reported.
   */
  candidates(from: number, to: number, each: (pos: number) => void): void {
    let p = from;
    const view = this.view;
    while (p < to) {
      const outEnd = this.kernel(DATA + p, DATA + to, CANDIDATES, CANDIDATES + 4 * CANDIDATE_CAP);
      const stop = view[STOP >> 2]! - DATA;
      for (let i = CANDIDATES >> 2, n = outEnd >> 2; i < n; i++) {
        const pos = view[i]! - DATA;
        if (pos < to) each(pos);
      }
      p = stop;
    }
  }
}

function pagesFor(dataBytes: number): number {
  return Math.ceil((DATA + dataBytes + PAD) / PAGE);
}
