/**
 * GET /containerLogs/{namespace}/{pod}/{container}: a container's log as the kubelet serves it, with
 * its query parameters (timestamps, tailLines, sinceTime, sinceSeconds, limitBytes, previous).
 * `follow` is not served: a request for it is refused rather than answered as if it were not asked.
 */
import { booleanParameter } from "./checkpoint-route.js";
import { parseCriLog, renderLog, rfc3339Nanos } from "./cri-log.js";
import { HttpError } from "./http-error.js";
import { textResponse, type EndpointResponse } from "./http-types.js";
import type { RouteContext } from "./route-context.js";

/** The most of a log file read for one request. */
const MAX_LOG_BYTES = 64 << 20;

function count(value: string | null, name: string): number | undefined {
  if (value === null) return undefined;
  if (!/^\d+$/.test(value)) throw new HttpError(400, `${name}: must be a non-negative whole number, not ${JSON.stringify(value)}`);
  return Number(value);
}

export async function containerLogsRoute(ctx: RouteContext, params: Record<string, string>): Promise<EndpointResponse> {
  const { namespace, pod, container } = params as { namespace: string; pod: string; container: string };
  ctx.note.target = `${namespace}/${pod}/${container}`;
  const q = ctx.target.query;
  if (booleanParameter(q.get("follow"), "follow")) throw new HttpError(400, "follow is not supported by this node; poll with sinceTime");
  const sinceTime = q.get("sinceTime");
  const sinceSeconds = count(q.get("sinceSeconds"), "sinceSeconds");
  if (sinceTime !== null && sinceSeconds !== undefined) throw new HttpError(400, "at most one of sinceTime or sinceSeconds may be specified");
  let since: bigint | undefined;
  if (sinceTime !== null) {
    since = rfc3339Nanos(sinceTime);
    if (since === undefined) throw new HttpError(400, `sinceTime: ${JSON.stringify(sinceTime)} is not an RFC3339 time`);
  } else if (sinceSeconds !== undefined) since = (BigInt(Date.now()) - BigInt(sinceSeconds) * 1000n) * 1_000_000n;
  const text = await ctx.backend.containerLog({ namespace, pod, container, previous: booleanParameter(q.get("previous"), "previous") }, MAX_LOG_BYTES);
  const tailLines = count(q.get("tailLines"), "tailLines");
  const limitBytes = count(q.get("limitBytes"), "limitBytes");
  const body = renderLog(parseCriLog(text), {
    timestamps: booleanParameter(q.get("timestamps"), "timestamps"),
    ...(since !== undefined ? { since } : {}),
    ...(tailLines !== undefined ? { tailLines } : {}),
    ...(limitBytes !== undefined ? { limitBytes } : {}),
  });
  ctx.note.bytes = Buffer.byteLength(body);
  return textResponse(200, body);
}
