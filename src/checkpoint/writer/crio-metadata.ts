/**
 * The JSON members of a CRI-O archive, as CRI-O writes them (internal/lib/checkpoint.go): config.dump
 * (checkpointctl's ContainerConfig, fields in the Go struct's order, empty strings omitted), spec.dump
 * (the bundle's spec), bind.mounts and deleted.files — all through json.MarshalIndent with two
 * spaces. Pure functions.
 */
import type { BindMount, ContainerConfigInput } from "./crio-input.js";
import { goJson, metadataTime, sortedKeys } from "./go-json.js";

/** Go's zero time.Time, what config.dump says for a container that was never restored. */
export const GO_ZERO_TIME = "0001-01-01T00:00:00Z";

/** config.dump's text. `now` is the checkpoint time unless the config gives one. */
export function configDumpJson(c: ContainerConfigInput, now: Date): string {
  const omitEmpty = (s: string | undefined) => (s ? s : undefined);
  return goJson({
    id: c.id,
    name: c.name,
    rootfsImage: omitEmpty(c.rootfsImage),
    rootfsImageRef: omitEmpty(c.rootfsImageRef),
    rootfsImageName: omitEmpty(c.rootfsImageName),
    runtime: omitEmpty(c.runtime),
    createdTime: metadataTime(c.createdTime, "config.createdTime"),
    checkpointedTime: metadataTime(c.checkpointedTime ?? now, "config.checkpointedTime"),
    restoredTime: c.restoredTime === undefined ? GO_ZERO_TIME : metadataTime(c.restoredTime, "config.restoredTime"),
    restored: c.restored ?? false,
  });
}

/** spec.dump's text: the spec with its annotations in Go's map order, the rest as given. */
export function specDumpJson(spec: Record<string, unknown>): string {
  const annotations = spec.annotations as Record<string, string> | undefined;
  return goJson(annotations ? { ...spec, annotations: sortedKeys(annotations) } : spec);
}

/** bind.mounts' text, fields in ExternalBindMount's order. */
export function bindMountsJson(mounts: BindMount[]): string {
  return goJson(mounts.map((m) => ({ source: m.source, destination: m.destination, file_type: m.file_type, permissions: m.permissions })));
}

/** deleted.files' text. */
export function deletedFilesJson(paths: string[]): string {
  return goJson(paths);
}
