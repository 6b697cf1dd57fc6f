/**
 * What overlayfs reads as deletions, and the other inodes Node cannot make: whiteouts (character
 * device 0:0, mknod), opaque directories (xattr trusted.overlay.opaque=y) and FIFOs. Node has no
 * mknod, mkfifo or setxattr, so one short Python process per layer that needs them makes them all
 * (Debian's /usr/bin/python3, which the node's setup installs; `-I -S`: no site packages, no user
 * environment). Most layers need none and start no process.
 */
import { execa } from "execa";
import { existsSync } from "node:fs";

export interface OverlayMarks {
  /** Paths (absolute) to become whiteouts; none of them exists yet. */
  whiteouts: string[];
  /** Directories (absolute, real directories) to mark opaque. */
  opaque: string[];
  fifos: { path: string; mode: number; uid: number; gid: number }[];
}

const PYTHON = "/usr/bin/python3";

const SCRIPT = `
import json, os, stat, sys
marks = json.load(sys.stdin)
for p in marks["whiteouts"]:
    os.mknod(p, stat.S_IFCHR, os.makedev(0, 0))
for p in marks["opaque"]:
    os.setxattr(p, "trusted.overlay.opaque", b"y", follow_symlinks=False)
for f in marks["fifos"]:
    os.mkfifo(f["path"], 0o600)
    os.chown(f["path"], f["uid"], f["gid"], follow_symlinks=False)
    os.chmod(f["path"], f["mode"])
`;

export function hasMarks(m: OverlayMarks): boolean {
  return m.whiteouts.length + m.opaque.length + m.fifos.length > 0;
}

export async function applyOverlayMarks(marks: OverlayMarks, signal?: AbortSignal): Promise<void> {
  if (!hasMarks(marks)) return;
  if (!existsSync(PYTHON)) throw new Error(`${PYTHON} is missing; it makes the layer's whiteouts, opaque directories and FIFOs (Node cannot)`);
  const result = await execa(PYTHON, ["-I", "-S", "-c", SCRIPT], { input: JSON.stringify(marks), reject: false, ...(signal ? { cancelSignal: signal } : {}) });
  if (result.exitCode !== 0) {
    const lastLine = String(result.stderr).trim().split("\n").pop() ?? "";
    throw new Error(`making whiteouts, opaque directories and FIFOs failed: ${lastLine || `exit ${result.exitCode}`}`);
  }
}
