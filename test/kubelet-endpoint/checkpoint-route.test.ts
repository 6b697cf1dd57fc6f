/**
 * POST /checkpoint/{ns}/{pod}/{ctr} in-process against a fake node: the kubelet's statuses, texts,
 * success body and `timeout` handling.
 */
import { describe, expect, it } from "vitest";
import { BackendError } from "../../src/kubelet-endpoint/node-backend.js";
import { ADMIN, setup } from "./in-process.js";

const URL = "/checkpoint/default/web/app";
const ARCHIVE = "/var/lib/kubelet/checkpoints/checkpoint-web_default-app-2026-11-23T12:00:00Z.tar";

describe("checkpoint success", () => {
  it("answers 200 with exactly {\"items\":[path]} as application/json and passes the target on", async () => {
    const { call, backend } = setup();
    const res = await call("POST", URL, ADMIN);
    expect(res.status).toBe(200);
    expect(res.headers["Content-Type"]).toBe("application/json");
    expect(res.body).toBe(`{"items":["${ARCHIVE}"]}`);
    expect(backend.calls).toEqual([
      { method: "checkpointContainer", req: { namespace: "default", pod: "web", container: "app", timeoutSeconds: 120 } },
    ]);
  });

  it("decodes percent-encoded path segments once", async () => {
    const { call, backend } = setup();
    const res = await call("POST", "/checkpoint/default/w%65b/app", ADMIN);
    expect(res.status).toBe(200);
    expect(backend.calls).toEqual([expect.objectContaining({ req: expect.objectContaining({ pod: "web" }) })]);
  });
});

describe("the timeout parameter", () => {
  async function timeoutFor(query: string, runtimeRequestTimeoutSeconds = 120) {
    const { call, backend } = setup({ runtimeRequestTimeoutSeconds });
    const res = await call("POST", `${URL}${query}`, ADMIN);
    expect(res.status).toBe(200);
    const c = backend.calls[0]!;
    return c.method === "checkpointContainer" ? c.req.timeoutSeconds : undefined;
  }

  it("is raised to the runtime request timeout when smaller or absent", async () => {
    expect(await timeoutFor("")).toBe(120);
    expect(await timeoutFor("?timeout=0")).toBe(120);
    expect(await timeoutFor("?timeout=60")).toBe(120);
    expect(await timeoutFor("?timeout=120")).toBe(120);
    expect(await timeoutFor("?timeout=5", 2)).toBe(5);
  });

  it("is kept when larger, with Go's ParseInt forms (sign, leading zeros)", async () => {
    expect(await timeoutFor("?timeout=300")).toBe(300);
    expect(await timeoutFor("?timeout=%2B400")).toBe(400); // "+400"
    expect(await timeoutFor("?timeout=0600")).toBe(600);
    expect(await timeoutFor("?timeout=9223372036854775807")).toBe(Number.MAX_SAFE_INTEGER);
  });

  it("takes the last value when repeated", async () => {
    expect(await timeoutFor("?timeout=300&timeout=30")).toBe(120);
    expect(await timeoutFor("?timeout=30&timeout=300")).toBe(300);
    expect(await timeoutFor("?timeout=abc&timeout=500")).toBe(500);
  });

  it("is a 404 'cannot parse value of timeout parameter' when it does not parse as int64, and nothing is checkpointed", async () => {
    const bad = ["abc", "", "1.5", "0x10", "%205", "5s", "1_000", "1e3", "9223372036854775808", "-9223372036854775809", "500&timeout=x"];
    for (const value of bad) {
      const { call, backend } = setup();
      const res = await call("POST", `${URL}?timeout=${value}`, ADMIN);
      expect({ value, status: res.status, body: res.body }).toEqual({ value, status: 404, body: "cannot parse value of timeout parameter" });
      expect(res.headers["Content-Type"]).toBe("text/plain; charset=utf-8");
      expect(backend.calls).toEqual([]);
    }
  });

  it("is a 500 in the kubelet's failure text when negative (the CRI client refuses it)", async () => {
    for (const value of ["-1", "-9223372036854775808"]) {
      const { call, backend } = setup();
      const res = await call("POST", `${URL}?timeout=${value}`, ADMIN);
      expect(res.status).toBe(500);
      expect(res.body).toBe("checkpointing of default/web/app failed (CheckpointContainer requires the timeout value to be > 0)");
      expect(backend.calls).toEqual([]);
    }
  });
});

describe("checkpoint failures", () => {
  it("404 with the node's text for an unknown pod or container", async () => {
    const { call } = setup();
    const pod = await call("POST", "/checkpoint/default/nope/app", ADMIN);
    expect([pod.status, pod.body, pod.headers["Content-Type"]]).toEqual([404, "pod does not exist", "text/plain; charset=utf-8"]);
    const ctr = await call("POST", "/checkpoint/default/web/nope", ADMIN);
    expect([ctr.status, ctr.body]).toEqual([404, "container nope does not exist"]);
  });

  it("400 with the node's text for an invalid request", async () => {
    const { call, backend } = setup();
    backend.checkpointImpl = async () => {
      throw new BackendError("invalid", "container app is not running");
    };
    const res = await call("POST", URL, ADMIN);
    expect([res.status, res.body]).toEqual([400, "container app is not running"]);
  });

  it("500 'checkpointing of ns/pod/ctr failed (<error>)' for a runtime failure and for any other error", async () => {
    const { call, backend } = setup();
    backend.checkpointImpl = async () => {
      throw new BackendError("runtime", "runc checkpoint: exit status 1", { cause: new Error("criu failed") });
    };
    const runtime = await call("POST", URL, ADMIN);
    expect([runtime.status, runtime.body]).toEqual([500, "checkpointing of default/web/app failed (runc checkpoint: exit status 1)"]);
    expect(runtime.headers["Content-Type"]).toBe("text/plain; charset=utf-8");

    backend.checkpointImpl = async () => {
      throw new TypeError("cannot read properties of undefined");
    };
    const other = await call("POST", URL, ADMIN);
    expect([other.status, other.body]).toEqual([500, "checkpointing of default/web/app failed (cannot read properties of undefined)"]);
  });

  it("405 for any method but POST, naming POST as allowed", async () => {
    const { call, backend } = setup();
    for (const method of ["GET", "PUT", "DELETE", "PATCH", "HEAD"]) {
      const res = await call(method, URL, ADMIN);
      expect({ method, status: res.status, allow: res.headers.Allow }).toEqual({ method, status: 405, allow: "POST" });
    }
    expect(backend.calls).toEqual([]);
  });

  it("404 for paths that are not exactly /checkpoint/ns/pod/ctr (or /checkpoint/ns/pod, a whole pod)", async () => {
    const { call, backend } = setup();
    const paths = [
      "/checkpoint",
      "/checkpoint/default",
      "/checkpoint/default/web/",
      "/checkpoint/default/web/app/extra",
      "/checkpoint//web/app",
      "/checkpoint/default/web/app/",
      "/checkpoint/default/%2E%2E/app",
      "/checkpoint/default/..%2Fpods/app",
    ];
    for (const path of paths) {
      const res = await call("POST", path, ADMIN);
      expect({ path, status: res.status, body: res.body }).toEqual({ path, status: 404, body: "404 page not found" });
    }
    expect(backend.calls).toEqual([]);
  });

  it("400 for a path that is not valid percent-encoding", async () => {
    const { call, backend } = setup();
    const res = await call("POST", "/checkpoint/default/%zz/app", ADMIN);
    expect([res.status, res.body]).toEqual([400, "malformed request URL"]);
    expect(backend.calls).toEqual([]);
  });
});
