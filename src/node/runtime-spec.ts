/**
 * OCI runtime specs (a bundle's config.json) for a pod's sandbox and its containers. Pure: the agent
 * writes the result. The annotations are CRI-O's, because the archive this node writes is CRI-O's:
 * checkpointctl and CRI-O's restore read the container's name, pod, IP and engine from spec.dump.
 */
import type { ResolvedImage } from "./images/resolved-image.js";

export interface NamespacePaths {
  /** The pod's network namespace (a bind-mounted netns file). */
  network: string;
  /** The sandbox's IPC and UTS namespaces (`/proc/<pause pid>/ns/…`); absent for the sandbox itself. */
  ipc?: string;
  uts?: string;
}

export interface SpecInput {
  rootfs: string;
  args: string[];
  env: string[];
  cwd: string;
  hostname: string;
  namespaces: NamespacePaths;
  annotations: Record<string, string>;
  /** cgroup path for the container (cgroupfs driver). */
  cgroupsPath: string;
  /** The pod's volumes mounted into this container. */
  binds?: BindMountSpec[];
}

export interface BindMountSpec {
  source: string;
  destination: string;
  readOnly: boolean;
}

// The container's capabilities: the OCI default set runc's `spec` writes, plus the usual
// container-runtime ones (CRI-O's default list) so that images behave as on a Kubernetes node.
const CAPABILITIES = [
  "CAP_CHOWN",
  "CAP_DAC_OVERRIDE",
  "CAP_FSETID",
  "CAP_FOWNER",
  "CAP_SETGID",
  "CAP_SETUID",
  "CAP_SETPCAP",
  "CAP_NET_BIND_SERVICE",
  "CAP_KILL",
  "CAP_AUDIT_WRITE",
];

export function runtimeSpec(input: SpecInput): Record<string, unknown> {
  const ns: Array<{ type: string; path?: string }> = [
    { type: "pid" },
    { type: "network", path: input.namespaces.network },
    input.namespaces.ipc ? { type: "ipc", path: input.namespaces.ipc } : { type: "ipc" },
    input.namespaces.uts ? { type: "uts", path: input.namespaces.uts } : { type: "uts" },
    { type: "mount" },
  ];
  return {
    ociVersion: "1.0.2-dev",
    process: {
      terminal: false,
      user: { uid: 0, gid: 0 },
      args: input.args,
      env: input.env,
      cwd: input.cwd || "/",
      capabilities: { bounding: CAPABILITIES, effective: CAPABILITIES, permitted: CAPABILITIES },
      // runc's default; raising it needs CAP_SYS_RESOURCE, which this kind of node may not have.
      rlimits: [{ type: "RLIMIT_NOFILE", hard: 1024, soft: 1024 }],
      noNewPrivileges: true,
    },
    root: { path: input.rootfs, readonly: false },
    // The UTS namespace is the sandbox's when joined: setting a hostname there is not allowed.
    ...(input.namespaces.uts ? {} : { hostname: input.hostname }),
    mounts: [
      { destination: "/proc", type: "proc", source: "proc" },
      { destination: "/dev", type: "tmpfs", source: "tmpfs", options: ["nosuid", "strictatime", "mode=755", "size=65536k"] },
      { destination: "/dev/pts", type: "devpts", source: "devpts", options: ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"] },
      { destination: "/dev/shm", type: "tmpfs", source: "shm", options: ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"] },
      { destination: "/dev/mqueue", type: "mqueue", source: "mqueue", options: ["nosuid", "noexec", "nodev"] },
      { destination: "/sys", type: "sysfs", source: "sysfs", options: ["nosuid", "noexec", "nodev", "ro"] },
      { destination: "/sys/fs/cgroup", type: "cgroup", source: "cgroup", options: ["nosuid", "noexec", "nodev", "relatime", "ro"] },
      ...(input.binds ?? []).map((b) => ({
        destination: b.destination,
        type: "bind",
        source: b.source,
        options: ["rbind", "rprivate", ...(b.readOnly ? ["ro"] : ["rw"])],
      })),
    ],
    annotations: input.annotations,
    linux: {
      cgroupsPath: input.cgroupsPath,
      resources: { devices: [{ allow: false, access: "rwm" }] },
      namespaces: ns,
      maskedPaths: [
        "/proc/acpi",
        "/proc/asound",
        "/proc/kcore",
        "/proc/keys",
        "/proc/latency_stats",
        "/proc/timer_list",
        "/proc/timer_stats",
        "/proc/sched_debug",
        "/sys/firmware",
        "/proc/scsi",
      ],
      readonlyPaths: ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"],
    },
  };
}

/** The process a container runs: Kubernetes' command/args over the image's entrypoint/cmd. */
export function containerArgv(image: ResolvedImage, command?: string[], args?: string[]): string[] {
  // Kubernetes rules: command replaces the entrypoint (and drops the image's cmd); args replace cmd.
  if (command?.length) return [...command, ...(args ?? [])];
  return [...image.process.entrypoint, ...(args ?? image.process.cmd)];
}

/** Image env, then the manifest's (later names win, as in Kubernetes). */
export function containerEnv(image: ResolvedImage, env: Array<{ name: string; value: string }>, hostname: string): string[] {
  const merged = new Map<string, string>();
  for (const e of image.process.env) {
    const i = e.indexOf("=");
    if (i > 0) merged.set(e.slice(0, i), e.slice(i + 1));
  }
  if (!merged.has("PATH")) merged.set("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
  merged.set("HOSTNAME", hostname);
  for (const e of env) merged.set(e.name, e.value);
  return [...merged].map(([k, v]) => `${k}=${v}`);
}
