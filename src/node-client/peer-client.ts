/**
 * A node's client of another node, for a lazy migration's target: TLS with this node's client
 * certificate, to a server whose certificate is the one the migrating user saw (its SHA-256
 * fingerprint is pinned; nodes' serving certificates are often self-signed). Nothing is sent before
 * the fingerprint is checked. Non-2xx answers become one line that names the request.
 */
import { createWriteStream } from "node:fs";
import { request } from "node:https";
import type { IncomingMessage } from "node:http";
import type { Duplex } from "node:stream";
import { pipeline } from "node:stream/promises";
import { connect, type TLSSocket } from "node:tls";

export interface PeerClientOptions {
  /** https://HOST:PORT */
  server: string;
  /** The server certificate's SHA-256 fingerprint, colon-separated upper-case hex (Node's fingerprint256). */
  fingerprint256: string;
  /** This node's client certificate and key (PEM). */
  cert: string;
  key: string;
  /** For a connection's TLS handshake. */
  connectTimeoutMs?: number;
}

export class PeerClientError extends Error {
  override name = "PeerClientError";
  constructor(
    message: string,
    readonly status?: number,
  ) {
    super(message);
  }
}

export class PeerClient {
  private readonly url: URL;

  constructor(readonly opts: PeerClientOptions) {
    this.url = new URL(opts.server);
  }

  /** A TLS connection whose server certificate is the pinned one. */
  private connect(): Promise<TLSSocket> {
    return new Promise((resolve, reject) => {
      const socket = connect({
        host: this.url.hostname.replace(/^\[|\]$/g, ""),
        port: Number(this.url.port || 443),
        cert: this.opts.cert,
        key: this.opts.key,
        // Checked below against the pin instead of a CA: the pin is stricter.
        rejectUnauthorized: false,
        ALPNProtocols: ["http/1.1"],
      });
      const timer = setTimeout(() => socket.destroy(new Error(`no TLS connection within ${(this.opts.connectTimeoutMs ?? 15_000) / 1000} s`)), this.opts.connectTimeoutMs ?? 15_000);
      socket.once("secureConnect", () => {
        clearTimeout(timer);
        const seen = socket.getPeerCertificate().fingerprint256;
        if (seen !== this.opts.fingerprint256) {
          socket.destroy();
          return reject(new PeerClientError(`${this.url.origin}: its certificate (${seen}) is not the one the migration names (${this.opts.fingerprint256})`));
        }
        resolve(socket);
      });
      socket.once("error", (err) => {
        clearTimeout(timer);
        reject(new PeerClientError(`${this.url.origin}: ${err.message}`));
      });
    });
  }

  private async send(path: string, headers: Record<string, string>, onUpgrade?: (socket: Duplex, head: Buffer) => void): Promise<IncomingMessage | undefined> {
    const socket = await this.connect();
    return new Promise((resolve, reject) => {
      // No agent: with one, Node would open (and verify) a connection of its own.
      const req = request(new URL(path, this.url), { method: "GET", headers, createConnection: () => socket });
      req.on("response", (res) => {
        const status = res.statusCode ?? 0;
        if (status >= 200 && status < 300) return resolve(res);
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => reject(new PeerClientError(`GET ${this.url.origin}${path}: ${status} ${Buffer.concat(chunks).toString("utf8").trim().split("\n")[0]}`, status)));
        res.on("error", reject);
      });
      req.on("upgrade", (res, upgraded: Duplex, head: Buffer) => {
        if (!onUpgrade) return reject(new PeerClientError(`GET ${this.url.origin}${path}: ${res.statusCode} upgrade not asked for`));
        onUpgrade(upgraded, head);
        resolve(undefined);
      });
      req.on("error", (err) => reject(new PeerClientError(`GET ${this.url.origin}${path}: ${err.message}`)));
      req.end();
    });
  }

  /** GET `path` into `file` (created, mode 0600); returns its size. */
  async download(path: string, headers: Record<string, string>, file: string): Promise<number> {
    const res = (await this.send(path, headers))!;
    let bytes = 0;
    res.on("data", (c: Buffer) => (bytes += c.length));
    try {
      await pipeline(res, createWriteStream(file, { flags: "wx", mode: 0o600 }));
    } catch (err) {
      throw new PeerClientError(`GET ${this.url.origin}${path}: ${(err as Error).message}`);
    }
    const declared = Number(res.headers["content-length"]);
    if (Number.isInteger(declared) && declared !== bytes) throw new PeerClientError(`GET ${this.url.origin}${path}: ${bytes} of ${declared} bytes received`);
    return bytes;
  }

  /** GET `path` upgraded to `protocol`: the connection, then speaking that protocol. */
  async upgrade(path: string, headers: Record<string, string>, protocol: string): Promise<Duplex> {
    let connection: Duplex | undefined;
    await this.send(path, { ...headers, Connection: "Upgrade", Upgrade: protocol }, (socket, head) => {
      if (head.length) socket.unshift(head);
      connection = socket;
    });
    return connection!;
  }
}
