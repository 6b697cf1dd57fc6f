/**
 * `ckpt show`: one row per checkpoint with the container, its engine and sizes, and CRIU's dump
 * statistics. The values are those checkpointctl 1.3.0 computes from the same archive.
 */
import type { Checkpoint } from "../checkpoint/checkpoint.js";
import { byteToString } from "./units.js";

export interface ShowRow {
  path: string;
  container: string;
  image: string;
  id: string;
  runtime: string;
  created: string;
  engine: string;
  ip: string;
  checkpointSize: number;
  rootfsDiffSize: number;
  stats?: DumpStatistics;
}

export interface DumpStatistics {
  freezingTime: number;
  frozenTime: number;
  memdumpTime: number;
  memwriteTime: number;
  pagesScanned: number;
  pagesWritten: number;
}

export function dumpStatistics(cp: Checkpoint): DumpStatistics | undefined {
  const d = cp.dumpStats();
  if (!d) return undefined;
  const n = (v: unknown) => Number(v ?? 0);
  return {
    freezingTime: n(d.freezing_time),
    frozenTime: n(d.frozen_time),
    memdumpTime: n(d.memdump_time),
    memwriteTime: n(d.memwrite_time),
    pagesScanned: n(d.pages_scanned),
    pagesWritten: n(d.pages_written),
  };
}

export function showRow(cp: Checkpoint): ShowRow {
  const c = cp.container();
  const sizes = cp.sizes();
  return {
    path: cp.path,
    container: c.name,
    image: c.image,
    id: c.id,
    runtime: c.runtime,
    created: c.created,
    engine: c.engine,
    ip: c.ip ?? "",
    checkpointSize: sizes.total,
    rootfsDiffSize: sizes.rootfsDiff,
    stats: dumpStatistics(cp),
  };
}

export const SHOW_HEADER = ["CONTAINER", "IMAGE", "ID", "RUNTIME", "CREATED", "ENGINE", "IP", "CHKPT SIZE", "ROOT FS DIFF SIZE"];
export const STATS_HEADER = ["CONTAINER", "FREEZING TIME", "FROZEN TIME", "MEMDUMP TIME", "MEMWRITE TIME", "PAGES SCANNED", "PAGES WRITTEN"];

export function showCells(r: ShowRow): string[] {
  return [r.container, r.image, r.id.slice(0, 12), r.runtime, r.created, r.engine, r.ip, byteToString(r.checkpointSize), byteToString(r.rootfsDiffSize)];
}

export function statsCells(r: ShowRow): string[] | undefined {
  const s = r.stats;
  if (!s) return undefined;
  const us = (v: number) => `${v} us`;
  return [r.container, us(s.freezingTime), us(s.frozenTime), us(s.memdumpTime), us(s.memwriteTime), String(s.pagesScanned), String(s.pagesWritten)];
}
