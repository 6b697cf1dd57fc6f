/**
 * The writer of CRI-O-layout checkpoint archives, for the node agent. After
 * `runc checkpoint --leave-running --image-path IMG <id>`:
 *
 *     const diff = await rootfsDiff(upper, join(workDir, "rootfs-diff.tar"), { lowerDirs, exclude: rootfsDiffExcludes(spec) });
 *     await writeCrioArchive(target, {
 *       imagesDir: IMG, config, spec, bindMounts: await bindMountsOf(spec),
 *       ...(diff.files.length ? { rootfsDiffTar: diff.path } : {}),   // CRI-O writes none when empty
 *       deletedFiles: diff.deleted, containerLog,
 *     });
 *
 * A TargetExistsError (code "EEXIST") means the name is taken (the kubelet's names have 1-second
 * resolution): choose another. CRI-O keeps the container paused (cgroup freezer) from before the
 * dump until the archive is written, so that files and memory agree; a file that changes while it
 * is read makes the write fail when it shrinks, and is otherwise read as far as its size at open.
 * At start, cleanStaleTempFiles(dir) removes what a killed writer left.
 */
export { writeCrioArchive, type WriteArchiveOptions, type WrittenArchive } from "./write-crio-archive.js";
export { rootfsDiff, excludeMatcher, type RootfsDiffOptions, type RootfsDiffResult } from "./rootfs-diff.js";
export { cleanStaleTempFiles, isTempName, tempNameFor, writeFileAtomically, type CleanOptions } from "./atomic-file.js";
export { bindMountsOf, rootfsDiffExcludes, parseSpecJson, CRIO_CONTAINER_MOUNTS } from "./crio-mounts.js";
export { CrioArchiveInput, ContainerConfigInput, BindMount } from "./crio-input.js";
export { CRIO_LOG_MEMBER, crioMembers } from "./crio-layout.js";
export { CheckpointWriteError, TargetExistsError, CheckpointAbortError } from "./errors.js";
export { goJson } from "./go-json.js";
