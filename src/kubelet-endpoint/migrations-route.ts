/**
 * The routes of a lazy (post-copy) migration (lazy-migration-api.ts): /migrations on the source,
 * /lazy-restore on the target. Neither is a kubelet route. /migrations needs the same right as a
 * checkpoint; the archive and the page connection also need the migration's one-time token, so
 * that a node's credentials alone (the target's) reach nothing they were not handed.
 */
import { effectiveTimeoutSeconds, parseTimeoutParameter } from "./checkpoint-timeout.js";
import { HttpError } from "./http-error.js";
import { jsonResponse, textResponse, type EndpointResponse } from "./http-types.js";
import { LAZY_TOKEN_HEADER, LazyRestoreBodySchema, PAGES_PROTOCOL } from "./lazy-migration-api.js";
import type { LazyMigrationBackend } from "./node-backend.js";
import { readJsonBody } from "./request-body.js";
import type { RouteContext } from "./route-context.js";

function lazyBackend(ctx: RouteContext): LazyMigrationBackend {
  if (!ctx.backend.lazy) throw new HttpError(400, "this node runs its pods through a CRI runtime: lazy migration needs ckpt's built-in runc runtime");
  return ctx.backend.lazy;
}

function token(ctx: RouteContext): string {
  const t = ctx.req.headers[LAZY_TOKEN_HEADER];
  if (!t) throw new HttpError(403, `the migration's one-time token is required (${LAZY_TOKEN_HEADER} header)`);
  return t;
}

/** POST /migrations/{namespace}/{pod}/{container}?mode=lazy|pre-copy[&timeout=N] */
export async function startMigrationRoute(ctx: RouteContext, params: Record<string, string>): Promise<EndpointResponse> {
  const { namespace, pod, container } = params as { namespace: string; pod: string; container: string };
  ctx.note.target = `${namespace}/${pod}/${container}`;
  const lazy = lazyBackend(ctx);
  const mode = ctx.target.query.get("mode") ?? "lazy";
  if (mode === "pre-copy") throw new HttpError(400, await lazy.preCopyRefusal());
  if (mode !== "lazy") throw new HttpError(400, `invalid mode parameter ${JSON.stringify(mode)}: lazy or pre-copy (stop-copy is POST /checkpoint/…?pause=true)`);
  const requested = parseTimeoutParameter(ctx.target.query.getAll("timeout"));
  if (requested !== undefined && requested <= 0n) throw new HttpError(400, "the timeout must be > 0");
  const timeoutSeconds = effectiveTimeoutSeconds(requested, ctx.settings.runtimeRequestTimeoutSeconds);
  return jsonResponse(201, await lazy.startDump({ namespace, pod, container, timeoutSeconds }));
}

/** GET /migrations/{id} */
export async function migrationStatusRoute(ctx: RouteContext, params: Record<string, string>): Promise<EndpointResponse> {
  return jsonResponse(200, lazyBackend(ctx).dumpStatus(params.id!));
}

/** DELETE /migrations/{id} */
export async function cancelMigrationRoute(ctx: RouteContext, params: Record<string, string>): Promise<EndpointResponse> {
  return jsonResponse(200, await lazyBackend(ctx).cancelDump(params.id!));
}

/** GET /migrations/{id}/archive: the checkpoint without its memory pages, once dumped. */
export async function migrationArchiveRoute(ctx: RouteContext, params: Record<string, string>): Promise<EndpointResponse> {
  const archive = await lazyBackend(ctx).dumpArchive(params.id!, token(ctx));
  ctx.note.bytes = archive.bytes;
  return { status: 200, headers: { "Content-Type": "application/x-tar", "Content-Length": String(archive.bytes) }, body: "", stream: archive.stream };
}

/** GET /migrations/{id}/pages with `Connection: Upgrade`, `Upgrade: ckpt-lazy-pages`. */
export async function migrationPagesRoute(ctx: RouteContext, params: Record<string, string>): Promise<EndpointResponse> {
  const lazy = lazyBackend(ctx);
  if (ctx.req.headers.upgrade?.toLowerCase() !== PAGES_PROTOCOL) {
    throw new HttpError(400, `the page connection must be upgraded: Connection: Upgrade, Upgrade: ${PAGES_PROTOCOL}`);
  }
  const carry = lazy.dumpPages(params.id!, token(ctx));
  return { ...textResponse(101, ""), headers: { Upgrade: PAGES_PROTOCOL }, upgrade: carry };
}

/** POST /lazy-restore */
export async function lazyRestoreRoute(ctx: RouteContext): Promise<EndpointResponse> {
  const lazy = lazyBackend(ctx);
  const body = await readJsonBody(ctx.req, ctx.settings.maxBodyBytes, LazyRestoreBodySchema);
  const meta = body.pod.metadata as { namespace?: unknown; name?: unknown } | undefined;
  ctx.note.target = `${String(meta?.namespace ?? "default")}/${String(meta?.name ?? "")}`;
  return jsonResponse(201, await lazy.restorePod(body));
}

/** GET /lazy-restore/{namespace}/{pod} */
export async function lazyRestoreStatusRoute(ctx: RouteContext, params: Record<string, string>): Promise<EndpointResponse> {
  return jsonResponse(200, lazyBackend(ctx).restoreStatus(params.namespace!, params.pod!));
}
