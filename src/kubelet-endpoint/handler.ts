/**
 * The endpoint as one function from request to response: authenticate, authorize, route; every
 * failure turned into a response by toResponse; then one metrics update and one log line. Plain
 * types in and out, so tests run it in-process with no port and no TLS.
 */
import type { Logger } from "pino";
import type { Authenticator } from "./authenticate.js";
import { requestAttributes, type Authorizer } from "./authorize.js";
import { isUnexpected, toResponse } from "./http-error.js";
import type { EndpointRequest, EndpointResponse, RequestHandler } from "./http-types.js";
import { pathBucket, requestResult, type EndpointMetrics } from "./metrics.js";
import type { NodeBackend } from "./node-backend.js";
import { parseRequestTarget, type RequestTarget } from "./request-target.js";
import type { RequestNote, RouteSettings } from "./route-context.js";
import { dispatch } from "./routes.js";
import type { UserInfo } from "./user-info.js";

export interface HandlerDeps {
  backend: NodeBackend;
  authenticator: Authenticator;
  authorizer: Authorizer;
  metrics: EndpointMetrics;
  logger: Logger;
  settings: RouteSettings;
}

export function createHandler(deps: HandlerDeps): RequestHandler {
  return async (req: EndpointRequest): Promise<EndpointResponse> => {
    const started = performance.now();
    const note: RequestNote = {};
    let target: RequestTarget | undefined;
    let user: UserInfo | undefined;
    let response: EndpointResponse;
    let failure: unknown;
    try {
      target = parseRequestTarget(req.url);
      user = deps.authenticator.authenticate(req);
      deps.authorizer.authorize(requestAttributes(user, req.method, target.path));
      response = await dispatch({ req, target, user, backend: deps.backend, metrics: deps.metrics, settings: deps.settings, note });
    } catch (err) {
      response = toResponse(err);
      failure = err;
    }

    const seconds = (performance.now() - started) / 1000;
    deps.metrics.request(req.method, pathBucket(target?.segments ?? []), response.status, seconds);
    const status = response.status;
    const line = {
      user: user?.name,
      method: req.method,
      path: target?.path ?? req.url,
      target: note.target,
      status,
      durationMs: Math.round(seconds * 1e6) / 1e3,
      bytes: note.bytes,
      result: requestResult(status),
      // Why a 401 was refused and what a 500 was about; a bug keeps its stack.
      ...(failure !== undefined && (status === 401 || status >= 500) ? explanation(failure) : {}),
    };
    if (status >= 500) deps.logger.error(line, "request");
    else deps.logger.info(line, "request");
    return response;
  };
}

function explanation(err: unknown): { err: unknown } | { reason: string } {
  if (isUnexpected(err)) return { err };
  const cause = (err as Error).cause;
  return { reason: cause instanceof Error ? cause.message : (err as Error).message };
}
