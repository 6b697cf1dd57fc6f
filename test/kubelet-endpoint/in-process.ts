/**
 * The endpoint's handler built from real parts (token file, policy, metrics) around a FakeBackend,
 * and requests made in-process: no port, no TLS.
 */
import { Authenticator } from "../../src/kubelet-endpoint/authenticate.js";
import { parseAuthorizationPolicy } from "../../src/kubelet-endpoint/authorization-policy.js";
import { Authorizer } from "../../src/kubelet-endpoint/authorize.js";
import { createHandler } from "../../src/kubelet-endpoint/handler.js";
import type { EndpointResponse, PresentedCertificate } from "../../src/kubelet-endpoint/http-types.js";
import { EndpointMetrics } from "../../src/kubelet-endpoint/metrics.js";
import { TokenAuthenticator } from "../../src/kubelet-endpoint/token-file.js";
import { FakeBackend } from "./fake-backend.js";
import { captureLog } from "./log-capture.js";

export const TOKENS = [
  'admin-token,admin,uid-1,"system:masters"',
  "checkpointer-token,checkpointer,uid-2",
  'viewer-token,viewer,uid-3,"viewers,others"',
  "nobody-token,nobody,uid-4",
].join("\n");

export const POLICY = `
rules:
  - groups: [system:masters]
    verbs: ["*"]
    resources: ["*"]
  - users: [checkpointer]
    verbs: [create]
    resources: [nodes/checkpoint]
  - groups: [viewers]
    verbs: [get]
    resources: [nodes/proxy, nodes/metrics]
`;

export interface SetupOptions {
  anonymous?: boolean;
  /** Policy text; null for none at all. */
  policy?: string | null;
  runtimeRequestTimeoutSeconds?: number;
  maxBodyBytes?: number;
}

export interface CallOptions {
  token?: string;
  cert?: PresentedCertificate;
  headers?: Record<string, string>;
  /** The body as the chunks it arrives in. */
  body?: Array<string | Uint8Array>;
  /** A body that fails the test if anything reads it. */
  unreadableBody?: boolean;
}

export function setup(options: SetupOptions = {}) {
  const backend = new FakeBackend();
  const log = captureLog();
  const metrics = new EndpointMetrics();
  const policy = options.policy === null ? undefined : parseAuthorizationPolicy(options.policy ?? POLICY);
  const handler = createHandler({
    backend,
    authenticator: new Authenticator({ tokens: TokenAuthenticator.parse(TOKENS), anonymous: options.anonymous ?? false }),
    authorizer: new Authorizer(policy),
    metrics,
    logger: log.logger,
    settings: {
      runtimeRequestTimeoutSeconds: options.runtimeRequestTimeoutSeconds ?? 120,
      maxBodyBytes: options.maxBodyBytes ?? 1024 * 1024,
    },
  });
  let bodyRead = false;
  const call = (method: string, url: string, o: CallOptions = {}): Promise<EndpointResponse> => {
    const headers: Record<string, string> = { ...o.headers };
    if (o.token !== undefined) headers.authorization = `Bearer ${o.token}`;
    const chunks = (o.body ?? []).map((c) => (typeof c === "string" ? Buffer.from(c) : c));
    return handler({
      method,
      url,
      headers,
      clientCertificate: o.cert,
      body: {
        async *[Symbol.asyncIterator]() {
          bodyRead = true;
          if (o.unreadableBody) throw new Error("the body was read");
          yield* chunks;
        },
      },
    });
  };
  return { backend, log, metrics, call, bodyWasRead: () => bodyRead };
}

export const ADMIN = { token: "admin-token" };
