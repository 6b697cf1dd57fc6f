/**
 * The plain request and response the endpoint's handler works on. Only https-server.ts knows Node's
 * http objects and TLS sockets; everything else, and every in-process test, speaks these.
 */
import type { Duplex, Readable } from "node:stream";

/** A client certificate the TLS layer received, with the verdict of checking it against the client CA. */
export interface PresentedCertificate {
  /** True when the chain verified against the configured client CA. */
  verified: boolean;
  /** Why it did not verify (OpenSSL's reason), for the log. */
  verifyError?: string;
  /** Subject CN; Kubernetes takes it as the user name. */
  commonName?: string;
  /** Subject O values; Kubernetes takes them as the groups. */
  organizations: string[];
}

export interface EndpointRequest {
  method: string;
  /** The request target as sent: path and query ("/checkpoint/ns/pod/ctr?timeout=60"). */
  url: string;
  /** Header names in lower case. */
  headers: Readonly<Record<string, string | undefined>>;
  /** Read only by routes that take a body, after authentication and authorization. */
  body: AsyncIterable<Uint8Array>;
  /** Absent when the client sent none, or when no client CA is configured (then none is asked for). */
  clientCertificate?: PresentedCertificate;
}

export interface EndpointResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
  /** A body too large to hold (a file): sent instead of `body`. */
  stream?: Readable;
  /**
   * With status 101, to a request that asked to upgrade its connection: given the connection once
   * the answer is written, to speak another protocol on it.
   */
  upgrade?: (connection: Duplex) => void;
}

export type RequestHandler = (req: EndpointRequest) => Promise<EndpointResponse>;

// Go's http sniffing labels the kubelet's plain error strings this way.
const TEXT = "text/plain; charset=utf-8";

export function textResponse(status: number, body: string, headers: Record<string, string> = {}): EndpointResponse {
  return { status, headers: { "Content-Type": TEXT, "X-Content-Type-Options": "nosniff", ...headers }, body };
}

export function jsonResponse(status: number, value: unknown): EndpointResponse {
  return { status, headers: { "Content-Type": "application/json" }, body: JSON.stringify(value) };
}
