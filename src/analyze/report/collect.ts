/**
 * Gathers everything a report shows from an open checkpoint: what `ckpt show` and `ckpt inspect`
 * know (through their own code), each process's credentials and memory map, and evidence hashes.
 * This is the part that reads; render.ts only formats.
 */
import type { Checkpoint } from "../../checkpoint/checkpoint.js";
import { DUMP_LOG } from "../../checkpoint/layout-names.js";
import { FileNames, isDefunct, listProcesses, type WireMessage } from "../../criu-images/index.js";
import { inspectCheckpoint, inspectOptions, type InspectOptions, type ProcessJson } from "../inspect.js";
import { showRow } from "../show.js";
import { evidenceHashes } from "./evidence-hashes.js";
import { processMemoryMaps } from "./memory-map.js";
import type { ReportFinding, ReportModel, ReportProcess } from "./model.js";
import { redactModel, secretRedactor, type KnownSecret } from "./secret-redaction.js";

/** Everything inspect can show but environments (which hold secrets and belong in a scan, not a summary). */
export const REPORT_INSPECT_OPTIONS: InspectOptions = {
  ...inspectOptions({ psTreeCmd: true, files: true, sockets: true, mounts: true, metadata: true }),
  stats: "if-present",
};

/** CRIU writes its version near the top of dump.log; this much of the log is read for it. */
const LOG_HEAD = 4096;

export function criuVersion(cp: Checkpoint): string | undefined {
  if (!cp.archive.has(DUMP_LOG)) return undefined;
  let head: string;
  try {
    head = Buffer.from(cp.archive.readRange(DUMP_LOG, 0, Math.min(LOG_HEAD, cp.archive.size(DUMP_LOG)))).toString("utf8");
  } catch {
    return undefined; // a log too big to be kept from a compressed archive: the version is just not shown
  }
  return /\) Version: (\S+)/.exec(head)?.[1];
}

function flattenTree(root: ProcessJson | undefined, creds: Map<number, WireMessage>): ReportProcess[] {
  const out: ReportProcess[] = [];
  const walk = (p: ProcessJson, ppid: number, depth: number) => {
    const c = creds.get(p.pid);
    const id = (k: string) => (c?.[k] === undefined ? undefined : Number(c[k]));
    out.push({ pid: p.pid, ppid, depth, command: p.command, cmdline: p.cmdline, state: p.task_state, threads: p.threads.length, uid: id("uid"), gid: id("gid"), euid: id("euid"), egid: id("egid") });
    for (const child of p.children ?? []) walk(child, p.pid, depth + 1);
  };
  if (root) walk(root, 0, 0);
  return out;
}

export interface CollectOptions {
  findings?: ReportFinding[];
  /** Secrets the findings are about: every text the page shows from the checkpoint has them redacted. */
  secrets?: readonly KnownSecret[];
  findingNotes?: string[];
  /** For reproducible output. */
  now?: Date;
  tool?: string;
}

export async function collectReport(cp: Checkpoint, opts: CollectOptions = {}): Promise<ReportModel> {
  const inspected = await inspectCheckpoint(cp, REPORT_INSPECT_OPTIONS);
  const dir = cp.images;
  const procs = listProcesses(dir);
  const creds = new Map<number, WireMessage>();
  for (const p of procs) {
    const c = (p.core?.thread_core as WireMessage | undefined)?.creds as WireMessage | undefined;
    if (c && !isDefunct(p)) creds.set(p.pid, c);
  }
  const comm = new Map(procs.map((p) => [p.pid, p.comm]));
  const memory = processMemoryMaps(dir, new FileNames(dir)).map((m) => ({ pid: m.pid, command: comm.get(m.pid) ?? "", vmas: m.vmas }));
  const model: ReportModel = {
    generated: (opts.now ?? new Date()).toISOString(),
    tool: opts.tool ?? "ckpt report",
    container: showRow(cp),
    checkpointed: inspected.checkpointed,
    criuVersion: criuVersion(cp),
    metadata: inspected.metadata,
    processes: flattenTree(inspected.process_tree, creds),
    memory,
    files: inspected.file_descriptors ?? [],
    sockets: inspected.sockets ?? [],
    mounts: inspected.mounts ?? [],
    rootfsDiff: inspected.rootfs_diff_files ?? [],
    deletedFiles: inspected.deleted_files ?? [],
    ghostFiles: inspected.ghost_files ?? [],
    refusedMembers: inspected.refused_members ?? [],
    hashes: await evidenceHashes(cp.archive),
    findings: opts.findings,
    ...(opts.findingNotes?.length ? { findingNotes: opts.findingNotes } : {}),
  };
  return opts.secrets?.length ? redactModel(model, secretRedactor(opts.secrets).redact) : model;
}
