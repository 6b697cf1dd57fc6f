/**
 * A client of a ckpt node's HTTPS endpoint (and of a kubelet's, for the routes they share): TLS with
 * the node's CA or none checked, a client certificate or a bearer token. Non-2xx answers become one
 * line that names the request.
 */
import { readFileSync } from "node:fs";
import { Agent, request } from "node:https";
import type { TLSSocket } from "node:tls";

export interface NodeClientOptions {
  server: string;
  token?: string;
  tokenFile?: string;
  clientCertificate?: string;
  clientKey?: string;
  certificateAuthority?: string;
  insecureSkipTlsVerify: boolean;
}

export class NodeClientError extends Error {
  override name = "NodeClientError";
  constructor(
    message: string,
    /** The HTTP status, when the node answered. */
    readonly status?: number,
  ) {
    super(message);
  }
}

export class NodeClient {
  private readonly agent: Agent;
  private readonly token: string | undefined;
  private fingerprint: string | undefined;

  constructor(readonly opts: NodeClientOptions) {
    this.token = opts.token ?? (opts.tokenFile ? readFileSync(opts.tokenFile, "utf8").trim() : undefined);
    this.agent = new Agent({
      ca: opts.certificateAuthority ? readFileSync(opts.certificateAuthority) : undefined,
      cert: opts.clientCertificate ? readFileSync(opts.clientCertificate) : undefined,
      key: opts.clientKey ? readFileSync(opts.clientKey) : undefined,
      rejectUnauthorized: !opts.insecureSkipTlsVerify,
      keepAlive: true,
    });
  }

  get server(): string {
    return this.opts.server;
  }

  /**
   * The SHA-256 fingerprint of the node's serving certificate, as seen by the last answer; a node
   * handed it to reach this one talks to the same server the user did.
   */
  get serverFingerprint(): string | undefined {
    return this.fingerprint;
  }

  /** The body of a 2xx answer; anything else throws NodeClientError. */
  call(method: string, path: string, body?: string, contentType = "application/json"): Promise<string> {
    const url = new URL(path, this.opts.server);
    // The query (an image reference, a deadline) is in the node's own message when it matters.
    const where = `${url.origin}${decodeURIComponent(url.pathname)}`;
    return new Promise((resolve, reject) => {
      const req = request(
        url,
        {
          method,
          agent: this.agent,
          headers: {
            ...(this.token ? { authorization: `Bearer ${this.token}` } : {}),
            ...(body !== undefined ? { "content-type": contentType, "content-length": Buffer.byteLength(body) } : {}),
          },
        },
        (res) => {
          this.fingerprint = (res.socket as TLSSocket).getPeerCertificate?.()?.fingerprint256 ?? this.fingerprint;
          const chunks: Buffer[] = [];
          res.on("data", (c: Buffer) => chunks.push(c));
          res.on("end", () => {
            const text = Buffer.concat(chunks).toString("utf8");
            const status = res.statusCode ?? 0;
            if (status >= 200 && status < 300) resolve(text);
            else reject(new NodeClientError(`${method} ${where}: ${status} ${text.trim().split("\n")[0]}`, status));
          });
        },
      );
      req.on("error", (err) => reject(new NodeClientError(`${method} ${where}: ${err.message}`)));
      req.end(body);
    });
  }

  async json<T>(method: string, path: string, body?: unknown): Promise<T> {
    return JSON.parse(await this.call(method, path, body === undefined ? undefined : JSON.stringify(body))) as T;
  }

  close(): void {
    this.agent.destroy();
  }
}
