/**
 * What the spec's mounts mean for a CRI-O archive: the bind.mounts entries (CRI-O records each bind
 * mount's source type and permissions so that a restore elsewhere can recreate a missing source as
 * a file or a directory, internal/lib/checkpoint.go prepareCheckpointExport), and the paths the
 * rootfs diff leaves out because a mount covers them.
 */
import { stat } from "node:fs/promises";
import { parse, isInteger, isSafeNumber } from "lossless-json";
import type { BindMount } from "./crio-input.js";

/** CRI-O's container mounts (copied from libpod/diff.go): never in bind.mounts, never in the diff. */
export const CRIO_CONTAINER_MOUNTS: readonly string[] = ["/dev", "/dev/shm", "/proc", "/run", "/run/.containerenv", "/run/secrets", "/sys"];

interface SpecMountLike {
  destination: string;
  type?: string;
  source?: string;
  options?: string[];
}

function mountsOf(spec: Record<string, unknown>): SpecMountLike[] {
  const mounts = spec.mounts;
  return Array.isArray(mounts) ? (mounts as SpecMountLike[]).filter((m) => typeof m?.destination === "string") : [];
}

function isBind(m: SpecMountLike): boolean {
  // CRI-O's specs say type "bind"; runc's own specs may say "none" with a bind option.
  return m.type === "bind" || (m.options ?? []).some((o) => o === "bind" || o === "rbind");
}

/**
 * bind.mounts for a spec, as CRI-O builds it: every bind mount outside CRI-O's container mounts,
 * its source stat'ed (following symlinks, as os.Stat does); a missing source fails the checkpoint,
 * as in CRI-O.
 */
export async function bindMountsOf(spec: Record<string, unknown>): Promise<BindMount[]> {
  const out: BindMount[] = [];
  for (const m of mountsOf(spec)) {
    if (CRIO_CONTAINER_MOUNTS.includes(m.destination) || !isBind(m) || !m.source) continue;
    let st;
    try {
      st = await stat(m.source);
    } catch (err) {
      throw new Error(`bind mount ${m.destination}: unable to stat() ${m.source}: ${(err as Error).message}`, { cause: err });
    }
    out.push({ source: m.source, destination: m.destination, file_type: st.isDirectory() ? "directory" : "file", permissions: st.mode & 0o777 });
  }
  return out;
}

/**
 * The paths rootfsDiff should leave out for this spec: every mount destination (whatever the upper
 * directory holds beneath a mount point is hidden by the mount, from the container and from a
 * restore alike) and CRI-O's container mounts. "/run" is the exception: CRI-O drops only the /run
 * directory entry itself, while files written under an unmounted /run are container state.
 */
export function rootfsDiffExcludes(spec: Record<string, unknown>): string[] {
  const all = [...mountsOf(spec).map((m) => m.destination), ...CRIO_CONTAINER_MOUNTS.filter((p) => p !== "/run")];
  return [...new Set(all.map((p) => (p.length > 1 ? p.replace(/\/+$/, "") : p)))];
}

/**
 * Parses a runtime spec (config.json) keeping every integer exact: those beyond 2^53 (a uint64
 * rlimit or memory limit) become bigints, which spec.dump then writes digit for digit.
 */
export function parseSpecJson(text: string): Record<string, unknown> {
  const value = parse(text, null, (n: string) => (isSafeNumber(n) ? Number(n) : isInteger(n) ? BigInt(n) : Number(n)));
  if (value === null || typeof value !== "object" || Array.isArray(value)) throw new TypeError("a runtime spec is a JSON object");
  return value as Record<string, unknown>;
}
