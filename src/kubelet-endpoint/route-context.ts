/** What a route gets: the authenticated request, the node, and a note for the request's log line. */
import type { EndpointMetrics } from "./metrics.js";
import type { EndpointRequest, EndpointResponse } from "./http-types.js";
import type { NodeBackend } from "./node-backend.js";
import type { RequestTarget } from "./request-target.js";
import type { UserInfo } from "./user-info.js";

/** Fields a route adds to the request's log line. */
export interface RequestNote {
  /** What the request acted on: "ns/pod/container" for a checkpoint, "ns/pod" for a pod. */
  target?: string;
  /** Size of what was produced: the archive for a checkpoint. */
  bytes?: number;
}

export interface RouteSettings {
  runtimeRequestTimeoutSeconds: number;
  maxBodyBytes: number;
}

export interface RouteContext {
  req: EndpointRequest;
  target: RequestTarget;
  user: UserInfo;
  backend: NodeBackend;
  metrics: EndpointMetrics;
  settings: RouteSettings;
  note: RequestNote;
}

export type Route = (ctx: RouteContext, params: Record<string, string>) => Promise<EndpointResponse>;
