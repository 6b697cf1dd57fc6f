/**
 * Checks before a restore, each with a clear reason: a checkpoint only restores where the CPU
 * architecture, the CRIU version, the runtime and the kernel allow it, and what becomes of its TCP
 * connections depends on the new pod's address. Pure: the facts come in, a report goes out;
 * archiveFacts() and hostFacts() gather them.
 */
import { execFileSync } from "node:child_process";
import { release } from "node:os";
import type { Checkpoint } from "../checkpoint/checkpoint.js";
import { compareVersions, parseVersion } from "../checkpoint/versions.js";
import { processSockets } from "../criu-images/index.js";
import { criuVersionFromLog } from "./checkpoint-annotations.js";

export interface ArchiveFacts {
  /** From dump.log's "Running on HOST Linux RELEASE … ARCH" line. */
  arch?: string;
  kernel?: string;
  /** From dump.log's "Version: X.Y.Z" line. */
  criuVersion?: string;
  /** config.dump's runtime ("runc", "crun", "io.containerd.runc.v2"…). */
  runtime?: string;
  /** The pod IP the container had (spec.dump's annotations). */
  ip?: string;
  /** Established TCP connections in the dump. */
  establishedTcp: number;
}

export interface HostFacts {
  arch: string;
  kernel: string;
  criuVersion: string;
  /** The OCI runtime the node restores with. */
  runtime: string;
}

export interface PreflightReport {
  /** Reasons the restore cannot go ahead. */
  errors: string[];
  /** What the user should know (TCP connections, kernel differences). */
  notes: string[];
}

const ARCH_ALIASES: Record<string, string> = { amd64: "x86_64", arm64: "aarch64" };
const normArch = (a: string) => ARCH_ALIASES[a] ?? a;

/** The runtime family: containerd's shim names and plain binaries alike ("io.containerd.runc.v2" → runc). */
function runtimeFamily(r: string): string {
  const m = /(runc|crun|runsc|youki|kata)/.exec(r);
  return m ? m[1]! : r;
}

export function preflight(archive: ArchiveFacts, host: HostFacts, newIp?: string): PreflightReport {
  const errors: string[] = [];
  const notes: string[] = [];
  if (!archive.arch) notes.push("the archive does not say which CPU architecture it was made on (no dump.log); assuming this node's");
  else if (normArch(archive.arch) !== normArch(host.arch)) {
    errors.push(`CPU architecture: the checkpoint was made on ${archive.arch}, this node is ${host.arch}`);
  }
  const dumped = parseVersion(archive.criuVersion);
  const here = parseVersion(host.criuVersion);
  if (!dumped) notes.push("the archive does not say which CRIU version made it (no dump.log)");
  else if (!here) errors.push(`CRIU: this node's CRIU version is unknown (${host.criuVersion || "not found"})`);
  else if (compareVersions(here, dumped) < 0) {
    errors.push(`CRIU version: the checkpoint was made by CRIU ${archive.criuVersion}, this node has the older ${host.criuVersion}`);
  }
  if (archive.runtime && runtimeFamily(archive.runtime) !== runtimeFamily(host.runtime)) {
    errors.push(`runtime: the checkpoint was made with ${archive.runtime}, this node restores with ${host.runtime}`);
  }
  const k1 = parseVersion(archive.kernel);
  const k2 = parseVersion(host.kernel);
  if (k1 && k2 && (k1[0] !== k2[0] || k1[1] !== k2[1])) {
    notes.push(`kernel: the checkpoint was made on Linux ${archive.kernel}, this node runs ${host.kernel} (CRIU restores across kernels when the features it used exist)`);
  }
  if (archive.establishedTcp > 0) {
    if (newIp !== undefined && archive.ip !== undefined && newIp === archive.ip) {
      notes.push(`TCP: ${archive.establishedTcp} established connection(s) are restored (the pod keeps its address ${newIp})`);
    } else {
      notes.push(
        `TCP: ${archive.establishedTcp} established connection(s) are closed: the pod's address changes` +
          (archive.ip ? ` (${archive.ip} → ${newIp ?? "a new one"})` : "") +
          "; listening sockets are restored",
      );
    }
  }
  return { errors, notes };
}

/** dump.log's facts: "Version: 4.2.1 (gitid 0)" and "Running on HOST Linux 6.18.44-fc #1 SMP … x86_64". */
export function dumpLogFacts(log: string): Pick<ArchiveFacts, "arch" | "kernel" | "criuVersion"> {
  const run = /\)\s+Running on \S+ Linux (\S+) .* (\S+)\s*$/m.exec(log);
  return { criuVersion: criuVersionFromLog(log), kernel: run?.[1], arch: run?.[2] };
}

export function archiveFacts(cp: Checkpoint): ArchiveFacts {
  const log = ["dump.log", "checkpoint/dump.log"].find((n) => cp.archive.has(n));
  const fromLog = log ? dumpLogFacts(Buffer.from(cp.archive.read(log)).toString("utf8")) : {};
  // One socket may be open in several processes (inherited fds): count each once.
  const established = new Set<number>();
  for (const s of processSockets(cp.images)) {
    if (s.proto.startsWith("tcp") && s.state === "ESTABLISHED") established.add(s.ino);
  }
  const establishedTcp = established.size;
  const info = cp.hasMetadata ? cp.container() : undefined;
  return { ...fromLog, runtime: info?.runtime || undefined, ip: info?.ip, establishedTcp };
}

export function hostFacts(criu: string, runtime = "runc"): HostFacts {
  let criuVersion = "";
  try {
    criuVersion = criuVersionFromLog(execFileSync(criu, ["--version"], { encoding: "utf8" })) ?? "";
  } catch {
    // Reported by preflight as unknown.
  }
  const arch = execFileSync("uname", ["-m"], { encoding: "utf8" }).trim();
  return { arch, kernel: release(), criuVersion, runtime };
}
