/**
 * A Pod manifest in the CRI's terms, as the kubelet writes it: the sandbox config (metadata, the
 * kubelet's labels, log directory, hostname) and each container's config (metadata with its attempt,
 * the kubelet's labels and annotations, log path NAME/ATTEMPT.log, volumes as mounts). Pure: the
 * agent does the I/O.
 *
 * Two things the kubelet keeps in the API server are kept on the sandbox instead, so that an agent
 * restarted with nothing on disk finds its pods again through ListPodSandbox: the label naming the
 * node agent that owns the pod, and the manifest the pod was made from.
 */
import type { ContainerConfig, PodSandboxConfig } from "../../cri/types.js";
import type { ContainerManifest, PodManifest } from "../pod-manifest.js";

export const POD_NAME_LABEL = "io.kubernetes.pod.name";
export const POD_NAMESPACE_LABEL = "io.kubernetes.pod.namespace";
export const POD_UID_LABEL = "io.kubernetes.pod.uid";
export const CONTAINER_NAME_LABEL = "io.kubernetes.container.name";
/** The node agent that made the sandbox (its node name). */
export const MANAGED_BY_LABEL = "checkpoint.ckpt.dev/node";
/** The Pod manifest (JSON) the sandbox was made from. */
export const MANIFEST_ANNOTATION = "checkpoint.ckpt.dev/manifest";
/** The CRIU configuration file runc passes to CRIU (containerd must allow this annotation). */
export const CRIU_CONFIG_ANNOTATION = "org.criu.config";

/**
 * The kubelet's namespaces for a pod without hostNetwork or shareProcessNamespace: network and IPC
 * the pod's, a PID namespace per container. Said explicitly: the CRI's zero value for pid is POD,
 * which would put every container in the sandbox's PID namespace (and make it external to CRIU).
 */
export const KUBELET_NAMESPACES = { network: "POD", pid: "CONTAINER", ipc: "POD" } as const;

export interface SandboxInput {
  manifest: PodManifest;
  uid: string;
  nodeName: string;
  logDirectory: string;
  cgroupParent?: string;
}

export function sandboxConfig(s: SandboxInput): PodSandboxConfig {
  const m = s.manifest.metadata;
  return {
    metadata: { name: m.name, uid: s.uid, namespace: m.namespace, attempt: 0 },
    hostname: s.manifest.spec.hostname ?? m.name,
    logDirectory: s.logDirectory,
    labels: { ...m.labels, [POD_NAME_LABEL]: m.name, [POD_NAMESPACE_LABEL]: m.namespace, [POD_UID_LABEL]: s.uid, [MANAGED_BY_LABEL]: s.nodeName },
    annotations: { ...m.annotations, [MANIFEST_ANNOTATION]: JSON.stringify(s.manifest) },
    linux: { ...(s.cgroupParent ? { cgroupParent: s.cgroupParent } : {}), securityContext: { namespaceOptions: KUBELET_NAMESPACES } },
  };
}

/** The log file of a container's run, relative to the sandbox's log directory (the kubelet's name). */
export function containerLogPath(name: string, attempt: number): string {
  return `${name}/${attempt}.log`;
}

export interface ContainerInput {
  pod: PodManifest;
  uid: string;
  container: ContainerManifest;
  attempt: number;
  /** The image as the runtime is to get it: a reference, or a restore archive's path. */
  image: string;
  /** Host directories of the pod's volumes, by volume name. */
  volumeSources: Record<string, string>;
  annotations?: Record<string, string>;
}

export function containerConfig(c: ContainerInput): ContainerConfig {
  const m = c.pod.metadata;
  return {
    metadata: { name: c.container.name, attempt: c.attempt },
    image: { image: c.image, userSpecifiedImage: c.container.image },
    ...(c.container.command ? { command: c.container.command } : {}),
    ...(c.container.args ? { args: c.container.args } : {}),
    ...(c.container.workingDir ? { workingDir: c.container.workingDir } : {}),
    envs: c.container.env.map((e) => ({ key: e.name, value: e.value })),
    mounts: c.container.volumeMounts.map((v) => ({ containerPath: v.mountPath, hostPath: c.volumeSources[v.name]!, readonly: v.readOnly })),
    labels: { [CONTAINER_NAME_LABEL]: c.container.name, [POD_NAME_LABEL]: m.name, [POD_NAMESPACE_LABEL]: m.namespace, [POD_UID_LABEL]: c.uid },
    annotations: { "io.kubernetes.container.restartCount": String(c.attempt), ...c.annotations },
    logPath: containerLogPath(c.container.name, c.attempt),
    linux: { securityContext: { namespaceOptions: KUBELET_NAMESPACES } },
  };
}
