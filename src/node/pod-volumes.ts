/**
 * A pod's volumes as host directories, whichever runtime mounts them: an emptyDir is a directory of
 * the pod's (made on first use, removed with the pod), a hostPath is checked against its type.
 */
import { chmodSync, existsSync, mkdirSync, statSync } from "node:fs";
import { join } from "node:path";
import type { ContainerManifest, PodManifest, VolumeManifest } from "./pod-manifest.js";
import type { BindMountSpec } from "./runtime-spec.js";

/** The host directory behind a volume; throws an Error naming the volume when it cannot be used. */
export function volumeSource(v: VolumeManifest, podVolumesDir: string): string {
  if (v.hostPath) {
    const source = v.hostPath.path;
    if (v.hostPath.type === "DirectoryOrCreate") mkdirSync(source, { recursive: true, mode: 0o755 });
    if (!existsSync(source)) throw new Error(`volume ${v.name}: hostPath ${source} does not exist`);
    const isDir = statSync(source).isDirectory();
    if ((v.hostPath.type === "Directory" || v.hostPath.type === "DirectoryOrCreate") && !isDir) throw new Error(`volume ${v.name}: ${source} is not a directory`);
    if (v.hostPath.type === "File" && isDir) throw new Error(`volume ${v.name}: ${source} is not a file`);
    return source;
  }
  const source = join(podVolumesDir, v.name);
  // Kubernetes makes emptyDir world-writable: the container's user may be anyone.
  mkdirSync(source, { recursive: true });
  chmodSync(source, 0o777);
  return source;
}

/** The container's volume mounts as bind mounts. */
export function volumeBindMounts(pod: PodManifest, c: ContainerManifest, podVolumesDir: string): BindMountSpec[] {
  return c.volumeMounts.map((m) => {
    const v = pod.spec.volumes.find((x) => x.name === m.name)!;
    return { source: volumeSource(v, podVolumesDir), destination: m.mountPath, readOnly: m.readOnly };
  });
}
