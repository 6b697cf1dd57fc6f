/**
 * Secrets in dumped memory: every process and every shared memory object, through memparse's page
 * walker (one streaming pass over the pages files). A hit in the argument or environment block of a
 * process (mm_arg_*, mm_env_* in its mm image) is reported as a command line or environment location.
 * A compressed archive's pages files are scanned while it is being indexed (PassingMemory) when
 * their pagemaps come before them, as they do in the engines' archives: its one pass then serves both.
 */
import type { CheckpointArchive, MemberReader } from "../../checkpoint/archive/checkpoint-archive.js";
import { CHECKPOINT_DIR } from "../../checkpoint/archive/checkpoint-archive.js";
import type { Checkpoint } from "../../checkpoint/checkpoint.js";
import { ImageDir } from "../../criu-images/image-dir.js";
import { memoryRegions, runsOf, vmaAt, type Region, type Run } from "../memparse/regions.js";
import { RegionWalker, walkRegions } from "../memparse/search.js";
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

/** A pages file scanned as it went by: its runs as its pagemap gave them, and the hits in each. */
interface Passed {
  runs: Run[];
  bytes: number;
  hits: Array<{ run: Run; hit: RuleHit; base: number }>;
}

const PAGES_MEMBER = new RegExp(`^${CHECKPOINT_DIR}/(pages-\\d+\\.img)$`);
const PAGEMAP = /^pagemap-(shmem-)?\d+\.img$/;

/** Memory scanned during a compressed archive's index pass, placed once the regions are known. */
export class PassingMemory {
  private readonly passed = new Map<string, Passed>();

  constructor(private readonly pool: ScanPool) {}

  /** For OpenOptions.passing: a reader for a pages file whose pagemap has been read already. */
  readonly reader = (name: string, size: number, archive: CheckpointArchive): MemberReader | undefined => {
    const pages = PAGES_MEMBER.exec(name)?.[1];
    if (!pages) return undefined;
    const runs = runsBefore(archive, pages);
    if (!runs) return undefined;
    this.pool.expect(size);
    const passed: Passed = { runs, bytes: 0, hits: [] };
    this.passed.set(pages, passed);
    const region: Region = { kind: "process", label: "", pagesImage: pages, runs, vmas: [], lazyPages: 0, parentPages: 0 };
    const walker = new RegionWalker(region, (_region, run) => new StreamScanner(this.pool, (hit, base) => passed.hits.push({ run, hit, base })));
    return {
      data: (chunk, offset) => {
        passed.bytes += chunk.length;
        return walker.feed(chunk, offset);
      },
      end: () => walker.end(),
    };
  };

  /** What was scanned of a region's pages file, when all of it was and with the region's runs. */
  of(region: Region): Passed | undefined {
    const p = this.passed.get(region.pagesImage);
    return p && JSON.stringify(p.runs, bigints) === JSON.stringify(region.runs, bigints) ? p : undefined;
  }

  /** Bytes of pages files scanned so far. */
  get bytes(): number {
    return [...this.passed.values()].reduce((n, p) => n + p.bytes, 0);
  }
}

const bigints = (_key: string, v: unknown) => (typeof v === "bigint" ? v.toString() : v);

/** The runs of the pagemap that names `pages`, from the images indexed so far; undefined when there is none yet. */
function runsBefore(archive: CheckpointArchive, pages: string): Run[] | undefined {
  try {
    const dir = new ImageDir(archive.imageFiles());
    for (const name of dir.files.list()) {
      if (!PAGEMAP.test(name)) continue;
      const { pagesId, runs } = runsOf(dir.entries(name));
      if (`pages-${pagesId}.img` === pages) return runs;
    }
  } catch {
    // A pagemap that does not decode: the scan after the index pass reads it, and says what is wrong.
  }
  return undefined;
}

export async function scanMemory(
  cp: Checkpoint,
  pool: ScanPool,
  out: PlacedHit[],
  onProgress?: (done: number, total: number) => void,
  passing?: PassingMemory,
): Promise<MemoryScan> {
  const regions = memoryRegions(cp.images);
  const areas = new Map(regions.filter((r) => r.kind === "process").map((r) => [r.pid!, areasOf(cp, r.pid!)]));
  const order = new Map(regions.map((r, i) => [r, i]));
  const place = (region: Region, run: Run, hit: RuleHit, base: number) => {
    const address = run.vaddr + BigInt(base + hit.start);
    out.push({ hit, location: locate(region, areas.get(region.pid!), address, hit), order: [0, order.get(region)!, address] });
  };
  await pool.drain();
  let bytes = 0;
  const rest: Region[] = [];
  for (const region of regions) {
    const passed = passing?.of(region);
    if (!passed) {
      rest.push(region);
      continue;
    }
    bytes += passed.bytes;
    for (const { run, hit, base } of passed.hits) place(region, run, hit, base);
  }
  const sinkFor = (region: Region, run: Run) => new StreamScanner(pool, (hit, base) => place(region, run, hit, base));
  bytes += await walkRegions(cp, rest, sinkFor, onProgress, true);
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
