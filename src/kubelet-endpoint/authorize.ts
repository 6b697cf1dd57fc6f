/**
 * The kubelet's authorization of a request: attributes from the method and path
 * (nodeAuthorizerAttributesGetter), then the policy; a denial is 403 with the kubelet's text.
 */
import { HttpError } from "./http-error.js";
import { policyAllows, type AuthorizationAttributes, type AuthorizationPolicy } from "./authorization-policy.js";
import type { UserInfo } from "./user-info.js";

const VERBS: Record<string, string> = {
  POST: "create",
  GET: "get",
  HEAD: "get",
  PUT: "update",
  PATCH: "patch",
  DELETE: "delete",
};

// Checked in this order; any other path is "proxy" (/pods and /healthz included, as without the
// KubeletFineGrainedAuthz gate).
const SUBRESOURCES: Array<[prefix: string, subresource: string]> = [
  ["/stats", "stats"],
  ["/metrics", "metrics"],
  ["/logs", "log"],
  ["/checkpoint", "checkpoint"],
  // Not a kubelet path: it ends what a checkpoint with ?pause=true began, so it needs the same right.
  ["/resume", "checkpoint"],
  // Not a kubelet path: a migration's copy of a base image out of the node.
  ["/images/push", "checkpoint"],
  // Not a kubelet path (no API server here): PodCheckpoint objects, whose work is a checkpoint.
  ["/podcheckpoints", "checkpoint"],
  // Not a kubelet path: a lazy migration's source side (its archive and pages also need its token).
  ["/migrations", "checkpoint"],
];

/** Kubelet's isSubpath: the path itself or below it, never a longer name ("/metricsx"). */
function isSubpath(path: string, prefix: string): boolean {
  return path === prefix || path.startsWith(prefix + "/");
}

export function requestAttributes(user: UserInfo, method: string, path: string): AuthorizationAttributes {
  const subresource = SUBRESOURCES.find(([prefix]) => isSubpath(path, prefix))?.[1] ?? "proxy";
  // An unlisted method has the empty verb, as in the kubelet; only a "*" verb rule matches it.
  return { user, verb: VERBS[method] ?? "", resource: "nodes", subresource };
}

export class Authorizer {
  /** Without a policy nothing is allowed. */
  constructor(private readonly policy: AuthorizationPolicy | undefined) {}

  authorize(attrs: AuthorizationAttributes): void {
    if (this.policy && policyAllows(this.policy, attrs)) return;
    throw new HttpError(
      403,
      `Forbidden (user=${attrs.user.name}, verb=${attrs.verb}, resource=${attrs.resource}, subresource(s)=[${attrs.subresource}])`,
    );
  }
}
