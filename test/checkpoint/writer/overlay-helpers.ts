/**
 * Real overlayfs mounts for the rootfs diff tests: lower layers made from a description, an upper
 * and work directory, mounted with mount(8) as root; changes are then made through the merged
 * directory, so the upper directory holds exactly what the kernel writes (whiteouts, opaque and
 * origin xattrs, metacopy files).
 */
import { execFileSync, spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";

export function canMountOverlay(): boolean {
  return process.getuid?.() === 0 && readFileSync("/proc/filesystems", "utf8").includes("\toverlay\n");
}

/** Layer content: path → file text, or { symlink } / { dir: true }. */
export type LayerSpec = Record<string, string | { symlink: string } | { dir: true }>;

export interface Overlay {
  root: string;
  /** Top first, as overlayfs's lowerdir lists them. */
  lowers: string[];
  upper: string;
  merged: string;
  unmount(): void;
}

export function makeLayer(dir: string, spec: LayerSpec): void {
  mkdirSync(dir, { recursive: true });
  for (const [path, what] of Object.entries(spec)) {
    const p = join(dir, path);
    mkdirSync(dirname(p), { recursive: true });
    if (typeof what === "string") writeFileSync(p, what);
    else if ("symlink" in what) symlinkSync(what.symlink, p);
    else mkdirSync(p, { recursive: true });
  }
}

/** Mounts an overlay of `layers` (bottom first) with the given extra options. */
export function mountOverlay(layers: LayerSpec[], options: string[] = []): Overlay {
  const root = mkdtempSync(join(tmpdir(), "ckpt-ovl-"));
  const bottomFirst = layers.map((spec, i) => {
    const dir = join(root, `layer${i}`);
    makeLayer(dir, spec);
    return dir;
  });
  const lowers = [...bottomFirst].reverse();
  const upper = join(root, "upper");
  const work = join(root, "work");
  const merged = join(root, "merged");
  for (const d of [upper, work, merged]) mkdirSync(d);
  const opts = [`lowerdir=${lowers.join(":")}`, `upperdir=${upper}`, `workdir=${work}`, ...options].join(",");
  execFileSync("mount", ["-t", "overlay", "overlay", "-o", opts, merged]);
  let mounted = true;
  return {
    root,
    lowers,
    upper,
    merged,
    unmount() {
      if (mounted) {
        spawnSync("umount", [merged]);
        mounted = false;
      }
      rmSync(root, { recursive: true, force: true });
    },
  };
}

/** Runs a shell script inside the merged directory (busybox-free: /bin/sh and coreutils). */
export function inMerged(o: Overlay, script: string): void {
  execFileSync("/bin/sh", ["-euc", script], { cwd: o.merged });
}

/** Sets or reads xattrs the way the tests need (Node has no xattr calls). */
export function getXattr(path: string, name: string): string | undefined {
  const r = spawnSync("/usr/bin/python3", ["-c", "import os,sys\ntry: sys.stdout.write(os.getxattr(sys.argv[1], sys.argv[2], follow_symlinks=False).hex())\nexcept OSError: sys.exit(3)", path, name], {
    encoding: "utf8",
  });
  return r.status === 0 ? Buffer.from(r.stdout, "hex").toString("latin1") : undefined;
}
