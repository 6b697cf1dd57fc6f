/**
 * An image in an OCI distribution registry (distribution-spec), read with Node's fetch:
 * GET /v2/<repo>/manifests/<tag|digest> and GET /v2/<repo>/blobs/<digest>, redirects followed (blob
 * stores hand out redirects; fetch drops Authorization on a cross-origin hop), anonymous Bearer tokens
 * fetched on a 401. HTTPS, or plain HTTP for registries listed as insecure.
 */
import { pipeline, Readable, Transform, type TransformCallback } from "node:stream";
import { z } from "zod";
import { isSha256Digest, sha256Digest } from "./digest.js";
import { BlobVerificationError, ImageError, RegistryError } from "./image-errors.js";
import type { FetchedManifest, ImageSource } from "./image-source.js";
import { readCapped, verifyDocument } from "./image-source.js";
import type { RegistryReference } from "./image-reference.js";
import { type Descriptor, MANIFEST_ACCEPT, MAX_DOCUMENT_BYTES } from "./oci-documents.js";
import { fetchBearerToken, parseChallenge } from "./registry-auth.js";

export interface RegistrySourceOptions {
  /** Plain HTTP instead of HTTPS. */
  insecure: boolean;
  /** How long to wait for a response's headers (default 30 s). */
  requestTimeoutMs?: number;
  /** How long a blob download may stall without a byte (default 60 s). */
  idleTimeoutMs?: number;
}

const RegistryErrors = z.object({ errors: z.array(z.object({ code: z.string().optional(), message: z.string().optional() })) });

export class RegistrySource implements ImageSource {
  private authorization: string | undefined;
  private readonly base: string;

  constructor(
    readonly ref: RegistryReference,
    private readonly opts: RegistrySourceOptions,
  ) {
    this.base = `${opts.insecure ? "http" : "https"}://${ref.registry}/v2/${ref.repository}`;
  }

  resolve(signal?: AbortSignal): Promise<FetchedManifest> {
    return this.fetchManifest(this.ref.digest ?? this.ref.tag ?? "latest", undefined, signal);
  }

  manifest(descriptor: Descriptor, signal?: AbortSignal): Promise<FetchedManifest> {
    return this.fetchManifest(descriptor.digest, descriptor, signal);
  }

  async openBlob(descriptor: Descriptor, signal?: AbortSignal): Promise<{ stream: Readable; where: string }> {
    const url = `${this.base}/blobs/${descriptor.digest}`;
    const res = await this.get(url, "*/*", signal);
    if (!res.body) throw new RegistryError(url, res.status, `GET ${url}: ${res.status} without a body`);
    const body = Readable.fromWeb(res.body as import("node:stream/web").ReadableStream<Uint8Array>);
    const idle = new IdleTimeout(this.opts.idleTimeoutMs ?? 60_000, () => new RegistryError(url, res.status, `GET ${url}: no data for ${(this.opts.idleTimeoutMs ?? 60_000) / 1000} s`));
    // pipeline destroys the body when the consumer fails, so the connection is not left open.
    return { stream: pipeline(body, idle, () => {}), where: url };
  }

  private async fetchManifest(reference: string, descriptor: Descriptor | undefined, signal?: AbortSignal): Promise<FetchedManifest> {
    const url = `${this.base}/manifests/${reference}`;
    if (descriptor && descriptor.size > MAX_DOCUMENT_BYTES) throw new ImageError(`${url}: its descriptor gives ${descriptor.size} bytes; not a manifest`);
    const res = await this.get(url, MANIFEST_ACCEPT, signal);
    const length = Number(res.headers.get("content-length") ?? NaN);
    if (length > MAX_DOCUMENT_BYTES) {
      await res.body?.cancel();
      throw new ImageError(`${url}: Content-Length ${length} bytes; not a manifest`);
    }
    const bytes = res.body ? await readCapped(Readable.fromWeb(res.body as import("node:stream/web").ReadableStream<Uint8Array>), MAX_DOCUMENT_BYTES, url) : Buffer.alloc(0);
    const digest = sha256Digest(bytes);
    if (isSha256Digest(reference)) {
      verifyDocument(bytes, { digest: reference, ...(descriptor ? { size: descriptor.size } : {}) }, url);
    } else {
      // By tag nothing names the digest in advance, but the registry says what it computed.
      const announced = res.headers.get("docker-content-digest");
      if (announced && isSha256Digest(announced) && announced !== digest) {
        throw new BlobVerificationError(announced, `${url}: digest mismatch, the registry announces ${announced}, the bytes hash to ${digest}`);
      }
    }
    return { digest, mediaType: res.headers.get("content-type") ?? undefined, bytes, where: url };
  }

  /** A successful response for GET `url`, after the token flow if the registry asks for it. */
  private async get(url: string, accept: string, signal?: AbortSignal): Promise<Response> {
    let res = await this.send(url, { accept, ...(this.authorization ? { authorization: this.authorization } : {}) }, signal);
    if (res.status === 401) {
      const header = res.headers.get("www-authenticate");
      await res.body?.cancel();
      const challenge = parseChallenge(header);
      if (challenge?.scheme !== "bearer") {
        throw new RegistryError(url, 401, `GET ${url}: 401 Unauthorized, and the registry wants ${challenge ? `${challenge.scheme} credentials` : "credentials"}, which this node does not have`);
      }
      const token = await fetchBearerToken(challenge, `repository:${this.ref.repository}:pull`, url, (tokenUrl) => this.send(tokenUrl, { accept: "application/json" }, signal));
      this.authorization = `Bearer ${token}`;
      res = await this.send(url, { accept, authorization: this.authorization }, signal);
    }
    if (!res.ok) throw await responseError(url, res);
    return res;
  }

  /** One fetch, with a deadline for the response headers; the body may take as long as it flows. */
  private async send(url: string, headers: Record<string, string>, signal?: AbortSignal): Promise<Response> {
    const timeoutMs = this.opts.requestTimeoutMs ?? 30_000;
    const deadline = new AbortController();
    const timer = setTimeout(() => deadline.abort(), timeoutMs);
    try {
      return await fetch(url, { headers, redirect: "follow", signal: signal ? AbortSignal.any([signal, deadline.signal]) : deadline.signal });
    } catch (err) {
      if (signal?.aborted) throw signal.reason ?? err;
      if (deadline.signal.aborted) throw new RegistryError(url, undefined, `GET ${url}: no answer within ${timeoutMs / 1000} s`);
      const cause = (err as { cause?: NodeJS.ErrnoException }).cause;
      const message = (cause?.message ?? (err as Error).message).split("\n")[0]!.trim();
      let why = cause?.code ? (message.includes(cause.code) ? message : `${cause.code} (${message})`) : message;
      if (cause?.code?.startsWith("ERR_SSL") && !this.opts.insecure) why = `${cause.code}, no TLS there (a plain HTTP registry must be listed in insecureRegistries)`;
      throw new RegistryError(url, undefined, `GET ${url}: cannot reach the registry: ${why}`, { cause: err });
    } finally {
      clearTimeout(timer);
    }
  }
}

async function responseError(url: string, res: Response): Promise<RegistryError> {
  let detail = "";
  try {
    const text = (await readCapped(Readable.fromWeb(res.body as import("node:stream/web").ReadableStream<Uint8Array>), 64 << 10, url)).toString("utf8");
    const parsed = RegistryErrors.safeParse(JSON.parse(text));
    if (parsed.success && parsed.data.errors.length) detail = ` (${parsed.data.errors.map((e) => [e.code, e.message].filter(Boolean).join(": ")).join("; ")})`;
  } catch {
    // A body that is not the registry's error JSON adds nothing to the status line.
  }
  return new RegistryError(url, res.status, `GET ${url}: ${res.status} ${res.statusText}${detail}`);
}

/** Fails the stream when no chunk arrives for `ms`: a stalled connection would otherwise hang a pull. */
class IdleTimeout extends Transform {
  private timer: NodeJS.Timeout;

  constructor(
    private readonly ms: number,
    private readonly error: () => Error,
  ) {
    super();
    this.timer = this.arm();
  }

  private arm(): NodeJS.Timeout {
    const t = setTimeout(() => this.destroy(this.error()), this.ms);
    t.unref();
    return t;
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    clearTimeout(this.timer);
    this.timer = this.arm();
    done(null, chunk);
  }

  override _flush(done: TransformCallback): void {
    clearTimeout(this.timer);
    done();
  }

  override _destroy(err: Error | null, cb: (error: Error | null) => void): void {
    clearTimeout(this.timer);
    cb(err);
  }
}
