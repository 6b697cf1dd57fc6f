/**
 * What a forensic report shows, gathered once from a checkpoint (collect.ts) and turned into a page
 * by a pure function (render.ts), so the page can be tested without an archive and the archive read
 * without a browser.
 */
import type { FdsJson, GhostFileJson, MetadataJson, MountJson, RefusedMemberJson, RootfsDiffFileJson, SocketsJson } from "../inspect.js";
import type { ShowRow } from "../show.js";
import type { VmaRow } from "./memory-map.js";

/** One secret-scan finding as the report shows it: the rule that matched, where, and a redacted preview. */
export interface ReportFinding {
  rule: string;
  where: string;
  preview: string;
}

export interface ReportProcess {
  pid: number;
  ppid: number;
  /** Depth in the process tree (0 for the root), for indenting. */
  depth: number;
  command: string;
  cmdline?: string;
  state: string;
  threads: number;
  /** Real and effective ids from the task's credentials; absent for zombie and dead tasks. */
  uid?: number;
  gid?: number;
  euid?: number;
  egid?: number;
}

export interface ProcessMemoryMap {
  pid: number;
  command: string;
  vmas: VmaRow[];
}

export interface MemberHash {
  name: string;
  size: number;
  sha256: string;
}

export interface EvidenceHashes {
  /** The archive file itself; absent for a directory. */
  archive?: { path: string; size: number; sha256: string };
  /** Every regular member (for a directory: every regular file), in name order. */
  members: MemberHash[];
}

export interface ReportModel {
  /** When the report was made (ISO 8601), and by what. */
  generated: string;
  tool: string;
  container: ShowRow;
  /** When the checkpoint was taken (config.dump), and the CRIU that made it (from dump.log). */
  checkpointed?: string;
  criuVersion?: string;
  metadata?: MetadataJson;
  processes: ReportProcess[];
  memory: ProcessMemoryMap[];
  files: FdsJson[];
  sockets: SocketsJson[];
  mounts: MountJson[];
  rootfsDiff: RootfsDiffFileJson[];
  deletedFiles: string[];
  ghostFiles: GhostFileJson[];
  refusedMembers: RefusedMemberJson[];
  hashes: EvidenceHashes;
  /** Absent when no secret scan was run (not the same as a scan that found nothing). */
  findings?: ReportFinding[];
  /** What the page says about the findings (secrets it could not hide elsewhere). */
  findingNotes?: string[];
}
