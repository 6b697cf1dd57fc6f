/**
 * The one module that knows node:https and TLS: it serves a RequestHandler over HTTPS, turning
 * Node's request (and the TLS socket's client certificate) into an EndpointRequest and writing the
 * EndpointResponse back. Client certificates are asked for but not required, and verified against
 * the client CA by OpenSSL during the handshake without failing it, so that a request without one
 * can still use a token (or be anonymous) and one with a bad one gets a 401, not a TLS alert.
 */
import { createServer, type Server } from "node:https";
import { STATUS_CODES, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { pipeline } from "node:stream/promises";
import type { Duplex } from "node:stream";
import type { PeerCertificate, TLSSocket } from "node:tls";
import type { EndpointRequest, PresentedCertificate, RequestHandler } from "./http-types.js";
import { textResponse } from "./http-types.js";

export interface HttpsServeOptions {
  address: string;
  port: number;
  cert: string;
  key: string;
  /** PEM bundle client certificates are verified against; absent: none are asked for. */
  clientCA?: string;
  /** Told about a failure of the handler itself (it turns its own errors into responses). */
  onError(err: unknown): void;
}

export interface RunningServer {
  url: string;
  port: number;
  close(): Promise<void>;
}

// The kubelet's server: 4 h read and write timeouts (a checkpoint may take minutes and sends nothing
// meanwhile; its own deadline bounds it), 90 s idle keep-alive.
const LONG_REQUEST_MS = 4 * 60 * 60 * 1000;
const IDLE_MS = 90 * 1000;
const HEADERS_MS = 60 * 1000;

export function serveHttps(handler: RequestHandler, options: HttpsServeOptions): Promise<RunningServer> {
  const server = createServer(
    {
      cert: options.cert,
      key: options.key,
      minVersion: "TLSv1.2",
      ...(options.clientCA !== undefined ? { ca: options.clientCA, requestCert: true, rejectUnauthorized: false } : {}),
      requestTimeout: LONG_REQUEST_MS,
      headersTimeout: HEADERS_MS,
      keepAliveTimeout: IDLE_MS,
    },
    (req, res) => void respond(handler, req, res, options.onError),
  );
  server.setTimeout(LONG_REQUEST_MS);
  // Requests with `Connection: Upgrade` come here instead; they are authenticated and routed alike.
  server.on("upgrade", (req: IncomingMessage, socket: Duplex, head: Buffer) => void upgrade(handler, req, socket, head, options.onError));
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, options.address, () => {
      server.off("error", reject);
      const port = (server.address() as AddressInfo).port;
      resolve({ url: `https://${urlHost(options.address)}:${port}`, port, close: () => closeServer(server) });
    });
  });
}

/** The handler's answer; a handler that throws (a bug: it answers its own failures) is a 500. */
async function answer(handler: RequestHandler, req: IncomingMessage, onError: (err: unknown) => void) {
  try {
    return await handler(toEndpointRequest(req));
  } catch (err) {
    onError(err);
    return textResponse(500, "Internal Server Error");
  }
}

async function respond(handler: RequestHandler, req: IncomingMessage, res: ServerResponse, onError: (err: unknown) => void): Promise<void> {
  const response = await answer(handler, req, onError);
  if (res.destroyed) return; // the client went away during a long checkpoint
  // A body left unread (refused before reading, or too large) cannot be skipped safely on a kept-alive connection.
  if (!req.complete) response.headers.Connection = "close";
  res.writeHead(response.status, response.headers);
  if (!response.stream) return void res.end(response.body);
  // A client that goes away mid-body ends the stream; nothing is left to answer.
  await pipeline(response.stream, res).catch(() => undefined);
}

async function upgrade(handler: RequestHandler, req: IncomingMessage, socket: Duplex, head: Buffer, onError: (err: unknown) => void): Promise<void> {
  socket.on("error", () => undefined);
  const response = await answer(handler, req, onError);
  if (socket.destroyed) return;
  if (response.status === 101 && response.upgrade) {
    socket.write(`HTTP/1.1 101 Switching Protocols\r\n${headerLines({ ...response.headers, Connection: "Upgrade" })}\r\n`);
    if (head.length) socket.unshift(head);
    return response.upgrade(socket);
  }
  // Any other answer ends the connection: it was offered for another protocol.
  const body = Buffer.from(response.body);
  const headers = { ...response.headers, "Content-Length": String(body.length), Connection: "close" };
  socket.end(Buffer.concat([Buffer.from(`HTTP/1.1 ${response.status} ${STATUS_CODES[response.status] ?? ""}\r\n${headerLines(headers)}\r\n`), body]));
}

function headerLines(headers: Record<string, string>): string {
  return Object.entries(headers)
    .map(([k, v]) => `${k}: ${v}\r\n`)
    .join("");
}

function toEndpointRequest(req: IncomingMessage): EndpointRequest {
  const headers: Record<string, string | undefined> = {};
  for (const [name, value] of Object.entries(req.headers)) headers[name] = Array.isArray(value) ? value.join(", ") : value;
  return {
    method: req.method ?? "GET",
    url: req.url ?? "/",
    headers,
    // Lazy, and not destroying the request when a route stops reading early: the response (413) must still go out.
    body: { [Symbol.asyncIterator]: () => req.iterator({ destroyOnReturn: false }) },
    clientCertificate: presentedCertificate(req.socket as TLSSocket),
  };
}

function presentedCertificate(socket: TLSSocket): PresentedCertificate | undefined {
  const peer: Partial<PeerCertificate> | null = socket.getPeerCertificate();
  // Node gives an empty object when the client sent no certificate.
  if (!peer || !peer.raw) return undefined;
  const error = socket.authorizationError as Error | string | null | undefined;
  return {
    verified: socket.authorized,
    verifyError: error ? (typeof error === "string" ? error : error.message) : undefined,
    commonName: values(peer.subject?.CN).at(-1), // Go's pkix.Name keeps the last CN
    organizations: values(peer.subject?.O),
  };
}

/** Node gives a string for one value of a subject attribute and an array for several. */
function values(v: string | string[] | undefined): string[] {
  return v === undefined ? [] : Array.isArray(v) ? v : [v];
}

/** A host a local client can reach: the unspecified addresses stand for loopback. */
function urlHost(address: string): string {
  if (address === "0.0.0.0") return "127.0.0.1";
  if (address === "::") return "[::1]";
  return address.includes(":") ? `[${address}]` : address;
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve, reject) => {
    server.close((err) => (err ? reject(err) : resolve()));
    // Idle keep-alive connections would hold close() for up to 90 s; requests in flight finish.
    server.closeIdleConnections();
  });
}
