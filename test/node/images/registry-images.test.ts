/**
 * Pulls from a real registry (distribution 2.8's docker-registry on loopback), with images pushed by
 * the real skopeo: the same image as from the layout, one pull for concurrent callers (counted in the
 * registry's own access log), references by digest, multi-platform indexes, the anonymous Bearer
 * token flow, redirects, and registries that fail or serve damaged blobs.
 */
import { readdirSync, readFileSync, rmSync, mkdtempSync, truncateSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BlobVerificationError, ImageStore, RegistryError, type ResolvedImage } from "../../../src/node/images/index.js";
import { type BuiltImage, buildBusyboxLayout, haveRegistryTools, pushLayout, type RegistryRequest, startRegistry, type TestRegistry, writeOciImage } from "../../support/oci-images.js";
import { comparable, tree } from "./fs-tree.js";

const work = mkdtempSync(join(tmpdir(), "ckpt-images-registry-"));
let n = 0;
const fresh = (what: string) => join(work, `${what}-${++n}`);
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe.runIf(haveRegistryTools())("a registry on loopback", () => {
  let registry: TestRegistry;
  let image: BuiltImage;
  let fromLayout: ResolvedImage;

  beforeAll(async () => {
    registry = await startRegistry();
    image = await buildBusyboxLayout(fresh("layout"), { whiteouts: true });
    await pushLayout(image.layout, "latest", registry, "ckpt/busybox");
    await pushLayout(image.layout, "latest", registry, "ckpt/busybox", "v1");
    fromLayout = await new ImageStore(fresh("store")).ensure(image.reference);
  });
  afterAll(async () => {
    await registry?.stop();
  });

  /** The requests logged since `from` (an earlier requests().length), as "METHOD path status". */
  const since = (from: number) => registry.requests().slice(from).map((r: RegistryRequest) => `${r.method} ${r.path} ${r.status}`);

  it("pulls the image the layout holds: same image ID and digests, identical unpacked layers", async () => {
    const store = new ImageStore(fresh("store"), { insecureRegistries: [registry.host] });
    const pulled = await store.ensure(`${registry.host}/ckpt/busybox:latest`);
    expect(pulled.name).toBe(`${registry.host}/ckpt/busybox:latest`);
    expect(pulled.imageId).toBe(image.configDigest);
    expect(pulled.repoDigest).toBe(`${registry.host}/ckpt/busybox@${image.manifestDigest}`);
    expect(pulled.process).toEqual(fromLayout.process);
    expect(pulled.layers).toHaveLength(2);
    for (let i = 0; i < 2; i++) expect(comparable(tree(pulled.layers[i]!))).toEqual(comparable(tree(fromLayout.layers[i]!)));
    expect(readdirSync(join(store.root, "tmp"))).toEqual([]);
  });

  it("makes one pull of concurrent ensure calls for the same image, and none of a present layer", async () => {
    const store = new ImageStore(fresh("store"), { insecureRegistries: [registry.host] });
    const before = registry.requests().length;
    const refs = [`${registry.host}/ckpt/busybox:latest`, `${registry.host}/ckpt/busybox`, `${registry.host}/ckpt/busybox:latest`, `${registry.host}/ckpt/busybox`];
    const results = await Promise.all(refs.map((r) => store.ensure(r)));
    expect(new Set(results.map((r) => r.imageId))).toEqual(new Set([image.configDigest]));
    expect(results.map((r) => r.reference)).toEqual(refs);
    expect(results[1]!.layers).toEqual(results[0]!.layers);
    const blobs = [image.configDigest, ...image.layers.map((l) => l.digest)];
    expect(since(before).sort()).toEqual(
      [`GET /v2/ckpt/busybox/manifests/latest 200`, ...blobs.map((d) => `GET /v2/ckpt/busybox/blobs/${d} 200`)].sort(),
    );

    // "Always" asks for the manifest again, and downloads nothing it has unpacked.
    const again = registry.requests().length;
    expect((await store.ensure(`${registry.host}/ckpt/busybox:latest`, { pullPolicy: "Always" })).imageId).toBe(image.configDigest);
    expect(since(again)).toEqual([`GET /v2/ckpt/busybox/manifests/latest 200`]);
    // Another tag of the same image reuses every layer directory.
    const v1 = await store.ensure(`${registry.host}/ckpt/busybox:v1`);
    expect(v1.layers).toEqual(results[0]!.layers);
    expect(v1.name).toBe(`${registry.host}/ckpt/busybox:v1`);
  });

  it("pulls by digest", async () => {
    const store = new ImageStore(fresh("store"), { insecureRegistries: [registry.host] });
    const ref = `${registry.host}/ckpt/busybox@${image.manifestDigest}`;
    const pulled = await store.ensure(ref);
    expect(pulled.name).toBe(ref);
    expect(pulled.imageId).toBe(image.configDigest);
    expect(pulled.repoDigest).toBe(ref);
    await expect(store.ensure(`${registry.host}/ckpt/busybox@sha256:${"0".repeat(64)}`)).rejects.toThrow(
      `GET http://${registry.host}/v2/ckpt/busybox/manifests/sha256:${"0".repeat(64)}: 404 Not Found (MANIFEST_UNKNOWN: manifest unknown)`,
    );
  });

  it("picks linux/amd64 from a multi-platform index pushed with skopeo --all", async () => {
    const multi = await buildBusyboxLayout(fresh("layout"), { multiPlatform: true });
    await pushLayout(multi.layout, "latest", registry, "ckpt/multi");
    const store = new ImageStore(fresh("store"), { insecureRegistries: [registry.host] });
    const before = registry.requests().length;
    const pulled = await store.ensure(`${registry.host}/ckpt/multi:latest`);
    expect(pulled.imageId).toBe(multi.configDigest);
    expect(pulled.repoDigest).toBe(`${registry.host}/ckpt/multi@${multi.digest}`);
    expect(since(before)).toContain(`GET /v2/ckpt/multi/manifests/${multi.manifestDigest} 200`);
  });

  it("names the URL when the registry says no or cannot be reached", async () => {
    const store = new ImageStore(fresh("store"), { insecureRegistries: [registry.host] });
    const missing = store.ensure(`${registry.host}/ckpt/busybox:nope`);
    await expect(missing).rejects.toThrow(RegistryError);
    await expect(missing).rejects.toThrow(`GET http://${registry.host}/v2/ckpt/busybox/manifests/nope: 404 Not Found (MANIFEST_UNKNOWN: manifest unknown)`);
    await expect(store.ensure(`${registry.host}/ckpt/nothing:latest`)).rejects.toThrow(/404 Not Found \((NAME_UNKNOWN|MANIFEST_UNKNOWN)/);
    // Not listed as insecure: HTTPS, which a plain HTTP registry cannot speak.
    await expect(new ImageStore(fresh("store")).ensure(`${registry.host}/ckpt/busybox:latest`)).rejects.toThrow(
      `GET https://${registry.host}/v2/ckpt/busybox/manifests/latest: cannot reach the registry: ERR_SSL_WRONG_VERSION_NUMBER, no TLS there (a plain HTTP registry must be listed in insecureRegistries)`,
    );
    const closed = await closedPort();
    await expect(new ImageStore(fresh("store"), { insecureRegistries: [`127.0.0.1:${closed}`] }).ensure(`127.0.0.1:${closed}/x:latest`)).rejects.toThrow(
      `GET http://127.0.0.1:${closed}/v2/x/manifests/latest: cannot reach the registry: connect ECONNREFUSED 127.0.0.1:${closed}`,
    );
  });

  it("refuses a blob the registry serves damaged or short, naming the digest and the URL, and keeps nothing of it", async () => {
    for (const damage of ["flip", "truncate"] as const) {
      const repo = `ckpt/damaged-${damage}`;
      // A layer of its own: the registry stores blobs once for all repositories.
      const content = Buffer.alloc(64 << 10);
      for (let i = 0; i < content.length; i++) content[i] = (i * 7919 + damage.length * 104729) % 251;
      const own = await writeOciImage(fresh("layout"), { tag: damage, layers: [{ entries: [{ path: `data-${damage}`, type: "file", content }] }] });
      await pushLayout(own.layout, damage, registry, repo);
      const layer = own.layers[0]!;
      const half = Math.floor(layer.size / 2);
      const data = join(registry.storage, "docker/registry/v2/blobs/sha256", layer.digest.slice(7, 9), layer.digest.slice(7), "data");
      if (damage === "flip") {
        const bytes = readFileSync(data);
        bytes[100] ^= 0xff;
        writeFileSync(data, bytes);
      } else {
        truncateSync(data, half);
      }
      const store = new ImageStore(fresh("store"), { insecureRegistries: [registry.host] });
      const url = `http://${registry.host}/v2/${repo}/blobs/${layer.digest}`;
      const err = await store.ensure(`${registry.host}/${repo}:${damage}`).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(BlobVerificationError);
      expect((err as Error).message).toMatch(
        damage === "flip" ? `blob ${layer.digest} from ${url}: digest mismatch, the bytes hash to sha256:` : `blob ${layer.digest} from ${url}: truncated, ${half} of ${layer.size} bytes`,
      );
      expect(readdirSync(join(store.root, "blobs/sha256"))).not.toContain(layer.digest.slice(7));
      expect(readdirSync(join(store.root, "layers/sha256"))).toEqual([]);
      expect(readdirSync(join(store.root, "tmp"))).toEqual([]);
    }
  });

  it("lets a caller abort its own wait without failing the pull others share; the last one out aborts it", async () => {
    // A front that passes everything to the registry, but holds blob bodies halfway until released.
    const newGate = () => {
      const gate = {} as { release: () => void; released: Promise<void>; stalled: () => void; blobStalled: Promise<void> };
      gate.released = new Promise<void>((resolve) => (gate.release = resolve));
      gate.blobStalled = new Promise<void>((resolve) => (gate.stalled = resolve));
      return gate;
    };
    let gate = newGate();
    const front: Server = createServer((req, res) => {
      void (async () => {
        const upstream = await fetch(`http://${registry.host}${req.url}`, { headers: { accept: String(req.headers.accept ?? "*/*") } });
        const body = Buffer.from(await upstream.arrayBuffer());
        res.writeHead(upstream.status, Object.fromEntries(upstream.headers));
        if (!req.url!.includes("/blobs/") || body.length < 2) return void res.end(body);
        const g = gate;
        res.write(body.subarray(0, body.length >> 1));
        g.stalled();
        await g.released;
        res.end(body.subarray(body.length >> 1));
      })().catch(() => res.destroy());
    });
    await new Promise<void>((resolve) => front.listen(0, "127.0.0.1", resolve));
    const host = `127.0.0.1:${(front.address() as { port: number }).port}`;
    try {
      const store = new ImageStore(fresh("store"), { insecureRegistries: [host] });
      const impatient = new AbortController();
      const a = store.ensure(`${host}/ckpt/busybox:latest`, { signal: impatient.signal });
      const b = store.ensure(`${host}/ckpt/busybox:latest`);
      await gate.blobStalled;
      impatient.abort(new Error("pod deleted"));
      await expect(a).rejects.toThrow("pod deleted");
      gate.release();
      expect((await b).imageId).toBe(image.configDigest);

      // Alone, an aborted caller ends the pull: no record, no blob or layer half written.
      gate = newGate();
      const alone = new ImageStore(fresh("store"), { insecureRegistries: [host] });
      const controller = new AbortController();
      const c = alone.ensure(`${host}/ckpt/busybox:v1`, { signal: controller.signal });
      await gate.blobStalled;
      controller.abort(new Error("gone"));
      await expect(c).rejects.toThrow("gone");
      // The shared job winds down after the caller has gone; wait for its temp files to go too.
      for (let i = 0; i < 100 && readdirSync(join(alone.root, "tmp")).length > 0; i++) await new Promise((r) => setTimeout(r, 50));
      expect(readdirSync(join(alone.root, "tmp"))).toEqual([]);
      expect(readdirSync(join(alone.root, "layers/sha256"))).toEqual([]);
      expect(await alone.get(`${host}/ckpt/busybox:v1`)).toBeUndefined();
    } finally {
      gate.release();
      front.closeAllConnections();
      await new Promise<void>((resolve) => front.close(() => resolve()));
    }
  });

  it("follows redirects", async () => {
    // A front that answers every request with a 307 to the registry, as blob stores behind registries do.
    const front: Server = createServer((req, res) => {
      res.writeHead(307, { location: `http://${registry.host}${req.url}` });
      res.end();
    });
    await new Promise<void>((resolve) => front.listen(0, "127.0.0.1", resolve));
    const host = `127.0.0.1:${(front.address() as { port: number }).port}`;
    try {
      const pulled = await new ImageStore(fresh("store"), { insecureRegistries: [host] }).ensure(`${host}/ckpt/busybox:latest`);
      expect(pulled.imageId).toBe(image.configDigest);
      expect(comparable(tree(pulled.layers[0]!))).toEqual(comparable(tree(fromLayout.layers[0]!)));
    } finally {
      await new Promise<void>((resolve) => front.close(() => resolve()));
    }
  });
});

describe.runIf(haveRegistryTools())("a registry that wants Bearer tokens", () => {
  let registry: TestRegistry;
  let image: BuiltImage;

  beforeAll(async () => {
    registry = await startRegistry({ tokenAuth: true });
    image = await buildBusyboxLayout(fresh("layout"));
    await pushLayout(image.layout, "latest", registry, "ckpt/private");
  });
  afterAll(async () => {
    await registry?.stop();
  });

  it("gets an anonymous pull token from the realm and pulls with it", async () => {
    const tokensBefore = registry.tokenRequests().length;
    const requestsBefore = registry.requests().length;
    const pulled = await new ImageStore(fresh("store"), { insecureRegistries: [registry.host] }).ensure(`${registry.host}/ckpt/private:latest`);
    expect(pulled.imageId).toBe(image.configDigest);
    const tokens = registry.tokenRequests().slice(tokensBefore).map((q) => Object.fromEntries(new URLSearchParams(q)));
    expect(tokens).toEqual([{ service: "ckpt-test-registry", scope: "repository:ckpt/private:pull" }]);
    const requests = registry.requests().slice(requestsBefore);
    // One refusal without a token, then everything with it.
    expect(requests.filter((r) => r.status === 401)).toEqual([{ method: "GET", path: "/v2/ckpt/private/manifests/latest", status: 401 }]);
    expect(requests.filter((r) => r.status === 200)).toHaveLength(3);
  });
});

/** A loopback port nothing listens on. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
