/** The names of a checkpoint archive's members, as CRI-O, containerd and Podman write them. */
export const CONFIG_DUMP = "config.dump";
/** A pod checkpoint's manifest: in its directory, or the first member of its tar. */
export const POD_CHECKPOINT_MANIFEST = "pod-checkpoint.json";
export const SPEC_DUMP = "spec.dump";
export const STATUS_DUMP = "status.dump";
export const NETWORK_STATUS = "network.status";
export const STATS_DUMP = "stats-dump";
export const DUMP_LOG = "dump.log";
export const ROOTFS_DIFF = "rootfs-diff.tar";
export const DELETED_FILES = "deleted.files";
export const BIND_MOUNTS = "bind.mounts";
export const CONTAINERD_STATUS = "status";
export const PAGES_PREFIX = "checkpoint/pages-";
export const AMDGPU_PAGES_PREFIX = "checkpoint/amdgpu-pages-";
/** containerd's log member: its restore copies it into the restored container's log. */
export const CONTAINERD_LOG = "container.log";
/** The container's log as each engine stores it: CRI-O under its annotation's name, containerd, Podman. */
export const CONTAINER_LOG_MEMBERS = ["io.kubernetes.cri-o.LogPath", CONTAINERD_LOG, "ctr.log"] as const;

export const ANNOTATIONS = {
  manager: "io.container.manager",
  crioMetadata: "io.kubernetes.cri-o.Metadata",
  crioCreated: "io.kubernetes.cri-o.Created",
  crioIp: "io.kubernetes.cri-o.IP.0",
  crioLogPath: "io.kubernetes.cri-o.LogPath",
  podName: "io.kubernetes.pod.name",
  podNamespace: "io.kubernetes.pod.namespace",
  containerdName: "io.kubernetes.cri.container-name",
  containerdSandboxName: "io.kubernetes.cri.sandbox-name",
  containerdSandboxNamespace: "io.kubernetes.cri.sandbox-namespace",
} as const;
