/**
 * The endpoint's configuration. A zod schema because it arrives from CLI options and config files;
 * defaults follow the kubelet (port 10250, 2 minute runtime request timeout, anonymous off as
 * kubeadm sets it). The logger is the one field that cannot come from a file.
 */
import type { Logger } from "pino";
import { z } from "zod";

const FILE = z.string().min(1);

function isLogger(value: unknown): value is Logger {
  const v = value as Logger | undefined;
  return typeof v?.info === "function" && typeof v.error === "function" && typeof v.child === "function";
}

export const EndpointConfigSchema = z
  .strictObject({
    address: z.string().min(1).default("0.0.0.0"),
    /** 0 picks a free port. */
    port: z.number().int().min(0).max(65535).default(10250),
    /** Serving certificate and key (PEM); both or neither. Without them a self-signed pair is kept in certDir. */
    tlsCertFile: FILE.optional(),
    tlsKeyFile: FILE.optional(),
    certDir: FILE.default("/var/lib/ckpt/pki"),
    /** CA bundle (PEM) that client certificates must chain to; without it client certificates are not asked for. */
    clientCAFile: FILE.optional(),
    /** Kubernetes static token file (CSV: token,user,uid,"group1,group2"). */
    tokenFile: FILE.optional(),
    anonymousAuth: z.boolean().default(false),
    /** Policy (YAML or JSON, see authorization-policy.ts); without it every request is denied. */
    authorizationPolicyFile: FILE.optional(),
    /** The least deadline a checkpoint gets; a smaller `timeout` is raised to it. */
    runtimeRequestTimeoutSeconds: z.number().int().positive().default(120),
    /** Largest request body (a pod manifest) accepted. */
    maxBodyBytes: z.number().int().positive().default(1024 * 1024),
    logger: z.custom<Logger>(isLogger, { message: "expected a pino logger" }).optional(),
  })
  .refine((c) => (c.tlsCertFile === undefined) === (c.tlsKeyFile === undefined), {
    message: "tlsCertFile and tlsKeyFile must be given together",
    path: ["tlsKeyFile"],
  });

/** What a caller passes: every field with a default may be left out. */
export type EndpointConfig = z.input<typeof EndpointConfigSchema>;
export type ResolvedEndpointConfig = z.output<typeof EndpointConfigSchema>;

export class EndpointConfigError extends Error {
  override name = "EndpointConfigError";
}

export function resolveEndpointConfig(config: EndpointConfig): ResolvedEndpointConfig {
  const parsed = EndpointConfigSchema.safeParse(config);
  if (!parsed.success) {
    throw new EndpointConfigError(`invalid endpoint configuration: ${z.prettifyError(parsed.error)}`, { cause: parsed.error });
  }
  return parsed.data;
}
