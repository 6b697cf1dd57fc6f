/**
 * POST /restore: a new pod restored from a checkpoint (an archive on the node or a checkpoint image),
 * and POST /resume/{namespace}/{pod}/{container}: the end of a checkpoint that left its container
 * paused (`?pause=true`). Neither is a kubelet route; a migration needs both.
 */
import { z } from "zod";
import { HttpError } from "./http-error.js";
import { jsonResponse, type EndpointResponse } from "./http-types.js";
import { readTextBody } from "./request-body.js";
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
  const text = await readTextBody(ctx.req, ctx.settings.maxBodyBytes);
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new HttpError(400, "request body is not JSON");
  }
  const body = RestoreBody.safeParse(json);
  if (!body.success) throw new HttpError(400, body.error.issues.map((i) => (i.path.length ? `${i.path.join(".")}: ${i.message.replace(/^\w+: /, "")}` : i.message)).join("; "));
  ctx.note.target = `${body.data.namespace}/${body.data.name}`;
  const { container, ...rest } = body.data;
  return jsonResponse(201, await ctx.backend.restorePod({ ...rest, ...(container ? { container } : {}) }));
}

export async function resumeRoute(ctx: RouteContext, params: Record<string, string>): Promise<EndpointResponse> {
  const { namespace, pod, container } = params as { namespace: string; pod: string; container: string };
  ctx.note.target = `${namespace}/${pod}/${container}`;
  await ctx.backend.resumeContainer(namespace, pod, container);
  return jsonResponse(200, { kind: "Status", apiVersion: "v1", status: "Success" });
}
