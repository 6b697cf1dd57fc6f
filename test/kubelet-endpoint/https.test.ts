/**
 * The endpoint over real HTTPS on a free port, with certificates made by the openssl CLI and Node's
 * https client: client certificates, tokens, anonymous refusal, denial, a certificate from another
 * CA, the body cap on the wire, metrics and logs, and the self-signed serving certificate kept
 * across restarts.
 */
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync, existsSync } from "node:fs";
import { request as httpsRequest } from "node:https";
import type { IncomingHttpHeaders } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TLSSocket } from "node:tls";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startEndpoint, type RunningEndpoint } from "../../src/kubelet-endpoint/endpoint.js";
import { haveOpenssl, makeTestCertificates, type PemPair, type TestCertificates } from "../support/tls-certs.js";
import { FakeBackend } from "./fake-backend.js";
import { POLICY, TOKENS } from "./in-process.js";
import { captureLog, type CapturedLog } from "./log-capture.js";

const work = mkdtempSync(join(tmpdir(), "ckpt-endpoint-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

interface Reply {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
  /** SHA-256 fingerprint of the server's certificate. */
  serverFingerprint: string;
}

interface RequestOptions {
  method?: string;
  token?: string;
  cert?: PemPair;
  /** CA to verify the server with. */
  ca: string;
  body?: string;
}

function call(base: string, path: string, o: RequestOptions): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      new URL(path, base),
      {
        method: o.method ?? "GET",
        ca: o.ca,
        cert: o.cert?.cert,
        key: o.cert?.key,
        agent: false,
        headers: o.token === undefined ? {} : { Authorization: `Bearer ${o.token}` },
      },
      (res) => {
        const serverFingerprint = (res.socket as TLSSocket).getPeerCertificate().fingerprint256;
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("error", reject);
        res.on("end", () =>
          resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks).toString("utf8"), serverFingerprint }),
        );
      },
    );
    req.on("error", reject);
    req.end(o.body);
  });
}

function sample(text: string, series: string): number | undefined {
  const line = text.split("\n").find((l) => l.startsWith(series + " "));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

const CKPT = "/checkpoint/default/web/app";
const ARCHIVE_BODY = '{"items":["/var/lib/kubelet/checkpoints/checkpoint-web_default-app-2026-11-23T12:00:00Z.tar"]}';

describe.skipIf(!haveOpenssl())("HTTPS with a CA-signed serving certificate, client certificates and tokens", () => {
  let certs: TestCertificates;
  let endpoint: RunningEndpoint;
  let backend: FakeBackend;
  let log: CapturedLog;
  let alice: PemPair; // O=system:masters: may do anything
  let bob: PemPair; // no groups: may do nothing
  let mallory: PemPair; // claims system:masters, signed by another CA

  beforeAll(async () => {
    certs = makeTestCertificates(join(work, "certs"));
    alice = certs.client("alice", ["system:masters", "ops"]);
    bob = certs.client("bob");
    mallory = certs.foreignClient("mallory", ["system:masters"]);
    writeFileSync(join(work, "tokens.csv"), TOKENS);
    writeFileSync(join(work, "policy.yaml"), POLICY);
    backend = new FakeBackend();
    log = captureLog();
    endpoint = await startEndpoint(backend, {
      address: "127.0.0.1",
      port: 0,
      tlsCertFile: certs.serving.certFile,
      tlsKeyFile: certs.serving.keyFile,
      clientCAFile: certs.ca.certFile,
      tokenFile: join(work, "tokens.csv"),
      authorizationPolicyFile: join(work, "policy.yaml"),
      maxBodyBytes: 64,
      logger: log.logger,
    });
  });
  afterAll(() => endpoint?.close());

  it("listens on the port it picked, at an https URL", () => {
    expect(endpoint.port).toBeGreaterThan(0);
    expect(endpoint.url).toBe(`https://127.0.0.1:${endpoint.port}`);
  });

  it("a client certificate from the CA checkpoints: 200 and the exact body", async () => {
    const before = backend.calls.length;
    const res = await call(endpoint.url, CKPT, { method: "POST", cert: alice, ca: certs.ca.cert });
    expect([res.status, res.headers["content-type"], res.body]).toEqual([200, "application/json", ARCHIVE_BODY]);
    expect(backend.calls.slice(before)).toEqual([
      { method: "checkpointContainer", req: { namespace: "default", pod: "web", container: "app", timeoutSeconds: 120 } },
    ]);
  });

  it("a bearer token checkpoints", async () => {
    const res = await call(endpoint.url, `${CKPT}?timeout=600`, { method: "POST", token: "checkpointer-token", ca: certs.ca.cert });
    expect([res.status, res.body]).toEqual([200, ARCHIVE_BODY]);
    expect(backend.calls.at(-1)).toEqual({
      method: "checkpointContainer",
      req: { namespace: "default", pod: "web", container: "app", timeoutSeconds: 600 },
    });
  });

  it("no credentials: 401 Unauthorized, and the node is not asked", async () => {
    const before = backend.calls.length;
    const res = await call(endpoint.url, CKPT, { method: "POST", ca: certs.ca.cert });
    expect([res.status, res.body, res.headers["content-type"]]).toEqual([401, "Unauthorized", "text/plain; charset=utf-8"]);
    expect(backend.calls.length).toBe(before);
  });

  it("a user the policy does not allow: 403 naming user, verb and subresource", async () => {
    const before = backend.calls.length;
    const res = await call(endpoint.url, CKPT, { method: "POST", cert: bob, ca: certs.ca.cert });
    expect([res.status, res.body]).toEqual([403, "Forbidden (user=bob, verb=create, resource=nodes, subresource(s)=[checkpoint])"]);
    const byToken = await call(endpoint.url, "/pods", { token: "checkpointer-token", ca: certs.ca.cert });
    expect([byToken.status, byToken.body]).toEqual([403, "Forbidden (user=checkpointer, verb=get, resource=nodes, subresource(s)=[proxy])"]);
    expect(backend.calls.length).toBe(before);
  });

  it("a certificate from another CA: 401, whatever groups it claims", async () => {
    const before = backend.calls.length;
    const res = await call(endpoint.url, CKPT, { method: "POST", cert: mallory, ca: certs.ca.cert });
    expect([res.status, res.body]).toEqual([401, "Unauthorized"]);
    expect(backend.calls.length).toBe(before);
  });

  it("a bad token: 401", async () => {
    const res = await call(endpoint.url, CKPT, { method: "POST", token: "guessed", ca: certs.ca.cert });
    expect(res.status).toBe(401);
  });

  it("serves /pods, /healthz (HEAD without a body) and 404 for unknown paths", async () => {
    const pods = await call(endpoint.url, "/pods", { cert: alice, ca: certs.ca.cert });
    expect([pods.status, JSON.parse(pods.body).kind]).toEqual([200, "PodList"]);
    const head = await call(endpoint.url, "/healthz", { method: "HEAD", cert: alice, ca: certs.ca.cert });
    expect([head.status, head.body]).toEqual([200, ""]);
    const missing = await call(endpoint.url, "/nope", { cert: alice, ca: certs.ca.cert });
    expect([missing.status, missing.body]).toEqual([404, "404 page not found"]);
  });

  it("refuses a body over the cap with 413 and closes the connection", async () => {
    const before = backend.calls.length;
    const res = await call(endpoint.url, "/pods", { method: "POST", cert: alice, ca: certs.ca.cert, body: "kind: Pod\n" + "#".repeat(100) });
    expect([res.status, res.body, res.headers.connection]).toEqual([413, "request body too large (limit 64 bytes)", "close"]);
    expect(backend.calls.length).toBe(before);
    const ok = await call(endpoint.url, "/pods", { method: "POST", cert: alice, ca: certs.ca.cert, body: "kind: Pod\n" });
    expect(ok.status).toBe(201);
  });

  it("/metrics counts the checkpoints and the refusals", async () => {
    const res = await call(endpoint.url, "/metrics", { token: "viewer-token", ca: certs.ca.cert });
    expect(res.status).toBe(200);
    expect(res.headers["content-type"]).toBe("text/plain; version=0.0.4; charset=utf-8");
    // The tests above, in order: alice and the token succeeded; no credentials, mallory and the bad token were 401; bob 403.
    expect(sample(res.body, 'ckpt_checkpoint_requests_total{result="success"}')).toBe(2);
    expect(sample(res.body, 'ckpt_checkpoint_requests_total{result="unauthorized"}')).toBe(3);
    expect(sample(res.body, 'ckpt_checkpoint_requests_total{result="forbidden"}')).toBe(1);
    expect(sample(res.body, 'kubelet_http_requests_total{method="POST",path="checkpoint",code="200"}')).toBe(2);
    expect(sample(res.body, "ckpt_checkpoint_duration_seconds_count")).toBe(2);
  });

  it("logs one JSON line per request, with who asked and what came of it", () => {
    const lines = log.requests();
    const checkpoints = lines.filter((l) => l.path === CKPT);
    expect(checkpoints.map((l) => [l.user, l.status, l.result])).toEqual([
      ["alice", 200, "success"],
      ["checkpointer", 200, "success"],
      [undefined, 401, "unauthorized"],
      ["bob", 403, "forbidden"],
      [undefined, 401, "unauthorized"],
      [undefined, 401, "unauthorized"],
    ]);
    expect(checkpoints[0]).toMatchObject({ method: "POST", target: "default/web/app", bytes: 123_456 });
    expect(checkpoints[4]!.reason).toMatch(/^client certificate does not verify against the client CA: /);
    expect(checkpoints[5]!.reason).toBe("invalid bearer token");
    expect(log.lines.find((l) => l.msg === "kubelet endpoint listening")).toMatchObject({
      url: endpoint.url,
      servingCertSource: "files",
      x509: true,
      tokens: 4,
      policyRules: 3,
    });
  });
});

describe.skipIf(!haveOpenssl())("HTTPS without a client CA", () => {
  it("asks for no client certificate, so one sent counts for nothing", async () => {
    const certs = makeTestCertificates(join(work, "certs-no-ca"));
    writeFileSync(join(work, "policy-no-ca.yaml"), POLICY);
    const endpoint = await startEndpoint(new FakeBackend(), {
      address: "127.0.0.1",
      port: 0,
      tlsCertFile: certs.serving.certFile,
      tlsKeyFile: certs.serving.keyFile,
      authorizationPolicyFile: join(work, "policy-no-ca.yaml"),
      logger: captureLog().logger,
    });
    try {
      const res = await call(endpoint.url, CKPT, { method: "POST", cert: certs.client("alice", ["system:masters"]), ca: certs.ca.cert });
      expect([res.status, res.body]).toEqual([401, "Unauthorized"]);
    } finally {
      await endpoint.close();
    }
  });
});

describe("self-signed serving certificate", () => {
  it("is made on first start, key 0600, and reused by the next start; replaced when removed", async () => {
    const certDir = join(work, "pki");
    writeFileSync(join(work, "policy-ss.yaml"), 'rules: [{groups: ["system:unauthenticated"], verbs: [get], resources: [nodes/proxy]}]');
    const start = (log: CapturedLog) =>
      startEndpoint(new FakeBackend(), {
        address: "127.0.0.1",
        port: 0,
        certDir,
        anonymousAuth: true,
        authorizationPolicyFile: join(work, "policy-ss.yaml"),
        logger: log.logger,
      });
    const healthz = async (endpoint: RunningEndpoint) => {
      // Verified against the stored certificate itself: it must name 127.0.0.1.
      const res = await call(endpoint.url, "/healthz", { ca: readFileSync(join(certDir, "kubelet.crt"), "utf8") });
      expect([res.status, res.body]).toEqual([200, "ok"]);
      return res.serverFingerprint;
    };
    const source = (log: CapturedLog) => log.lines.find((l) => l.msg === "kubelet endpoint listening")?.servingCertSource;

    const firstLog = captureLog();
    const first = await start(firstLog);
    const firstPrint = await healthz(first);
    await first.close();
    expect(source(firstLog)).toBe("generated");
    expect(statSync(join(certDir, "kubelet.key")).mode & 0o777).toBe(0o600);
    expect(existsSync(join(certDir, "kubelet.crt"))).toBe(true);

    const secondLog = captureLog();
    const second = await start(secondLog);
    const secondPrint = await healthz(second);
    await second.close();
    expect(source(secondLog)).toBe("reused");
    expect(secondPrint).toBe(firstPrint);

    rmSync(join(certDir, "kubelet.key"));
    const thirdLog = captureLog();
    const third = await start(thirdLog);
    const thirdPrint = await healthz(third);
    await third.close();
    expect(source(thirdLog)).toBe("generated");
    expect(thirdPrint).not.toBe(firstPrint);
  });

  it.skipIf(!haveOpenssl())("refuses a configured certificate whose key is not its own, naming the file", async () => {
    const certs = makeTestCertificates(join(work, "certs-mismatch"));
    await expect(
      startEndpoint(new FakeBackend(), {
        address: "127.0.0.1",
        port: 0,
        tlsCertFile: certs.serving.certFile,
        tlsKeyFile: certs.ca.keyFile,
        logger: captureLog().logger,
      }),
    ).rejects.toThrow(`${certs.serving.certFile}: the key does not belong to the certificate`);
  });
});
