/**
 * The annotations that mark an OCI image as a checkpoint image (checkpoint-node-facts.md §4): CRI-O's
 * `io.kubernetes.cri-o.annotations.checkpoint.*` (CRI-O restores only images with its `.name` key),
 * checkpointctl's `org.criu.checkpoint.*` (containerd reads `.container.name` from the index entry),
 * and Podman's `io.podman.annotations.checkpoint.*`, which ckpt only reads.
 */
import type { ContainerInfo } from "../checkpoint/checkpoint.js";
import type { ConfigDump } from "../checkpoint/metadata.js";

export const CRIO_CHECKPOINT = "io.kubernetes.cri-o.annotations.checkpoint.";
export const CRIU_CHECKPOINT = "org.criu.checkpoint.";
export const PODMAN_CHECKPOINT = "io.podman.annotations.checkpoint.";

/** The keys whose presence makes an image a checkpoint image, for CRI-O, containerd and Podman. */
export const CHECKPOINT_NAME_KEYS = [`${CRIO_CHECKPOINT}name`, `${CRIU_CHECKPOINT}container.name`, `${PODMAN_CHECKPOINT}name`] as const;

export interface CheckpointFacts {
  container: ContainerInfo;
  config: ConfigDump;
  criuVersion?: string;
  hostArch: string;
  hostKernel: string;
}

/** All annotations for a checkpoint image, keys sorted; empty values are left out. */
export function checkpointAnnotations(f: CheckpointFacts): Record<string, string> {
  const c = f.container;
  const rootfsImageName = f.config.rootfsImageName ?? c.image;
  const rawImageName = f.config.rootfsImage ?? rootfsImageName;
  const all: Record<string, string | undefined> = {
    [`${CRIO_CHECKPOINT}name`]: c.name,
    [`${CRIO_CHECKPOINT}rawImageName`]: rawImageName,
    [`${CRIO_CHECKPOINT}rootfsImageID`]: f.config.rootfsImageRef,
    [`${CRIO_CHECKPOINT}rootfsImageName`]: rootfsImageName,
    [`${CRIO_CHECKPOINT}criu.version`]: f.criuVersion,
    [`${CRIU_CHECKPOINT}container.name`]: c.name,
    [`${CRIU_CHECKPOINT}engine.name`]: c.engine,
    [`${CRIU_CHECKPOINT}pod.name`]: c.pod,
    [`${CRIU_CHECKPOINT}pod.namespace`]: c.namespace,
    [`${CRIU_CHECKPOINT}rootfsImageName`]: rootfsImageName,
    [`${CRIU_CHECKPOINT}rootfsImageID`]: f.config.rootfsImageRef,
    [`${CRIU_CHECKPOINT}rootfsImageUserRequested`]: rawImageName,
    [`${CRIU_CHECKPOINT}runtime.name`]: c.runtime,
    [`${CRIU_CHECKPOINT}criu.version`]: f.criuVersion,
    [`${CRIU_CHECKPOINT}host.arch`]: f.hostArch,
    [`${CRIU_CHECKPOINT}host.kernel`]: f.hostKernel,
  };
  const out: Record<string, string> = {};
  for (const key of Object.keys(all).sort()) {
    const v = all[key];
    if (v !== undefined && v !== "") out[key] = v;
  }
  return out;
}

/** CRIU's version from the first lines of its dump.log ("Version: 4.2.1 (gitid …)"). */
export function criuVersionFromLog(head: string): string | undefined {
  return /\bVersion: ([0-9][0-9A-Za-z.+~-]*)/.exec(head)?.[1];
}

/** Go's GOARCH name of a Node `process.arch`, as OCI image configs write it. */
export function goArch(nodeArch: string): string {
  const names: Record<string, string> = { x64: "amd64", ia32: "386", arm64: "arm64", arm: "arm", ppc64: "ppc64le", s390x: "s390x", riscv64: "riscv64", loong64: "loong64", mips: "mips", mipsel: "mipsle" };
  return names[nodeArch] ?? nodeArch;
}

export interface CheckpointImageSummary {
  isCheckpoint: boolean;
  /** Which of the three key families mark it. */
  markedBy: string[];
  container?: string;
  pod?: string;
  namespace?: string;
  engine?: string;
  baseImage?: string;
  baseImageId?: string;
  runtime?: string;
  criuVersion?: string;
  hostArch?: string;
  hostKernel?: string;
}

/** What an image's annotations say about the checkpoint in it (any of the three families). */
export function summariseAnnotations(a: Record<string, string>): CheckpointImageSummary {
  const pick = (...keys: string[]) => keys.map((k) => a[k]).find((v) => v !== undefined && v !== "");
  const markedBy = [
    a[`${CRIO_CHECKPOINT}name`] !== undefined ? "CRI-O" : undefined,
    a[`${CRIU_CHECKPOINT}container.name`] !== undefined ? "org.criu" : undefined,
    a[`${PODMAN_CHECKPOINT}name`] !== undefined ? "Podman" : undefined,
  ].filter((x): x is string => x !== undefined);
  return {
    isCheckpoint: markedBy.length > 0,
    markedBy,
    container: pick(...CHECKPOINT_NAME_KEYS),
    pod: pick(`${CRIU_CHECKPOINT}pod.name`),
    namespace: pick(`${CRIU_CHECKPOINT}pod.namespace`),
    engine: pick(`${CRIU_CHECKPOINT}engine.name`) ?? (a[`${PODMAN_CHECKPOINT}name`] !== undefined ? "Podman" : undefined),
    baseImage: pick(`${CRIU_CHECKPOINT}rootfsImageName`, `${CRIO_CHECKPOINT}rootfsImageName`, `${PODMAN_CHECKPOINT}rootfsImageName`),
    baseImageId: pick(`${CRIU_CHECKPOINT}rootfsImageID`, `${CRIO_CHECKPOINT}rootfsImageID`, `${PODMAN_CHECKPOINT}rootfsImageID`),
    runtime: pick(`${CRIU_CHECKPOINT}runtime.name`, `${PODMAN_CHECKPOINT}runtime.name`),
    criuVersion: pick(`${CRIU_CHECKPOINT}criu.version`, `${CRIO_CHECKPOINT}criu.version`, `${PODMAN_CHECKPOINT}criu.version`),
    hostArch: pick(`${CRIU_CHECKPOINT}host.arch`, `${PODMAN_CHECKPOINT}host.arch`),
    hostKernel: pick(`${CRIU_CHECKPOINT}host.kernel`, `${PODMAN_CHECKPOINT}host.kernel`),
  };
}
