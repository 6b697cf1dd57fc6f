/**
 * Timing one process as a whole, for the benchmarks: wall time around the spawn and peak RSS from
 * GNU time's %M, and the median of several runs.
 */
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";

export const TIME = "/usr/bin/time";

export interface Sample {
  seconds: number;
  rssKB: number;
}

let wasInterrupted = false;
for (const sig of ["SIGINT", "SIGTERM"] as const) process.on(sig, () => (wasInterrupted = true));

/** Runs argv once in `cwd`; `work` is a scratch directory for time's output. */
export function measure(argv: string[], what: string, cwd: string, work: string): Sample {
  const timeFile = join(work, "time.out");
  const started = performance.now();
  const r = spawnSync(TIME, ["-o", timeFile, "-f", "%M", ...argv], {
    cwd,
    stdio: ["ignore", "ignore", "pipe"],
    maxBuffer: 16 << 20,
  });
  const seconds = (performance.now() - started) / 1000;
  if (wasInterrupted) throw new Error("interrupted");
  if (r.error || r.status !== 0) {
    throw new Error(`${what} failed (${r.error ? r.error.message : r.signal ?? `exit ${r.status}`}): ${argv.join(" ")}\n${String(r.stderr ?? "").slice(-2000)}`);
  }
  const lines = readFileSync(timeFile, "utf8").trim().split("\n");
  return { seconds, rssKB: Number(lines[lines.length - 1]) };
}

/** Whether SIGINT or SIGTERM arrived: a bench stops at the next measurement and cleans up. */
export function interrupted(): boolean {
  return wasInterrupted;
}

/**
 * Runs A then B, alternating, so that a drift of the machine's speed hits both alike: one warm-up
 * pair that is not kept, then `runs` measured pairs. `prepare` runs before each pair, untimed.
 */
export function alternate(runs: number, a: () => Sample, b?: () => Sample, prepare?: () => void): { a: Sample[]; b: Sample[] } {
  const out = { a: [] as Sample[], b: [] as Sample[] };
  for (let i = 0; i <= runs; i++) {
    prepare?.();
    const sa = a();
    const sb = b?.();
    if (i === 0) continue;
    out.a.push(sa);
    if (sb) out.b.push(sb);
  }
  return out;
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

export const MB = 1024 * 1024;
export const fmtMB = (bytes: number): string => (bytes / MB).toFixed(1);
export const kbToMB = (kb: number): string => (kb / 1024).toFixed(1);

/** A plain text table: left-aligned first columns, numbers right-aligned from `rightFrom` on. */
export function table(header: string[], rows: string[][], rightFrom = 1): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]): string =>
    cells.map((c, i) => (i >= rightFrom ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join("  ").trimEnd();
  return [line(header), widths.map((w) => "-".repeat(w)).join("  "), ...rows.map(line)].join("\n");
}
