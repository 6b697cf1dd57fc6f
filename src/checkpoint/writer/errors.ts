/**
 * Errors of the archive writer. Every message starts with the file being written (and names the
 * input file when that is what failed), so a node agent can log it as is; `code` lets the caller
 * act without parsing text.
 */

export class CheckpointWriteError extends Error {
  override name = "CheckpointWriteError";
  /** The errno code of the underlying failure (ENOENT, ENOSPC…) when there is one. */
  readonly code?: string;

  constructor(
    /** The archive (or rootfs diff) being written. */
    readonly path: string,
    message: string,
    options?: { cause?: unknown; code?: string },
  ) {
    super(`${path}: ${message}`, options?.cause === undefined ? undefined : { cause: options.cause });
    const code = options?.code ?? errnoCode(options?.cause);
    if (code !== undefined) this.code = code;
  }
}

/**
 * The target exists and overwriting was not asked for. The kubelet names archives with 1-second
 * resolution, so two checkpoints of one container in the same second collide: the caller picks
 * another name (or passes `overwrite`).
 */
export class TargetExistsError extends CheckpointWriteError {
  override name = "TargetExistsError";
  override readonly code = "EEXIST";

  constructor(path: string) {
    super(path, "already exists (refusing to overwrite it)");
  }
}

/** The AbortSignal fired; nothing was left behind. `cause` is the signal's reason. */
export class CheckpointAbortError extends CheckpointWriteError {
  override name = "AbortError";
  override readonly code = "ABORT_ERR";

  constructor(path: string, reason: unknown) {
    super(path, "aborted", { cause: reason });
  }
}

/** Thrown inside the writer when the signal fires; turned into CheckpointAbortError at the edge. */
export class Aborted extends Error {
  override name = "AbortError";
  constructor(readonly reason: unknown) {
    super("aborted");
  }
}

export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new Aborted(signal.reason);
}

export function errnoCode(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | undefined)?.code;
  return typeof code === "string" ? code : undefined;
}

export function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** An input file could not be read as listed (missing, not a regular file, swapped, shrunk). */
export class SourceError extends Error {
  override name = "SourceError";
  readonly code?: string;

  constructor(
    readonly source: string,
    detail: string,
    options?: { cause?: unknown },
  ) {
    super(`${source}: ${detail}`, options?.cause === undefined ? undefined : { cause: options.cause });
    const code = errnoCode(options?.cause);
    if (code !== undefined) this.code = code;
  }
}

/** Any failure of a write, as the CheckpointWriteError the caller sees (naming the output file). */
export function asWriteError(path: string, err: unknown): CheckpointWriteError {
  if (err instanceof CheckpointWriteError) return err;
  if (err instanceof Aborted) return new CheckpointAbortError(path, err.reason);
  if (err instanceof SourceError) {
    return new CheckpointWriteError(path, `reading ${err.message}`, { cause: err, ...(err.code ? { code: err.code } : {}) });
  }
  return new CheckpointWriteError(path, messageOf(err), { cause: err });
}
