/**
 * A container's root filesystem: an overlay of the image's unpacked layers (read-only, shared by every
 * container of the image) and a writable upper directory of its own. The upper directory is exactly
 * what the container changed, which is what a checkpoint's rootfs-diff.tar and deleted.files hold.
 */
import { execa } from "execa";
import { chmodSync, existsSync, mkdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";

export interface RootfsPaths {
  upper: string;
  work: string;
  merged: string;
}

export function rootfsPaths(containerDir: string): RootfsPaths {
  return { upper: join(containerDir, "upper"), work: join(containerDir, "work"), merged: join(containerDir, "rootfs") };
}

export function isMounted(path: string): boolean {
  const mounts = readFileSync("/proc/self/mounts", "utf8");
  return mounts.split("\n").some((l) => l.split(" ")[1] === path.replace(/ /g, "\\040"));
}

/** Mounts the overlay (idempotent: an agent restart finds it mounted already). */
export async function mountRootfs(containerDir: string, layers: string[]): Promise<RootfsPaths> {
  const p = rootfsPaths(containerDir);
  if (isMounted(p.merged)) return p;
  if (layers.length === 0) throw new Error(`${containerDir}: the image has no layers`);
  // The container's "/" is the upper directory's: it gets the image's root mode (usually 0755),
  // unless a restore set the mode the checkpoint recorded.
  if (!existsSync(p.upper)) {
    mkdirSync(p.upper, { recursive: true });
    chmodSync(p.upper, statSync(layers.at(-1)!).mode & 0o7777);
  }
  for (const d of [p.work, p.merged]) mkdirSync(d, { recursive: true, mode: 0o700 });
  // overlayfs lists lower directories top first; the image store gives them lowest first.
  const lower = [...layers].reverse().join(":");
  const r = await execa("mount", ["-t", "overlay", "overlay", "-o", `lowerdir=${lower},upperdir=${p.upper},workdir=${p.work}`, p.merged], {
    reject: false,
  });
  if (r.exitCode !== 0) throw new Error(`mounting the root filesystem at ${p.merged}: ${r.stderr.trim()}`);
  return p;
}

export async function unmountRootfs(containerDir: string): Promise<void> {
  const p = rootfsPaths(containerDir);
  if (existsSync(p.merged) && isMounted(p.merged)) {
    const r = await execa("umount", [p.merged], { reject: false });
    if (r.exitCode !== 0) await execa("umount", ["-l", p.merged], { reject: false });
  }
}
