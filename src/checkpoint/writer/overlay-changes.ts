/**
 * From an overlayfs upper directory to CRI-O's rootfs diff, with CRI-O's rules
 * (CRCreateRootFsDiffTar over containers/storage's overlay Changes): an added entry is archived, a
 * modified non-directory is archived, a directory that was already in the lower layers is not (only
 * what changed inside it is), and a deletion becomes a `/path` in deleted.files.
 *
 * Overlay's marks: a whiteout (character device 0:0, or the xattr whiteout of nested overlays) is a
 * deletion and is never archived. An opaque directory hides everything the lower layers had under
 * it; CRI-O reports the directory itself as deleted, which its own restore (extract the tar, then
 * delete) turns into losing the directory's new contents, so instead each hidden lower entry that
 * the upper directory does not replace is reported. A metacopy file (metacopy=on: only its metadata
 * was copied up) is archived with its data from the lower layer it came from.
 */
import { dirname, posix } from "node:path";
import { byteOrder } from "./image-dir.js";
import type { LowerLayers } from "./overlay-lower.js";
import type { OverlayXattrs } from "./overlay-xattrs.js";
import type { TarMember } from "./tar-members.js";
import { S_IFBLK, S_IFCHR, S_IFDIR, S_IFIFO, S_IFLNK, S_IFMT, S_IFREG, type UpperNode } from "./upper-walk.js";

export interface DiffPlan {
  members: TarMember[];
  /** Member names in archive order: relative, directories with a trailing "/". */
  files: string[];
  /** Deleted paths, each with its leading "/" (deleted.files). */
  deleted: string[];
  /** Opaque directories ("/path"). */
  opaque: string[];
  /** Entries that a tar cannot hold (sockets), "/path". */
  skipped: string[];
}

export interface ChangeContext {
  upper: string;
  /** The upper directory's entries in walk order, excluded ones already left out. */
  nodes: UpperNode[];
  /** Overlay xattrs by relative path. */
  xattrs: Map<string, OverlayXattrs>;
  /** Without them, "was it there before" is answered by the origin xattr that overlay sets on a
   * copied-up directory, and opaque directories and metacopy files cannot be handled. */
  lower?: LowerLayers;
  excluded: (rel: string) => boolean;
}

export function isWhiteout(n: UpperNode, x: OverlayXattrs): boolean {
  const type = n.stat.mode & S_IFMT;
  if (type === S_IFCHR) return n.stat.rdevMajor === 0 && n.stat.rdevMinor === 0;
  return type === S_IFREG && n.stat.size === 0 && x.whiteout !== undefined;
}

export function isOpaque(x: OverlayXattrs): boolean {
  // "x" marks a directory that holds xattr whiteouts, and is not opaque.
  return x.opaque?.toString("latin1") === "y";
}

export async function overlayChanges(ctx: ChangeContext): Promise<DiffPlan> {
  const { upper, nodes, xattrs, lower } = ctx;
  const byRel = new Map(nodes.map((n) => [n.rel, n]));
  const plan: DiffPlan = { members: [], files: [], deleted: [], opaque: [], skipped: [] };
  const firstLink = new Map<string, string>();
  const add = (m: TarMember): void => {
    plan.members.push(m);
    plan.files.push(m.name);
  };
  const xOf = (rel: string): OverlayXattrs => xattrs.get(rel) ?? {};

  const hiddenBelow = async (rel: string, layers: LowerLayers): Promise<string[]> => {
    const out: string[] = [];
    for (const name of (await layers.children(rel)).sort(byteOrder)) {
      const child = `${rel}/${name}`;
      if (ctx.excluded(child)) continue;
      const u = byRel.get(child);
      if (!u) out.push(`/${child}`);
      // A directory made anew under the opaque one hides the old one's contents too (unless it is
      // opaque itself, and then its own turn lists them).
      else if ((u.stat.mode & S_IFMT) === S_IFDIR && !isOpaque(xOf(child)) && (await layers.lookup(child))?.kind === "dir") {
        out.push(...(await hiddenBelow(child, layers)));
      }
    }
    return out;
  };

  const metacopyData = async (n: UpperNode, x: OverlayXattrs, where: string): Promise<string> => {
    if (!lower) throw new Error(`${where}: a metacopy file (its data is in a lower layer); reading it needs lowerDirs`);
    let rel = n.rel;
    if (x.redirect) {
      const r = x.redirect.toString("utf8");
      rel = posix.normalize(r.startsWith("/") ? r.slice(1) : posix.join(dirname(n.rel), r));
      if (rel === ".." || rel.startsWith("../") || rel.startsWith("/")) throw new Error(`${where}: metacopy redirect ${JSON.stringify(r)} leaves the layer`);
    }
    const path = await lower.dataPath(rel);
    if (!path) throw new Error(`${where}: a metacopy file whose data (${rel}) is in no lower layer`);
    return path;
  };

  for (const n of nodes) {
    const x = xOf(n.rel);
    const where = `${upper}/${n.rel}`;
    if (isWhiteout(n, x)) {
      plan.deleted.push(`/${n.rel}`);
      continue;
    }
    switch (n.stat.mode & S_IFMT) {
      case S_IFDIR: {
        if (x.redirect) throw new Error(`${where}: a renamed directory (overlay redirect_dir) is not supported: part of its contents is in the lower layers under its old name`);
        const opaque = isOpaque(x);
        if (opaque) {
          plan.opaque.push(`/${n.rel}`);
          if (!lower) throw new Error(`${where}: an opaque directory (what the lower layers had there was deleted); listing that needs lowerDirs`);
        }
        const below = lower ? await lower.exists(n.rel) : x.origin !== undefined;
        if (opaque && below) plan.deleted.push(...(await hiddenBelow(n.rel, lower!)));
        if (!below) add({ kind: "directory", name: `${n.rel}/`, stat: n.stat });
        break;
      }
      case S_IFREG: {
        const first = n.stat.nlink > 1 ? firstLink.get(n.stat.identity) : undefined;
        if (first !== undefined) {
          add({ kind: "link", name: n.rel, stat: n.stat, linkname: first });
          break;
        }
        if (n.stat.nlink > 1) firstLink.set(n.stat.identity, n.rel);
        const dataSource = x.metacopy !== undefined ? await metacopyData(n, x, where) : undefined;
        add({ kind: "file", name: n.rel, source: where, stat: n.stat, ...(dataSource ? { dataSource } : {}) });
        break;
      }
      case S_IFLNK:
        add({ kind: "symlink", name: n.rel, stat: n.stat, linkname: n.linkname ?? "" });
        break;
      case S_IFIFO:
        add({ kind: "fifo", name: n.rel, stat: n.stat });
        break;
      case S_IFCHR:
        add({ kind: "character-device", name: n.rel, stat: n.stat });
        break;
      case S_IFBLK:
        add({ kind: "block-device", name: n.rel, stat: n.stat });
        break;
      default:
        plan.skipped.push(`/${n.rel}`); // a socket: no tar can hold one (Go's archive skips them too)
    }
  }
  return plan;
}
