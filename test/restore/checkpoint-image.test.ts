/**
 * Checkpoint images built from samples/counter-crio.tar, checked by independent tools: skopeo
 * (manifest, digests, annotations, copy), umoci (unpacked rootfs = the archive's members),
 * checkpointctl (the unpacked layer is itself a checkpoint), and a real docker-registry on loopback.
 */
import { spawn, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer, request as httpRequest } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { buildCheckpointImage } from "../../src/restore/checkpoint-image.js";
import { parseImageTarget } from "../../src/restore/image-target.js";
import { inspectImage } from "../../src/restore/image-inspect.js";
import { readArchive } from "../support/archives.js";
import { checkpointctl, haveCheckpointctl, parseTable } from "../support/checkpointctl.js";
import { haveRegistryTools, startRegistry, writeOciImage, type TestRegistry } from "../support/oci-images.js";

const out: string[] = [];
vi.mock("../../src/cli/io.js", async (orig) => ({
  ...(await orig<typeof import("../../src/cli/io.js")>()),
  writeStdout: (data: string | Uint8Array) => void out.push(Buffer.from(data).toString("utf8")),
}));
const { imageCommand } = await import("../../src/cli/image-command.js");

const SAMPLE = join(import.meta.dirname, "../../samples/counter-crio.tar");
const CRIO_NAME = "io.kubernetes.cri-o.annotations.checkpoint.name";

async function ckptImage(...args: string[]): Promise<string> {
  out.length = 0;
  await imageCommand().exitOverride().parseAsync(args, { from: "user" });
  return out.join("");
}

function run(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: "utf8", maxBuffer: 64 << 20 });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")} failed (${r.status}):\n${r.stderr}`);
  return r.stdout;
}

/** For tools that talk to this process's token service, which a blocking spawnSync would starve. */
function runAsync(cmd: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (c: Buffer) => (stdout += c.toString()));
    child.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
    child.on("error", reject);
    child.on("close", (code) => (code === 0 ? resolve(stdout) : reject(new Error(`${cmd} ${args.join(" ")} failed (${code}):\n${stderr}`))));
  });
}

const sha256 = (b: Uint8Array) => `sha256:${createHash("sha256").update(b).digest("hex")}`;
const blob = (layout: string, digest: string) => readFileSync(join(layout, "blobs/sha256", digest.slice(7)));

let work: string;
beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), "ckpt-restore-test-"));
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe.skipIf(!haveRegistryTools())("checkpoint image from counter-crio.tar", () => {
  it("writes an OCI layout that skopeo reads, with the annotations on manifest and index entry", async () => {
    const layout = join(work, "layout");
    const digest = (await ckptImage("build", SAMPLE, `oci:${layout}:v1`)).trim();
    expect(digest).toMatch(/^sha256:[a-f0-9]{64}$/);
    const info = JSON.parse(run("skopeo", ["inspect", `oci:${layout}:v1`]));
    expect(info.Digest).toBe(digest);
    expect(info.Architecture).toBe("amd64");
    expect(info.Os).toBe("linux");
    const raw = run("skopeo", ["inspect", "--raw", `oci:${layout}:v1`]);
    expect(sha256(Buffer.from(raw))).toBe(digest);
    const manifest = JSON.parse(raw);
    expect(manifest.annotations[CRIO_NAME]).toBe("counter");
    expect(manifest.annotations["org.criu.checkpoint.container.name"]).toBe("counter");
    expect(manifest.annotations["org.criu.checkpoint.pod.name"]).toBe("counters");
    expect(manifest.annotations["org.criu.checkpoint.pod.namespace"]).toBe("default");
    expect(manifest.annotations["org.criu.checkpoint.engine.name"]).toBe("CRI-O");
    expect(manifest.annotations["org.criu.checkpoint.runtime.name"]).toBe("runc");
    expect(manifest.annotations["org.criu.checkpoint.criu.version"]).toBe("4.2.1");
    expect(manifest.annotations["org.criu.checkpoint.rootfsImageName"]).toBe("quay.io/example/counter:latest");
    expect(manifest.annotations["io.kubernetes.cri-o.annotations.checkpoint.rootfsImageID"]).toBe("cbac6f8d9f0694653c62d3c705a58aa181ccf901ced2c98624269a2b5f00f443");
    const index = JSON.parse(readFileSync(join(layout, "index.json"), "utf8"));
    expect(index.manifests).toHaveLength(1);
    expect(index.manifests[0].digest).toBe(digest);
    expect(index.manifests[0].annotations[CRIO_NAME]).toBe("counter");
    expect(index.manifests[0].annotations["org.criu.checkpoint.container.name"]).toBe("counter");
    expect(index.manifests[0].annotations["org.opencontainers.image.ref.name"]).toBe("v1");

    // Layer digest over the gzip bytes, diffID over the tar, sizes as on disk.
    const layer = manifest.layers[0];
    expect(layer.mediaType).toBe("application/vnd.oci.image.layer.v1.tar+gzip");
    const layerBytes = blob(layout, layer.digest);
    expect(sha256(layerBytes)).toBe(layer.digest);
    expect(layerBytes.length).toBe(layer.size);
    const config = JSON.parse(blob(layout, manifest.config.digest).toString("utf8"));
    expect(config.rootfs.diff_ids).toEqual([sha256(gunzipSync(layerBytes))]);
    expect(config.history).toHaveLength(1);

    // A second image in the same layout is added, not replacing the first.
    await ckptImage("build", SAMPLE, `oci:${layout}:v2`, "--compression", "zstd");
    const index2 = JSON.parse(readFileSync(join(layout, "index.json"), "utf8"));
    expect(index2.manifests.map((m: { annotations: Record<string, string> }) => m.annotations["org.opencontainers.image.ref.name"])).toEqual(["v1", "v2"]);
  });

  it("unpacks with umoci to exactly the archive's members, and the rootfs is a checkpoint for checkpointctl", async () => {
    const layout = join(work, "layout");
    const bundle = join(work, "bundle");
    run("umoci", ["unpack", "--rootless", "--image", `${layout}:v1`, bundle]);
    const rootfs = join(bundle, "rootfs");
    const members = (await readArchive(SAMPLE)).filter((e) => e.type === "file");
    expect(members.map((m) => m.name)).toContain("checkpoint/pages-3.img");
    for (const m of members) expect(readFileSync(join(rootfs, m.name)).equals(m.data!), m.name).toBe(true);
    const unpacked = readdirSync(rootfs, { recursive: true, withFileTypes: true }).filter((d) => d.isFile());
    expect(unpacked.length).toBe(members.length);
    if (haveCheckpointctl()) {
      const retar = join(work, "retar.tar");
      run("tar", ["-C", rootfs, "-cf", retar, "."]);
      const r = checkpointctl(["show", retar]);
      expect(r.code, r.stderr).toBe(0);
      const [row] = parseTable(r.stdout);
      expect(row?.CONTAINER).toBe("counter");
      expect(row?.ENGINE).toBe("CRI-O");
      expect(row?.ID).toBe("1528f607685b");
    }
  });

  it("gives the same digests for the same input", async () => {
    const a = await buildCheckpointImage(SAMPLE);
    const b = await buildCheckpointImage(SAMPLE);
    try {
      expect(a.manifest.digest).toBe(b.manifest.digest);
      expect(a.layer.descriptor.digest).toBe(b.layer.descriptor.digest);
      expect(a.layer.diffId).toBe(b.layer.diffId);
      expect(a.config.descriptor.digest).toBe(b.config.descriptor.digest);
    } finally {
      a.dispose();
      b.dispose();
    }
  });

  it("names another base image when asked: config.dump's image names and the annotations change, nothing else", async () => {
    const base = `127.0.0.1:5000/default/web-app-base@sha256:${"cd".repeat(32)}`;
    const plain = await buildCheckpointImage(SAMPLE);
    const moved = await buildCheckpointImage(SAMPLE, { baseImage: base });
    try {
      expect(moved.annotations["org.criu.checkpoint.rootfsImageName"]).toBe(base);
      expect(moved.annotations["org.criu.checkpoint.rootfsImageID"]).toBe(plain.annotations["org.criu.checkpoint.rootfsImageID"]);
      const members = async (file: string) => new Map((await readArchive(file)).map((e) => [e.name, e.data]));
      const [a, b] = [await members(plain.layer.file!), await members(moved.layer.file!)];
      expect([...b.keys()]).toEqual([...a.keys()]);
      for (const [name, data] of a) if (name !== "config.dump") expect(b.get(name)?.equals(data!) ?? data === b.get(name), name).toBe(true);
      const [was, now] = [JSON.parse(a.get("config.dump")!.toString("utf8")), JSON.parse(b.get("config.dump")!.toString("utf8"))];
      expect(now).toEqual({ ...was, rootfsImage: base, rootfsImageName: base });
    } finally {
      plain.dispose();
      moved.dispose();
    }
  });

  it("writes zstd layers with the right digest and diffID", async () => {
    const layout = join(work, "zstd");
    await ckptImage("build", SAMPLE, `oci:${layout}:z`, "--compression", "zstd");
    const manifest = JSON.parse(run("skopeo", ["inspect", "--raw", `oci:${layout}:z`]));
    const layer = manifest.layers[0];
    expect(layer.mediaType).toBe("application/vnd.oci.image.layer.v1.tar+zstd");
    const bytes = blob(layout, layer.digest);
    expect(sha256(bytes)).toBe(layer.digest);
    expect(bytes.length).toBe(layer.size);
    const tar = spawnSync("zstd", ["-d", "-c"], { input: bytes, maxBuffer: 64 << 20 }).stdout;
    const config = JSON.parse(blob(layout, manifest.config.digest).toString("utf8"));
    expect(config.rootfs.diff_ids).toEqual([sha256(tar)]);
    // The same tar as the gzip image's layer: only the compression differs.
    const gz = JSON.parse(blob(join(work, "layout"), JSON.parse(run("skopeo", ["inspect", "--raw", `oci:${join(work, "layout")}:v1`])).config.digest).toString("utf8"));
    expect(config.rootfs.diff_ids).toEqual(gz.rootfs.diff_ids);
    // umoci 0.4 does not unpack zstd layers; GNU tar reads the decompressed layer instead.
    const unpacked = join(work, "zrootfs");
    run("mkdir", ["-p", unpacked]);
    const x = spawnSync("tar", ["-C", unpacked, "-xf", "-"], { input: tar });
    expect(x.status, String(x.stderr)).toBe(0);
    for (const name of ["spec.dump", "config.dump", "checkpoint/pages-3.img"]) {
      expect(readFileSync(join(unpacked, name)).equals((await readArchive(SAMPLE)).find((e) => e.name === name)!.data!), name).toBe(true);
    }
  });

  it("writes an oci-archive that skopeo and umoci read", async () => {
    const file = join(work, "ckpt.oci.tar");
    const digest = (await ckptImage("build", SAMPLE, `oci-archive:${file}:arch`)).trim();
    const info = JSON.parse(run("skopeo", ["inspect", `oci-archive:${file}:arch`]));
    expect(info.Digest).toBe(digest);
    const manifest = JSON.parse(run("skopeo", ["inspect", "--raw", `oci-archive:${file}:arch`]));
    expect(manifest.annotations[CRIO_NAME]).toBe("counter");
    // The same manifest as in the layout: the transport does not change the image.
    expect(digest).toBe(JSON.parse(run("skopeo", ["inspect", `oci:${join(work, "layout")}:v1`])).Digest);
    const extracted = join(work, "extracted");
    run("mkdir", ["-p", extracted]);
    run("tar", ["-C", extracted, "-xf", file]);
    run("umoci", ["unpack", "--rootless", "--image", `${extracted}:arch`, join(work, "abundle")]);
    expect(readFileSync(join(work, "abundle/rootfs/config.dump")).toString()).toContain("k8s_counter_counters_default");
  });

  it("inspects the layout and the archive with ckpt image inspect", async () => {
    const text = await ckptImage("inspect", `oci:${join(work, "layout")}:v1`);
    expect(text).toMatch(/Checkpoint image:\s+yes \(CRI-O, org\.criu annotations\)/);
    expect(text).toMatch(/Container:\s+counter/);
    expect(text).toMatch(/CRIU version:\s+4\.2\.1/);
    const json = JSON.parse(await ckptImage("inspect", `oci-archive:${join(work, "ckpt.oci.tar")}:arch`, "--format", "json"));
    expect(json.checkpoint).toMatchObject({ isCheckpoint: true, container: "counter", pod: "counters", namespace: "default", engine: "CRI-O", runtime: "runc", baseImage: "quay.io/example/counter:latest" });
    expect(json.layers).toHaveLength(1);
    expect(json.layers[0].mediaType).toBe("application/vnd.oci.image.layer.v1.tar+gzip");
    expect(json.indexAnnotations[CRIO_NAME]).toBe("counter");
  });

  it("says an image without checkpoint annotations is not a checkpoint image", async () => {
    const layout = join(work, "plain");
    await writeOciImage(layout, { tag: "p", layers: [{ entries: [{ path: "hello", type: "file", content: "hi" }] }] });
    const info = await inspectImage(parseImageTarget(`oci:${layout}:p`));
    expect(info.checkpoint.isCheckpoint).toBe(false);
    expect(await ckptImage("inspect", `oci:${layout}:p`)).toMatch(/Checkpoint image:\s+no/);
  });

  describe("registry", () => {
    let registry: TestRegistry;
    beforeAll(async () => {
      registry = await startRegistry();
    });
    afterAll(() => registry?.stop());

    it("pushes to a real registry; skopeo sees the same manifest and copies back identical blobs", async () => {
      const ref = `${registry.host}/checkpoints/counter:v1`;
      const digest = (await ckptImage("build", SAMPLE, ref)).trim();
      const info = JSON.parse(run("skopeo", ["inspect", "--tls-verify=false", `docker://${ref}`]));
      expect(info.Digest).toBe(digest);
      const raw = run("skopeo", ["inspect", "--tls-verify=false", "--raw", `docker://${ref}`]);
      expect(JSON.parse(raw).annotations[CRIO_NAME]).toBe("counter");
      expect(JSON.parse(raw).annotations["org.criu.checkpoint.container.name"]).toBe("counter");
      const back = join(work, "back");
      run("skopeo", ["--insecure-policy", "copy", "--quiet", "--preserve-digests", "--src-tls-verify=false", `docker://${ref}`, `oci:${back}:v1`]);
      const local = JSON.parse(run("skopeo", ["inspect", "--raw", `oci:${join(work, "layout")}:v1`]));
      for (const d of [local.config.digest, local.layers[0].digest]) expect(blob(back, d).equals(blob(join(work, "layout"), d)), d).toBe(true);
      expect(sha256(Buffer.from(run("skopeo", ["inspect", "--raw", `oci:${back}:v1`])))).toBe(digest);
      const requests = registry.requests();
      expect(requests.some((r) => r.method === "HEAD" && r.path.includes("/blobs/sha256:"))).toBe(true);
      expect(requests.some((r) => r.method === "PUT" && r.path.includes("/manifests/v1") && r.status === 201)).toBe(true);

      // A second push finds the blobs there and uploads only the manifest.
      const before = registry.requests().filter((r) => r.method === "POST").length;
      await ckptImage("build", SAMPLE, `${registry.host}/checkpoints/counter:v2`);
      expect(registry.requests().filter((r) => r.method === "POST").length).toBe(before);

      const inspected = JSON.parse(await ckptImage("inspect", ref, "--format", "json"));
      expect(inspected.manifestDigest).toBe(digest);
      expect(inspected.checkpoint).toMatchObject({ isCheckpoint: true, container: "counter", criuVersion: "4.2.1" });
    });

    it("pushes through the anonymous token flow", async () => {
      const tokenRegistry = await startRegistry({ tokenAuth: true });
      try {
        const ref = `${tokenRegistry.host}/checkpoints/counter:tok`;
        const digest = (await ckptImage("build", SAMPLE, ref, "--compression", "zstd")).trim();
        expect(tokenRegistry.tokenRequests().some((q) => q.includes("push"))).toBe(true);
        const info = JSON.parse(await runAsync("skopeo", ["inspect", "--tls-verify=false", `docker://${ref}`]));
        expect(info.Digest).toBe(digest);
        const raw = JSON.parse(await runAsync("skopeo", ["inspect", "--tls-verify=false", "--raw", `docker://${ref}`]));
        expect(raw.layers[0].mediaType).toBe("application/vnd.oci.image.layer.v1.tar+zstd");
        expect(raw.annotations[CRIO_NAME]).toBe("counter");
      } finally {
        await tokenRegistry.stop();
      }
    });
  });

  it("pushes with Basic credentials from --username/--password and from an auth file", async () => {
    const registry = await startRegistry();
    // A Basic-auth gate in front of the real registry (distribution's htpasswd needs bcrypt, not at hand here).
    const seen: string[] = [];
    const gate = createServer((req, res) => {
      const auth = req.headers.authorization ?? "";
      seen.push(auth);
      if (auth !== `Basic ${Buffer.from("alice:s3cret").toString("base64")}`) {
        res.writeHead(401, { "www-authenticate": 'Basic realm="ckpt-test"' });
        return void res.end();
      }
      const { authorization: _drop, ...headers } = req.headers;
      const up = httpRequest({ host: "127.0.0.1", port: Number(registry.host.split(":")[1]), method: req.method, path: req.url, headers }, (r) => {
        const location = r.headers.location?.replace(registry.host, `127.0.0.1:${port}`);
        res.writeHead(r.statusCode ?? 502, { ...r.headers, ...(location ? { location } : {}) });
        r.pipe(res);
      });
      req.pipe(up);
    });
    await new Promise<void>((resolve) => gate.listen(0, "127.0.0.1", resolve));
    const port = (gate.address() as { port: number }).port;
    try {
      const ref = `127.0.0.1:${port}/checkpoints/counter:basic`;
      await expect(ckptImage("build", SAMPLE, ref)).rejects.toThrow(/401.*--username/);
      const digest = (await ckptImage("build", SAMPLE, ref, "--username", "alice", "--password", "s3cret")).trim();
      const info = JSON.parse(await runAsync("skopeo", ["inspect", "--tls-verify=false", `docker://${registry.host}/checkpoints/counter:basic`]));
      expect(info.Digest).toBe(digest);
      const authfile = join(work, "auth.json");
      writeFileSync(authfile, JSON.stringify({ auths: { [`127.0.0.1:${port}`]: { auth: Buffer.from("alice:s3cret").toString("base64") } } }));
      expect((await ckptImage("build", SAMPLE, `127.0.0.1:${port}/checkpoints/counter:file`, "--authfile", authfile)).trim()).toBe(digest);
      expect(seen.filter((a) => a.startsWith("Basic ")).length).toBeGreaterThan(0);
    } finally {
      await new Promise<void>((resolve) => gate.close(() => resolve()));
      await registry.stop();
    }
  });

  it("reports an unreadable archive in one line naming it", async () => {
    const bad = join(work, "not-a-checkpoint.tar");
    writeFileSync(bad, "hello");
    await expect(ckptImage("build", bad, `oci:${join(work, "never")}:x`)).rejects.toThrow(/not-a-checkpoint\.tar/);
  });
});
