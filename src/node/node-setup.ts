/**
 * Assembles a node agent from its settings: runc, the pod network, the image store, the runtime; or,
 * with a runtime endpoint, the agent that runs pods through that CRI runtime.
 * The settings are a zod schema because they come from the command line.
 */
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, rmSync } from "node:fs";
import { hostname } from "node:os";
import { join, resolve } from "node:path";
import { z } from "zod";
import { CriClient } from "../cri/client.js";
import { NodeAgent } from "./agent.js";
import { CriNodeAgent } from "./cri/cri-agent.js";
import { ImageStore } from "./images/image-store.js";
import { readIdentityFile } from "../checkpoint/seal/identity-file.js";
import type { OpenOptions } from "../checkpoint/archive/checkpoint-archive.js";
import { DEFAULT_CNI_PLUGIN_DIR, PodNetwork } from "./pod-network.js";
import { PodRuntime } from "./pod-runtime.js";
import { Runc } from "./runc.js";

export const NodeSettingsSchema = z.object({
  nodeName: z.string().min(1).default(hostname()),
  root: z.string().default("/var/lib/ckpt"),
  checkpointsDir: z.string().default("/var/lib/kubelet/checkpoints"),
  runc: z.string().default("runc"),
  criu: z.string().default("/usr/local/sbin/criu"),
  bridge: z.string().default("ckpt0"),
  podSubnet: z.string().default("10.88.0.0/16"),
  cniPluginDir: z.string().default(DEFAULT_CNI_PLUGIN_DIR),
  insecureRegistries: z.array(z.string()).default([]),
  /** Docker-style auth file with credentials for pushing checkpoint images. */
  registryAuthFile: z.string().optional(),
  maxConcurrentCheckpoints: z.number().int().positive().default(4),
  keepCheckpointsPerContainer: z.number().int().positive().optional(),
  maxCheckpointsBytes: z.number().int().positive().optional(),
  /** tmpfs directory for CRIU's images while they are archived ("" to keep them on disk). */
  memoryWorkDir: z.string().optional(),
  /** A CRI runtime's socket (unix:///…): pods go through it instead of the built-in runc runtime. */
  runtimeEndpoint: z.string().optional(),
  /** The cgroup parent of pods made through the CRI runtime (default: the runtime's). */
  cgroupRoot: z.string().optional(),
  /** age recipients (age1…) every checkpoint archive is sealed for; none: archives stay plain. */
  sealRecipients: z.array(z.string()).default([]),
  /** age identity file that opens sealed archives given to restore. */
  sealIdentity: z.string().optional(),
  /** The pod checkpoint root; default `pod-checkpoints` beside checkpointsDir. */
  podCheckpointsDir: z.string().optional(),
  /** The ceiling of a pod checkpoint's timeout (KEP-5823's podCheckpointTimeout). */
  podCheckpointTimeoutSeconds: z.number().int().min(1).max(3600).default(15),
  /** This node's client certificate and key (PEM files), to fetch a lazy migration from another node. */
  peerClientCertificate: z.string().optional(),
  peerClientKey: z.string().optional(),
});
export type NodeSettings = z.infer<typeof NodeSettingsSchema>;

/** One per agent root, so two agents on a machine never share one. */
function defaultMemoryWorkDir(root: string): string | undefined {
  if (!existsSync("/dev/shm")) return undefined;
  return `/dev/shm/ckpt-work-${createHash("sha256").update(resolve(root)).digest("hex").slice(0, 12)}`;
}

/** The built-in runc runtime of a node with these settings (its runc, pod network and image store). */
export function openPodRuntime(
  settings: NodeSettings,
  shimCommand: string[],
  log?: (event: Record<string, unknown>) => void,
  archiveOpen: OpenOptions | undefined = archiveOpenOf(settings),
): PodRuntime {
  return new PodRuntime({
    root: settings.root,
    runc: new Runc({ root: join(settings.root, "runc"), binary: settings.runc, criu: settings.criu }),
    network: new PodNetwork({
      bridge: settings.bridge,
      subnet: settings.podSubnet,
      ipamDataDir: join(settings.root, "ipam"),
      pluginDir: settings.cniPluginDir,
    }),
    images: new ImageStore(join(settings.root, "images"), { insecureRegistries: settings.insecureRegistries }),
    shimCommand,
    log,
    memoryWorkDir: settings.memoryWorkDir === "" ? undefined : (settings.memoryWorkDir ?? defaultMemoryWorkDir(settings.root)),
    ...(archiveOpen ? { archiveOpen } : {}),
  });
}

/** How restores open sealed archives: with the node's age identity, when it has one. */
function archiveOpenOf(settings: NodeSettings): OpenOptions | undefined {
  const identities = settings.sealIdentity !== undefined ? readIdentityFile(settings.sealIdentity) : undefined;
  return identities ? { identities: () => identities } : undefined;
}

export async function openNodeAgent(
  settings: NodeSettings,
  shimCommand: string[],
  log?: (event: Record<string, unknown>) => void,
): Promise<NodeAgent | CriNodeAgent> {
  // Image builds a crash cut short; nothing else lives there.
  rmSync(join(settings.root, "tmp"), { recursive: true, force: true });
  mkdirSync(join(settings.root, "tmp"), { recursive: true, mode: 0o700 });
  const publishing = {
    insecureRegistries: settings.insecureRegistries,
    workDir: join(settings.root, "tmp"),
    ...(settings.registryAuthFile ? { authFile: settings.registryAuthFile } : {}),
  };
  const open = archiveOpenOf(settings);
  const archiveOpen = open ? { archiveOpen: open } : {};
  const sealing = { ...(settings.sealRecipients.length ? { sealRecipients: settings.sealRecipients } : {}), ...archiveOpen };
  const podCheckpoints = {
    ...(settings.podCheckpointsDir ? { podCheckpointsDir: settings.podCheckpointsDir } : {}),
    podCheckpointTimeoutSeconds: settings.podCheckpointTimeoutSeconds,
  };
  const retention =
    settings.keepCheckpointsPerContainer !== undefined || settings.maxCheckpointsBytes !== undefined
      ? { retention: { keepPerContainer: settings.keepCheckpointsPerContainer, maxTotalBytes: settings.maxCheckpointsBytes } }
      : {};
  if (settings.runtimeEndpoint) {
    return CriNodeAgent.open({
      nodeName: settings.nodeName,
      root: settings.root,
      checkpointsDir: settings.checkpointsDir,
      client: new CriClient({ endpoint: settings.runtimeEndpoint }),
      checkpointImages: new ImageStore(join(settings.root, "images"), { insecureRegistries: settings.insecureRegistries }),
      criu: settings.criu,
      maxConcurrentCheckpoints: settings.maxConcurrentCheckpoints,
      ...(settings.cgroupRoot ? { cgroupParent: settings.cgroupRoot } : {}),
      ...(log ? { log } : {}),
      publishing,
      ...retention,
      ...sealing,
      ...podCheckpoints,
    });
  }
  const runtime = openPodRuntime(settings, shimCommand, log, open);
  const peer =
    settings.peerClientCertificate !== undefined && settings.peerClientKey !== undefined
      ? { peerCredentials: { cert: readFileSync(settings.peerClientCertificate, "utf8"), key: readFileSync(settings.peerClientKey, "utf8") } }
      : {};
  return NodeAgent.open({
    nodeName: settings.nodeName,
    root: settings.root,
    checkpointsDir: settings.checkpointsDir,
    runtime,
    ...peer,
    maxConcurrentCheckpoints: settings.maxConcurrentCheckpoints,
    log,
    publishing,
    ...retention,
    ...sealing,
    ...podCheckpoints,
  });
}
