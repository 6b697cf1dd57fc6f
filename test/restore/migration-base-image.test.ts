/**
 * migratePod's base image step against two scripted nodes: the target is asked to pull each base
 * image before anything is paused; one it cannot pull is copied by the source, and the checkpoint
 * image is asked to name the copy. (The real nodes do this in test/node/cri-migration.test.ts.)
 */
import { describe, expect, it } from "vitest";
import type { NodeClient } from "../../src/node-client/node-client.js";
import { migratePod } from "../../src/restore/migration.js";

type Handler = (method: string, path: string, body?: unknown) => unknown;

function node(server: string, handler: Handler, calls: string[]): NodeClient {
  const answer = async (method: string, path: string, body?: unknown) => {
    calls.push(`${server} ${method} ${path}`);
    return handler(method, path, body);
  };
  return { server, json: answer, call: async (m: string, p: string, b?: unknown) => String(await answer(m, p, b)) } as unknown as NodeClient;
}

const BASE = "oci:/only/on/the/source:latest";
const DIGEST = `sha256:${"ab".repeat(32)}`;
const sourcePods = {
  items: [
    {
      metadata: { name: "web", namespace: "default" },
      spec: { containers: [{ name: "app", image: BASE }] },
      status: { phase: "Running", containerStatuses: [{ name: "app", image: BASE, ready: true }] },
    },
  ],
};

function run(source: Handler, target: Handler) {
  const calls: string[] = [];
  const result = migratePod({
    source: node("https://a", (m, p, b) => (m === "GET" && p === "/pods" ? sourcePods : source(m, p, b)), calls),
    target: node("https://b", (m, p, b) => (m === "GET" && p === "/pods" ? { items: [] } : target(m, p, b)), calls),
    namespace: "default",
    pod: "web",
    registry: "reg.test:5000",
    keep: false,
  });
  return { calls, result };
}

describe("migratePod: a base image the target cannot pull", () => {
  it("stops before any checkpoint when the source cannot copy it either, and says both reasons", async () => {
    const { calls, result } = run(
      (m, p) => {
        if (p === "/images/push") throw new Error("400: a node on a CRI runtime cannot push its images");
        throw new Error(`unexpected ${m} ${p}`);
      },
      (m, p) => {
        if (p === "/images/pull") throw new Error("500: pulling oci:/only/on/the/source:latest: no such layout");
        throw new Error(`unexpected ${m} ${p}`);
      },
    );
    await expect(result).rejects.toThrow(
      "migrating default/web failed at base image: the target cannot pull oci:/only/on/the/source:latest (500: pulling oci:/only/on/the/source:latest: no such layout), " +
        "and the source cannot copy it to reg.test:5000/default/web-app-base:base: 400: a node on a CRI runtime cannot push its images; the source pod runs on",
    );
    expect(calls.filter((c) => c.includes("/checkpoint"))).toEqual([]);
  });

  it("has the source push its copy and the checkpoint image name it by digest", async () => {
    let pushed: unknown;
    const { calls, result } = run(
      (m, p, b) => {
        if (p === "/images/push") return ((pushed = b), { reference: "reg.test:5000/default/web-app-base:base", digest: DIGEST });
        if (p.startsWith("/checkpoint/")) throw new Error("500: stop here");
        throw new Error(`unexpected ${m} ${p}`);
      },
      (m, p) => {
        if (p === "/images/pull") throw new Error("500: no such layout");
        throw new Error(`unexpected ${m} ${p}`);
      },
    );
    await expect(result).rejects.toThrow(/failed at checkpoint: 500: stop here/);
    expect(pushed).toEqual({ image: BASE, target: "reg.test:5000/default/web-app-base:base" });
    const checkpoint = calls.find((c) => c.includes("/checkpoint/"))!;
    const query = new URLSearchParams(checkpoint.split("?")[1]);
    expect(query.get("baseImage")).toBe(`reg.test:5000/default/web-app-base@${DIGEST}`);
    expect(query.get("pause")).toBe("true");
    // The pull on the target came first, the copy second, both before the checkpoint.
    expect(calls.map((c) => c.replace(/\?.*/, ""))).toEqual([
      "https://a GET /pods",
      "https://b GET /pods",
      "https://b POST /images/pull",
      "https://a POST /images/push",
      "https://a POST /checkpoint/default/web/app",
    ]);
  });

  it("copies nothing when the target pulls the image itself", async () => {
    const { calls, result } = run(
      (m, p) => {
        if (p.startsWith("/checkpoint/")) throw new Error("500: stop here");
        throw new Error(`unexpected ${m} ${p}`);
      },
      (m, p) => {
        if (p === "/images/pull") return { image: BASE, imageId: "sha256:cf" };
        throw new Error(`unexpected ${m} ${p}`);
      },
    );
    await expect(result).rejects.toThrow(/failed at checkpoint/);
    expect(calls.some((c) => c.includes("/images/push"))).toBe(false);
    expect(new URLSearchParams(calls.find((c) => c.includes("/checkpoint/"))!.split("?")[1]).has("baseImage")).toBe(false);
  });
});
