/**
 * The endpoint's routes and the dispatch to them. Reached only after authentication and
 * authorization, so an unknown path or method tells nothing to a client that may not ask.
 */
import { applyPodRoute, deletePodRoute, listPodsRoute } from "./pods-route.js";
import { checkpointRoute } from "./checkpoint-route.js";
import { containerLogsRoute } from "./container-logs-route.js";
import { restoreRoute, resumeRoute } from "./restore-route.js";
import { pullImageRoute, pushImageRoute } from "./images-route.js";
import { applyPodCheckpointRoute, checkpointPodRoute, deletePodCheckpointRoute, getPodCheckpointRoute, listPodCheckpointsRoute } from "./pod-checkpoints-route.js";
import {
  cancelMigrationRoute,
  lazyRestoreRoute,
  lazyRestoreStatusRoute,
  migrationArchiveRoute,
  migrationPagesRoute,
  migrationStatusRoute,
  startMigrationRoute,
} from "./migrations-route.js";
import { HttpError } from "./http-error.js";
import { textResponse, type EndpointResponse } from "./http-types.js";
import type { Route, RouteContext } from "./route-context.js";

interface RouteEntry {
  /** Segments; ":name" captures one segment. */
  pattern: string[];
  methods: Record<string, Route>;
}

const ROUTES: RouteEntry[] = [
  { pattern: ["checkpoint", ":namespace", ":pod", ":container"], methods: { POST: checkpointRoute } },
  { pattern: ["checkpoint", ":namespace", ":pod"], methods: { POST: checkpointPodRoute } },
  { pattern: ["podcheckpoints"], methods: { GET: listPodCheckpointsRoute, POST: applyPodCheckpointRoute } },
  { pattern: ["podcheckpoints", ":namespace", ":name"], methods: { GET: getPodCheckpointRoute, DELETE: deletePodCheckpointRoute } },
  { pattern: ["pods"], methods: { GET: listPodsRoute, POST: applyPodRoute } },
  { pattern: ["pods", ":namespace", ":name"], methods: { DELETE: deletePodRoute } },
  { pattern: ["containerLogs", ":namespace", ":pod", ":container"], methods: { GET: containerLogsRoute } },
  { pattern: ["restore"], methods: { POST: restoreRoute } },
  { pattern: ["resume", ":namespace", ":pod", ":container"], methods: { POST: resumeRoute } },
  { pattern: ["images", "pull"], methods: { POST: pullImageRoute } },
  { pattern: ["images", "push"], methods: { POST: pushImageRoute } },
  { pattern: ["migrations", ":namespace", ":pod", ":container"], methods: { POST: startMigrationRoute } },
  { pattern: ["migrations", ":id"], methods: { GET: migrationStatusRoute, DELETE: cancelMigrationRoute } },
  { pattern: ["migrations", ":id", "archive"], methods: { GET: migrationArchiveRoute } },
  { pattern: ["migrations", ":id", "pages"], methods: { GET: migrationPagesRoute } },
  { pattern: ["lazy-restore"], methods: { POST: lazyRestoreRoute } },
  { pattern: ["lazy-restore", ":namespace", ":pod"], methods: { GET: lazyRestoreStatusRoute } },
  {
    pattern: ["metrics"],
    methods: { GET: async (ctx) => ({ status: 200, headers: { "Content-Type": ctx.metrics.contentType }, body: await ctx.metrics.text() }) },
  },
  { pattern: ["healthz"], methods: { GET: async () => textResponse(200, "ok") } },
];

function match(pattern: string[], segments: readonly string[]): Record<string, string> | undefined {
  if (pattern.length !== segments.length) return undefined;
  const params: Record<string, string> = {};
  for (let i = 0; i < pattern.length; i++) {
    const want = pattern[i]!;
    const got = segments[i]!;
    // An empty or dot segment names nothing ("/checkpoint//pod/ctr", "/checkpoint/../pods/x").
    if (got === "" || got === "." || got === "..") return undefined;
    if (want.startsWith(":")) params[want.slice(1)] = got;
    else if (want !== got) return undefined;
  }
  return params;
}

export async function dispatch(ctx: RouteContext): Promise<EndpointResponse> {
  for (const route of ROUTES) {
    const params = match(route.pattern, ctx.target.segments);
    if (!params) continue;
    const method = ctx.req.method;
    // HEAD is GET without the body, which Node's http server leaves out.
    const handler = route.methods[method] ?? (method === "HEAD" ? route.methods.GET : undefined);
    if (!handler) {
      const allow = Object.keys(route.methods);
      if (route.methods.GET) allow.push("HEAD");
      // go-restful's text for a path that exists without this method.
      throw new HttpError(405, "405: Method Not Allowed", { headers: { Allow: allow.join(", ") } });
    }
    return handler(ctx, params);
  }
  // Go's http.NotFound text, without its newline like every other body here.
  throw new HttpError(404, "404 page not found");
}
