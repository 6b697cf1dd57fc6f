/**
 * The routes a migration uses beyond the kubelet's checkpoint: the checkpoint's pause and image
 * parameters, POST /resume, POST /restore and GET /containerLogs; in-process, with a fake node.
 */
import { describe, expect, it } from "vitest";
import { parseCriLog, renderLog, rfc3339Nanos } from "../../src/kubelet-endpoint/cri-log.js";
import { WEB_LOG } from "./fake-backend.js";
import { ADMIN, setup } from "./in-process.js";

describe("POST /checkpoint with ?pause and ?image", () => {
  it("passes them to the node and answers the archive, image and durations", async () => {
    const { call, backend } = setup();
    backend.checkpointImpl = async (req) => ({
      path: "/var/lib/kubelet/checkpoints/x.tar",
      bytes: 10,
      image: { reference: req.image!, digest: "sha256:ab", bytes: 5 },
      durations: { checkpoint: 12, push: 3 },
    });
    const res = await call("POST", "/checkpoint/default/web/app?pause=true&image=reg.test:5000/a/b:c", ADMIN);
    expect(res.status, res.body).toBe(200);
    expect(JSON.parse(res.body)).toEqual({
      items: ["/var/lib/kubelet/checkpoints/x.tar"],
      bytes: 10,
      image: { reference: "reg.test:5000/a/b:c", digest: "sha256:ab", bytes: 5 },
      durations: { checkpoint: 12, push: 3 },
    });
    expect(backend.calls[0]).toMatchObject({ method: "checkpointContainer", req: { leavePaused: true, image: "reg.test:5000/a/b:c" } });
  });

  it("without them the body is the kubelet's, and the node is not asked to pause", async () => {
    const { call, backend } = setup();
    const res = await call("POST", "/checkpoint/default/web/app?pause=false", ADMIN);
    expect(Object.keys(JSON.parse(res.body))).toEqual(["items"]);
    expect(backend.calls[0]).toMatchObject({ method: "checkpointContainer" });
    expect((backend.calls[0] as { req: Record<string, unknown> }).req.leavePaused).toBeUndefined();
  });

  it("400 for a pause value that is not a boolean", async () => {
    const { call, backend } = setup();
    const res = await call("POST", "/checkpoint/default/web/app?pause=maybe", ADMIN);
    expect([res.status, res.body]).toEqual([400, 'invalid pause parameter "maybe": not a boolean']);
    expect(backend.calls).toEqual([]);
  });
});

describe("a base image the target cannot pull: ?baseImage, POST /images/pull and /images/push", () => {
  it("passes baseImage with image to the node, and refuses it alone or when it is not a registry reference", async () => {
    const { call, backend } = setup();
    const base = `reg.test:5000/a/base@sha256:${"ab".repeat(32)}`;
    const ok = await call("POST", `/checkpoint/default/web/app?image=reg.test:5000/a/b:c&baseImage=${base}`, ADMIN);
    expect(ok.status, ok.body).toBe(200);
    expect(backend.calls[0]).toMatchObject({ method: "checkpointContainer", req: { image: "reg.test:5000/a/b:c", baseImage: base } });
    for (const q of ["baseImage=reg.test:5000/a/base:b", "image=reg.test:5000/a/b:c&baseImage=oci:/tmp/x"]) {
      const bad = await call("POST", `/checkpoint/default/web/app?${q}`, ADMIN);
      expect(bad.status).toBe(400);
      expect(bad.body).toMatch(/^invalid baseImage parameter .*: a registry reference/);
    }
    expect(backend.calls).toHaveLength(1);
  });

  it("pull answers the image ID, or 500 with the node's reason", async () => {
    const { call, backend } = setup();
    const ok = await call("POST", "/images/pull", { ...ADMIN, body: [JSON.stringify({ image: "busybox" })] });
    expect([ok.status, JSON.parse(ok.body)]).toEqual([200, { image: "busybox", imageId: "sha256:cf" }]);
    const missing = await call("POST", "/images/pull", { ...ADMIN, body: [JSON.stringify({ image: "oci:/gone:latest" })] });
    expect([missing.status, missing.body]).toEqual([500, "pulling oci:/gone:latest: not found"]);
    expect(backend.calls.map((c) => c.method)).toEqual(["pullImage", "pullImage"]);
  });

  it("push answers the digest; it needs the checkpoint right, which pulling does not", async () => {
    const { call, backend } = setup();
    const body = [JSON.stringify({ image: "busybox", target: "reg.test:5000/a/base:base" })];
    const ok = await call("POST", "/images/push", { ...ADMIN, body });
    expect([ok.status, JSON.parse(ok.body)]).toEqual([200, { reference: "reg.test:5000/a/base:base", digest: "sha256:ma" }]);
    expect((await call("POST", "/images/push", { token: "checkpointer-token", body })).status).toBe(200);
    expect((await call("POST", "/images/pull", { token: "checkpointer-token", body: [JSON.stringify({ image: "busybox" })] })).status).toBe(403);
    expect((await call("POST", "/images/push", { token: "viewer-token", body })).status).toBe(403);
    const bad = await call("POST", "/images/push", { ...ADMIN, body: [JSON.stringify({ image: "busybox" })] });
    expect([bad.status, bad.body]).toEqual([400, "target: a registry reference (HOST/REPO:TAG)"]);
    expect(backend.calls.map((c) => c.method)).toEqual(["pushImage", "pushImage"]);
  });
});

describe("POST /resume and POST /restore", () => {
  it("resume reaches the node for a known container and 404s for an unknown one", async () => {
    const { call, backend } = setup();
    expect((await call("POST", "/resume/default/web/app", ADMIN)).status).toBe(200);
    expect(backend.calls).toEqual([{ method: "resumeContainer", namespace: "default", pod: "web", container: "app" }]);
    const missing = await call("POST", "/resume/default/web/nope", ADMIN);
    expect([missing.status, missing.body]).toEqual([404, "container nope does not exist"]);
  });

  it("restore takes a JSON body, defaults the namespace, and answers 201 with the Pod", async () => {
    const { call, backend } = setup();
    const res = await call("POST", "/restore", { ...ADMIN, body: [JSON.stringify({ source: "reg.test:5000/a:b", name: "web2" })] });
    expect(res.status, res.body).toBe(201);
    expect(JSON.parse(res.body)).toMatchObject({ metadata: { name: "web2", namespace: "default" } });
    expect(backend.calls).toEqual([{ method: "restorePod", req: { source: "reg.test:5000/a:b", name: "web2", namespace: "default" } }]);
  });

  it("restore refuses a body it does not understand, saying which field", async () => {
    const { call, backend } = setup();
    const bad = await call("POST", "/restore", { ...ADMIN, body: [JSON.stringify({ source: "x", name: "Web_2" })] });
    expect(bad.status).toBe(400);
    expect(bad.body).toMatch(/^name: a pod name/);
    const extra = await call("POST", "/restore", { ...ADMIN, body: [JSON.stringify({ source: "x", name: "w", hostPath: "/" })] });
    expect(extra.status).toBe(400);
    expect(extra.body).toMatch(/hostPath/);
    expect((await call("POST", "/restore", { ...ADMIN, body: ["{"] })).body).toBe("request body is not JSON");
    expect(backend.calls).toEqual([]);
  });
});

describe("GET /containerLogs", () => {
  it("serves whole lines, split parts joined, timestamps only when asked", async () => {
    const { call } = setup();
    const plain = await call("GET", "/containerLogs/default/web/app", ADMIN);
    expect([plain.status, plain.body]).toEqual([200, "one\ntwo\nthree\n"]);
    const stamped = await call("GET", "/containerLogs/default/web/app?timestamps=true&tailLines=2", ADMIN);
    expect(stamped.body).toBe("2026-11-23T12:00:01.5Z two\n2026-11-23T12:00:02.000000000Z three\n");
  });

  it("sinceTime keeps messages at or after it, to the nanosecond", async () => {
    const { call } = setup();
    const res = await call("GET", "/containerLogs/default/web/app?sinceTime=2026-11-23T12:00:00.000000002Z", ADMIN);
    expect(res.body).toBe("two\nthree\n");
    const bad = await call("GET", "/containerLogs/default/web/app?sinceTime=yesterday", ADMIN);
    expect([bad.status, bad.body]).toEqual([400, 'sinceTime: "yesterday" is not an RFC3339 time']);
  });

  it("refuses follow and bad counts instead of ignoring them; 404 for an unknown container", async () => {
    const { call } = setup();
    expect((await call("GET", "/containerLogs/default/web/app?follow=true", ADMIN)).status).toBe(400);
    expect((await call("GET", "/containerLogs/default/web/app?tailLines=-1", ADMIN)).status).toBe(400);
    expect((await call("GET", "/containerLogs/default/web/other", ADMIN)).status).toBe(404);
  });

  it("parses and renders the CRI format", () => {
    const msgs = parseCriLog(WEB_LOG + "not a log line\n");
    expect(msgs.map((m) => [m.stream, m.text])).toEqual([
      ["stdout", "one"],
      ["stderr", "two"],
      ["stdout", "three"],
    ]);
    expect(rfc3339Nanos("1970-01-01T00:00:01.5+00:00")).toBe(1_500_000_000n);
    expect(rfc3339Nanos("1970-01-01T01:00:00+01:00")).toBe(0n);
    expect(renderLog(msgs, { timestamps: false, limitBytes: 5 })).toBe("one\nt");
    expect(renderLog(msgs, { timestamps: false, tailLines: 0 })).toBe("");
  });
});
