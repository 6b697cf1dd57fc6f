/**
 * The files of a pod checkpoint directory: one archive per container, named for the container, and
 * pod-checkpoint.json, written last and atomically so that a directory with a manifest is complete.
 * Before a restore uses the archives, each is checked against the manifest (a regular file of the
 * size and sha256 it gives), so a changed or swapped archive is refused, not restored.
 */
import { lstat, readFile, readdir, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { fileSha256 } from "./file-sha256.js";
import {
  parsePodCheckpointManifest,
  POD_CHECKPOINT_MANIFEST,
  PodCheckpointManifestError,
  type PodCheckpointManifest,
} from "./pod-checkpoint-manifest.js";
import { isTempName, writeFileAtomically } from "./writer/atomic-file.js";

/** A container's archive in the directory: its name is unique in the pod and a plain file name. */
export function containerArchiveName(container: string): string {
  return `${container}.tar`;
}

/** Size and sha256 of a finished archive, as the manifest records them. */
export async function archiveDigest(path: string): Promise<{ bytes: number; sha256: string }> {
  const bytes = (await lstat(path)).size;
  return { bytes, sha256: await fileSha256(path) };
}

/** Writes the manifest into the directory, atomically; returns its path. */
export async function writePodCheckpointManifest(dir: string, manifest: PodCheckpointManifest, signal?: AbortSignal): Promise<string> {
  const path = join(dir, POD_CHECKPOINT_MANIFEST);
  const text = JSON.stringify(manifest, null, 2) + "\n";
  await writeFileAtomically(
    path,
    async (fh) => {
      await writeFile(fh, text);
      return Buffer.byteLength(text);
    },
    signal ? { signal } : {},
  );
  return path;
}

/** The directory's manifest; errors name the file and the field. */
export async function readPodCheckpointManifest(dir: string): Promise<PodCheckpointManifest> {
  const path = join(dir, POD_CHECKPOINT_MANIFEST);
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (err) {
    throw new PodCheckpointManifestError(`${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  return parsePodCheckpointManifest(text, path);
}

/** Each container's archive is a regular file with the manifest's size and sha256; the first that is not is named. */
export async function verifyPodCheckpointArchives(dir: string, manifest: PodCheckpointManifest): Promise<void> {
  for (const c of manifest.containers) {
    const path = join(dir, c.archive);
    let st;
    try {
      st = await lstat(path);
    } catch (err) {
      throw new PodCheckpointManifestError(`${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message} (container ${c.name} of ${POD_CHECKPOINT_MANIFEST})`);
    }
    if (!st.isFile()) throw new PodCheckpointManifestError(`${path}: not a regular file (container ${c.name} of ${POD_CHECKPOINT_MANIFEST})`);
    if (st.size !== c.bytes) throw new PodCheckpointManifestError(`${path}: ${st.size} bytes, ${POD_CHECKPOINT_MANIFEST} says ${c.bytes}`);
    const sha256 = await fileSha256(path);
    if (sha256 !== c.sha256) throw new PodCheckpointManifestError(`${path}: sha256 ${sha256}, ${POD_CHECKPOINT_MANIFEST} says ${c.sha256}`);
  }
}

/** Why `dir` cannot take a pod checkpoint (it must exist and be empty), or undefined when it can. */
export async function outputDirProblem(dir: string): Promise<string | undefined> {
  let entries: string[];
  try {
    entries = await readdir(dir);
  } catch (err) {
    return `output directory ${dir}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`;
  }
  return entries.length ? `output directory ${dir} is not empty (${entries.length} entries)` : undefined;
}

/** Removes the given files of a checkpoint that failed, and any temp file a cut-short write left in the directory. */
export async function removePodCheckpointFiles(dir: string, written: readonly string[]): Promise<void> {
  for (const path of written) await rm(path, { force: true });
  const temps = await readdir(dir).then(
    (names) => names.filter(isTempName),
    () => [],
  );
  for (const t of temps) await rm(join(dir, t), { force: true });
}
