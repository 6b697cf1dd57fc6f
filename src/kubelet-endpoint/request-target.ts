/**
 * The path and query of a request, decoded once. Authorization and routing both read this one
 * decoded path, so a request cannot be authorized as one path and routed as another
 * ("/%63heckpoint/…" is "/checkpoint/…" to both).
 */
import { HttpError } from "./http-error.js";

export interface RequestTarget {
  /** Percent-decoded path, dot segments resolved: "/checkpoint/default/web/app". */
  path: string;
  /** Path segments after the leading "/"; empty when the path is "/". */
  segments: string[];
  query: URLSearchParams;
}

const ORIGIN = "https://kubelet.invalid";

export function parseRequestTarget(rawUrl: string): RequestTarget {
  let url: URL;
  try {
    // Origin-form is appended rather than resolved, so "//host/x" stays a path instead of naming a host.
    url = rawUrl.startsWith("/") ? new URL(ORIGIN + rawUrl) : new URL(rawUrl, ORIGIN);
  } catch (err) {
    throw new HttpError(400, "malformed request URL", { cause: err });
  }
  let path: string;
  try {
    path = decodeURIComponent(url.pathname);
  } catch (err) {
    throw new HttpError(400, "malformed request URL", { cause: err });
  }
  return { path, segments: path === "/" ? [] : path.slice(1).split("/"), query: url.searchParams };
}
