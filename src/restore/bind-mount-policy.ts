/**
 * Which mounts a restored container gets: the new pod's, never the archive's. A checkpoint's
 * spec.dump names the host paths the old container had bound; restoring them as they are would let
 * whoever wrote the archive choose host paths (CVE-2024-8676 in CRI-O). So every bind mount of the
 * archive must be declared again by the new pod (by its path in the container), and the source
 * comes from the new pod's declaration.
 */

/** Container paths every runtime mounts itself; an archive's mounts there need no declaration. */
const RUNTIME_MOUNTS = new Set([
  "/proc",
  "/dev",
  "/dev/pts",
  "/dev/mqueue",
  "/dev/shm",
  "/sys",
  "/sys/fs/cgroup",
  "/etc/resolv.conf",
  "/etc/hostname",
  "/etc/hosts",
  "/etc/passwd",
  "/etc/group",
  "/run/secrets",
  "/run/.containerenv",
]);

export interface SpecMount {
  destination: string;
  type?: string;
  source?: string;
  options?: string[];
}

export interface DeclaredMount {
  /** Path in the container. */
  destination: string;
  /** Host path, chosen by the new pod. */
  source: string;
  readOnly: boolean;
}

export class MountPolicyError extends Error {
  override name = "MountPolicyError";
}

/** Whether a spec mount is a bind mount (by its type, or by a bind/rbind option as runc accepts). */
export const isBindMount = (m: SpecMount) => m.type === "bind" || (m.options ?? []).some((o) => o === "bind" || o === "rbind");
/** A mount destination without trailing slashes. */
export const normalizeDestination = (p: string) => (p.length > 1 ? p.replace(/\/+$/, "") : p);
const norm = normalizeDestination;

/**
 * The bind mounts the restored container gets: one per archive bind mount, with the new pod's
 * source; an archive bind mount the pod does not declare is an error naming every one missing.
 */
export function restoredBindMounts(archiveMounts: readonly SpecMount[], declared: readonly DeclaredMount[]): DeclaredMount[] {
  const byDest = new Map(declared.map((d) => [norm(d.destination), d]));
  const needed = archiveMounts.filter((m) => isBindMount(m) && !RUNTIME_MOUNTS.has(norm(m.destination)));
  const missing = needed.map((m) => norm(m.destination)).filter((d) => !byDest.has(d));
  if (missing.length > 0) {
    throw new MountPolicyError(
      `restoring this checkpoint expects the following bind mounts to be declared by the pod (volumeMounts): ${[...new Set(missing)].join(", ")}`,
    );
  }
  return needed.map((m) => byDest.get(norm(m.destination))!);
}
