/**
 * PodCheckpoint objects over HTTP, for a node without an API server: POST /podcheckpoints (YAML or
 * JSON), GET /podcheckpoints[/{namespace}/{name}], DELETE /podcheckpoints/{namespace}/{name}; and
 * POST /checkpoint/{namespace}/{pod} (no container), which makes such an object for the pod and
 * answers when the checkpoint has ended, for people with curl.
 */
import { parseTimeoutParameter } from "./checkpoint-timeout.js";
import { HttpError } from "./http-error.js";
import { jsonResponse, type EndpointResponse } from "./http-types.js";
import { BackendError } from "./node-backend.js";
import { readTextBody } from "./request-body.js";
import type { RouteContext } from "./route-context.js";

export async function applyPodCheckpointRoute(ctx: RouteContext): Promise<EndpointResponse> {
  const object = await ctx.backend.applyPodCheckpoint(await readTextBody(ctx.req, ctx.settings.maxBodyBytes));
  ctx.note.target = objectName(object);
  return jsonResponse(201, object);
}

export async function listPodCheckpointsRoute(ctx: RouteContext): Promise<EndpointResponse> {
  return jsonResponse(200, await ctx.backend.listPodCheckpoints());
}

export async function getPodCheckpointRoute(ctx: RouteContext, params: Record<string, string>): Promise<EndpointResponse> {
  ctx.note.target = `${params.namespace}/${params.name}`;
  return jsonResponse(200, await ctx.backend.getPodCheckpoint(params.namespace!, params.name!));
}

export async function deletePodCheckpointRoute(ctx: RouteContext, params: Record<string, string>): Promise<EndpointResponse> {
  ctx.note.target = `${params.namespace}/${params.name}`;
  await ctx.backend.deletePodCheckpoint(params.namespace!, params.name!);
  return jsonResponse(200, { kind: "Status", apiVersion: "v1", status: "Success", details: { name: params.name, kind: "podcheckpoints" } });
}

export async function checkpointPodRoute(ctx: RouteContext, params: Record<string, string>): Promise<EndpointResponse> {
  const { namespace, pod } = params as { namespace: string; pod: string };
  ctx.note.target = `${namespace}/${pod}`;
  const requested = parseTimeoutParameter(ctx.target.query.getAll("timeout"));
  if (requested !== undefined && requested <= 0n) throw new HttpError(400, "invalid timeout parameter: a pod checkpoint's timeout is 1 to 3600 seconds");
  // The object's range; the node clamps it further to its own ceiling.
  const timeoutSeconds = requested === undefined ? undefined : Number(requested > 3600n ? 3600n : requested);
  const started = performance.now();
  try {
    const object = await ctx.backend.checkpointPod({ namespace, pod, ...(timeoutSeconds !== undefined ? { timeoutSeconds } : {}) });
    ctx.metrics.checkpoint((performance.now() - started) / 1000, "success");
    return jsonResponse(201, object);
  } catch (err) {
    const elapsed = (performance.now() - started) / 1000;
    if (err instanceof BackendError && err.kind !== "runtime") {
      ctx.metrics.checkpoint(elapsed, "refused");
      throw err;
    }
    ctx.metrics.checkpoint(elapsed, "failed");
    throw new HttpError(500, `checkpointing of pod ${namespace}/${pod} failed (${err instanceof Error ? err.message : String(err)})`, { cause: err });
  }
}

function objectName(o: unknown): string | undefined {
  const m = (o as { metadata?: { namespace?: string; name?: string } } | undefined)?.metadata;
  return m?.name ? `${m.namespace ?? "default"}/${m.name}` : undefined;
}
