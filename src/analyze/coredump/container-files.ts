/**
 * The container's own files, for mapped file pages a dump does not hold (program text, untouched
 * library pages): the checkpoint's rootfs-diff.tar (what the container changed) first, then an image
 * root filesystem the analyst names. Never the analyst's host: paths are resolved inside the given
 * root, symbolic links included, and a file is used only if its size is the size CRIU recorded.
 */
import { closeSync, lstatSync, openSync, readlinkSync, readSync, statSync } from "node:fs";
import { join } from "node:path";
import type { Checkpoint } from "../../checkpoint/checkpoint.js";
import { ROOTFS_DIFF } from "../../checkpoint/layout-names.js";
import { listTar, readTarFiles } from "../../checkpoint/archive/tar-listing.js";
import { PieceRouter, type RangeTarget } from "./piece-router.js";

/** A range of the container's file at `path`. */
export interface FileRead extends RangeTarget {
  path: string;
}

type Origin = { kind: "diff"; member: string; size: number } | { kind: "rootfs"; file: string; size: number };

/** A path inside `root` with every symbolic link resolved inside `root` too; undefined if it does not exist. */
export function resolveInRoot(root: string, path: string): string | undefined {
  const parts = path.split("/").filter((p) => p && p !== ".");
  const done: string[] = [];
  for (let links = 0; parts.length > 0; ) {
    const part = parts.shift()!;
    if (part === "..") {
      done.pop();
      continue;
    }
    const full = join(root, ...done, part);
    let st;
    try {
      st = lstatSync(full);
    } catch {
      return undefined;
    }
    if (st.isSymbolicLink()) {
      if (++links > 40) return undefined;
      const target = readlinkSync(full);
      if (target.startsWith("/")) done.length = 0;
      parts.unshift(...target.split("/").filter((p) => p && p !== "."));
      continue;
    }
    done.push(part);
  }
  return join(root, ...done);
}

export class ContainerFiles {
  private readonly origins = new Map<string, Origin | null>();

  private constructor(
    private readonly cp: Checkpoint,
    private readonly diff: Map<string, { size: number; member: string }>,
    private readonly rootfs: string | undefined,
  ) {}

  static async open(cp: Checkpoint, rootfs: string | undefined): Promise<ContainerFiles> {
    const diff = new Map<string, { size: number; member: string }>();
    if (cp.archive.has(ROOTFS_DIFF)) {
      const entries = await listTar(cp.archive, ROOTFS_DIFF);
      const files = new Map(entries.filter((e) => e.type === "file").map((e) => [e.path, e.size]));
      for (const e of entries) {
        if (e.type === "file") diff.set(e.path, { size: e.size, member: e.path });
        // A hard link's data is its target's.
        const target = e.type === "hardlink" && e.link ? e.link.replace(/^(\.\/)+|^\/+/, "") : undefined;
        if (target && files.has(target)) diff.set(e.path, { size: files.get(target)!, member: target });
      }
    }
    return new ContainerFiles(cp, diff, rootfs);
  }

  private origin(path: string): Origin | undefined {
    let o = this.origins.get(path);
    if (o === undefined) {
      const inDiff = this.diff.get(path.replace(/^\/+/, ""));
      const inRootfs = !inDiff && this.rootfs !== undefined ? resolveInRoot(this.rootfs, path) : undefined;
      const st = inRootfs ? statSync(inRootfs, { throwIfNoEntry: false }) : undefined;
      o = inDiff ? { kind: "diff", ...inDiff } : inRootfs && st?.isFile() ? { kind: "rootfs", file: inRootfs, size: st.size } : null;
      this.origins.set(path, o);
    }
    return o ?? undefined;
  }

  /**
   * The size of the container's file at `path` and where it was found, or why it cannot be used
   * (`expectedSize` is the size CRIU recorded, when it did).
   */
  find(path: string, expectedSize?: number): { size: number; where: string } | { missing: string } {
    const o = this.origin(path);
    if (!o) {
      const tried = [...(this.cp.archive.has(ROOTFS_DIFF) ? [ROOTFS_DIFF] : []), ...(this.rootfs === undefined ? [] : [this.rootfs])];
      return { missing: tried.length ? `not in ${tried.join(" nor in ")}` : "not in the checkpoint" };
    }
    const where = o.kind === "diff" ? `${this.cp.path}: ${ROOTFS_DIFF}` : o.file;
    if (expectedSize !== undefined && o.size !== expectedSize) return { missing: `${where} has ${o.size} bytes, the dumped process's file had ${expectedSize}` };
    return { size: o.size, where };
  }

  /** Reads the requested ranges: files of the image root directly, rootfs-diff.tar in one pass. */
  async read(reads: readonly FileRead[]): Promise<void> {
    const fromDiff = new Map<string, FileRead[]>();
    const buf = Buffer.allocUnsafe(1 << 20);
    for (const r of reads) {
      const o = this.origin(r.path);
      if (!o) throw new Error(`${r.path}: not among the container's files`);
      if (o.kind === "diff") {
        (fromDiff.get(o.member) ?? fromDiff.set(o.member, []).get(o.member)!).push(r);
        continue;
      }
      const fd = openSync(o.file, "r");
      try {
        for (let done = 0; done < r.length; ) {
          const n = readSync(fd, buf, 0, Math.min(buf.length, r.length - done), r.offset + done);
          if (n === 0) throw new Error(`${o.file}: ends at ${r.offset + done}, reading ${r.length} bytes at ${r.offset}`);
          r.write(buf.subarray(0, n), done);
          done += n;
        }
      } finally {
        closeSync(fd);
      }
    }
    if (fromDiff.size === 0) return;
    const routers = new Map([...fromDiff].map(([member, rs]) => [member, new PieceRouter(rs)]));
    await readTarFiles(this.cp.archive, ROOTFS_DIFF, new Set(fromDiff.keys()), (member, chunk, offset) => routers.get(member)!.feed(chunk, offset));
  }
}
