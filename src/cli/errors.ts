/**
 * How the CLI ends on failure: one line on stderr naming what went wrong and where, a non-zero exit,
 * never a stack trace (CKPT_DEBUG=1 prints it, for bug reports).
 */

/** A failure the user can act on, reported as its message alone. */
export class UserError extends Error {
  override name = "UserError";
}

/** Errors whose message already says which file and where. */
const REPORTED_AS_IS = new Set(["UserError", "ImageFormatError", "ArchiveError", "MetadataError", "MemoryError", "NodeClientError", "MigrationError", "CriError", "PodConfigError", "BackendError", "CoreDumpError", "SealError", "PodCheckpointManifestError"]);

export function describeError(err: unknown): string {
  // By name, not instanceof: this module is loaded before any command's code.
  if (err instanceof Error && REPORTED_AS_IS.has(err.name)) return err.message;
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
