/** The real checkpointctl 1.3.0 as a test oracle. */
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { expect } from "vitest";
import type { ShowRow } from "../../src/analyze/show.js";
import { byteToString } from "../../src/analyze/units.js";

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

/**
 * A `ckpt show` row (as its JSON gives it) against checkpointctl's reading of the archive at `path`,
 * value by value: inspect's JSON (with dump statistics when the row has them) and show's table.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- checkpointctl's JSON
export function expectRowAsCheckpointctl(row: ShowRow, path: string): { ctl: Record<string, any>; table: Record<string, string> } {
  const info = checkpointctl(["inspect", "--stats", "--format", "json", path]);
  expect(info.code, info.stderr).toBe(0);
  const ctl = JSON.parse(info.stdout)[0];
  expect(row.container).toBe(ctl.container_name);
  expect(row.image).toBe(ctl.image);
  expect(row.id).toBe(ctl.id);
  expect(row.runtime).toBe(ctl.runtime);
  expect(row.created).toBe(ctl.created);
  expect(row.engine).toBe(ctl.engine);
  expect(row.ip).toBe(ctl.ip ?? "");
  expect(row.checkpointSize).toBe(ctl.checkpoint_size.total_size);
  expect(row.rootfsDiffSize).toBe(ctl.checkpoint_size.root_fs_diff_size ?? 0);
  if (row.stats) {
    const stats = ctl.statistics ?? {};
    for (const [key, ours] of [
      ["freezing_time", "freezingTime"],
      ["frozen_time", "frozenTime"],
      ["memdump_time", "memdumpTime"],
      ["memwrite_time", "memwriteTime"],
      ["pages_scanned", "pagesScanned"],
      ["pages_written", "pagesWritten"],
    ] as const) {
      expect(row.stats[ours], key).toBe(stats[key] ?? 0);
    }
  }
  // The sizes as printed: checkpointctl's show table against the row formatted the same way.
  const show = checkpointctl(["show", path]);
  expect(show.code, show.stderr).toBe(0);
  const table = parseTable(show.stdout)[0]!;
  expect(byteToString(row.checkpointSize)).toBe(table["CHKPT SIZE"]);
  if (table["ROOT FS DIFF SIZE"] !== undefined) expect(byteToString(row.rootfsDiffSize)).toBe(table["ROOT FS DIFF SIZE"]);
  expect(row.id.slice(0, 12)).toBe(table.ID);
  return { ctl, table };
}
