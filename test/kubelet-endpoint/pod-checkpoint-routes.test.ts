/**
 * PodCheckpoint objects over HTTP: POST /checkpoint/{ns}/{pod}, /podcheckpoints; in-process, the
 * node's real PodCheckpoints with a scripted runtime.
 */
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ADMIN, setup } from "./in-process.js";

const PC_YAML = `
apiVersion: node.k8s.io/v1alpha1
kind: PodCheckpoint
metadata: {name: web-cp, namespace: default}
spec:
  sourcePod: {name: web}
  timeoutSeconds: 60
`;

const ready = (o: any) => o.status.conditions.find((c: any) => c.type === "Ready");

describe("POST /checkpoint/{namespace}/{pod}: a whole pod", () => {
  it("makes a PodCheckpoint, waits for it and answers it completed, with its location and containers", async () => {
    const { call, backend } = setup();
    const res = await call("POST", "/checkpoint/default/web?timeout=40", ADMIN);
    expect(res.status, res.body).toBe(201);
    const o = JSON.parse(res.body);
    expect(o).toMatchObject({ apiVersion: "node.k8s.io/v1alpha1", kind: "PodCheckpoint", metadata: { namespace: "default" }, spec: { sourcePod: { name: "web" }, timeoutSeconds: 40 } });
    expect(ready(o)).toMatchObject({ status: "True", reason: "CheckpointCompleted" });
    expect(o.status).toMatchObject({ nodeName: "node-a", sourcePodUID: "u-1", checkpointedContainers: [{ name: "app" }] });
    expect(o.status.checkpointLocation).toEqual({ type: "NodeLocal", nodeLocal: { path: `checkpoint-${o.metadata.uid}` } });
    const dir = join(backend.podCheckpointRoot, "pod-checkpoints", o.status.checkpointLocation.nodeLocal.path);
    expect(readdirSync(dir).sort()).toEqual(["app.tar", "pod-checkpoint.json"]);
    // The node clamps the object's 40 s to its 15 s ceiling.
    const call0 = backend.calls.find((c) => c.method === "podCheckpoint") as { deadline: number };
    expect(call0.deadline - Date.parse(o.metadata.creationTimestamp)).toBeLessThanOrEqual(15_000 + 1000);
  });

  it("404 for a pod the node does not have, before any work", async () => {
    const { call, backend } = setup();
    const res = await call("POST", "/checkpoint/default/nope", ADMIN);
    expect([res.status, res.body]).toEqual([404, "pod does not exist"]);
    expect(backend.calls.some((c) => c.method === "podCheckpoint")).toBe(false);
  });

  it("500 with the reason when the runtime fails; its files are gone and the object says CheckpointFailed", async () => {
    const { call, backend } = setup();
    backend.podCheckpointImpl = async (req) => {
      const { writeFileSync } = await import("node:fs");
      writeFileSync(join(req.dir, "half.tar"), "partial");
      throw new Error("container app is not running");
    };
    const res = await call("POST", "/checkpoint/default/web", ADMIN);
    expect(res.status).toBe(500);
    expect(res.body).toMatch(/^checkpointing of pod default\/web failed \(CheckpointFailed: container app is not running \(podcheckpoint default\/web-[a-z0-9]+\)\)$/);
    const list = JSON.parse((await call("GET", "/podcheckpoints", ADMIN)).body);
    expect(list.kind).toBe("PodCheckpointList");
    expect(ready(list.items[0])).toMatchObject({ status: "False", reason: "CheckpointFailed", message: "container app is not running" });
    expect(readdirSync(join(backend.podCheckpointRoot, "pod-checkpoints"))).toEqual([]);
  });

  it("400 for a timeout of zero", async () => {
    const { call } = setup();
    const res = await call("POST", "/checkpoint/default/web?timeout=0", ADMIN);
    expect(res.status).toBe(400);
  });
});

describe("/podcheckpoints", () => {
  it("POST stores the object Pending; GET shows it completed; DELETE removes it and its files", async () => {
    const { call, backend } = setup();
    const created = await call("POST", "/podcheckpoints", { ...ADMIN, body: [PC_YAML], headers: { "content-type": "application/yaml" } });
    expect(created.status, created.body).toBe(201);
    const o = JSON.parse(created.body);
    expect(ready(o)).toMatchObject({ status: "Unknown", reason: "Pending" });
    let got: any;
    for (let i = 0; i < 100; i++) {
      got = JSON.parse((await call("GET", "/podcheckpoints/default/web-cp", ADMIN)).body);
      if (ready(got).reason === "CheckpointCompleted") break;
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(ready(got).reason).toBe("CheckpointCompleted");
    const dir = join(backend.podCheckpointRoot, "pod-checkpoints", got.status.checkpointLocation.nodeLocal.path);
    expect(existsSync(join(dir, "pod-checkpoint.json"))).toBe(true);
    // The same object again is no new checkpoint; another spec under the name is refused.
    expect((await call("POST", "/podcheckpoints", { ...ADMIN, body: [PC_YAML] })).status).toBe(201);
    expect(backend.calls.filter((c) => c.method === "podCheckpoint")).toHaveLength(1);
    const other = await call("POST", "/podcheckpoints", { ...ADMIN, body: [PC_YAML.replace("timeoutSeconds: 60", "timeoutSeconds: 5")] });
    expect([other.status, other.body]).toEqual([400, "PodCheckpoint default/web-cp exists already with another spec: spec is immutable"]);
    expect((await call("DELETE", "/podcheckpoints/default/web-cp", ADMIN)).status).toBe(200);
    expect(existsSync(dir)).toBe(false);
    const gone = await call("GET", "/podcheckpoints/default/web-cp", ADMIN);
    expect([gone.status, gone.body]).toEqual([404, "podcheckpoint default/web-cp does not exist"]);
  });

  it("400 naming the field for an object that is not a valid PodCheckpoint", async () => {
    const { call } = setup();
    const cases: Array<[string, RegExp]> = [
      [PC_YAML.replace("timeoutSeconds: 60", "timeoutSeconds: 4000"), /^PodCheckpoint: spec\.timeoutSeconds: /],
      [PC_YAML.replace("sourcePod: {name: web}", "sourcePod: {}"), /^PodCheckpoint: spec\.sourcePod\.name: /],
      [PC_YAML.replace("node.k8s.io/v1alpha1", "v1"), /^PodCheckpoint: apiVersion: /],
      ["a: [", /^PodCheckpoint: /],
    ];
    for (const [body, want] of cases) {
      const res = await call("POST", "/podcheckpoints", { ...ADMIN, body: [body] });
      expect(res.status, body).toBe(400);
      expect(res.body).toMatch(want);
    }
  });

  it("a uid that is not the pod's ends SourcePodReplaced without any checkpoint", async () => {
    const { call, backend } = setup();
    await call("POST", "/podcheckpoints", { ...ADMIN, body: [PC_YAML.replace("{name: web}", "{name: web, uid: u-0}")] });
    let got: any;
    for (let i = 0; i < 100; i++) {
      got = JSON.parse((await call("GET", "/podcheckpoints/default/web-cp", ADMIN)).body);
      if (ready(got).reason !== "Pending") break;
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(ready(got)).toMatchObject({ status: "False", reason: "SourcePodReplaced" });
    expect(ready(got).message).toMatch(/has uid u-1, not u-0/);
    expect(backend.calls.some((c) => c.method === "podCheckpoint")).toBe(false);
  });

  it("needs the checkpoint right: a viewer may not create or read them", async () => {
    const { call } = setup();
    for (const [method, path] of [["POST", "/podcheckpoints"], ["GET", "/podcheckpoints"], ["POST", "/checkpoint/default/web"]] as const) {
      const res = await call(method, path, { token: "viewer-token", body: [PC_YAML] });
      expect(res.status, `${method} ${path}`).toBe(403);
      expect(res.body).toMatch(/subresource\(s\)=\[checkpoint\]/);
    }
    const allowed = await call("POST", "/checkpoint/default/web", { token: "checkpointer-token" });
    expect(allowed.status, allowed.body).toBe(201);
  });
});
