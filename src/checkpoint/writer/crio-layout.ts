/**
 * The members of a CRI-O checkpoint archive, in CRI-O's order (internal/lib/checkpoint.go
 * exportCheckpoint: TarWithOptions over stats-dump, dump.log, checkpoint, config.dump, spec.dump,
 * bind.mounts, then rootfs-diff.tar and deleted.files when there are changes, then the container
 * log under the name `io.kubernetes.cri-o.LogPath`). Members CRI-O leaves out when they would be
 * empty or missing are left out here too. Pure: the image directory is already listed.
 */
import { join } from "node:path";
import { BIND_MOUNTS, CONFIG_DUMP, CONTAINER_LOG_MEMBERS, DELETED_FILES, DUMP_LOG, ROOTFS_DIFF, SPEC_DUMP, STATS_DUMP } from "../layout-names.js";
import type { CrioArchiveInput } from "./crio-input.js";
import { bindMountsJson, configDumpJson, deletedFilesJson, specDumpJson } from "./crio-metadata.js";
import type { ImageDirListing } from "./image-dir.js";
import type { TarMember } from "./tar-members.js";

/** The member CRI-O copies the container log into: named after the annotation key, literally. */
export const CRIO_LOG_MEMBER = CONTAINER_LOG_MEMBERS[0];

/** checkpointctl's metadata.WriteJSONFile mode. */
const JSON_MODE = 0o600;

export function crioMembers(input: CrioArchiveInput, images: ImageDirListing, now: Date): TarMember[] {
  const members: TarMember[] = [];
  const json = (name: string, text: string): TarMember => ({ kind: "data", name, data: Buffer.from(text), mode: JSON_MODE, mtime: now });
  const fromImages = (name: string) => (images.workFiles.has(name) ? join(input.imagesDir, name) : undefined);

  const statsDump = input.statsDump ?? fromImages(STATS_DUMP);
  if (statsDump) members.push({ kind: "file", name: STATS_DUMP, source: statsDump, ...statOf(images, STATS_DUMP, input.statsDump) });
  const dumpLog = input.dumpLog ?? fromImages(DUMP_LOG);
  if (dumpLog) members.push({ kind: "file", name: DUMP_LOG, source: dumpLog, ...statOf(images, DUMP_LOG, input.dumpLog) });

  members.push({ kind: "directory", name: "checkpoint/", stat: images.root });
  for (const e of images.entries) {
    members.push(
      e.isDirectory
        ? { kind: "directory", name: `checkpoint/${e.rel}/`, stat: e.stat }
        : { kind: "file", name: `checkpoint/${e.rel}`, source: join(input.imagesDir, e.rel), stat: e.stat },
    );
  }

  members.push(json(CONFIG_DUMP, configDumpJson(input.config, now)));
  members.push(json(SPEC_DUMP, specDumpJson(input.spec)));
  if (input.bindMounts.length > 0) members.push(json(BIND_MOUNTS, bindMountsJson(input.bindMounts)));
  if (input.rootfsDiffTar) members.push({ kind: "file", name: ROOTFS_DIFF, source: input.rootfsDiffTar });
  if (input.deletedFiles && input.deletedFiles.length > 0) members.push(json(DELETED_FILES, deletedFilesJson(input.deletedFiles)));
  if (input.containerLog) {
    const limit = input.containerLogBytes;
    members.push({ kind: "file", name: CRIO_LOG_MEMBER, source: input.containerLog, ...(limit !== undefined ? { maxSize: limit } : {}) });
  }
  return members;
}

/** The listed stat of a work file taken from the image directory (so its identity is checked). */
function statOf(images: ImageDirListing, name: string, override: string | undefined) {
  const stat = override === undefined ? images.workFiles.get(name) : undefined;
  return stat ? { stat } : {};
}
