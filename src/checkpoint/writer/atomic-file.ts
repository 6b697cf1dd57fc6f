/**
 * Writing a file so that readers only ever see it complete: the bytes go to a unique temp file in
 * the target's directory (mode 0600, O_EXCL), are fsync'ed, and the temp file is then linked to the
 * target (link(2) fails with EEXIST instead of replacing: no check-then-rename race) or renamed over
 * it when overwriting is wanted; the directory is fsync'ed so the name survives a crash. On any
 * failure the temp file is removed. A process killed in the middle leaves a temp file, which
 * cleanStaleTempFiles removes.
 */
import { randomBytes } from "node:crypto";
import { constants } from "node:fs";
import { link, lstat, mkdir, open, readdir, rename, unlink, type FileHandle } from "node:fs/promises";
import { basename, dirname, join, resolve } from "node:path";
import { errnoCode, TargetExistsError, throwIfAborted } from "./errors.js";

/** `.<target name>.tmp-<16 hex>`: hidden, tied to its target's name, and recognisable for cleanup. */
export function tempNameFor(target: string, random = randomBytes(8).toString("hex")): string {
  return join(dirname(target), `.${basename(target)}.tmp-${random}`);
}

const TEMP_NAME = /^\..+\.tmp-[0-9a-f]{16}$/;

export function isTempName(name: string): boolean {
  return TEMP_NAME.test(name);
}

export interface TempFile {
  path: string;
  fh: FileHandle;
}

/** Creates the target's directory (0700, parents too) when missing, and a fresh temp file in it. */
export async function createTempFile(target: string): Promise<TempFile> {
  const dir = dirname(resolve(target));
  try {
    await mkdir(dir, { recursive: true, mode: 0o700 });
  } catch (err) {
    // mkdir says EEXIST when the directory's name is taken by a file: that must not read as
    // "the target exists, pick another name", which the caller would retry forever.
    if (errnoCode(err) !== "EEXIST") throw err;
    throw Object.assign(new Error(`${dir}: not a directory`), { code: "ENOTDIR", cause: err });
  }
  const flags = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;
  let path = tempNameFor(resolve(target));
  let fh: FileHandle;
  try {
    fh = await open(path, flags, 0o600);
  } catch (err) {
    if (errnoCode(err) !== "EEXIST") throw err;
    path = tempNameFor(resolve(target)); // 64 random bits collided: once more, with new ones
    fh = await open(path, flags, 0o600);
  }
  try {
    // The umask can only take bits away from 0600, but it could take the owner's: be exact.
    await fh.chmod(0o600);
  } catch (err) {
    await fh.close().catch(() => {});
    await removeQuietly(path);
    throw err;
  }
  return { path, fh };
}

/** Whether something (anything, a dangling symlink included) has this name. */
export async function exists(path: string): Promise<boolean> {
  try {
    await lstat(path);
    return true;
  } catch (err) {
    if (errnoCode(err) === "ENOENT") return false;
    throw err;
  }
}

/**
 * Gives the finished temp file the target's name. Without `overwrite`, an existing target makes it
 * throw an error with code EEXIST and leaves the target alone. File systems without hard links get
 * a check-then-rename, which is racy only against another writer of the same name.
 */
export async function publish(tempPath: string, target: string, overwrite: boolean): Promise<void> {
  if (overwrite) {
    await rename(tempPath, target);
  } else {
    try {
      await link(tempPath, target);
    } catch (err) {
      const code = errnoCode(err);
      if (code === "EEXIST") throw new TargetExistsError(target);
      if (code !== "EPERM" && code !== "ENOTSUP" && code !== "EOPNOTSUPP" && code !== "EMLINK") throw err;
      if (await exists(target)) throw new TargetExistsError(target);
      await rename(tempPath, target);
      await syncDirectory(dirname(target));
      return;
    }
    try {
      await unlink(tempPath);
      await syncDirectory(dirname(target));
    } catch (err) {
      // The name is ours (link created it): take it back so that a failure leaves nothing.
      await removeQuietly(target);
      throw err;
    }
    return;
  }
  await syncDirectory(dirname(target));
}

export async function syncDirectory(dir: string): Promise<void> {
  const fh = await open(dir, constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

export async function removeQuietly(path: string): Promise<void> {
  try {
    await unlink(path);
  } catch (err) {
    if (errnoCode(err) !== "ENOENT") throw err;
  }
}

export interface CleanOptions {
  /** Only remove temp files last modified at least this long ago (default 0: all of them). Use it
   * when another process may be writing into the same directory right now. */
  minAgeMs?: number;
  /** Clock for the age (default Date.now()). */
  now?: number;
}

/**
 * Removes the temp files that a killed writer left in `dir` (regular files named like tempNameFor's,
 * nothing else: a symlink or directory of that name is left alone). A missing directory has none.
 * Returns the removed paths.
 */
export async function cleanStaleTempFiles(dir: string, opts: CleanOptions = {}): Promise<string[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (err) {
    if (errnoCode(err) === "ENOENT") return [];
    throw err;
  }
  const now = opts.now ?? Date.now();
  const removed: string[] = [];
  for (const name of names.filter(isTempName).sort()) {
    const path = join(dir, name);
    let st;
    try {
      st = await lstat(path);
    } catch (err) {
      if (errnoCode(err) === "ENOENT") continue;
      throw err;
    }
    if (!st.isFile() || now - st.mtimeMs < (opts.minAgeMs ?? 0)) continue;
    await removeQuietly(path);
    removed.push(path);
  }
  return removed;
}

/**
 * Runs `write` on a fresh temp file beside `target` and publishes the result: fsync, close, link or
 * rename, fsync of the directory. Whatever fails (or an abort), the temp file is gone afterwards.
 * Returns what `write` returned (the byte count).
 */
export async function writeFileAtomically(
  target: string,
  write: (fh: FileHandle) => Promise<number>,
  opts: { overwrite?: boolean; signal?: AbortSignal } = {},
): Promise<number> {
  const temp = await createTempFile(target);
  let isOpen = true;
  try {
    const bytes = await write(temp.fh);
    throwIfAborted(opts.signal);
    await temp.fh.sync();
    isOpen = false;
    await temp.fh.close();
    throwIfAborted(opts.signal);
    await publish(temp.path, target, opts.overwrite ?? false);
    return bytes;
  } catch (err) {
    if (isOpen) await temp.fh.close().catch(() => {});
    await removeQuietly(temp.path).catch(() => {});
    throw err;
  }
}
