/** GET/POST /pods, /metrics, /healthz, unknown paths and the body size cap, in-process. */
import { describe, expect, it } from "vitest";
import { POD_LIST } from "./fake-backend.js";
import { ADMIN, setup } from "./in-process.js";

const MANIFEST_YAML = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: web\nspec:\n  containers:\n    - name: app\n      image: busybox\n";
const MANIFEST_JSON = '{"apiVersion":"v1","kind":"Pod","metadata":{"name":"web"},"spec":{"containers":[{"name":"app","image":"busybox"}]}}';

describe("GET /pods", () => {
  it("answers the node's PodList as JSON", async () => {
    const { call, backend } = setup();
    const res = await call("GET", "/pods", ADMIN);
    expect(res.status).toBe(200);
    expect(res.headers["Content-Type"]).toBe("application/json");
    expect(JSON.parse(res.body)).toEqual(POD_LIST);
    expect(backend.calls).toEqual([{ method: "listPods" }]);
  });

  it("answers HEAD as GET (Node drops the body on the wire)", async () => {
    const { call } = setup();
    expect((await call("HEAD", "/pods", ADMIN)).status).toBe(200);
  });
});

describe("POST /pods", () => {
  it("hands a YAML manifest to the node as sent and answers 201 with the Pod", async () => {
    const { call, backend } = setup();
    const res = await call("POST", "/pods", { ...ADMIN, body: [MANIFEST_YAML.slice(0, 10), MANIFEST_YAML.slice(10)] });
    expect(res.status).toBe(201);
    expect(res.headers["Content-Type"]).toBe("application/json");
    expect(JSON.parse(res.body)).toEqual({ kind: "Pod", apiVersion: "v1", metadata: { name: "web", namespace: "default", uid: "u-2" } });
    expect(backend.calls).toEqual([{ method: "applyPod", manifest: MANIFEST_YAML }]);
  });

  it("takes a JSON manifest too", async () => {
    const { call, backend } = setup();
    const res = await call("POST", "/pods", { ...ADMIN, body: [MANIFEST_JSON] });
    expect(res.status).toBe(201);
    expect(backend.calls).toEqual([{ method: "applyPod", manifest: MANIFEST_JSON }]);
  });

  it("400 with the node's text for a manifest it refuses", async () => {
    const { call } = setup();
    const res = await call("POST", "/pods", { ...ADMIN, body: ["kind: Service\n"] });
    expect([res.status, res.body]).toEqual([400, "manifest is not a Pod"]);
  });

  it("400 for a body that is not UTF-8", async () => {
    const { call, backend } = setup();
    const res = await call("POST", "/pods", { ...ADMIN, body: [new Uint8Array([0x6b, 0xff, 0xfe])] });
    expect([res.status, res.body]).toEqual([400, "request body is not UTF-8 text"]);
    expect(backend.calls).toEqual([]);
  });

  it("413 once the body passes the cap, however it is chunked; the node never sees it", async () => {
    const { call, backend } = setup({ maxBodyBytes: 100 });
    const exact = await call("POST", "/pods", { ...ADMIN, body: ["kind: Pod\n", "#".repeat(90)] });
    expect(exact.status).toBe(201); // 100 bytes: at the cap is allowed
    const over = await call("POST", "/pods", { ...ADMIN, body: ["kind: Pod\n", "#".repeat(60), "#".repeat(31)] });
    expect([over.status, over.body]).toEqual([413, "request body too large (limit 100 bytes)"]);
    expect(over.headers.Connection).toBe("close");
    expect(backend.calls).toHaveLength(1);
  });

  it("413 from a declared Content-Length over the cap without reading the body", async () => {
    const { call, backend, bodyWasRead } = setup({ maxBodyBytes: 100 });
    const res = await call("POST", "/pods", { ...ADMIN, headers: { "content-length": "101" }, unreadableBody: true });
    expect(res.status).toBe(413);
    expect(bodyWasRead()).toBe(false);
    expect(backend.calls).toEqual([]);
  });

  it("405 for methods other than GET, HEAD and POST", async () => {
    const { call } = setup();
    const res = await call("DELETE", "/pods", ADMIN);
    expect([res.status, res.body, res.headers.Allow]).toEqual([405, "405: Method Not Allowed", "GET, POST, HEAD"]);
  });
});

describe("DELETE /pods/{namespace}/{name}", () => {
  it("asks the node to remove the pod and answers a Success status", async () => {
    const { call, backend } = setup();
    const res = await call("DELETE", "/pods/default/web", ADMIN);
    expect(res.status).toBe(200);
    expect(JSON.parse(res.body)).toMatchObject({ kind: "Status", status: "Success", details: { name: "web" } });
    expect(backend.calls).toEqual([{ method: "deletePod", namespace: "default", name: "web" }]);
  });

  it("404 with the node's text for a pod it does not have", async () => {
    const { call } = setup();
    const res = await call("DELETE", "/pods/default/nope", ADMIN);
    expect([res.status, res.body]).toEqual([404, "pod does not exist"]);
  });
});

describe("/healthz and /metrics", () => {
  it("/healthz answers ok as text", async () => {
    const { call } = setup();
    const res = await call("GET", "/healthz", ADMIN);
    expect([res.status, res.body, res.headers["Content-Type"]]).toEqual([200, "ok", "text/plain; charset=utf-8"]);
  });

  it("/metrics answers the Prometheus text format", async () => {
    const { call } = setup();
    const res = await call("GET", "/metrics", ADMIN);
    expect(res.status).toBe(200);
    expect(res.headers["Content-Type"]).toBe("text/plain; version=0.0.4; charset=utf-8");
    expect(res.body).toContain("# TYPE ckpt_checkpoint_requests_total counter");
    expect(res.body).toContain('ckpt_checkpoint_requests_total{result="success"} 0');
    expect(res.body).toContain("# TYPE ckpt_checkpoint_duration_seconds histogram");
  });

  it("POST /healthz is 405", async () => {
    const { call } = setup();
    expect((await call("POST", "/healthz", ADMIN)).status).toBe(405);
  });
});

describe("unknown paths", () => {
  it("404 '404 page not found' for an authorized user", async () => {
    const { call, backend } = setup();
    for (const path of ["/", "/nope", "/pods/extra", "/healthzx", "/runningpods/", "//pods", "https://elsewhere/nope"]) {
      const res = await call("GET", path, ADMIN);
      expect({ path, status: res.status, body: res.body }).toEqual({ path, status: 404, body: "404 page not found" });
    }
    expect(backend.calls).toEqual([]);
  });
});
