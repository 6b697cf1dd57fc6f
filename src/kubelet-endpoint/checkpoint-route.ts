/**
 * POST /checkpoint/{namespace}/{pod}/{container}: the kubelet's checkpoint API, with its status
 * codes and texts (pkg/kubelet/server/server.go checkpoint handler, CRI client remote_runtime.go).
 */
import { effectiveTimeoutSeconds, parseTimeoutParameter } from "./checkpoint-timeout.js";
import { HttpError } from "./http-error.js";
import type { EndpointResponse } from "./http-types.js";
import { BackendError } from "./node-backend.js";
import { isRegistryReference } from "../restore/image-target.js";
import type { RouteContext } from "./route-context.js";

export async function checkpointRoute(ctx: RouteContext, params: Record<string, string>): Promise<EndpointResponse> {
  const { namespace, pod, container } = params as { namespace: string; pod: string; container: string };
  const target = `${namespace}/${pod}/${container}`;
  ctx.note.target = target;
  const failed = (reason: string, cause?: unknown) =>
    new HttpError(500, `checkpointing of ${target} failed (${reason})`, { cause });

  const requested = parseTimeoutParameter(ctx.target.query.getAll("timeout"));
  // The kubelet passes a negative value on and its CRI client refuses it: a 500, not a 400.
  if (requested !== undefined && requested < 0n) throw failed("CheckpointContainer requires the timeout value to be > 0");
  const timeoutSeconds = effectiveTimeoutSeconds(requested, ctx.settings.runtimeRequestTimeoutSeconds);
  // Beyond the kubelet's API, for migrations: hold the container paused afterwards, push the archive
  // as a checkpoint image. The kubelet ignores unknown parameters; so does a request without these.
  const leavePaused = booleanParameter(ctx.target.query.get("pause"), "pause");
  const image = ctx.target.query.get("image") ?? undefined;
  // Where the container's base image was copied to, for a target that cannot reach the original.
  const baseImage = ctx.target.query.get("baseImage") ?? undefined;
  if (baseImage !== undefined && (image === undefined || !isRegistryReference(baseImage))) {
    throw new HttpError(400, `invalid baseImage parameter ${JSON.stringify(baseImage)}: a registry reference (HOST/REPO:TAG or @DIGEST), given with image`);
  }
  const extended = leavePaused || image !== undefined;

  const started = performance.now();
  const elapsed = () => (performance.now() - started) / 1000;
  let result;
  try {
    result = await ctx.backend.checkpointContainer({ namespace, pod, container, timeoutSeconds, ...(leavePaused ? { leavePaused } : {}), ...(image !== undefined ? { image } : {}), ...(baseImage !== undefined ? { baseImage } : {}) });
  } catch (err) {
    // Unknown pod or container (404) and an invalid request (400) keep their own message.
    if (err instanceof BackendError && err.kind !== "runtime") {
      ctx.metrics.checkpoint(elapsed(), "refused");
      throw err;
    }
    ctx.metrics.checkpoint(elapsed(), "failed");
    throw failed(err instanceof Error ? err.message : String(err), err);
  }
  ctx.metrics.checkpoint(elapsed(), "success");
  ctx.note.bytes = result.bytes;
  // The kubelet formats {"items":["%s"]}; JSON.stringify gives the same bytes for any real archive
  // path (no quote, backslash or control character) and stays valid JSON for any other.
  const body = extended ? { items: [result.path], bytes: result.bytes, image: result.image, durations: result.durations } : { items: [result.path] };
  return { status: 200, headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) };
}

/** "true"/"1" and "false"/"0", as Go's strconv.ParseBool takes them; absent is false. */
export function booleanParameter(value: string | null, name: string): boolean {
  if (value === null) return false;
  if (/^(1|t|T|TRUE|true|True)$/.test(value)) return true;
  if (/^(0|f|F|FALSE|false|False)$/.test(value)) return false;
  throw new HttpError(400, `invalid ${name} parameter ${JSON.stringify(value)}: not a boolean`);
}
