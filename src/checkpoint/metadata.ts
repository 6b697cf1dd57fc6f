/**
 * The JSON metadata files of a checkpoint archive, as zod schemas. Engines write more keys than
 * these (Podman's config.dump is its whole container config): unknown keys are ignored; a missing or
 * malformed file gives an error that says which file and which key. zod/mini: the full zod with its
 * message locales was most of the CLI's load time.
 */
import * as z from "zod/mini";

export const ConfigDump = z.object({
  id: z.string(),
  name: z.string(),
  rootfsImage: z.optional(z.string()),
  rootfsImageRef: z.optional(z.string()),
  rootfsImageName: z.optional(z.string()),
  runtime: z.optional(z.string()),
  createdTime: z.optional(z.string()),
  checkpointedTime: z.optional(z.string()),
  restoredTime: z.optional(z.string()),
  restored: z.optional(z.boolean()),
});
export type ConfigDump = z.infer<typeof ConfigDump>;

export const SpecMount = z.object({
  destination: z.string(),
  type: z.optional(z.string()),
  source: z.optional(z.string()),
  options: z.optional(z.array(z.string())),
});

export const SpecDump = z.object({
  annotations: z.optional(z.record(z.string(), z.string())),
  mounts: z.optional(z.array(SpecMount)),
  process: z.optional(z.object({ args: z.optional(z.array(z.string())), env: z.optional(z.array(z.string())) })),
  hostname: z.optional(z.string()),
});
export type SpecDump = z.infer<typeof SpecDump>;

export const DeletedFiles = z.array(z.string());

/** Podman's network.status: network → interfaces → subnets and MAC. */
export const NetworkStatus = z.record(
  z.string(),
  z.object({
    interfaces: z.optional(
      z.record(
        z.string(),
        z.object({
          subnets: z.optional(z.array(z.object({ ipnet: z.string(), gateway: z.optional(z.string()) }))),
          mac_address: z.optional(z.string()),
        }),
      ),
    ),
  }),
);

export class MetadataError extends Error {
  override name = "MetadataError";
}

/** Parses a metadata member; the error names the archive, the member and the first bad key. */
export function parseMetadata<T>(schema: z.ZodMiniType<T>, bytes: Uint8Array, where: string): T {
  let json: unknown;
  try {
    json = JSON.parse(Buffer.from(bytes).toString("utf8"));
  } catch (err) {
    throw new MetadataError(`${where}: not valid JSON (${(err as Error).message})`);
  }
  const result = schema.safeParse(json);
  if (!result.success) {
    const issue = result.error.issues[0]!;
    const path = issue.path.length ? issue.path.join(".") : "(top level)";
    const detail = issue.code === "invalid_type" ? `expected ${issue.expected}${issue.input === undefined ? " (missing)" : ""}` : issue.message;
    throw new MetadataError(`${where}: ${path}: ${detail}`);
  }
  return result.data;
}
