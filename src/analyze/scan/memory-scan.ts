/**
 * Secrets in dumped memory: every process and every shared memory object, through memparse's page
 * walker (one streaming pass over the pages files). A hit in the argument or environment block of a
 * process (mm_arg_*, mm_env_* in its mm image) is reported as a command line or environment location.
 */
import type { Checkpoint } from "../../checkpoint/checkpoint.js";
import { memoryRegions, vmaAt, type Region, type Run } from "../memparse/regions.js";
import { walkRegions } from "../memparse/search.js";
import type { RuleHit } from "./detector.js";
import type { Location } from "./findings.js";
import type { PlacedHit } from "./raw-hit.js";
import type { ScanPool } from "./scan-pool.js";
import { StreamScanner } from "./stream-scanner.js";

interface Areas {
  arg: [bigint, bigint];
  env: [bigint, bigint];
}

const hex = (v: bigint) => "0x" + v.toString(16);

function areasOf(cp: Checkpoint, pid: number): Areas | undefined {
  const mm = cp.images.one(`mm-${pid}.img`);
  if (!mm) return undefined;
  const big = (v: unknown) => BigInt((v as bigint | number | undefined) ?? 0);
  return { arg: [big(mm.mm_arg_start), big(mm.mm_arg_end)], env: [big(mm.mm_env_start), big(mm.mm_env_end)] };
}

/** The variable an environment hit is in: the entry (NUL-separated) around it, up to its "=". */
function variableOf(hit: RuleHit): string | undefined {
  const entryStart = hit.before.lastIndexOf("\0") + 1;
  if (entryStart === 0 && hit.before.length > 0) return undefined;
  const entry = hit.before.slice(entryStart) + hit.match;
  const eq = entry.indexOf("=");
  const secretAt = hit.before.length - entryStart + (hit.secretStart - hit.start);
  return eq > 0 && eq < secretAt ? entry.slice(0, eq) : undefined;
}

function locate(region: Region, areas: Areas | undefined, address: bigint, hit: RuleHit): Location {
  if (region.kind === "shmem") return { kind: "shared-memory", shmid: region.shmid!, label: region.label, offset: Number(address) };
  const base = { pid: region.pid!, comm: region.comm ?? "", address: hex(address) };
  const inside = (a: [bigint, bigint]) => address >= a[0] && address < a[1];
  if (areas && inside(areas.env)) return { kind: "environment", ...base, variable: variableOf(hit) };
  if (areas && inside(areas.arg)) return { kind: "cmdline", ...base };
  const v = vmaAt(region.vmas, address);
  return { kind: "memory", ...base, vma: v ? { start: hex(v.start), end: hex(v.end), perms: v.prot, file: v.resource || undefined } : undefined };
}

export interface MemoryScan {
  bytes: number;
  regions: number;
  lazyPages: number;
  parentPages: number;
}

export async function scanMemory(cp: Checkpoint, pool: ScanPool, out: PlacedHit[], onProgress?: (done: number, total: number) => void): Promise<MemoryScan> {
  const regions = memoryRegions(cp.images);
  const areas = new Map(regions.filter((r) => r.kind === "process").map((r) => [r.pid!, areasOf(cp, r.pid!)]));
  const order = new Map(regions.map((r, i) => [r, i]));
  const sinkFor = (region: Region, run: Run) =>
    new StreamScanner(pool, (hit, base) => {
      const address = run.vaddr + BigInt(base + hit.start);
      out.push({ hit, location: locate(region, areas.get(region.pid!), address, hit), order: [0, order.get(region)!, address] });
    });
  const bytes = await walkRegions(cp, regions, sinkFor, onProgress, true);
  await pool.drain();
  return {
    bytes,
    regions: regions.length,
    lazyPages: regions.reduce((n, r) => n + r.lazyPages, 0),
    parentPages: regions.reduce((n, r) => n + r.parentPages, 0),
  };
}

/** How many bytes of pages a memory scan reads. */
export function memoryBytes(cp: Checkpoint): number {
  const members = new Set(memoryRegions(cp.images).filter((r) => r.runs.length).map((r) => r.pagesImage));
  return [...members].reduce((n, m) => n + (cp.archive.has(`checkpoint/${m}`) ? cp.archive.size(`checkpoint/${m}`) : 0), 0);
}
