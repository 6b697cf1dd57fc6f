/** The local authorization policy file: its schema and RBAC-style matching. */
import { describe, expect, it } from "vitest";
import {
  parseAuthorizationPolicy,
  policyAllows,
  PolicyError,
  type AuthorizationAttributes,
} from "../../src/kubelet-endpoint/authorization-policy.js";

const attrs = (name: string, groups: string[], verb: string, subresource: string): AuthorizationAttributes => ({
  user: { name, groups },
  verb,
  resource: "nodes",
  subresource,
});

describe("policy file", () => {
  it("reads YAML and JSON alike", () => {
    const yaml = parseAuthorizationPolicy("rules:\n  - users: [a]\n    verbs: [create]\n    resources: [nodes/checkpoint]\n");
    const json = parseAuthorizationPolicy('{"rules":[{"users":["a"],"verbs":["create"],"resources":["nodes/checkpoint"]}]}');
    expect(json).toEqual(yaml);
    expect(yaml).toEqual({ rules: [{ users: ["a"], verbs: ["create"], resources: ["nodes/checkpoint"] }] });
  });

  it("refuses unknown keys, rules without subjects, empty verbs and malformed resources, naming the file", () => {
    const bad: Array<[string, RegExp]> = [
      ["rules: [{users: [a], verb: [create], resources: [nodes/checkpoint]}]", /verb/],
      ["rules: [{verbs: [create], resources: [nodes/checkpoint]}]", /at least one user or group/],
      ["rules: [{users: [a], verbs: [], resources: [nodes/checkpoint]}]", /verbs/],
      ["rules: [{users: [a], verbs: [get], resources: [nodes/checkpoint/x]}]", /resources/],
      ["rule: []", /rule/],
      ["rules: [{users: [a], verbs: [get]", /policy.yaml/],
    ];
    for (const [text, message] of bad) {
      let thrown: unknown;
      try {
        parseAuthorizationPolicy(text, "/etc/ckpt/policy.yaml");
      } catch (err) {
        thrown = err;
      }
      expect(thrown, text).toBeInstanceOf(PolicyError);
      expect((thrown as Error).message, text).toMatch(/^\/etc\/ckpt\/policy\.yaml: /);
      expect((thrown as Error).message, text).toMatch(message);
    }
  });
});

describe("matching", () => {
  const policy = parseAuthorizationPolicy(`
rules:
  - users: [apiserver]
    verbs: [create]
    resources: [nodes/checkpoint]
  - groups: [monitoring]
    verbs: [get]
    resources: ["*/metrics"]
  - groups: [admins]
    verbs: ["*"]
    resources: ["nodes/*"]
  - users: [root]
    verbs: [get]
    resources: ["*"]
  - users: [plain]
    verbs: [get]
    resources: [nodes]
`);

  it("grants by user name or by any group, for listed verbs and resources only", () => {
    expect(policyAllows(policy, attrs("apiserver", [], "create", "checkpoint"))).toBe(true);
    expect(policyAllows(policy, attrs("apiserver", [], "get", "checkpoint"))).toBe(false);
    expect(policyAllows(policy, attrs("apiserver", [], "create", "proxy"))).toBe(false);
    expect(policyAllows(policy, attrs("x", ["a", "monitoring"], "get", "metrics"))).toBe(true);
    expect(policyAllows(policy, attrs("monitoring", [], "get", "metrics"))).toBe(false); // a user is not a group
  });

  it("matches RBAC's resource forms: nodes/*, */sub, *, and nodes for no subresource", () => {
    expect(policyAllows(policy, attrs("x", ["admins"], "delete", "checkpoint"))).toBe(true);
    expect(policyAllows(policy, attrs("x", ["admins"], "", "proxy"))).toBe(true);
    expect(policyAllows(policy, attrs("root", [], "get", "stats"))).toBe(true);
    expect(policyAllows(policy, attrs("root", [], "create", "stats"))).toBe(false);
    expect(policyAllows(policy, attrs("plain", [], "get", "proxy"))).toBe(false);
  });

  it("allows nothing with no rules", () => {
    expect(policyAllows({ rules: [] }, attrs("root", ["system:masters"], "get", "proxy"))).toBe(false);
  });
});
