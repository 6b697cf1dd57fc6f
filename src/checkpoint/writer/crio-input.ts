/**
 * What the caller of writeCrioArchive hands over, checked with zod at the boundary: the node agent
 * assembles it from runc's image directory, the runtime's container record and the bundle's
 * config.json, and a mistake there (a relative path, a time that is not RFC 3339, a deleted path
 * without its leading "/") should fail before any byte is written, with the key that is wrong.
 */
import * as z from "zod/mini";

const absolutePath = z.string().check(z.refine((p) => p.startsWith("/"), "must be an absolute path"));
const time = z.union([z.string(), z.date()]);

/** config.dump: checkpointctl's ContainerConfig (what CRI-O's prepareCheckpointExport fills in). */
export const ContainerConfigInput = z.object({
  /** Full container ID. */
  id: z.string().check(z.minLength(1)),
  /** The runtime's container name (CRI-O: `k8s_<ctr>_<pod>_<ns>_<uid>_<attempt>`). */
  name: z.string().check(z.minLength(1)),
  /** The image as the user asked for it. */
  rootfsImage: z.optional(z.string()),
  /** Image ID (CRI-O writes the bare 64 hex). */
  rootfsImageRef: z.optional(z.string()),
  /** The image's resolved name. */
  rootfsImageName: z.optional(z.string()),
  /** Runtime handler, or the default runtime ("runc"). */
  runtime: z.optional(z.string()),
  /** Date, or an RFC 3339 string kept verbatim (Go writes local time with nanoseconds). */
  createdTime: time,
  /** Default: the time the archive is written. */
  checkpointedTime: z.optional(time),
  /** Default: Go's zero time, 0001-01-01T00:00:00Z. */
  restoredTime: z.optional(time),
  /** Whether the container was itself restored from a checkpoint. */
  restored: z.optional(z.boolean()),
});
export type ContainerConfigInput = z.infer<typeof ContainerConfigInput>;

/** A bind.mounts entry (CRI-O's ExternalBindMount; bindMountsOf builds them from the spec). */
export const BindMount = z.object({
  source: absolutePath,
  destination: absolutePath,
  file_type: z.enum(["directory", "file"]),
  /** Permission bits of the source (fileInfo.Mode().Perm()). */
  permissions: z.int().check(z.minimum(0), z.maximum(0o777)),
});
export type BindMount = z.infer<typeof BindMount>;

/** The parts of the OCI spec the archive's readers rely on; everything else passes through as is. */
export const SpecShape = z.looseObject({
  annotations: z.optional(z.record(z.string(), z.string())),
  mounts: z.optional(z.array(z.looseObject({ destination: z.string() }))),
});

export const CrioArchiveInput = z.object({
  /** The CRIU image directory (`runc checkpoint --image-path DIR`); becomes `checkpoint/`. The
   * stats-dump and dump.log that CRIU leaves in it (runc without --work-path) go to the archive's
   * top level, where CRI-O has them (its runc call puts them into the work path). */
  imagesDir: absolutePath,
  /** Default: `<imagesDir>/dump.log` when it exists. */
  dumpLog: z.optional(absolutePath),
  /** Default: `<imagesDir>/stats-dump` when it exists. */
  statsDump: z.optional(absolutePath),
  config: ContainerConfigInput,
  /** The OCI runtime spec (the bundle's config.json, parsed). Integers beyond 2^53 must be bigints
   * (parse with parseSpecJson). Key order is kept; `annotations` is written sorted, as Go does. */
  spec: z.custom<Record<string, unknown>>((v) => SpecShape.safeParse(v).success, "must be an OCI runtime spec object"),
  /** bind.mounts; CRI-O writes the member only when there is at least one. */
  bindMounts: z.array(BindMount),
  /** A plain tar of the changed files (rootfsDiff); CRI-O writes none when nothing changed. */
  rootfsDiffTar: z.optional(absolutePath),
  /** Deleted paths, each with its leading "/"; the member is written only when non-empty. */
  deletedFiles: z.optional(z.array(absolutePath)),
  /** The container's log file; stored under the member name `io.kubernetes.cri-o.LogPath`. */
  containerLog: z.optional(absolutePath),
  /** Only this many bytes of the log: what it held when the container was frozen. */
  containerLogBytes: z.optional(z.int().check(z.minimum(0))),
});
export type CrioArchiveInput = z.infer<typeof CrioArchiveInput>;

/** Parses with `schema`; the error names the first bad key. */
export function checkInput<T>(schema: z.ZodMiniType<T>, value: unknown, what: string): T {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const issue = result.error.issues[0]!;
  const path = issue.path.length ? issue.path.join(".") : "(top level)";
  const detail =
    issue.code === "invalid_type"
      ? `expected ${issue.expected}${issue.input === undefined ? " (missing)" : ""}`
      : issue.code === "invalid_union"
        ? "expected a Date or an RFC 3339 string"
        : issue.message;
  throw new TypeError(`${what}: ${path}: ${detail}`);
}
