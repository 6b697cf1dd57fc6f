/**
 * The registry token flow (distribution's docs/spec/auth/token.md), anonymously: a 401 carries
 * `WWW-Authenticate: Bearer realm=…,service=…,scope=…`; a GET of the realm with service and scope
 * returns a token, sent as `Authorization: Bearer` from then on. The node has no registry
 * credentials, so a registry that wants Basic auth, or refuses an anonymous token, is an error.
 */
import { z } from "zod";
import { RegistryError } from "./image-errors.js";

export interface Challenge {
  scheme: string;
  params: Record<string, string>;
}

/** The first challenge of a WWW-Authenticate header (registries send one). */
export function parseChallenge(header: string | null): Challenge | undefined {
  if (!header) return undefined;
  const m = /^\s*([A-Za-z][A-Za-z0-9_-]*)\s*(.*)$/s.exec(header);
  if (!m) return undefined;
  const params: Record<string, string> = {};
  const param = /([A-Za-z][A-Za-z0-9_-]*)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,"]*))\s*,?\s*/gy;
  let p: RegExpExecArray | null;
  while ((p = param.exec(m[2]!)) !== null && p[0] !== "") {
    params[p[1]!.toLowerCase()] = p[2] !== undefined ? p[2].replace(/\\(.)/g, "$1") : p[3]!;
  }
  return { scheme: m[1]!.toLowerCase(), params };
}

const TokenResponse = z.object({ token: z.string().optional(), access_token: z.string().optional() });

/**
 * An anonymous token for `scope` from the challenge's realm. `get` performs the request (the caller's
 * fetch with its timeouts and abort signal).
 */
export async function fetchBearerToken(
  challenge: Challenge,
  scope: string,
  challengedUrl: string,
  get: (url: string) => Promise<Response>,
): Promise<string> {
  const realm = challenge.params.realm;
  if (!realm) throw new RegistryError(challengedUrl, 401, `GET ${challengedUrl}: 401, and its Bearer challenge names no realm`);
  let url: URL;
  try {
    url = new URL(realm);
  } catch {
    throw new RegistryError(challengedUrl, 401, `GET ${challengedUrl}: the token realm ${JSON.stringify(realm)} is not a URL`);
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") throw new RegistryError(challengedUrl, 401, `GET ${challengedUrl}: the token realm ${realm} is not http(s)`);
  if (challenge.params.service) url.searchParams.set("service", challenge.params.service);
  // The challenge's own scope says what this request needs; ours covers a first request without one.
  url.searchParams.set("scope", challenge.params.scope || scope);
  const res = await get(url.href);
  const text = await res.text();
  if (!res.ok) throw new RegistryError(url.href, res.status, `GET ${url.href}: ${res.status} ${res.statusText} from the token service (anonymous pull refused?)`);
  let parsed: z.infer<typeof TokenResponse>;
  try {
    parsed = TokenResponse.parse(JSON.parse(text));
  } catch {
    throw new RegistryError(url.href, res.status, `GET ${url.href}: the token service's answer is not a token response`);
  }
  const token = parsed.token || parsed.access_token;
  if (!token) throw new RegistryError(url.href, res.status, `GET ${url.href}: the token service's answer has no token`);
  return token;
}
