/**
 * GET /pods (the kubelet's PodList of the node's pods) and POST /pods (create or update a pod from a
 * YAML or JSON manifest) and DELETE /pods/{namespace}/{name}: the kubelet has no such routes, ckpt's
 * node needs them to be given pods and to let go of them.
 */
import { z } from "zod";
import { jsonResponse, type EndpointResponse } from "./http-types.js";
import { readTextBody } from "./request-body.js";
import type { RouteContext } from "./route-context.js";

export async function listPodsRoute(ctx: RouteContext): Promise<EndpointResponse> {
  return jsonResponse(200, await ctx.backend.listPods());
}

// Only to name the pod in the log line; the backend validates the manifest.
const PodIdentity = z.object({ metadata: z.object({ name: z.string(), namespace: z.string().optional() }) });

export async function applyPodRoute(ctx: RouteContext): Promise<EndpointResponse> {
  const manifest = await readTextBody(ctx.req, ctx.settings.maxBodyBytes);
  const pod = await ctx.backend.applyPod(manifest);
  const id = PodIdentity.safeParse(pod);
  if (id.success) ctx.note.target = `${id.data.metadata.namespace ?? "default"}/${id.data.metadata.name}`;
  return jsonResponse(201, pod);
}

export async function deletePodRoute(ctx: RouteContext, params: Record<string, string>): Promise<EndpointResponse> {
  ctx.note.target = `${params.namespace}/${params.name}`;
  await ctx.backend.deletePod(params.namespace!, params.name!);
  return jsonResponse(200, { kind: "Status", apiVersion: "v1", status: "Success", details: { name: params.name, kind: "pods" } });
}
