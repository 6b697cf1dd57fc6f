/**
 * rootfsDiff: a container's overlayfs upper directory into CRI-O's rootfs-diff.tar (the changed
 * files, relative names, uncompressed) and the deleted.files list. The thin I/O shell around the
 * walk (upper-walk.ts), overlay's xattrs (overlay-xattrs.ts), CRI-O's change rules
 * (overlay-changes.ts) and the atomic, streaming tar writer.
 */
import { join, relative, resolve, isAbsolute } from "node:path";
import { asWriteError, CheckpointWriteError, TargetExistsError, throwIfAborted } from "./errors.js";
import { exists, writeFileAtomically } from "./atomic-file.js";
import { overlayChanges } from "./overlay-changes.js";
import { LowerLayers } from "./overlay-lower.js";
import { readOverlayXattrs, type OverlayXattrs } from "./overlay-xattrs.js";
import { writeTar } from "./tar-writer.js";
import { S_IFDIR, S_IFMT, S_IFREG, walkUpper } from "./upper-walk.js";

export interface RootfsDiffOptions {
  /** Container paths ("/etc/hostname") left out with everything beneath them: mount points (the
   * spec's mounts, CRI-O's container mounts; rootfsDiffExcludes builds the list). */
  exclude?: string[];
  /** The lower layers, top first (overlayfs's lowerdir order). With them, "was it there before" is
   * exact and opaque directories and metacopy files are handled; without them a directory counts as
   * old when overlay marked it copied up (xattr origin), and an opaque directory or a metacopy file
   * is an error. */
  lowerDirs?: string[];
  signal?: AbortSignal;
  /** Replace an existing outTar (default: refuse, code "EEXIST"). */
  overwrite?: boolean;
}

export interface RootfsDiffResult {
  /** The tar written (absolute). */
  path: string;
  /** Its members in order: relative names, directories ending in "/". CRI-O writes no
   * rootfs-diff.tar when there are none. */
  files: string[];
  /** deleted.files: "/path" each (CRI-O writes none when empty). */
  deleted: string[];
  /** Opaque directories found ("/path"); their hidden lower contents are in `deleted`. */
  opaque: string[];
  /** Entries no tar can hold (sockets), "/path". */
  skipped: string[];
  bytes: number;
}

export async function rootfsDiff(upperDir: string, outTar: string, opts: RootfsDiffOptions = {}): Promise<RootfsDiffResult> {
  const path = resolve(outTar);
  const upper = resolve(upperDir);
  try {
    throwIfAborted(opts.signal);
    const inside = relative(upper, path);
    if (inside !== ".." && !inside.startsWith("../") && !isAbsolute(inside)) {
      throw new CheckpointWriteError(path, `is inside the upper directory ${upper} it is made from`, { code: "EINVAL" });
    }
    const excluded = excludeMatcher(opts.exclude ?? [], path);
    if (!opts.overwrite && (await exists(path))) throw new TargetExistsError(path);
    const nodes = await walkUpper(upper, excluded, opts.signal);
    const withXattrs = nodes.filter((n) => {
      const type = n.stat.mode & S_IFMT;
      return type === S_IFDIR || type === S_IFREG;
    });
    const byPath = await readOverlayXattrs(
      withXattrs.map((n) => join(upper, n.rel)),
      opts.signal ? { signal: opts.signal } : {},
    );
    const xattrs = new Map<string, OverlayXattrs>();
    for (const n of withXattrs) {
      const x = byPath.get(join(upper, n.rel));
      if (x) xattrs.set(n.rel, x);
    }
    const plan = await overlayChanges({
      upper,
      nodes,
      xattrs,
      excluded,
      ...(opts.lowerDirs ? { lower: new LowerLayers(opts.lowerDirs.map((d) => resolve(d))) } : {}),
    });
    const bytes = await writeFileAtomically(path, (fh) => writeTar(plan.members, fh, opts), opts);
    return { path, files: plan.files, deleted: plan.deleted, opaque: plan.opaque, skipped: plan.skipped, bytes };
  } catch (err) {
    throw asWriteError(path, err);
  }
}

/** rel ("etc/hosts") → whether it is an excluded container path or beneath one. */
export function excludeMatcher(exclude: string[], forPath = "rootfs diff"): (rel: string) => boolean {
  const roots = exclude.map((e) => {
    if (!e.startsWith("/")) throw new CheckpointWriteError(forPath, `exclude ${JSON.stringify(e)} is not an absolute container path`, { code: "EINVAL" });
    return e.replace(/\/+$/, "");
  });
  if (roots.includes("")) return () => true;
  return (rel) => {
    const abs = `/${rel}`;
    return roots.some((r) => abs === r || abs.startsWith(`${r}/`));
  };
}
