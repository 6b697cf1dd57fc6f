/**
 * POST /restore: a new pod restored from a checkpoint (an archive on the node or a checkpoint image),
 * and POST /resume/{namespace}/{pod}/{container}: the end of a checkpoint that left its container
 * paused (`?pause=true`). Neither is a kubelet route; a migration needs both.
 */
import { z } from "zod";
import { jsonResponse, type EndpointResponse } from "./http-types.js";
import { readJsonBody } from "./request-body.js";
import type { RouteContext } from "./route-context.js";

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

const RestoreBody = z
  .object({
    source: z.string().min(1, "source: an archive path on the node or a checkpoint image reference"),
    name: z.string().regex(DNS_LABEL, "name: a pod name (lower-case letters, digits and '-')"),
    namespace: z.string().regex(DNS_LABEL, "namespace: lower-case letters, digits and '-'").default("default"),
    container: z.string().regex(DNS_LABEL, "container: lower-case letters, digits and '-'").optional(),
  })
  .strict();

export async function restoreRoute(ctx: RouteContext): Promise<EndpointResponse> {
  const body = await readJsonBody(ctx.req, ctx.settings.maxBodyBytes, RestoreBody);
  ctx.note.target = `${body.namespace}/${body.name}`;
  const { container, ...rest } = body;
  return jsonResponse(201, await ctx.backend.restorePod({ ...rest, ...(container ? { container } : {}) }));
}

export async function resumeRoute(ctx: RouteContext, params: Record<string, string>): Promise<EndpointResponse> {
  const { namespace, pod, container } = params as { namespace: string; pod: string; container: string };
  ctx.note.target = `${namespace}/${pod}/${container}`;
  await ctx.backend.resumeContainer(namespace, pod, container);
  return jsonResponse(200, { kind: "Status", apiVersion: "v1", status: "Success" });
}
