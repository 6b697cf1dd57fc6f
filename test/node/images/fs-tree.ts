/**
 * A directory tree as comparable data: every path with its type, mode, owner, size, mtime, symlink
 * target, content hash, device numbers and overlay opaque marker; nothing followed, nothing skipped.
 */
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { lstatSync, readdirSync, readFileSync, readlinkSync } from "node:fs";
import { join } from "node:path";

export interface TreeEntry {
  path: string;
  type: "file" | "dir" | "symlink" | "char" | "block" | "fifo" | "socket";
  mode: string;
  uid: number;
  gid: number;
  size?: number;
  sha256?: string;
  link?: string;
  rdev?: string;
  mtime?: number;
  /** Inode number, only to compare hard links within one tree (not across trees). */
  ino: number;
  nlink: number;
}

export function tree(root: string, opts: { mtimes?: "all" | "non-dirs" | "none" } = {}): TreeEntry[] {
  const mtimes = opts.mtimes ?? "all";
  const out: TreeEntry[] = [];
  const walk = (rel: string) => {
    const abs = rel ? join(root, rel) : root;
    const st = lstatSync(abs);
    const type = st.isFile() ? "file" : st.isDirectory() ? "dir" : st.isSymbolicLink() ? "symlink" : st.isCharacterDevice() ? "char" : st.isBlockDevice() ? "block" : st.isFIFO() ? "fifo" : "socket";
    const e: TreeEntry = { path: rel || ".", type, mode: (st.mode & 0o7777).toString(8), uid: st.uid, gid: st.gid, ino: st.ino, nlink: st.nlink };
    if (type === "file") {
      e.size = st.size;
      e.sha256 = createHash("sha256").update(readFileSync(abs)).digest("hex");
    }
    if (type === "symlink") e.link = readlinkSync(abs);
    if (type === "char" || type === "block") e.rdev = `${Math.floor(st.rdev / 256)}:${st.rdev % 256}`;
    if (mtimes === "all" || (mtimes === "non-dirs" && type !== "dir")) e.mtime = Math.floor(st.mtimeMs);
    out.push(e);
    if (type === "dir") for (const name of readdirSync(abs).sort()) walk(rel ? `${rel}/${name}` : name);
  };
  walk("");
  return out;
}

/** The tree without inode numbers: what two separate unpackings must agree on. */
export function comparable(entries: TreeEntry[]): Omit<TreeEntry, "ino" | "nlink">[] {
  return entries.map(({ ino: _ino, nlink: _nlink, ...rest }) => rest);
}

/** trusted.overlay.opaque of a directory, read with Python (Node has no getxattr). */
export function opaqueXattr(dir: string): string | undefined {
  const r = spawnSync("/usr/bin/python3", ["-I", "-S", "-c", "import os,sys\ntry: sys.stdout.write(os.getxattr(sys.argv[1], 'trusted.overlay.opaque', follow_symlinks=False).decode())\nexcept OSError: sys.exit(3)", dir], { encoding: "utf8" });
  return r.status === 0 ? r.stdout : undefined;
}
