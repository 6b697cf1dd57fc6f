/**
 * The local authorization policy: which users and groups may use which verbs on which node
 * subresources, in place of the kubelet's SubjectAccessReview webhook. YAML or JSON:
 *
 *   rules:
 *     - users: [kube-apiserver-kubelet-client]
 *       groups: [system:masters]
 *       verbs: [create]
 *       resources: [nodes/checkpoint]
 *
 * Resources match as in RBAC: "nodes/checkpoint", "nodes/*" (any subresource), "*\/checkpoint",
 * "*". Verbs may be "*". Nothing is allowed that no rule allows. Unknown keys are errors, so a typo
 * ("verb:") fails loudly instead of silently granting or denying.
 */
import { readFileSync } from "node:fs";
import { parse as parseYaml } from "yaml";
import { z } from "zod";
import type { UserInfo } from "./user-info.js";

const NAME = z.string().min(1);
const RESOURCE = z
  .string()
  .regex(/^(\*|[a-z0-9.-]+)(\/(\*|[a-z0-9.-]+))?$/, 'expected "resource", "resource/subresource" or a "*" form');

const RuleSchema = z
  .strictObject({
    users: z.array(NAME).optional(),
    groups: z.array(NAME).optional(),
    verbs: z.array(NAME).min(1),
    resources: z.array(RESOURCE).min(1),
  })
  .refine((r) => (r.users?.length ?? 0) + (r.groups?.length ?? 0) > 0, {
    message: "a rule must name at least one user or group",
  });

export const AuthorizationPolicySchema = z.strictObject({ rules: z.array(RuleSchema) });
export type AuthorizationPolicy = z.infer<typeof AuthorizationPolicySchema>;
export type PolicyRule = z.infer<typeof RuleSchema>;

export class PolicyError extends Error {
  override name = "PolicyError";
}

export function parseAuthorizationPolicy(text: string, source = "authorization policy"): AuthorizationPolicy {
  let doc: unknown;
  try {
    // YAML 1.2 reads JSON too.
    doc = parseYaml(text);
  } catch (err) {
    throw new PolicyError(`${source}: ${(err as Error).message}`, { cause: err });
  }
  const parsed = AuthorizationPolicySchema.safeParse(doc);
  if (!parsed.success) throw new PolicyError(`${source}: ${z.prettifyError(parsed.error)}`, { cause: parsed.error });
  return parsed.data;
}

export function loadAuthorizationPolicy(file: string): AuthorizationPolicy {
  return parseAuthorizationPolicy(readFileSync(file, "utf8"), file);
}

/** The request as the authorizer sees it (Kubernetes' authorizer.Attributes, the parts we use). */
export interface AuthorizationAttributes {
  user: UserInfo;
  verb: string;
  resource: string;
  subresource: string;
}

export function policyAllows(policy: AuthorizationPolicy, attrs: AuthorizationAttributes): boolean {
  return policy.rules.some((rule) => subjectMatches(rule, attrs.user) && verbMatches(rule, attrs) && resourceMatches(rule, attrs));
}

function subjectMatches(rule: PolicyRule, user: UserInfo): boolean {
  return (rule.users?.includes(user.name) ?? false) || (rule.groups?.some((g) => user.groups.includes(g)) ?? false);
}

function verbMatches(rule: PolicyRule, attrs: AuthorizationAttributes): boolean {
  return rule.verbs.some((v) => v === "*" || v === attrs.verb);
}

// RBAC's ResourceMatches.
function resourceMatches(rule: PolicyRule, { resource, subresource }: AuthorizationAttributes): boolean {
  const combined = subresource ? `${resource}/${subresource}` : resource;
  return rule.resources.some(
    (r) =>
      r === "*" ||
      r === combined ||
      (subresource !== "" && (r === `*/${subresource}` || r === `${resource}/*`)),
  );
}
