/**
 * What one checkpoint says about each of its processes, in the form two checkpoints are compared in:
 * argv and environment (from the dumped memory, as `ckpt inspect` reads them), task state,
 * credentials, threads, open files and sockets by descriptor, and VMAs.
 */
import type { Checkpoint } from "../../checkpoint/checkpoint.js";
import { FLAG_MAPS, formatFlags } from "../../criu-images/crit-json/flag-maps.js";
import { processFds } from "../../criu-images/explore/fds.js";
import { processMems, type VmaView } from "../../criu-images/explore/mems.js";

/** CRIU's vma status bit for a mapping of a memfd (shared anonymous memory is one, "/dev/zero"). */
const VMA_AREA_MEMFD = 1 << 14;
import { processSockets } from "../../criu-images/explore/sk.js";
import { FileNames, isDefunct, listProcesses, type ImageDir, type ProcessInfo, type WireMessage } from "../../criu-images/index.js";
import { shmemLabels } from "../memparse/regions.js";
import { parseEnvironment, planMemory, readArea } from "../inspect.js";
import { capabilityHex, capabilityMask } from "./capabilities.js";
import type { OpenFileJson, ProcessSummary, ThreadJson, VmaJson } from "./diff-types.js";

export interface ProcessFacts {
  info: ProcessInfo;
  argv?: string[];
  env?: Map<string, string>;
  /** Credential fields as text (uids, gids, groups, cap_*…), from the main thread's core image. */
  creds: Record<string, string>;
  threads: ThreadJson[];
  files: OpenFileJson[];
  vmas: VmaJson[];
}

export const CAP_FIELDS = ["cap_inh", "cap_prm", "cap_eff", "cap_bnd", "cap_amb"] as const;

function credentials(core: WireMessage | undefined): Record<string, string> {
  const c = (core?.thread_core as WireMessage | undefined)?.creds as WireMessage | undefined;
  if (!c) return {};
  const ids = (...keys: string[]) => keys.map((k) => String(c[k] ?? 0)).join(" ");
  const out: Record<string, string> = {
    "uids (real effective saved fs)": ids("uid", "euid", "suid", "fsuid"),
    "gids (real effective saved fs)": ids("gid", "egid", "sgid", "fsgid"),
    groups: ((c.groups as number[] | undefined) ?? []).join(","),
  };
  for (const k of CAP_FIELDS) out[k] = capabilityHex(capabilityMask(c[k]));
  out.secbits = "0x" + Number(c.secbits ?? 0).toString(16);
  out.no_new_privs = String(Number(c.no_new_privs ?? 0));
  return out;
}

/**
 * A VMA as it is compared: `file` is crit's resource column without the first-seen numbering of
 * shared objects (shmem[3] → shmem), which shifts when another object appears, and with the memfd
 * or shared anonymous object named where crit says "unknown path".
 */
export type VmaNamer = (v: VmaView) => VmaJson;

export function vmaNamer(dir: ImageDir, names: FileNames): VmaNamer {
  let labels: Map<number, string> | undefined;
  const memfdLabel = (fileId: number): string | undefined => {
    const inode = (names.fileEntries().get(fileId)?.memfd as WireMessage | undefined)?.inode_id;
    if (inode === undefined) return undefined;
    const entry = dir.entries("memfd.img").find((m) => Number(m.inode_id) === Number(inode));
    labels ??= shmemLabels(dir);
    return entry ? labels.get(Number(entry.shmid)) : undefined;
  };
  return (v) => {
    const memfd = Number(v.vma.status ?? 0) & VMA_AREA_MEMFD ? memfdLabel(Number(v.vma.shmid)) : undefined;
    return {
      start: "0x" + v.start.toString(16),
      end: "0x" + v.end.toString(16),
      size: Number(v.end - v.start),
      prot: v.prot,
      file: memfd ?? v.resource.replace(/^(shmem|ips|packet)\[[0-9a-f]+\]/, "$1"),
    };
  };
}

export function processSummary(p: ProcessFacts): ProcessSummary {
  const s: ProcessSummary = { pid: p.info.pid, ppid: p.info.ppid, command: p.info.comm, task_state: p.info.stateName };
  if (p.argv) s.cmdline = p.argv.join(" ");
  return s;
}

export async function readProcessFacts(cp: Checkpoint): Promise<ProcessFacts[]> {
  const dir = cp.images;
  const names = new FileNames(dir);
  const procs = listProcesses(dir);
  const memory = planMemory(cp, procs, { psTreeCmd: true, psTreeEnv: true });
  await cp.archive.prefetch([...memory.values()].flatMap((m) => m.fetch));

  const sockets = new Map(processSockets(dir, names).map((s) => [`${s.pid}/${s.fd}`, s]));
  const fds = new Map(processFds(dir, names).map((p) => [p.pid, p.fds]));
  const mems = new Map(processMems(dir, names).map((m) => [m.pid, m.vmas]));
  const namer = vmaNamer(dir, names);

  return procs.map((p): ProcessFacts => {
    const mem = memory.get(p.pid);
    const facts: ProcessFacts = {
      info: p,
      creds: credentials(p.core),
      threads: isDefunct(p) ? [] : p.threads.map((t) => ({ tid: t.tid, name: t.comm ?? "" })),
      files: (fds.get(p.pid) ?? []).map((fd): OpenFileJson => {
        const file: OpenFileJson = { fd: String(fd.fd), type: fd.type, path: fd.name, cloexec: fd.cloexec };
        if (fd.type === "REG") {
          const reg = names.find("REG", fd.id);
          if (reg && typeof fd.fd === "number") {
            file.flags = formatFlags(Number(reg.flags ?? 0), FLAG_MAPS["rfile.flags"]!) || "O_RDONLY";
            file.pos = Number(reg.pos ?? 0);
          }
        }
        const sk = sockets.get(`${p.pid}/${fd.fd}`);
        if (sk) {
          file.socket = { proto: sk.proto, state: sk.state, local: sk.local, peer: sk.peer };
          file.path = `${sk.proto} ${sk.local || "-"}${sk.peer ? ` -> ${sk.peer}` : ""}`;
        }
        return file;
      }),
      vmas: (mems.get(p.pid) ?? []).map(namer),
    };
    if (mem?.args) facts.argv = trimNul(readArea(cp.archive, mem.pagesMember, mem.args)).split("\0");
    if (mem?.env) facts.env = parseEnvironment(readArea(cp.archive, mem.pagesMember, mem.env)).vars;
    return facts;
  });
}

function trimNul(b: Buffer): string {
  return b.toString("utf8").replace(/\0+$/, "");
}
