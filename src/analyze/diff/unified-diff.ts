/**
 * A unified diff of two small texts (diff -u's format, three lines of context), from Myers' O(ND)
 * shortest edit script. Texts must not contain NUL (binary files get no diff). Texts that need more than MAX_EDITS edits get no diff: the caller says so.
 */

const CONTEXT = 3;
const MAX_EDITS = 1000;

type Op = { kind: " " | "-" | "+"; line: string };

/** Marks a last line with no newline after it (texts here have no NUL): it differs from the same
 * line with one, and diff -u says so after it. */
const NO_EOL = "\0";

function splitLines(text: string): string[] {
  if (text === "") return [];
  const lines = text.split("\n");
  if (lines[lines.length - 1] === "") lines.pop();
  else lines[lines.length - 1] += NO_EOL;
  return lines;
}

/** The edit script turning a into b, or undefined when it is longer than MAX_EDITS. */
function editScript(a: readonly string[], b: readonly string[]): Op[] | undefined {
  const n = a.length;
  const m = b.length;
  const max = Math.min(n + m, MAX_EDITS);
  const offset = max + 1;
  let v: Int32Array = new Int32Array(2 * max + 3);
  const trace: Int32Array[] = [];
  let found = -1;
  for (let d = 0; d <= max && found < 0; d++) {
    trace.push(v.slice());
    for (let k = -d; k <= d; k += 2) {
      let x = k === -d || (k !== d && v[offset + k - 1]! < v[offset + k + 1]!) ? v[offset + k + 1]! : v[offset + k - 1]! + 1;
      let y = x - k;
      while (x < n && y < m && a[x] === b[y]) {
        x++;
        y++;
      }
      v[offset + k] = x;
      if (x >= n && y >= m) {
        found = d;
        break;
      }
    }
  }
  if (found < 0) return undefined;
  // Walk the trace back from the end.
  const ops: Op[] = [];
  let x = n;
  let y = m;
  for (let d = found; d > 0; d--) {
    v = trace[d]!;
    const k = x - y;
    const prevK = k === -d || (k !== d && v[offset + k - 1]! < v[offset + k + 1]!) ? k + 1 : k - 1;
    const prevX = v[offset + prevK]!;
    const prevY = prevX - prevK;
    while (x > prevX && y > prevY) ops.push({ kind: " ", line: a[--x]! }), y--;
    if (x === prevX) ops.push({ kind: "+", line: b[--y]! });
    else ops.push({ kind: "-", line: a[--x]! });
  }
  while (x > 0 && y > 0) ops.push({ kind: " ", line: a[--x]! }), y--;
  return ops.reverse();
}

/** `diff -u`'s hunks (without the ---/+++ lines), or undefined when the texts differ too much. */
export function unifiedDiff(aText: string, bText: string): string[] | undefined {
  const a = splitLines(aText);
  const b = splitLines(bText);
  const ops = editScript(a, b);
  if (!ops) return undefined;
  const out: string[] = [];
  let i = 0;
  // Line numbers (1-based) of ops[i] in a and b.
  const aLine: number[] = [];
  const bLine: number[] = [];
  let la = 1;
  let lb = 1;
  for (const op of ops) {
    aLine.push(la);
    bLine.push(lb);
    if (op.kind !== "+") la++;
    if (op.kind !== "-") lb++;
  }
  while (i < ops.length) {
    if (ops[i]!.kind === " ") {
      i++;
      continue;
    }
    // A hunk: from CONTEXT lines before this change to CONTEXT lines after the last change that
    // is closer than 2 * CONTEXT to the one before it.
    const start = Math.max(0, i - CONTEXT);
    let end = i;
    let j = i;
    while (j < ops.length) {
      if (ops[j]!.kind !== " ") {
        end = j;
        j++;
        continue;
      }
      let run = 0;
      while (j + run < ops.length && ops[j + run]!.kind === " ") run++;
      if (j + run >= ops.length || run > 2 * CONTEXT) break;
      j += run;
    }
    const stop = Math.min(ops.length, end + 1 + CONTEXT);
    const hunk = ops.slice(start, stop);
    const aCount = hunk.filter((o) => o.kind !== "+").length;
    const bCount = hunk.filter((o) => o.kind !== "-").length;
    // diff -u numbers an empty side by the line before it.
    const aStart = aCount ? aLine[start]! : aLine[start]! - 1;
    const bStart = bCount ? bLine[start]! : bLine[start]! - 1;
    // diff -u leaves out a count of 1.
    const range = (start: number, count: number) => (count === 1 ? String(start) : `${start},${count}`);
    out.push(`@@ -${range(aStart, aCount)} +${range(bStart, bCount)} @@`);
    for (const o of hunk) {
      if (o.line.endsWith(NO_EOL)) out.push(o.kind + o.line.slice(0, -1), "\\ No newline at end of file");
      else out.push(o.kind + o.line);
    }
    i = stop;
  }
  return out;
}
