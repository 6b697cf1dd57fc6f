/**
 * A PodSandboxConfig file as crictl reads it (`crictl runp pod-config.json`): JSON or YAML, field
 * names in the proto's snake_case (`log_directory`, `dns_config`) or in camelCase. Keys under
 * labels, annotations and sysctls are data and stay as written.
 */
import { parse as parseYaml } from "yaml";
import { z } from "zod";
import type { PodSandboxConfig } from "./types.js";

const MAP_FIELDS = new Set(["labels", "annotations", "sysctls"]);

const camel = (key: string) => key.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());

/** snake_case field names to the camelCase the CRI client sends; map entries untouched. */
export function camelKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(camelKeys);
  if (value === null || typeof value !== "object") return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    const key = camel(k);
    out[key] = MAP_FIELDS.has(key) ? v : camelKeys(v);
  }
  return out;
}

const StringMap = z.record(z.string(), z.string());

const PodSandboxConfigSchema = z.looseObject({
  metadata: z.looseObject({
    name: z.string().min(1, "metadata.name is empty"),
    uid: z.string().min(1, "metadata.uid is empty"),
    namespace: z.string().min(1, "metadata.namespace is empty"),
    attempt: z.optional(z.number().int().nonnegative()),
  }),
  hostname: z.optional(z.string()),
  logDirectory: z.optional(z.string()),
  labels: z.optional(StringMap),
  annotations: z.optional(StringMap),
});

export class PodConfigError extends Error {
  override name = "PodConfigError";
}

/** Parses and checks a pod config file's text; errors name the file and the field. */
export function parsePodConfig(text: string, file: string): PodSandboxConfig {
  let raw: unknown;
  try {
    raw = parseYaml(text); // YAML 1.2 is a superset of JSON
  } catch (err) {
    throw new PodConfigError(`${file}: not JSON or YAML: ${(err as Error).message.split("\n")[0]}`);
  }
  const parsed = PodSandboxConfigSchema.safeParse(camelKeys(raw));
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const where = issue.path.length ? issue.path.join(".") : "(top level)";
    throw new PodConfigError(`${file}: ${where}: ${issue.message}`);
  }
  return parsed.data as PodSandboxConfig;
}
