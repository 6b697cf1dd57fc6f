/**
 * Writing into the store so that a crash never leaves something that looks complete: every file and
 * directory is made under the store's tmp/ (same filesystem) and renamed into place when whole.
 */
import { randomBytes } from "node:crypto";
import { mkdir, open, rename, rm } from "node:fs/promises";
import { dirname, join } from "node:path";

/** A fresh name under `tmpDir`; `hint` makes leftovers recognisable. */
export function tempPath(tmpDir: string, hint: string): string {
  return join(tmpDir, `${hint.replace(/[^A-Za-z0-9._-]/g, "_").slice(0, 80)}.${process.pid}.${randomBytes(6).toString("hex")}`);
}

/** Writes `bytes` to `path` through a synced temp file and a rename. */
export async function writeFileAtomic(tmpDir: string, path: string, bytes: Uint8Array): Promise<void> {
  const tmp = tempPath(tmpDir, "file");
  const file = await open(tmp, "wx", 0o644);
  try {
    await file.writeFile(bytes);
    await file.sync();
  } finally {
    await file.close();
  }
  try {
    await mkdir(dirname(path), { recursive: true });
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}
