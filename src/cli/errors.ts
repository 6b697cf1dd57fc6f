/**
 * How the CLI ends on failure: one line on stderr naming what went wrong and where, a non-zero exit,
 * never a stack trace (CKPT_DEBUG=1 prints it, for bug reports).
 */
import { ImageFormatError } from "../criu-images/errors.js";
import { ArchiveError } from "../checkpoint/archive/checkpoint-archive.js";
import { MetadataError } from "../checkpoint/metadata.js";

/** A failure the user can act on, reported as its message alone. */
export class UserError extends Error {}

export function describeError(err: unknown): string {
  if (err instanceof ImageFormatError || err instanceof UserError || err instanceof ArchiveError || err instanceof MetadataError) return err.message;
  const e = err as NodeJS.ErrnoException;
  if (e && typeof e === "object" && typeof e.code === "string" && "path" in e) {
    const what: Record<string, string> = {
      ENOENT: "no such file or directory",
      EACCES: "permission denied",
      EISDIR: "is a directory",
      ENOTDIR: "not a directory",
      EEXIST: "already exists",
    };
    return `${e.path}: ${what[e.code] ?? e.message}`;
  }
  if (e && typeof e === "object" && e.code === "EPIPE") return "output closed";
  return `internal error: ${e instanceof Error ? e.message : String(e)} (run with CKPT_DEBUG=1 for details)`;
}

export function exitWithError(err: unknown): never {
  // A reader that went away (ckpt … | head) is not an error.
  if ((err as NodeJS.ErrnoException)?.code === "EPIPE") process.exit(0);
  if (process.env.CKPT_DEBUG) console.error(err);
  process.stderr.write(`ckpt: ${describeError(err)}\n`);
  process.exit(1);
}
