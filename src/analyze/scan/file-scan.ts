/**
 * Secrets in files: those the container wrote (rootfs-diff.tar, streamed member by member) and the
 * deleted files processes held open, whose content CRIU saved as ghost files (ghost-file-<id>.img,
 * the body inline or in chunks at their file offsets: one per extent, so chunks often follow each
 * other without a hole). Offsets are within the file.
 */
import type { CheckpointArchive, MemberReader } from "../../checkpoint/archive/checkpoint-archive.js";
import type { Checkpoint } from "../../checkpoint/checkpoint.js";
import { ROOTFS_DIFF } from "../../checkpoint/layout-names.js";
import { walkPassingTar, walkTar, type TarEntryVisitor } from "../../checkpoint/archive/tar-listing.js";
import { FileNames } from "../../criu-images/explore/file-names.js";
import { listProcesses } from "../../criu-images/explore/processes.js";
import { ghostFiles, planGhosts } from "../inspect.js";
import type { PlacedHit } from "./raw-hit.js";
import type { ScanPool } from "./scan-pool.js";
import { StreamScanner } from "./stream-scanner.js";

/** The files in rootfs-diff.tar, each a stream of its own, as its entries go by. */
class RootfsScan {
  files = 0;
  bytes = 0;
  readonly hits: PlacedHit[] = [];

  constructor(private readonly pool: ScanPool) {}

  readonly visit: TarEntryVisitor = ({ path, type }) => {
    if (type !== "file") return undefined;
    const index = this.files++;
    const scanner = new StreamScanner(this.pool, (hit, base) => {
      const offset = base + hit.start;
      this.hits.push({ hit, location: { kind: "rootfs-file", path: "/" + path, offset }, order: [1, index, BigInt(offset)] });
    });
    return {
      data: (chunk) => {
        this.bytes += chunk.length;
        return scanner.feed(chunk);
      },
      end: () => scanner.end(),
    };
  };
}

/** rootfs-diff.tar scanned during a compressed archive's index pass, which then needs no pass of its own. */
export class PassingRootfs {
  private scan: RootfsScan | undefined;
  private whole = false;

  constructor(private readonly pool: ScanPool) {}

  /** For OpenOptions.passing. */
  readonly reader = (name: string, _size: number, archive: CheckpointArchive): MemberReader | undefined => {
    if (name !== ROOTFS_DIFF) return undefined;
    const scan = (this.scan = new RootfsScan(this.pool));
    const walk = walkPassingTar(`${archive.path}: ${name}`, scan.visit);
    return {
      data: (chunk) => walk.reader.data(chunk, 0),
      end: async () => {
        await walk.reader.end();
        this.whole = true;
      },
    };
  };

  /** The scan, once all of rootfs-diff.tar went through it. */
  get scanned(): RootfsScan | undefined {
    return this.whole ? this.scan : undefined;
  }
}

export async function scanRootfsDiff(cp: Checkpoint, pool: ScanPool, out: PlacedHit[], passing?: PassingRootfs): Promise<{ files: number; bytes: number }> {
  if (!cp.archive.has(ROOTFS_DIFF)) return { files: 0, bytes: 0 };
  let scan = passing?.scanned;
  if (!scan) {
    scan = new RootfsScan(pool);
    await walkTar(cp.archive, ROOTFS_DIFF, scan.visit);
  }
  await pool.drain();
  out.push(...scan.hits);
  return { files: scan.files, bytes: scan.bytes };
}

/** Ghost files above this are not read (an image member is read whole). */
const MAX_GHOST = 64 << 20;

export async function scanGhostFiles(cp: Checkpoint, pool: ScanPool, out: PlacedHit[], notes: string[]): Promise<{ files: number; bytes: number }> {
  const plans = planGhosts(cp);
  if (plans.length === 0) return { files: 0, bytes: 0 };
  await cp.archive.prefetch(plans.map((g) => g.fetch));
  const ghosts = ghostFiles(cp, listProcesses(cp.images), new FileNames(cp.images), plans);
  let files = 0;
  let bytes = 0;
  for (const [i, g] of ghosts.entries()) {
    const member = plans[i]!.member;
    if (g.image_missing) continue;
    if (cp.archive.size(member) > MAX_GHOST) {
      notes.push(`ghost file ${g.path} (${g.image}, ${cp.archive.size(member)} bytes) not scanned: larger than ${MAX_GHOST >> 20} MiB`);
      continue;
    }
    files++;
    const location = { kind: "ghost-file" as const, path: g.path, image: g.image, openBy: g.open_by };
    const buf = cp.images.files.read(g.image);
    const entries = [...cp.images.stream(g.image)];
    // Inline: one body from offset 0. Chunked: each chunk at its `off`; chunks that follow each other
    // are one stream (a match may span them), a hole starts another.
    let scanner: StreamScanner | undefined;
    let end = 0;
    for (const [n, e] of entries.entries()) {
      if (!e.payload) continue;
      const fileOffset = n === 0 ? 0 : Number(e.message.off ?? 0);
      if (!scanner || fileOffset !== end) {
        await scanner?.end();
        const start = fileOffset;
        scanner = new StreamScanner(pool, (hit, base) => {
          const offset = start + base + hit.start;
          out.push({ hit, location: { ...location, offset }, order: [2, i, BigInt(offset)] });
        });
      }
      bytes += e.payload.size;
      end = fileOffset + e.payload.size;
      await scanner.feed(buf.subarray(e.payload.offset, e.payload.offset + e.payload.size));
    }
    await scanner?.end();
  }
  await pool.drain();
  return { files, bytes };
}
