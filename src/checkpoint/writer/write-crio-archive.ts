/**
 * writeCrioArchive: a CRIU image directory and the container's metadata into a checkpoint archive in
 * CRI-O's layout, the way the kubelet's checkpoint API hands it out. The thin I/O shell around
 * crioMembers (what goes in, in which order), writeTar (streaming) and writeFileAtomically (no
 * partial file is ever visible under the target's name, none is left behind on failure).
 */
import { createHash } from "node:crypto";
import { resolve } from "node:path";
import { CheckpointWriteError, TargetExistsError, asWriteError, messageOf, throwIfAborted } from "./errors.js";
import { checkInput, CrioArchiveInput } from "./crio-input.js";
import { crioMembers } from "./crio-layout.js";
import { exists, writeFileAtomically } from "./atomic-file.js";
import { listImageDir } from "./image-dir.js";
import { writeTar } from "./tar-writer.js";

export interface WriteArchiveOptions {
  signal?: AbortSignal;
  /** Replace an existing target (default: refuse with TargetExistsError, code "EEXIST"). */
  overwrite?: boolean;
  /** Called with each member's name before it is written. */
  onEntry?: (name: string) => void;
  /** The checkpoint time: default checkpointedTime and the JSON members' mtime (default now). */
  now?: Date;
  /** Also compute the archive's sha256 as it is written (no second read of the file). */
  sha256?: boolean;
}

export interface WrittenArchive {
  /** Absolute path of the archive. */
  path: string;
  /** Its size in bytes. */
  bytes: number;
  /** The archive's sha256 (hex), when asked for. */
  sha256?: string;
}

/**
 * Writes the archive to `target` (uncompressed tar, mode 0600; the directory is created 0700 when
 * missing). Every error is a CheckpointWriteError whose message starts with the target: code
 * "EEXIST" (TargetExistsError) when the target exists, "ABORT_ERR" (CheckpointAbortError) when the
 * signal fired, "EINVAL" for input that fails validation, else the errno of what failed (an input
 * file's ENOENT, ENOSPC…), with the input file named in the message.
 */
export async function writeCrioArchive(target: string, input: CrioArchiveInput, opts: WriteArchiveOptions = {}): Promise<WrittenArchive> {
  const path = resolve(target);
  let checked: CrioArchiveInput;
  try {
    checked = checkInput(CrioArchiveInput, input, "checkpoint archive input");
  } catch (err) {
    throw new CheckpointWriteError(path, messageOf(err), { cause: err, code: "EINVAL" });
  }
  try {
    throwIfAborted(opts.signal);
    // Found early so that a name collision costs no work; publishing checks again, atomically.
    if (!opts.overwrite && (await exists(path))) throw new TargetExistsError(path);
    const images = await listImageDir(checked.imagesDir);
    let members;
    try {
      members = crioMembers(checked, images, opts.now ?? new Date());
    } catch (err) {
      throw new CheckpointWriteError(path, messageOf(err), { cause: err, code: "EINVAL" });
    }
    const hash = opts.sha256 ? createHash("sha256") : undefined;
    const bytes = await writeFileAtomically(path, (fh) => writeTar(members, fh, { ...opts, ...(hash ? { onData: (c) => hash.update(c) } : {}) }), opts);
    return { path, bytes, ...(hash ? { sha256: hash.digest("hex") } : {}) };
  } catch (err) {
    throw asWriteError(path, err);
  }
}
