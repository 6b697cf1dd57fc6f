/**
 * Evidence hashing: the sha256 of the archive file and of each of its members (for a directory, of
 * each file), so a report can be tied to the exact bytes it was made from and each member checked on
 * its own later. Everything is streamed: memory stays constant whatever the size of the pages.
 */
import { createHash, type Hash } from "node:crypto";
import { statSync } from "node:fs";
import type { CheckpointArchive } from "../../checkpoint/archive/checkpoint-archive.js";
import { fileSha256 } from "../../checkpoint/file-sha256.js";
import type { EvidenceHashes, MemberHash } from "./model.js";

export async function evidenceHashes(archive: CheckpointArchive): Promise<EvidenceHashes> {
  const names = [...archive.members.values()].filter((m) => m.type === "file").map((m) => m.name).sort();
  const hashes = new Map<string, Hash>(names.map((n) => [n, createHash("sha256")]));
  await archive.streamMembers(names, (name, chunk) => void hashes.get(name)!.update(chunk));
  const members: MemberHash[] = names.map((name) => ({ name, size: archive.size(name), sha256: hashes.get(name)!.digest("hex") }));
  if (archive.compression === "directory") return { members };
  return { archive: { path: archive.path, size: statSync(archive.path).size, sha256: await fileSha256(archive.path) }, members };
}
