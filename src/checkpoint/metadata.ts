/**
 * The JSON metadata files of a checkpoint archive, as zod schemas. Engines write more keys than
 * these (Podman's config.dump is its whole container config): unknown keys are ignored; a missing or
 * malformed file gives an error that says which file and which key.
 */
import { z } from "zod";

export const ConfigDump = z.object({
  id: z.string(),
  name: z.string(),
  rootfsImage: z.string().optional(),
  rootfsImageRef: z.string().optional(),
  rootfsImageName: z.string().optional(),
  runtime: z.string().optional(),
  createdTime: z.string().optional(),
  checkpointedTime: z.string().optional(),
  restoredTime: z.string().optional(),
  restored: z.boolean().optional(),
});
export type ConfigDump = z.infer<typeof ConfigDump>;

export const SpecMount = z.object({
  destination: z.string(),
  type: z.string().optional(),
  source: z.string().optional(),
  options: z.array(z.string()).optional(),
});

export const SpecDump = z.object({
  annotations: z.record(z.string(), z.string()).optional(),
  mounts: z.array(SpecMount).optional(),
  process: z.object({ args: z.array(z.string()).optional(), env: z.array(z.string()).optional() }).optional(),
  hostname: z.string().optional(),
});
export type SpecDump = z.infer<typeof SpecDump>;

export const DeletedFiles = z.array(z.string());

/** Podman's network.status: network → interfaces → subnets and MAC. */
export const NetworkStatus = z.record(
  z.string(),
  z.object({
    interfaces: z
      .record(
        z.string(),
        z.object({
          subnets: z.array(z.object({ ipnet: z.string(), gateway: z.string().optional() })).optional(),
          mac_address: z.string().optional(),
        }),
      )
      .optional(),
  }),
);

export class MetadataError extends Error {}

/** Parses a metadata member; the error names the archive, the member and the first bad key. */
export function parseMetadata<T>(schema: z.ZodType<T>, bytes: Uint8Array, where: string): T {
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
    throw new MetadataError(`${where}: ${path}: ${issue.message}`);
  }
  return result.data;
}
