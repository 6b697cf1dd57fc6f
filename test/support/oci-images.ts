/**
 * OCI images for tests and for the rest of the project: layers written with tar-stream (gzip by
 * node:zlib, zstd by the `zstd` CLI), OCI image layouts around them, a busybox image built from
 * Debian's busybox-static, a real `docker-registry` (distribution 2.8) on loopback, optionally behind
 * an anonymous token service (distribution's Bearer token flow), and `skopeo copy` to push into it.
 *
 * Everything written is reproducible byte for byte: fixed mtime (2026-01-01T00:00:00Z), uid/gid 0
 * unless an entry says otherwise, entries in the order given, no gzip timestamp.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { createHash, createSign, randomBytes } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { createServer as createNetServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import tar from "tar-stream";

export const FIXED_MTIME = new Date("2026-01-01T00:00:00Z");
export const BUSYBOX = "/bin/busybox";
export const BUSYBOX_ENV_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
/** The applets the busybox image links in /bin. */
export const BUSYBOX_APPLETS = ["sh", "sleep", "cat", "echo", "nc", "ls", "date", "env"];

export type LayerCompression = "gzip" | "zstd" | "none";

export interface LayerEntry {
  /** Tar member name, written as given ("../x" and "/abs" too: hostile layers are built with this). */
  path: string;
  type: "file" | "directory" | "symlink" | "link" | "character-device" | "block-device" | "fifo";
  /** Permission bits; default 0o755 for directories, 0o644 otherwise. */
  mode?: number;
  uid?: number;
  gid?: number;
  mtime?: Date;
  content?: string | Buffer;
  /** Symlink or hard link target. */
  linkname?: string;
  devmajor?: number;
  devminor?: number;
}

export interface LayerSpec {
  entries: LayerEntry[];
  /** Default gzip. */
  compression?: LayerCompression;
  /** Default: the OCI layer media type of the compression. */
  mediaType?: string;
}

export interface BuiltLayer {
  digest: string;
  diffId: string;
  size: number;
  mediaType: string;
}

export interface BuiltImage {
  layout: string;
  tag: string | undefined;
  /** The digest index.json points at for the tag (the index's for a multi-platform image). */
  digest: string;
  manifestDigest: string;
  configDigest: string;
  layers: BuiltLayer[];
  /** `oci:<layout>:<tag>`. */
  reference: string;
}

const LAYER_MEDIA_TYPES: Record<LayerCompression, string> = {
  gzip: "application/vnd.oci.image.layer.v1.tar+gzip",
  zstd: "application/vnd.oci.image.layer.v1.tar+zstd",
  none: "application/vnd.oci.image.layer.v1.tar",
};

export function sha256(bytes: Uint8Array): string {
  return `sha256:${createHash("sha256").update(bytes).digest("hex")}`;
}

/** An uncompressed tar of `entries`, in their order. */
export async function tarBytes(entries: LayerEntry[]): Promise<Buffer> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  const done = new Promise<void>((resolve, reject) => {
    pack.on("data", (c: unknown) => chunks.push(c as Buffer));
    pack.on("end", () => resolve());
    pack.on("error", reject);
  });
  for (const e of entries) {
    const content = e.type === "file" ? Buffer.from(e.content ?? "") : undefined;
    await new Promise<void>((resolve, reject) => {
      const header = {
        name: e.path,
        type: e.type,
        mode: e.mode ?? (e.type === "directory" ? 0o755 : 0o644),
        uid: e.uid ?? 0,
        gid: e.gid ?? 0,
        uname: "",
        gname: "",
        mtime: e.mtime ?? FIXED_MTIME,
        ...(e.linkname !== undefined ? { linkname: e.linkname } : {}),
        ...(e.devmajor !== undefined ? { devmajor: e.devmajor, devminor: e.devminor ?? 0 } : {}),
        ...(content ? { size: content.length } : { size: 0 }),
      };
      if (content) pack.entry(header, content, (err) => (err ? reject(err) : resolve()));
      // No body: tar-stream finishes the entry by itself.
      else pack.entry(header, (err) => (err ? reject(err) : resolve()));
    });
  }
  pack.finalize();
  await done;
  return Buffer.concat(chunks);
}

export function compress(tarData: Buffer, compression: LayerCompression): Buffer {
  if (compression === "none") return tarData;
  if (compression === "gzip") return gzipSync(tarData, { level: 6 });
  const r = spawnSync("zstd", ["-q", "-c", "-3", "--no-check"], { input: tarData, maxBuffer: 1 << 30 });
  if (r.status !== 0) throw new Error(`zstd failed: ${r.stderr}`);
  return r.stdout;
}

function writeBlob(layout: string, bytes: Buffer): string {
  const digest = sha256(bytes);
  const dir = join(layout, "blobs", "sha256");
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, digest.slice("sha256:".length)), bytes);
  return digest;
}

function json(doc: unknown): Buffer {
  return Buffer.from(JSON.stringify(doc));
}

export interface ImageOptions {
  /** Default "latest"; null: an entry without a ref.name annotation. */
  tag?: string | null;
  layers: LayerSpec[];
  /** Merged into the config's `config` (Cmd, Env, Entrypoint, WorkingDir, User). */
  config?: Record<string, unknown>;
  architecture?: string;
  /** Also write an arm64 variant and put both in an image index (arm64 first). */
  multiPlatform?: boolean;
}

/**
 * Writes an image into the OCI layout at `layout` (created if missing; an existing index.json keeps
 * its other entries, and loses one with the same tag).
 */
export async function writeOciImage(layout: string, opts: ImageOptions): Promise<BuiltImage> {
  mkdirSync(layout, { recursive: true });
  writeFileSync(join(layout, "oci-layout"), JSON.stringify({ imageLayoutVersion: "1.0.0" }));
  const layers: BuiltLayer[] = [];
  for (const spec of opts.layers) {
    const raw = await tarBytes(spec.entries);
    const compression = spec.compression ?? "gzip";
    const blob = compress(raw, compression);
    layers.push({ digest: writeBlob(layout, blob), diffId: sha256(raw), size: blob.length, mediaType: spec.mediaType ?? LAYER_MEDIA_TYPES[compression] });
  }
  const image = (architecture: string) => {
    const config = json({
      created: FIXED_MTIME.toISOString(),
      architecture,
      os: "linux",
      config: { Env: [BUSYBOX_ENV_PATH], Cmd: ["sh"], ...opts.config },
      rootfs: { type: "layers", diff_ids: layers.map((l) => l.diffId) },
      history: layers.map(() => ({ created: FIXED_MTIME.toISOString(), created_by: "test/support/oci-images.ts" })),
    });
    const configDigest = writeBlob(layout, config);
    const manifest = json({
      schemaVersion: 2,
      mediaType: "application/vnd.oci.image.manifest.v1+json",
      config: { mediaType: "application/vnd.oci.image.config.v1+json", digest: configDigest, size: config.length },
      layers: layers.map((l) => ({ mediaType: l.mediaType, digest: l.digest, size: l.size })),
    });
    return { configDigest, manifest, manifestDigest: writeBlob(layout, manifest) };
  };
  const main = image(opts.architecture ?? "amd64");
  const tag = opts.tag === null ? undefined : (opts.tag ?? "latest");
  const annotations = tag !== undefined ? { annotations: { "org.opencontainers.image.ref.name": tag } } : {};
  let entry: Record<string, unknown> = {
    mediaType: "application/vnd.oci.image.manifest.v1+json",
    digest: main.manifestDigest,
    size: main.manifest.length,
    ...annotations,
  };
  if (opts.multiPlatform) {
    const arm = image("arm64");
    const index = json({
      schemaVersion: 2,
      mediaType: "application/vnd.oci.image.index.v1+json",
      manifests: [
        { mediaType: "application/vnd.oci.image.manifest.v1+json", digest: arm.manifestDigest, size: arm.manifest.length, platform: { architecture: "arm64", os: "linux", variant: "v8" } },
        { mediaType: "application/vnd.oci.image.manifest.v1+json", digest: main.manifestDigest, size: main.manifest.length, platform: { architecture: "amd64", os: "linux" } },
      ],
    });
    entry = { mediaType: "application/vnd.oci.image.index.v1+json", digest: writeBlob(layout, index), size: index.length, ...annotations };
  }
  const indexPath = join(layout, "index.json");
  const previous = existsSync(indexPath) ? (JSON.parse(readFileSync(indexPath, "utf8")) as { manifests: Record<string, unknown>[] }).manifests : [];
  const kept = previous.filter((m) => tag === undefined || (m.annotations as Record<string, string> | undefined)?.["org.opencontainers.image.ref.name"] !== tag);
  writeFileSync(indexPath, JSON.stringify({ schemaVersion: 2, mediaType: "application/vnd.oci.image.index.v1+json", manifests: [...kept, entry] }));
  return {
    layout,
    tag,
    digest: entry.digest as string,
    manifestDigest: main.manifestDigest,
    configDigest: main.configDigest,
    layers,
    reference: tag === undefined ? `oci:${layout}` : `oci:${layout}:${tag}`,
  };
}

/** A minimal busybox root filesystem, in tar order. */
export function busyboxRootfs(): LayerEntry[] {
  const dirs: LayerEntry[] = ["bin", "dev", "etc", "proc", "root", "sys", "tmp", "usr", "usr/share", "usr/share/ckpt"].map((d) => ({
    path: `${d}/`,
    type: "directory",
    mode: d === "tmp" ? 0o1777 : d === "root" ? 0o700 : 0o755,
  }));
  return [
    { path: "./", type: "directory", mode: 0o755 },
    ...dirs,
    { path: "bin/busybox", type: "file", mode: 0o755, content: readFileSync(BUSYBOX) },
    ...BUSYBOX_APPLETS.map((a): LayerEntry => ({ path: `bin/${a}`, type: "symlink", linkname: "busybox", mode: 0o777 })),
    { path: "etc/passwd", type: "file", content: "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n" },
    { path: "etc/group", type: "file", content: "root:x:0:\nnogroup:x:65534:\n" },
    { path: "etc/motd", type: "file", content: "ckpt test image\n" },
    { path: "usr/share/ckpt/old-a", type: "file", content: "a\n" },
    { path: "usr/share/ckpt/old-b", type: "file", content: "b\n" },
  ];
}

/**
 * The second layer of the busybox image with `whiteouts`: deletes /etc/motd, makes /usr/share/ckpt
 * opaque (its old-a and old-b disappear) with one new file, and adds /etc/hostname.
 */
export function whiteoutLayer(): LayerEntry[] {
  return [
    { path: "etc/", type: "directory" },
    { path: "etc/.wh.motd", type: "file" },
    { path: "etc/hostname", type: "file", content: "ckpt\n" },
    { path: "usr/", type: "directory" },
    { path: "usr/share/", type: "directory" },
    { path: "usr/share/ckpt/", type: "directory" },
    { path: "usr/share/ckpt/.wh..wh..opq", type: "file" },
    { path: "usr/share/ckpt/new", type: "file", content: "new\n" },
  ];
}

export interface BusyboxOptions {
  tag?: string | null;
  /** Add whiteoutLayer() on top. */
  whiteouts?: boolean;
  compression?: LayerCompression;
  multiPlatform?: boolean;
}

/** The busybox image (Cmd ["sh"], Env PATH) in an OCI layout at `layout`. */
export function buildBusyboxLayout(layout: string, opts: BusyboxOptions = {}): Promise<BuiltImage> {
  const compression = opts.compression ?? "gzip";
  const layers: LayerSpec[] = [{ entries: busyboxRootfs(), compression }];
  if (opts.whiteouts) layers.push({ entries: whiteoutLayer(), compression });
  return writeOciImage(layout, {
    ...(opts.tag !== undefined ? { tag: opts.tag } : {}),
    layers,
    ...(opts.multiPlatform ? { multiPlatform: true } : {}),
  });
}

// ---------------------------------------------------------------------------------------------------
// A real registry on loopback

export interface RegistryRequest {
  method: string;
  path: string;
  status: number;
}

export interface TestRegistry {
  /** "127.0.0.1:PORT": the registry part of references, and the insecureRegistries entry. */
  host: string;
  /** Every request the registry logged, in order. */
  requests(): RegistryRequest[];
  /** The registry's storage directory (distribution's filesystem driver layout). */
  storage: string;
  /** Token requests served, when started with tokenAuth. */
  tokenRequests(): string[];
  stop(): Promise<void>;
}

async function freePort(): Promise<number> {
  const server = createNetServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

export function haveRegistryTools(): boolean {
  return existsSync("/usr/bin/docker-registry") && spawnSync("skopeo", ["--version"]).status === 0;
}

/**
 * Starts /usr/bin/docker-registry on a free loopback port with a temp storage directory and waits for
 * /v2/ to answer. With `tokenAuth`, the registry requires Bearer tokens from a token service started
 * here, which grants anyone what they ask (anonymous pull and push), signed with a fresh self-signed
 * key that the registry trusts.
 */
export async function startRegistry(opts: { tokenAuth?: boolean; host?: { ip: string; prefix: string[] } } = {}): Promise<TestRegistry> {
  const dir = mkdtempSync(join(tmpdir(), "ckpt-registry-"));
  // On a test host of its own the port is free: nothing else listens in that namespace.
  const host = opts.host ? `${opts.host.ip}:5000` : `127.0.0.1:${await freePort()}`;
  const tokenLog: string[] = [];
  let tokenServer: Server | undefined;
  let auth = "";
  if (opts.tokenAuth) {
    const { server, realm, certPath } = await startTokenService(dir, tokenLog);
    tokenServer = server;
    auth = `auth:\n  token:\n    realm: ${realm}\n    service: ckpt-test-registry\n    issuer: ckpt-test-issuer\n    rootcertbundle: ${certPath}\n`;
  }
  const config = join(dir, "config.yml");
  writeFileSync(
    config,
    `version: 0.1\nlog:\n  level: info\n  accesslog:\n    disabled: false\nstorage:\n  filesystem:\n    rootdirectory: ${join(dir, "storage")}\nhttp:\n  addr: ${host}\n${auth}`,
  );
  const argv = [...(opts.host?.prefix ?? []), "/usr/bin/docker-registry", "serve", config];
  const child: ChildProcess = spawn(argv[0]!, argv.slice(1), { stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  child.stdout!.on("data", (c: Buffer) => (output += c.toString()));
  child.stderr!.on("data", (c: Buffer) => (output += c.toString()));
  let exited = false;
  child.on("exit", () => (exited = true));
  const stop = async () => {
    if (!exited) {
      const gone = new Promise<void>((resolve) => child.once("exit", () => resolve()));
      child.kill("SIGTERM");
      await gone;
    }
    if (tokenServer) await new Promise<void>((resolve) => tokenServer!.close(() => resolve()));
    rmSync(dir, { recursive: true, force: true });
  };
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (exited) {
      await stop();
      throw new Error(`docker-registry exited before answering:\n${output}`);
    }
    const answered = await fetch(`http://${host}/v2/`).then(
      (r) => r.status === 200 || r.status === 401,
      () => false,
    );
    if (answered) break;
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`docker-registry did not answer on ${host} within 20 s:\n${output}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    host,
    // The access log in combined log format: `… "GET /v2/… HTTP/1.1" 200 …`.
    requests: () => [...output.matchAll(/"([A-Z]+) (\/v2\/[^ "]*) HTTP\/[0-9.]+" (\d{3}) /g)].map((m) => ({ method: m[1]!, path: m[2]!, status: Number(m[3]) })),
    storage: join(dir, "storage"),
    tokenRequests: () => [...tokenLog],
    stop,
  };
}

function base64url(bytes: Buffer | string): string {
  return Buffer.from(bytes).toString("base64url");
}

/** distribution's token service, anonymous: a JWT (RS256, x5c chain of the trusted cert) per request. */
async function startTokenService(dir: string, log: string[]): Promise<{ server: Server; realm: string; certPath: string }> {
  const keyPath = join(dir, "token.key");
  const certPath = join(dir, "token.crt");
  const r = spawnSync("openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", keyPath, "-out", certPath, "-days", "2", "-subj", "/CN=ckpt-test-token"], { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`openssl failed: ${r.stderr}`);
  const key = readFileSync(keyPath, "utf8");
  const certDer = Buffer.from(
    readFileSync(certPath, "utf8")
      .replace(/-----[A-Z ]+-----/g, "")
      .replace(/\s+/g, ""),
    "base64",
  );
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://token");
    log.push(url.search);
    const access = url.searchParams.getAll("scope").flatMap((scope) => {
      const [type, ...rest] = scope.split(":");
      const actions = rest.pop() ?? "";
      return [{ type, name: rest.join(":"), actions: actions.split(",").filter(Boolean) }];
    });
    const now = Math.floor(Date.now() / 1000);
    const header = base64url(JSON.stringify({ typ: "JWT", alg: "RS256", x5c: [certDer.toString("base64")] }));
    const claims = base64url(
      JSON.stringify({ iss: "ckpt-test-issuer", sub: "", aud: url.searchParams.get("service"), exp: now + 600, nbf: now - 60, iat: now, jti: randomBytes(8).toString("hex"), access }),
    );
    const signature = createSign("RSA-SHA256").update(`${header}.${claims}`).sign(key);
    const token = `${header}.${claims}.${base64url(signature)}`;
    res.setHeader("content-type", "application/json");
    res.end(JSON.stringify({ token, access_token: token, expires_in: 600 }));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const realm = `http://127.0.0.1:${(server.address() as { port: number }).port}/token`;
  return { server, realm, certPath };
}

/**
 * `skopeo copy --all` of a layout's tag into the registry (every platform of an index), digests
 * preserved. Asynchronous: the token
 * service of a tokenAuth registry runs in this process and must answer skopeo meanwhile.
 */
export async function pushLayout(layout: string, tag: string, registry: TestRegistry, repository: string, destTag = tag): Promise<string> {
  const dest = `${registry.host}/${repository}:${destTag}`;
  const args = ["--insecure-policy", "copy", "--quiet", "--all", "--preserve-digests", "--dest-tls-verify=false", `oci:${layout}:${tag}`, `docker://${dest}`];
  const child = spawn("skopeo", args, { stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  child.stderr!.on("data", (c: Buffer) => (stderr += c.toString()));
  const status = await new Promise<number | null>((resolve, reject) => {
    child.on("error", reject);
    child.on("close", resolve);
  });
  if (status !== 0) throw new Error(`skopeo copy oci:${layout}:${tag} docker://${dest} failed:\n${stderr}`);
  return dest;
}
