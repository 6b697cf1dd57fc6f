/**
 * Authentication (client certificate, bearer token, anonymous) and authorization (the kubelet's
 * verb/subresource mapping against the policy), in-process. Every refused request is checked not
 * to have reached the node.
 */
import { describe, expect, it } from "vitest";
import { bearerToken } from "../../src/kubelet-endpoint/authenticate.js";
import { requestAttributes } from "../../src/kubelet-endpoint/authorize.js";
import type { PresentedCertificate } from "../../src/kubelet-endpoint/http-types.js";
import { ADMIN, setup } from "./in-process.js";

const CKPT = "/checkpoint/default/web/app";
const ROUTES: Array<[string, string]> = [
  ["POST", CKPT],
  ["GET", "/pods"],
  ["POST", "/pods"],
  ["GET", "/metrics"],
  ["GET", "/healthz"],
];

const verifiedCert = (commonName: string | undefined, organizations: string[] = []): PresentedCertificate => ({
  verified: true,
  commonName,
  organizations,
});
const unverifiedCert: PresentedCertificate = {
  verified: false,
  verifyError: "unable to get local issuer certificate",
  commonName: "admin",
  organizations: ["system:masters"],
};

describe("authentication", () => {
  it("401 'Unauthorized' without credentials on every route, and nothing reaches the node", async () => {
    const { call, backend, bodyWasRead } = setup();
    for (const [method, path] of ROUTES) {
      const res = await call(method, path, { body: ["kind: Pod\n"] });
      expect({ method, path, status: res.status, body: res.body }).toEqual({ method, path, status: 401, body: "Unauthorized" });
      expect(res.headers["Content-Type"]).toBe("text/plain; charset=utf-8");
    }
    expect(backend.calls).toEqual([]);
    expect(bodyWasRead()).toBe(false);
  });

  it("a known bearer token is its user and groups", async () => {
    const { call, backend } = setup();
    expect((await call("POST", CKPT, { token: "admin-token" })).status).toBe(200);
    expect(backend.calls).toHaveLength(1);
  });

  it("401 for an unknown token, also when anonymous requests are allowed", async () => {
    for (const anonymous of [false, true]) {
      const { call, backend } = setup({ anonymous, policy: 'rules: [{groups: ["system:unauthenticated"], verbs: ["*"], resources: ["*"]}]' });
      for (const token of ["wrong", "admin-toke", "admin-token2", "ADMIN-TOKEN"]) {
        const res = await call("POST", CKPT, { token });
        expect({ anonymous, token, status: res.status, body: res.body }).toEqual({ anonymous, token, status: 401, body: "Unauthorized" });
      }
      expect(backend.calls).toEqual([]);
    }
  });

  it("anonymous requests are system:anonymous in system:unauthenticated when allowed", async () => {
    const { call, backend } = setup({ anonymous: true });
    const res = await call("POST", CKPT);
    expect([res.status, res.body]).toEqual([403, "Forbidden (user=system:anonymous, verb=create, resource=nodes, subresource(s)=[checkpoint])"]);
    expect(backend.calls).toEqual([]);

    const open = setup({ anonymous: true, policy: "rules: [{groups: [system:unauthenticated], verbs: [get], resources: [nodes/proxy]}]" });
    expect((await open.call("GET", "/healthz")).status).toBe(200);
    expect((await open.call("POST", CKPT)).status).toBe(403);
  });

  it("an Authorization header that is not Bearer counts as no credentials", async () => {
    const anonymous = setup({ anonymous: true, policy: "rules: [{users: [system:anonymous], verbs: [get], resources: [nodes/proxy]}]" });
    expect((await anonymous.call("GET", "/healthz", { headers: { authorization: "Basic YWRtaW46YWRtaW4=" } })).status).toBe(200);
    const closed = setup();
    expect((await closed.call("GET", "/healthz", { headers: { authorization: "Basic YWRtaW46YWRtaW4=" } })).status).toBe(401);
  });

  it("a verified client certificate is user CN in groups O", async () => {
    const { call, backend } = setup();
    const res = await call("POST", CKPT, { cert: verifiedCert("alice", ["system:masters", "ops"]) });
    expect(res.status).toBe(200);
    expect(backend.calls).toHaveLength(1);
    const denied = await call("POST", CKPT, { cert: verifiedCert("bob", ["ops"]) });
    expect([denied.status, denied.body]).toEqual([403, "Forbidden (user=bob, verb=create, resource=nodes, subresource(s)=[checkpoint])"]);
    expect(backend.calls).toHaveLength(1);
  });

  it("401 for a certificate that does not verify against the client CA, also when anonymous is allowed", async () => {
    for (const anonymous of [false, true]) {
      const { call, backend } = setup({ anonymous });
      const res = await call("POST", CKPT, { cert: unverifiedCert });
      expect([res.status, res.body]).toEqual([401, "Unauthorized"]);
      expect(backend.calls).toEqual([]);
    }
  });

  it("as in Kubernetes' union authenticator, a good token still authenticates beside a bad certificate", async () => {
    const { call } = setup();
    expect((await call("POST", CKPT, { cert: unverifiedCert, token: "admin-token" })).status).toBe(200);
    expect((await call("POST", CKPT, { cert: unverifiedCert, token: "wrong" })).status).toBe(401);
  });

  it("the certificate comes before the token", async () => {
    const { call } = setup();
    const res = await call("POST", CKPT, { cert: verifiedCert("bob"), token: "admin-token" });
    expect(res.body).toContain("user=bob");
  });

  it("a verified certificate without CN names nobody: the token or anonymous decides", async () => {
    const withToken = setup();
    expect((await withToken.call("POST", CKPT, { cert: verifiedCert(undefined, ["system:masters"]), token: "admin-token" })).status).toBe(200);
    expect((await withToken.call("POST", CKPT, { cert: verifiedCert(undefined, ["system:masters"]) })).status).toBe(401);
  });

  it("parses the Authorization header as Kubernetes' bearertoken does", () => {
    expect(bearerToken("Bearer abc")).toBe("abc");
    expect(bearerToken("bearer abc")).toBe("abc");
    expect(bearerToken("  Bearer abc  ")).toBe("abc");
    expect(bearerToken("Bearer abc def")).toBe("abc");
    expect(bearerToken("Bearer  abc")).toBeUndefined(); // two spaces: an empty token
    expect(bearerToken("Bearer")).toBeUndefined();
    expect(bearerToken("Basic abc")).toBeUndefined();
    expect(bearerToken(undefined)).toBeUndefined();
  });
});

describe("authorization", () => {
  it("maps method and path to the kubelet's verb and subresource", () => {
    const user = { name: "u", groups: [] };
    const cases: Array<[string, string, string, string]> = [
      ["POST", "/checkpoint/default/web/app", "create", "checkpoint"],
      ["GET", "/checkpoint/default/web/app", "get", "checkpoint"],
      ["GET", "/checkpoint", "get", "checkpoint"],
      ["GET", "/metrics", "get", "metrics"],
      ["GET", "/metrics/cadvisor", "get", "metrics"],
      ["GET", "/metricsx", "get", "proxy"],
      ["GET", "/stats/summary", "get", "stats"],
      ["GET", "/logs/messages", "get", "log"],
      ["GET", "/pods", "get", "proxy"],
      ["POST", "/pods", "create", "proxy"],
      ["GET", "/healthz", "get", "proxy"],
      ["HEAD", "/healthz", "get", "proxy"],
      ["PUT", "/x", "update", "proxy"],
      ["PATCH", "/x", "patch", "proxy"],
      ["DELETE", "/x", "delete", "proxy"],
      ["OPTIONS", "/x", "", "proxy"],
    ];
    for (const [method, path, verb, subresource] of cases) {
      expect({ method, path, ...requestAttributes(user, method, path) }).toEqual({ method, path, user, verb, resource: "nodes", subresource });
    }
  });

  it("403 in the kubelet's text, naming user, verb and subresource, and nothing reaches the node", async () => {
    const { call, backend, bodyWasRead } = setup();
    const cases: Array<[string, string, string, string]> = [
      ["checkpointer-token", "GET", "/pods", "Forbidden (user=checkpointer, verb=get, resource=nodes, subresource(s)=[proxy])"],
      ["checkpointer-token", "POST", "/pods", "Forbidden (user=checkpointer, verb=create, resource=nodes, subresource(s)=[proxy])"],
      ["checkpointer-token", "GET", "/metrics", "Forbidden (user=checkpointer, verb=get, resource=nodes, subresource(s)=[metrics])"],
      ["viewer-token", "POST", CKPT, "Forbidden (user=viewer, verb=create, resource=nodes, subresource(s)=[checkpoint])"],
      ["viewer-token", "POST", "/pods", "Forbidden (user=viewer, verb=create, resource=nodes, subresource(s)=[proxy])"],
      ["nobody-token", "GET", "/healthz", "Forbidden (user=nobody, verb=get, resource=nodes, subresource(s)=[proxy])"],
      ["nobody-token", "POST", CKPT, "Forbidden (user=nobody, verb=create, resource=nodes, subresource(s)=[checkpoint])"],
    ];
    for (const [token, method, path, body] of cases) {
      const res = await call(method, path, { token, body: ["kind: Pod\n"] });
      expect({ token, method, path, status: res.status, body: res.body }).toEqual({ token, method, path, status: 403, body });
      expect(res.headers["Content-Type"]).toBe("text/plain; charset=utf-8");
    }
    expect(backend.calls).toEqual([]);
    expect(bodyWasRead()).toBe(false);
  });

  it("authorizes the decoded path, so an encoded prefix is still the checkpoint subresource", async () => {
    const { call, backend } = setup();
    const res = await call("POST", "/%63heckpoint/default/web/app", { token: "viewer-token" });
    expect(res.body).toBe("Forbidden (user=viewer, verb=create, resource=nodes, subresource(s)=[checkpoint])");
    expect(backend.calls).toEqual([]);
  });

  it("allows what the policy grants", async () => {
    const { call } = setup();
    expect((await call("POST", CKPT, { token: "checkpointer-token" })).status).toBe(200);
    expect((await call("GET", "/pods", { token: "viewer-token" })).status).toBe(200);
    expect((await call("GET", "/metrics", { token: "viewer-token" })).status).toBe(200);
    expect((await call("GET", "/healthz", { token: "viewer-token" })).status).toBe(200);
  });

  it("denies everything without a policy", async () => {
    const { call, backend } = setup({ policy: null });
    for (const [method, path] of ROUTES) {
      expect((await call(method, path, ADMIN)).status).toBe(403);
    }
    expect(backend.calls).toEqual([]);
  });

  it("checks authorization before the route, so a 404 or 405 is only told to whom may ask", async () => {
    const { call } = setup();
    expect((await call("GET", "/nope", { token: "nobody-token" })).status).toBe(403);
    expect((await call("GET", CKPT, { token: "checkpointer-token" })).status).toBe(403);
    expect((await call("GET", "/nope", { token: "viewer-token" })).status).toBe(404);
  });
});
