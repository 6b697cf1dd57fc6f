/**
 * The members the tar writer packs: what each one is, where its bytes come from, and the header
 * fields taken from the file system (as Go's archive.TarWithOptions, which CRI-O uses, takes mode,
 * owner and mtime from lstat). Pure types and header arithmetic; the I/O is in tar-writer.ts.
 */
import type { BigIntStats } from "node:fs";

/** The lstat fields a header needs, plus the identity that proves a later open hit the same inode. */
export interface NodeStat {
  /** Full st_mode (type bits included: tar-stream replaces a mode of 0 by 0644, type bits keep a
   * 0000 file 0000). */
  mode: number;
  uid: number;
  gid: number;
  mtime: Date;
  size: number;
  nlink: number;
  rdevMajor: number;
  rdevMinor: number;
  /** "dev:ino", exact (bigint stats: inode numbers pass 2^53 on some file systems). */
  identity: string;
}

export type TarMember =
  /** A regular file read from disk at write time; `stat` (from a walk) is checked against the
   * opened file's identity, so a path swapped for a symlink or another file in between is refused.
   * `dataSource` reads the bytes from another file (an overlay metacopy file's lower copy).
   * `maxSize` keeps only the file's first bytes (a log that grows while it is archived). */
  | { kind: "file"; name: string; source: string; stat?: NodeStat; dataSource?: string; maxSize?: number }
  /** Bytes made in memory (the JSON members). */
  | { kind: "data"; name: string; data: Buffer; mode: number; mtime: Date }
  /** A member without data; its header comes from `stat`. */
  | { kind: "directory" | "symlink" | "link" | "fifo" | "character-device" | "block-device"; name: string; stat: NodeStat; linkname?: string };

export function nodeStat(st: BigIntStats): NodeStat {
  const rdev = st.rdev;
  return {
    mode: Number(st.mode),
    uid: Number(st.uid),
    gid: Number(st.gid),
    mtime: new Date(Number(st.mtimeMs)),
    size: Number(st.size),
    nlink: Number(st.nlink),
    // Linux's dev_t encoding (glibc gnu_dev_major/minor).
    rdevMajor: Number(((rdev & 0xfff00n) >> 8n) | ((rdev & 0xfffff00000000000n) >> 32n)),
    rdevMinor: Number((rdev & 0xffn) | ((rdev & 0xffffff00000n) >> 12n)),
    identity: `${st.dev}:${st.ino}`,
  };
}

/** Largest uid/gid a ustar header holds (tar-stream writes 6 octal digits); beyond it the id goes
 * into a PAX record, as Go's archive/tar does, instead of being clamped to 0777777. */
const USTAR_MAX_ID = 0o777777;

/** The PAX records a header needs beyond what ustar can say, or undefined. */
export function paxRecords(stat: { uid: number; gid: number }): Record<string, string> | undefined {
  const pax: Record<string, string> = {};
  if (stat.uid > USTAR_MAX_ID) pax.uid = String(stat.uid);
  if (stat.gid > USTAR_MAX_ID) pax.gid = String(stat.gid);
  return Object.keys(pax).length ? pax : undefined;
}
