/** The real checkpointctl 1.3.0 as a test oracle. */
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";

export const CHECKPOINTCTL = process.env.CKPT_CHECKPOINTCTL ?? "/opt/ckpt-tools/bin/checkpointctl";

export function haveCheckpointctl(): boolean {
  return existsSync(CHECKPOINTCTL);
}

export function checkpointctl(args: string[]): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(CHECKPOINTCTL, args, { encoding: "utf8", maxBuffer: 64 << 20 });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** Rows of a kubectl-style table (header, dash line, rows), cells cut at the header's column starts. */
export function parseTable(text: string): Array<Record<string, string>> {
  const lines = text.split("\n").filter((l) => l.trim() !== "");
  const headerAt = lines.findIndex((l, i) => /^-+( +-+)+$/.test(lines[i + 1] ?? ""));
  if (headerAt === -1) return [];
  const header = lines[headerAt]!;
  const starts: Array<[string, number]> = [];
  for (const m of header.matchAll(/\S+(?: \S+)*/g)) starts.push([m[0], m.index!]);
  return lines.slice(headerAt + 2).map((line) => {
    const row: Record<string, string> = {};
    starts.forEach(([name, start], i) => {
      const end = i + 1 < starts.length ? starts[i + 1]![1] : line.length;
      row[name] = line.slice(start, end).trim();
    });
    return row;
  });
}
