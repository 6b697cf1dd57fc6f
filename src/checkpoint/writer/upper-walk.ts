/**
 * Walking a container's upper directory while the container may still be writing to it. Each
 * directory is opened (O_NOFOLLOW) and its entries are reached through /proc/self/fd/N/<name>, the
 * native-free equivalent of openat(2): if the container swaps a directory for a symlink half-way,
 * the walk still only sees what is inside the directory it opened and never steps out to the host.
 * Order: names sorted bytewise, a directory before its contents (Go's filepath.Walk, which
 * containers/storage's Changes uses).
 */
import { isUtf8 } from "node:buffer";
import { constants } from "node:fs";
import { lstat, open, readdir, readlink, type FileHandle } from "node:fs/promises";
import { errnoCode, throwIfAborted } from "./errors.js";
import { nodeStat, type NodeStat } from "./tar-members.js";

export interface UpperNode {
  /** Relative to the upper directory ("etc/app.conf"), no leading "/". */
  rel: string;
  stat: NodeStat;
  /** A symlink's target. */
  linkname?: string;
}

export const S_IFMT = 0o170000;
export const S_IFDIR = 0o040000;
export const S_IFREG = 0o100000;
export const S_IFLNK = 0o120000;
export const S_IFCHR = 0o020000;
export const S_IFBLK = 0o060000;
export const S_IFIFO = 0o010000;
export const S_IFSOCK = 0o140000;

const DIR_FLAGS = constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW;

/**
 * Every entry under `upper` except those `skip` rejects (a rejected directory is not entered). An
 * entry that vanishes between listing and lstat is left out: it is not part of the state any more.
 */
export async function walkUpper(upper: string, skip: (rel: string) => boolean, signal?: AbortSignal): Promise<UpperNode[]> {
  const nodes: UpperNode[] = [];
  const root = await open(upper, constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    await walkDir(root, "", upper, nodes, skip, signal);
  } finally {
    await root.close();
  }
  return nodes;
}

async function walkDir(dir: FileHandle, rel: string, upper: string, nodes: UpperNode[], skip: (rel: string) => boolean, signal: AbortSignal | undefined): Promise<void> {
  const anchor = `/proc/self/fd/${dir.fd}`;
  const shown = (r: string) => `${upper}/${r}`;
  const names = (await readdir(anchor, { encoding: "buffer" })).sort(Buffer.compare);
  for (const raw of names) {
    throwIfAborted(signal);
    if (!isUtf8(raw)) throw new Error(`${shown(rel)}: a file name that is not UTF-8 (${raw.toString("hex")}) is not supported`);
    const name = raw.toString("utf8");
    const childRel = rel ? `${rel}/${name}` : name;
    if (skip(childRel)) continue;
    const at = `${anchor}/${name}`;
    let stat: NodeStat;
    try {
      stat = nodeStat(await lstat(at, { bigint: true }));
    } catch (err) {
      if (errnoCode(err) === "ENOENT") continue;
      throw err;
    }
    const type = stat.mode & S_IFMT;
    const node: UpperNode = { rel: childRel, stat };
    if (type === S_IFLNK) {
      const target = await readlink(at, { encoding: "buffer" });
      if (!isUtf8(target)) throw new Error(`${shown(childRel)}: a symlink target that is not UTF-8 is not supported`);
      node.linkname = target.toString("utf8");
    }
    nodes.push(node);
    if (type !== S_IFDIR) continue;
    let child: FileHandle;
    try {
      child = await open(at, DIR_FLAGS);
    } catch (err) {
      if (errnoCode(err) === "ENOENT") continue;
      throw new Error(`${shown(childRel)}: ${(err as Error).message}`, { cause: err });
    }
    try {
      const st = nodeStat(await child.stat({ bigint: true }));
      if (st.identity !== stat.identity) throw new Error(`${shown(childRel)}: replaced while it was read`);
      await walkDir(child, childRel, upper, nodes, skip, signal);
    } finally {
      await child.close();
    }
  }
}
