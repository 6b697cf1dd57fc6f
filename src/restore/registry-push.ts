/**
 * Pushing a checkpoint image to an OCI distribution registry (distribution-spec "push"): for each
 * blob a HEAD to skip what the registry has, else POST /blobs/uploads/ and one PUT of the whole blob
 * to the upload URL with `digest=` (monolithic upload, the blob streamed from its file); then a PUT
 * of the manifest under the tag. A 401 is answered once per request: a Bearer token for
 * `repository:<repo>:pull,push` from the challenge's realm (sent with Basic credentials when given),
 * or Basic credentials when the registry asks for them.
 */
import { createReadStream } from "node:fs";
import { request as httpRequest, type IncomingHttpHeaders } from "node:http";
import { request as httpsRequest } from "node:https";
import type { Readable } from "node:stream";
import { RegistryError } from "../node/images/image-errors.js";
import type { RegistryReference } from "../node/images/image-reference.js";
import type { Descriptor } from "../node/images/oci-documents.js";
import { fetchBearerToken, parseChallenge } from "../node/images/registry-auth.js";
import type { Blob, CheckpointImage } from "./checkpoint-image.js";

export interface Credentials {
  username: string;
  password: string;
}

export interface PushOptions {
  insecure: boolean;
  credentials?: Credentials;
}

interface Response {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

type Body = { bytes: Buffer } | { open: () => Readable; length: number };

/** An image as the registry takes it: the manifest's descriptor and bytes, and every blob it names. */
export interface PushableImage {
  manifest: Descriptor;
  manifestBytes: Buffer;
  blobs: Blob[];
}

export class RegistryPusher {
  private authorization: string | undefined;
  private readonly base: string;

  constructor(
    readonly ref: RegistryReference,
    private readonly opts: PushOptions,
  ) {
    this.base = `${opts.insecure ? "http" : "https"}://${ref.registry}/v2/${ref.repository}`;
  }

  /** Pushes `image` under the reference's tag (or by digest); returns the manifest digest the registry confirms. */
  async push(image: CheckpointImage): Promise<string> {
    return this.pushImage({ blobs: [image.layer, image.config], manifest: image.manifest, manifestBytes: image.manifestBytes });
  }

  /**
   * Pushes any single-platform image: its blobs (layers and config), then its manifest, byte for
   * byte, so that its digest, and the image ID of its config, are the same in the registry.
   */
  async pushImage(image: PushableImage): Promise<string> {
    for (const blob of image.blobs) await this.pushBlob(blob);
    const reference = this.ref.tag ?? this.ref.digest ?? image.manifest.digest;
    const url = `${this.base}/manifests/${reference}`;
    const res = await this.send("PUT", url, { "content-type": image.manifest.mediaType }, { bytes: image.manifestBytes });
    if (res.status !== 201 && res.status !== 200) throw failure("PUT", url, res);
    const confirmed = header(res, "docker-content-digest");
    if (confirmed && confirmed !== image.manifest.digest) {
      throw new RegistryError(url, res.status, `PUT ${url}: the registry stored the manifest as ${confirmed}, not ${image.manifest.digest}`);
    }
    return image.manifest.digest;
  }

  private async pushBlob(blob: Blob): Promise<void> {
    const { digest, size } = blob.descriptor;
    const blobUrl = `${this.base}/blobs/${digest}`;
    const head = await this.send("HEAD", blobUrl, {});
    if (head.status === 200) return;
    if (head.status !== 404) throw failure("HEAD", blobUrl, head);
    const startUrl = `${this.base}/blobs/uploads/`;
    const started = await this.send("POST", startUrl, {}, { bytes: Buffer.alloc(0) });
    if (started.status !== 202) throw failure("POST", startUrl, started);
    const location = header(started, "location");
    if (!location) throw new RegistryError(startUrl, started.status, `POST ${startUrl}: 202 without a Location for the upload`);
    const upload = new URL(location, startUrl);
    upload.searchParams.set("digest", digest);
    const body: Body = blob.bytes ? { bytes: blob.bytes } : { open: () => createReadStream(blob.file!, { highWaterMark: 1 << 20 }), length: size };
    const put = await this.send("PUT", upload.href, { "content-type": "application/octet-stream" }, body);
    if (put.status !== 201) throw failure("PUT", upload.href, put);
  }

  /** One request, and on a 401 the same request again with credentials for the challenge. */
  private async send(method: string, url: string, headers: Record<string, string>, body?: Body): Promise<Response> {
    const res = await this.once(method, url, headers, body);
    if (res.status !== 401) return res;
    const challenge = parseChallenge(header(res, "www-authenticate") ?? null);
    const creds = this.opts.credentials;
    const basic = creds ? `Basic ${Buffer.from(`${creds.username}:${creds.password}`).toString("base64")}` : undefined;
    if (challenge?.scheme === "bearer") {
      const token = await fetchBearerToken(challenge, `repository:${this.ref.repository}:pull,push`, url, async (tokenUrl) => {
        // The token service gets the user's credentials (or none), never the registry's token.
        const r = await this.once("GET", tokenUrl, { accept: "application/json" }, undefined, basic);
        return new globalThis.Response(r.status === 204 || r.status === 304 ? null : new Uint8Array(r.body), { status: r.status });
      });
      this.authorization = `Bearer ${token}`;
    } else if (challenge?.scheme === "basic" && basic) {
      this.authorization = basic;
    } else {
      throw new RegistryError(url, 401, `${method} ${url}: 401 Unauthorized${challenge?.scheme === "basic" ? "; give --username and --password (or --authfile)" : ""}`);
    }
    return this.once(method, url, headers, body);
  }

  private once(method: string, url: string, headers: Record<string, string>, body?: Body, authorization = this.authorization): Promise<Response> {
    const u = new URL(url);
    const all: Record<string, string> = { ...headers, ...(authorization ? { authorization } : {}) };
    if (body) all["content-length"] = String("bytes" in body ? body.bytes.length : body.length);
    const request = u.protocol === "https:" ? httpsRequest : httpRequest;
    return new Promise<Response>((resolve, reject) => {
      const req = request(u, { method, headers: all, timeout: 60_000 }, (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.length < 256 && chunks.push(c));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
        res.on("error", reject);
      });
      req.on("timeout", () => req.destroy(new Error("no answer within 60 s")));
      req.on("error", (err) => {
        const why = (err as NodeJS.ErrnoException).code ?? err.message;
        const hint = why.startsWith("ERR_SSL") || why === "EPROTO" ? " (a plain HTTP registry must be named with --insecure-registry)" : "";
        reject(new RegistryError(url, undefined, `${method} ${url}: cannot reach the registry: ${why}${hint}`, { cause: err }));
      });
      if (!body) return void req.end();
      if ("bytes" in body) return void req.end(body.bytes);
      const stream = body.open();
      stream.on("error", (err) => req.destroy(err));
      stream.pipe(req);
    });
  }
}

function header(res: Response, name: string): string | undefined {
  const v = res.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

function failure(method: string, url: string, res: Response): RegistryError {
  let detail = "";
  try {
    const parsed = JSON.parse(res.body.toString("utf8")) as { errors?: Array<{ code?: string; message?: string }> };
    if (parsed.errors?.length) detail = ` (${parsed.errors.map((e) => [e.code, e.message].filter(Boolean).join(": ")).join("; ")})`;
  } catch {
    // Not the registry's error JSON: the status says enough.
  }
  return new RegistryError(url, res.status, `${method} ${url}: ${res.status}${detail}`);
}
