/** One JSON log line per request and the Prometheus counters, from the handler in-process. */
import { describe, expect, it } from "vitest";
import { BackendError } from "../../src/kubelet-endpoint/node-backend.js";
import { pathBucket, requestResult } from "../../src/kubelet-endpoint/metrics.js";
import { ADMIN, setup } from "./in-process.js";

const CKPT = "/checkpoint/default/web/app";

/** The value of one sample line of the Prometheus text, or undefined when absent. */
function sample(text: string, series: string): number | undefined {
  const line = text.split("\n").find((l) => l.startsWith(series + " "));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe("request log", () => {
  it("writes one line per request with user, method, path, target, status, duration, bytes and result", async () => {
    const { call, log } = setup();
    await call("POST", `${CKPT}?timeout=5`, ADMIN);
    const lines = log.requests();
    expect(lines).toHaveLength(1);
    const line = lines[0]!;
    expect(line).toMatchObject({
      level: 30,
      msg: "request",
      user: "admin",
      method: "POST",
      path: CKPT,
      target: "default/web/app",
      status: 200,
      bytes: 123_456,
      result: "success",
    });
    expect(typeof line.durationMs).toBe("number");
    expect(line.durationMs as number).toBeGreaterThanOrEqual(0);
  });

  it("names the result of refused and failed requests, with the reason for 401 and 500", async () => {
    const { call, log, backend } = setup();
    await call("POST", CKPT);
    await call("POST", CKPT, { token: "viewer-token" });
    await call("POST", "/checkpoint/default/nope/app", ADMIN);
    await call("POST", `${CKPT}?timeout=x`, ADMIN);
    backend.checkpointImpl = async () => {
      throw new BackendError("runtime", "criu dump failed");
    };
    await call("POST", CKPT, ADMIN);
    await call("POST", "/pods", { ...ADMIN, body: ["kind: Service"] });
    const lines = log.requests();
    expect(lines.map((l) => [l.user, l.status, l.result])).toEqual([
      [undefined, 401, "unauthorized"],
      ["viewer", 403, "forbidden"],
      ["admin", 404, "not_found"],
      ["admin", 404, "not_found"],
      ["admin", 500, "error"],
      ["admin", 400, "invalid"],
    ]);
    expect(lines[0]!.reason).toBe("no credentials");
    expect(lines[4]).toMatchObject({ level: 50, target: "default/web/app", reason: "criu dump failed" });
    expect(lines.every((l) => l.bytes === undefined)).toBe(true);
  });

  it("keeps the stack of an error nobody meant, and answers a generic 500", async () => {
    const { call, log, backend } = setup();
    backend.listPods = async () => {
      throw new RangeError("boom");
    };
    const res = await call("GET", "/pods", ADMIN);
    expect([res.status, res.body]).toEqual([500, "Internal Server Error"]);
    const err = log.requests()[0]!.err as { type: string; message: string; stack: string };
    expect([err.type, err.message]).toEqual(["RangeError", "boom"]);
    expect(err.stack).toContain("RangeError: boom");
  });

  it("names the pod a manifest created", async () => {
    const { call, log } = setup();
    await call("POST", "/pods", { ...ADMIN, body: ["kind: Pod\n"] });
    expect(log.requests()[0]).toMatchObject({ target: "default/web", status: 201 });
  });
});

describe("metrics", () => {
  it("counts checkpoint requests by result, failures the node had, and HTTP requests by method, path and code", async () => {
    const { call, metrics, backend } = setup();
    await call("POST", CKPT, ADMIN);
    await call("POST", CKPT, ADMIN);
    await call("POST", CKPT);
    await call("POST", CKPT, { token: "viewer-token" });
    await call("POST", "/checkpoint/default/web/nope", ADMIN);
    backend.checkpointImpl = async () => {
      throw new BackendError("runtime", "criu dump failed");
    };
    await call("POST", CKPT, ADMIN);
    await call("GET", "/pods", ADMIN);
    await call("GET", "/no/such/thing", ADMIN);

    const text = await metrics.text();
    expect(sample(text, 'ckpt_checkpoint_requests_total{result="success"}')).toBe(2);
    expect(sample(text, 'ckpt_checkpoint_requests_total{result="unauthorized"}')).toBe(1);
    expect(sample(text, 'ckpt_checkpoint_requests_total{result="forbidden"}')).toBe(1);
    expect(sample(text, 'ckpt_checkpoint_requests_total{result="not_found"}')).toBe(1);
    expect(sample(text, 'ckpt_checkpoint_requests_total{result="error"}')).toBe(1);
    expect(sample(text, 'ckpt_checkpoint_requests_total{result="invalid"}')).toBe(0);
    // Only the attempt that failed in the node, not the unknown container.
    expect(sample(text, "ckpt_checkpoint_errors_total")).toBe(1);
    // Two successes and one failure were timed.
    expect(sample(text, "ckpt_checkpoint_duration_seconds_count")).toBe(3);
    expect(sample(text, 'kubelet_http_requests_total{method="POST",path="checkpoint",code="200"}')).toBe(2);
    expect(sample(text, 'kubelet_http_requests_total{method="POST",path="checkpoint",code="401"}')).toBe(1);
    expect(sample(text, 'kubelet_http_requests_total{method="GET",path="pods",code="200"}')).toBe(1);
    expect(sample(text, 'kubelet_http_requests_total{method="GET",path="other",code="404"}')).toBe(1);
  });

  it("keeps each endpoint's counts apart", async () => {
    const a = setup();
    const b = setup();
    await a.call("POST", CKPT, ADMIN);
    expect(sample(await a.metrics.text(), 'ckpt_checkpoint_requests_total{result="success"}')).toBe(1);
    expect(sample(await b.metrics.text(), 'ckpt_checkpoint_requests_total{result="success"}')).toBe(0);
  });

  it("buckets paths and results", () => {
    expect([["checkpoint", "a"], ["pods"], ["metrics", "cadvisor"], ["healthz"], ["x"], []].map(pathBucket)).toEqual([
      "checkpoint",
      "pods",
      "metrics",
      "healthz",
      "other",
      "other",
    ]);
    expect([200, 201, 400, 401, 403, 404, 405, 413, 500, 503].map(requestResult)).toEqual([
      "success",
      "success",
      "invalid",
      "unauthorized",
      "forbidden",
      "not_found",
      "invalid",
      "invalid",
      "error",
      "error",
    ]);
  });
});
