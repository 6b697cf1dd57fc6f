/**
 * startEndpoint: the kubelet-compatible HTTPS endpoint for a node. Reads its files once at start
 * (client CA, token file, policy, serving certificate) and fails then, naming the file, rather than
 * on the first request.
 */
import { readFileSync } from "node:fs";
import { pino } from "pino";
import { Authenticator } from "./authenticate.js";
import { loadAuthorizationPolicy } from "./authorization-policy.js";
import { Authorizer } from "./authorize.js";
import { resolveEndpointConfig, type EndpointConfig } from "./config.js";
import { createHandler } from "./handler.js";
import { serveHttps } from "./https-server.js";
import { EndpointMetrics } from "./metrics.js";
import type { NodeBackend } from "./node-backend.js";
import { servingCertificate } from "./serving-cert.js";
import { TokenAuthenticator } from "./token-file.js";

export interface RunningEndpoint {
  /** https://host:port, with loopback standing for an unspecified listen address. */
  url: string;
  port: number;
  /** Stops accepting connections; requests in flight finish first. */
  close(): Promise<void>;
}

export async function startEndpoint(backend: NodeBackend, config: EndpointConfig): Promise<RunningEndpoint> {
  const c = resolveEndpointConfig(config);
  const logger = c.logger ?? pino({ name: "kubelet-endpoint" });
  const clientCA = c.clientCAFile === undefined ? undefined : readFileSync(c.clientCAFile, "utf8");
  const tokens = c.tokenFile === undefined ? undefined : TokenAuthenticator.load(c.tokenFile);
  const policy = c.authorizationPolicyFile === undefined ? undefined : loadAuthorizationPolicy(c.authorizationPolicyFile);
  const serving = await servingCertificate({
    tlsCertFile: c.tlsCertFile,
    tlsKeyFile: c.tlsKeyFile,
    certDir: c.certDir,
    nodeName: backend.nodeName,
    address: c.address,
  });

  const handler = createHandler({
    backend,
    authenticator: new Authenticator({ tokens, anonymous: c.anonymousAuth }),
    authorizer: new Authorizer(policy),
    metrics: new EndpointMetrics(),
    logger,
    settings: { runtimeRequestTimeoutSeconds: c.runtimeRequestTimeoutSeconds, maxBodyBytes: c.maxBodyBytes },
  });
  const server = await serveHttps(handler, {
    address: c.address,
    port: c.port,
    cert: serving.cert,
    key: serving.key,
    clientCA,
    onError: (err) => logger.error({ err }, "request handler failed"),
  });
  logger.info(
    {
      url: server.url,
      servingCert: serving.certFile,
      servingCertSource: serving.source,
      x509: clientCA !== undefined,
      tokens: tokens?.size ?? 0,
      anonymous: c.anonymousAuth,
      policyRules: policy?.rules.length ?? 0,
    },
    "kubelet endpoint listening",
  );
  return server;
}
