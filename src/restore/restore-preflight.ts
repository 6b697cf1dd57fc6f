/**
 * Checks before a restore, each with a clear reason: a checkpoint only restores where the CPU
 * architecture and features, the CRIU version, the runtime and the kernel allow it, and what becomes
 * of its TCP connections depends on the new pod's address. Pure: the facts come in, a report goes
 * out; archiveFacts() and hostFacts() gather them.
 */
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { release } from "node:os";
import type { Checkpoint } from "../checkpoint/checkpoint.js";
import { compareVersions, parseVersion } from "../checkpoint/versions.js";
import { processSockets } from "../criu-images/index.js";
import { criuVersionFromLog } from "./checkpoint-annotations.js";
import { dumpCpuFeatures, missingCpuFeatures, parseCpuinfoFlags } from "./cpu-features.js";

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
  /**
   * Connected TCP sockets (any state CRIU restores only with tcp-established: established, closing,
   * half-open), those with both ends on loopback and the others; absent when there are none.
   */
  connectedTcp?: { loopback: number; other: number };
  /**
   * x86_64 dumps: the CPU features ("avx", "mpx", "avx512f", "pku", "amx_tile") whose state some task
   * or thread had in use (core images' xsave.xstate_bv), over all of them; see cpu-features.ts.
   */
  cpuFeatures?: string[];
  /** The dump has a cpuinfo.img (`criu dump --cpu-cap`): the CPU it was made on, for CRIU to compare. */
  cpuinfoImage?: boolean;
}

export interface HostFacts {
  arch: string;
  kernel: string;
  criuVersion: string;
  /** The OCI runtime the node restores with. */
  runtime: string;
  /** The `flags` of /proc/cpuinfo's first processor; undefined when unknown (not read, not x86). */
  cpuFlags?: string[];
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

export interface PreflightOptions {
  /**
   * The pod's containers are restored together into one network namespace: connections between
   * them over loopback can be restored (both ends come back), so a container whose connections are
   * all on loopback keeps them (see keepsLoopbackTcp).
   */
  keepLoopbackTcp?: boolean;
}

export function preflight(archive: ArchiveFacts, host: HostFacts, newIp?: string, opts: PreflightOptions = {}): PreflightReport {
  const errors: string[] = [];
  const notes: string[] = [];
  const otherArch = archive.arch !== undefined && normArch(archive.arch) !== normArch(host.arch);
  if (!archive.arch) notes.push("the archive does not say which CPU architecture it was made on (no dump.log); assuming this node's");
  else if (otherArch) {
    errors.push(`CPU architecture: the checkpoint was made on ${archive.arch}, this node is ${host.arch}`);
  }
  // Another architecture is already refused: its features say nothing more.
  if (!otherArch && archive.cpuFeatures?.length) {
    const used = archive.cpuFeatures.join(", ");
    if (!host.cpuFlags) {
      notes.push(`CPU features: the checkpointed tasks use ${used}; this node's CPU flags are unknown (no flags line in /proc/cpuinfo)`);
    } else {
      const missing = missingCpuFeatures(archive.cpuFeatures, host.cpuFlags);
      if (missing.length) errors.push(`CPU features: the checkpointed tasks use ${missing.join(", ")}, this node's CPU lacks them`);
    }
  }
  if (archive.cpuinfoImage) {
    notes.push("CPU: the dump carries cpuinfo.img (the CPU it was made on); CRIU compares it with this node's CPU itself when restoring with --cpu-cap");
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
  const tcp = archive.connectedTcp;
  if (opts.keepLoopbackTcp && tcp) {
    if (keepsLoopbackTcp(archive)) {
      notes.push(`TCP: ${tcp.loopback} connection(s) on loopback are restored with the pod's other containers; listening sockets are restored`);
    } else {
      notes.push(
        `TCP: ${tcp.loopback + tcp.other} connection(s) are closed: ${tcp.other} go to other addresses and the pod's address changes` +
          (tcp.loopback ? `, so its ${tcp.loopback} loopback connection(s) are closed too` : "") +
          "; listening sockets are restored",
      );
    }
  } else if (archive.establishedTcp > 0) {
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

/** With PreflightOptions.keepLoopbackTcp: are the container's connections restored (all on loopback)? */
export function keepsLoopbackTcp(archive: Pick<ArchiveFacts, "connectedTcp">): boolean {
  return (archive.connectedTcp?.other ?? 0) === 0;
}

/** Is an endpoint as `x sk` prints it ("127.0.0.1:80", "[::1]:80", "[::ffff:7f00:1]:80") on loopback? */
export function isLoopbackEndpoint(endpoint: string): boolean {
  return /^127\./.test(endpoint) || /^\[::1\]:/.test(endpoint) || /^\[::ffff:7f[0-9a-f]{2}:[0-9a-f]{1,4}\]:/.test(endpoint);
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
  const loopback = new Set<number>();
  const other = new Set<number>();
  for (const s of processSockets(cp.images)) {
    if (!s.proto.startsWith("tcp")) continue;
    if (s.state === "ESTABLISHED") established.add(s.ino);
    if (s.state === "LISTEN" || s.state === "CLOSE") continue;
    (isLoopbackEndpoint(s.local) && isLoopbackEndpoint(s.peer) ? loopback : other).add(s.ino);
  }
  const establishedTcp = established.size;
  const info = cp.hasMetadata ? cp.container() : undefined;
  const facts: ArchiveFacts = { ...fromLog, runtime: info?.runtime || undefined, ip: info?.ip, establishedTcp };
  if (loopback.size + other.size > 0) facts.connectedTcp = { loopback: loopback.size, other: other.size };
  const cpuFeatures = dumpCpuFeatures(cp.images);
  if (cpuFeatures) facts.cpuFeatures = cpuFeatures;
  if (cp.images.has("cpuinfo.img")) facts.cpuinfoImage = true;
  return facts;
}

/** Per CRIU binary and runtime: what they are does not change while a node runs (and a restore waits on them). */
const knownHosts = new Map<string, HostFacts>();

export function hostFacts(criu: string, runtime = "runc"): HostFacts {
  const key = `${criu}\0${runtime}`;
  const known = knownHosts.get(key);
  if (known) return known;
  const facts = readHostFacts(criu, runtime);
  // A CRIU that did not answer is asked again next time.
  if (facts.criuVersion) knownHosts.set(key, facts);
  return facts;
}

function readHostFacts(criu: string, runtime: string): HostFacts {
  let criuVersion = "";
  try {
    criuVersion = criuVersionFromLog(execFileSync(criu, ["--version"], { encoding: "utf8" })) ?? "";
  } catch {
    // Reported by preflight as unknown.
  }
  const arch = execFileSync("uname", ["-m"], { encoding: "utf8" }).trim();
  let cpuFlags: string[] | undefined;
  try {
    cpuFlags = parseCpuinfoFlags(readFileSync("/proc/cpuinfo", "utf8"));
  } catch {
    // Unknown: preflight notes it.
  }
  return { arch, kernel: release(), criuVersion, runtime, ...(cpuFlags ? { cpuFlags } : {}) };
}
