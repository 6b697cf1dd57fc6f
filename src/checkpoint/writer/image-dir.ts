/**
 * Listing a CRIU image directory for the archive, in the order Go's filepath.WalkDir visits it
 * (names sorted bytewise, a directory before its contents), which is the order CRI-O's tar has.
 */
import { lstat, readdir } from "node:fs/promises";
import { join } from "node:path";
import { SourceError, messageOf } from "./errors.js";
import { nodeStat, type NodeStat } from "./tar-members.js";

/** Files CRIU writes into its work directory, which is the image directory when runc is called
 * without --work-path. CRI-O passes a work path, so in its archives they are top-level members. */
export const CRIU_WORK_FILES: ReadonlySet<string> = new Set(["stats-dump", "dump.log", "restore.log", "stats-restore"]);

/** The marker of a complete dump (CRI-O checks for checkpoint/inventory.img before restoring). */
export const INVENTORY = "inventory.img";

export interface ImageDirEntry {
  /** Relative to the image directory, "/"-separated. */
  rel: string;
  stat: NodeStat;
  isDirectory: boolean;
}

export interface ImageDirListing {
  root: NodeStat;
  /** Everything that becomes `checkpoint/…`, in walk order. */
  entries: ImageDirEntry[];
  /** CRIU work files found at the top level (name → stat). */
  workFiles: Map<string, NodeStat>;
}

export function byteOrder(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}

/** Lists `dir` without following symlinks. Anything but regular files and directories (a CRIU image
 * directory has nothing else) is refused rather than archived. */
export async function listImageDir(dir: string): Promise<ImageDirListing> {
  const root = await statOf(dir);
  if ((root.mode & 0o170000) !== 0o040000) throw new SourceError(dir, "is not a directory");
  const entries: ImageDirEntry[] = [];
  const workFiles = new Map<string, NodeStat>();
  const walk = async (rel: string): Promise<void> => {
    const here = rel ? join(dir, rel) : dir;
    let names: string[];
    try {
      names = await readdir(here);
    } catch (err) {
      throw new SourceError(here, messageOf(err), { cause: err });
    }
    for (const name of names.sort(byteOrder)) {
      const r = rel ? `${rel}/${name}` : name;
      const stat = await statOf(join(dir, r));
      const type = stat.mode & 0o170000;
      if (!rel && CRIU_WORK_FILES.has(name) && type === 0o100000) {
        workFiles.set(name, stat);
        continue;
      }
      if (type === 0o040000) {
        entries.push({ rel: r, stat, isDirectory: true });
        await walk(r);
      } else if (type === 0o100000) {
        entries.push({ rel: r, stat, isDirectory: false });
      } else {
        throw new SourceError(join(dir, r), "is not a regular file or directory (a CRIU image directory has no others)");
      }
    }
  };
  await walk("");
  if (!entries.some((e) => e.rel === INVENTORY && !e.isDirectory)) {
    throw new SourceError(dir, `has no ${INVENTORY}: not a complete CRIU dump`);
  }
  return { root, entries, workFiles };
}

async function statOf(path: string): Promise<NodeStat> {
  try {
    return nodeStat(await lstat(path, { bigint: true }));
  } catch (err) {
    throw new SourceError(path, messageOf(err), { cause: err });
  }
}
