/** The kubelet-compatible checkpoint endpoint: what other parts of ckpt (the node agent, the CLI) use. */
export { startEndpoint, type RunningEndpoint } from "./endpoint.js";
export {
  EndpointConfigSchema,
  EndpointConfigError,
  resolveEndpointConfig,
  type EndpointConfig,
  type ResolvedEndpointConfig,
} from "./config.js";
export { BackendError, type CheckpointRequest, type CheckpointResult, type NodeBackend } from "./node-backend.js";
export { createHandler, type HandlerDeps } from "./handler.js";
export type { EndpointRequest, EndpointResponse, PresentedCertificate, RequestHandler } from "./http-types.js";
export { HttpError } from "./http-error.js";
export { Authenticator } from "./authenticate.js";
export { Authorizer } from "./authorize.js";
export { TokenAuthenticator, TokenFileError } from "./token-file.js";
export {
  AuthorizationPolicySchema,
  PolicyError,
  loadAuthorizationPolicy,
  parseAuthorizationPolicy,
  type AuthorizationPolicy,
} from "./authorization-policy.js";
export { EndpointMetrics } from "./metrics.js";
export { ServingCertificateError } from "./serving-cert.js";
export type { UserInfo } from "./user-info.js";
