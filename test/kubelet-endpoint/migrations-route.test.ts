/**
 * The routes of a lazy migration (/migrations on the source, /lazy-restore on the target), in-process
 * with a fake node: what reaches the node, the one-time token, the mode parameter, the checkpoint
 * right, the answer of a node that cannot migrate lazily, and the restore body's checks.
 */
import { Readable } from "node:stream";
import { describe, expect, it } from "vitest";
import { LAZY_TOKEN_HEADER, type LazyDumpStatus } from "../../src/kubelet-endpoint/lazy-migration-api.js";
import { BackendError, type LazyMigrationBackend } from "../../src/kubelet-endpoint/node-backend.js";
import { ADMIN, setup } from "./in-process.js";

const ID = "0123456789abcdef0123456789abcdef";
const TOKEN = "t".repeat(43);
const FINGERPRINT = Array.from({ length: 32 }, () => "AB").join(":");

function fakeLazy(calls: string[]): LazyMigrationBackend {
  const status: LazyDumpStatus = { id: ID, target: "default/web/app", state: "serving", pageBytes: 0, durations: { dump: 1 } };
  const admit = (id: string, token: string) => {
    if (id !== ID || token !== TOKEN) throw new BackendError("not-found", "no such migration");
  };
  return {
    startDump: async (req) => (calls.push(`start ${req.namespace}/${req.pod}/${req.container} ${req.timeoutSeconds}`), { id: ID, token: TOKEN }),
    dumpStatus: (id) => (calls.push(`status ${id}`), status),
    dumpArchive: async (id, token) => (admit(id, token), calls.push("archive"), { stream: Readable.from([Buffer.from("tar bytes")]), bytes: 9 }),
    dumpPages: (id, token) => (admit(id, token), calls.push("pages"), () => undefined),
    cancelDump: async (id) => (calls.push(`cancel ${id}`), { ...status, state: "failed", resumed: true }),
    preCopyRefusal: async () => "pre-copy migration is not available on node node-a: CRIU cannot track dirty memory on this kernel",
    restorePod: async (req) => (calls.push(`restore ${req.containers.map((c) => c.name).join(",")}`), { kind: "Pod" }),
    restoreStatus: (ns, pod) => ({ namespace: ns, pod, containers: [] }),
  };
}

function withLazy() {
  const s = setup();
  const calls: string[] = [];
  s.backend.lazy = fakeLazy(calls);
  return { ...s, calls };
}

describe("POST /migrations/NS/POD/CTR", () => {
  it("starts a lazy dump and answers its id and token; the deadline is at least the node's", async () => {
    const { call, calls } = withLazy();
    const res = await call("POST", "/migrations/default/web/app?mode=lazy&timeout=300", ADMIN);
    expect([res.status, JSON.parse(res.body)]).toEqual([201, { id: ID, token: TOKEN }]);
    expect((await call("POST", "/migrations/default/web/app", ADMIN)).status).toBe(201);
    expect(calls).toEqual(["start default/web/app 300", "start default/web/app 120"]);
  });

  it("needs the checkpoint right", async () => {
    const { call, calls } = withLazy();
    expect((await call("POST", "/migrations/default/web/app", { token: "checkpointer-token" })).status).toBe(201);
    const denied = await call("POST", "/migrations/default/web/app", { token: "viewer-token" });
    expect([denied.status, denied.body]).toEqual([403, "Forbidden (user=viewer, verb=create, resource=nodes, subresource(s)=[checkpoint])"]);
    expect((await call("GET", `/migrations/${ID}`, { token: "viewer-token" })).status).toBe(403);
    expect(calls).toHaveLength(1);
  });

  it("refuses pre-copy with the node's reason, and any other mode", async () => {
    const { call, calls } = withLazy();
    const pre = await call("POST", "/migrations/default/web/app?mode=pre-copy", ADMIN);
    expect([pre.status, pre.body]).toEqual([400, "pre-copy migration is not available on node node-a: CRIU cannot track dirty memory on this kernel"]);
    const other = await call("POST", "/migrations/default/web/app?mode=fast", ADMIN);
    expect(other.status).toBe(400);
    expect(other.body).toMatch(/^invalid mode parameter "fast": lazy or pre-copy/);
    expect(calls).toEqual([]);
  });

  it("a node that cannot migrate lazily says why", async () => {
    const { call } = setup();
    for (const [method, path] of [["POST", "/migrations/default/web/app"], ["GET", `/migrations/${ID}`], ["POST", "/lazy-restore"]] as const) {
      const res = await call(method, path, { ...ADMIN, body: ["{}"] });
      expect([res.status, res.body]).toEqual([400, "this node runs its pods through a CRI runtime: lazy migration needs ckpt's built-in runc runtime"]);
    }
  });
});

describe("GET /migrations/ID/archive and /pages", () => {
  it("streams the archive to the holder of the token, with its length", async () => {
    const { call, calls } = withLazy();
    const res = await call("GET", `/migrations/${ID}/archive`, { ...ADMIN, headers: { [LAZY_TOKEN_HEADER]: TOKEN } });
    expect([res.status, res.headers["Content-Length"], res.headers["Content-Type"]]).toEqual([200, "9", "application/x-tar"]);
    const chunks: Buffer[] = [];
    for await (const c of res.stream!) chunks.push(c as Buffer);
    expect(Buffer.concat(chunks).toString()).toBe("tar bytes");
    expect(calls).toEqual(["archive"]);
  });

  it("403 without the token, 404 with a wrong one: the node's credentials alone reach nothing", async () => {
    const { call, calls } = withLazy();
    const none = await call("GET", `/migrations/${ID}/archive`, ADMIN);
    expect([none.status, none.body]).toEqual([403, `the migration's one-time token is required (${LAZY_TOKEN_HEADER} header)`]);
    const wrong = await call("GET", `/migrations/${ID}/archive`, { ...ADMIN, headers: { [LAZY_TOKEN_HEADER]: "x".repeat(43) } });
    expect([wrong.status, wrong.body]).toEqual([404, "no such migration"]);
    expect(calls).toEqual([]);
  });

  it("the page connection must be upgraded to ckpt-lazy-pages; then it answers 101 and takes the connection", async () => {
    const { call, calls } = withLazy();
    const plain = await call("GET", `/migrations/${ID}/pages`, { ...ADMIN, headers: { [LAZY_TOKEN_HEADER]: TOKEN } });
    expect([plain.status, plain.body]).toEqual([400, "the page connection must be upgraded: Connection: Upgrade, Upgrade: ckpt-lazy-pages"]);
    const up = await call("GET", `/migrations/${ID}/pages`, { ...ADMIN, headers: { [LAZY_TOKEN_HEADER]: TOKEN, upgrade: "ckpt-lazy-pages", connection: "Upgrade" } });
    expect([up.status, up.headers.Upgrade, typeof up.upgrade]).toEqual([101, "ckpt-lazy-pages", "function"]);
    expect(calls).toEqual(["pages"]);
  });

  it("GET answers the status, DELETE calls the migration off", async () => {
    const { call, calls } = withLazy();
    expect(JSON.parse((await call("GET", `/migrations/${ID}`, ADMIN)).body)).toMatchObject({ state: "serving" });
    expect(JSON.parse((await call("DELETE", `/migrations/${ID}`, ADMIN)).body)).toMatchObject({ state: "failed", resumed: true });
    expect(calls).toEqual([`status ${ID}`, `cancel ${ID}`]);
  });
});

describe("POST /lazy-restore", () => {
  const body = (o: Record<string, unknown> = {}) => [
    JSON.stringify({
      pod: { apiVersion: "v1", kind: "Pod", metadata: { name: "web", namespace: "default" }, spec: { containers: [{ name: "app", image: "busybox" }] } },
      source: { url: "https://10.0.0.1:10250", fingerprint: FINGERPRINT },
      containers: [{ name: "app", id: ID, token: TOKEN }],
      ...o,
    }),
  ];

  it("hands a checked request to the node", async () => {
    const { call, calls } = withLazy();
    const res = await call("POST", "/lazy-restore", { ...ADMIN, body: body() });
    expect(res.status, res.body).toBe(201);
    expect(calls).toEqual(["restore app"]);
  });

  it("400 naming what is wrong: a source that is not https, a fingerprint that is not SHA-256, no container", async () => {
    const { call, calls } = withLazy();
    const cases: Array<[Record<string, unknown>, RegExp]> = [
      [{ source: { url: "http://10.0.0.1:10250", fingerprint: FINGERPRINT } }, /^source\.url: the source node's https:\/\/ endpoint$/],
      [{ source: { url: "https://10.0.0.1:10250", fingerprint: "AB:CD" } }, /^source\.fingerprint: a SHA-256 certificate fingerprint/],
      [{ containers: [] }, /^containers: /],
    ];
    for (const [o, re] of cases) {
      const res = await call("POST", "/lazy-restore", { ...ADMIN, body: body(o) });
      expect(res.status).toBe(400);
      expect(res.body).toMatch(re);
    }
    expect(calls).toEqual([]);
  });
});
