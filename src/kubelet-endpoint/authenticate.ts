/**
 * Who is asking, decided as the kubelet's delegating authenticator does: the client certificate,
 * then the bearer token; the first that names a user wins. A certificate that does not verify or a
 * token that is not known is an error, and an error with no success is 401 even when anonymous
 * requests are allowed (anonymous is only for requests that present no credentials at all).
 */
import { HttpError } from "./http-error.js";
import type { EndpointRequest, PresentedCertificate } from "./http-types.js";
import type { TokenAuthenticator } from "./token-file.js";
import { ANONYMOUS_USER, AUTHENTICATED_GROUP, UNAUTHENTICATED_GROUP, type UserInfo } from "./user-info.js";

export interface AuthenticatorOptions {
  /** Absent: no token file, so bearer tokens are not looked at (as a kubelet without token auth). */
  tokens?: TokenAuthenticator;
  anonymous: boolean;
}

export class Authenticator {
  constructor(private readonly options: AuthenticatorOptions) {}

  /** The user, or HttpError 401 "Unauthorized" (the kubelet's exact body). */
  authenticate(req: EndpointRequest): UserInfo {
    const failures: string[] = [];
    const cert = req.clientCertificate;
    if (cert) {
      const user = certificateUser(cert, failures);
      if (user) return withAuthenticatedGroup(user);
    }
    const token = bearerToken(req.headers.authorization);
    if (token !== undefined && this.options.tokens) {
      const user = this.options.tokens.authenticate(token);
      if (user) return withAuthenticatedGroup(user);
      failures.push("invalid bearer token");
    }
    if (failures.length === 0 && this.options.anonymous) {
      return { name: ANONYMOUS_USER, groups: [UNAUTHENTICATED_GROUP] };
    }
    const reason = failures.length > 0 ? failures.join("; ") : "no credentials";
    throw new HttpError(401, "Unauthorized", {
      cause: new Error(reason),
      headers: { "WWW-Authenticate": 'Bearer realm="kubelet"' },
    });
  }
}

function certificateUser(cert: PresentedCertificate, failures: string[]): UserInfo | undefined {
  if (!cert.verified) {
    failures.push(`client certificate does not verify against the client CA: ${cert.verifyError ?? "unknown reason"}`);
    return undefined;
  }
  // Kubernetes' x509 authenticator skips (without failing) a verified certificate with no CN.
  if (!cert.commonName) return undefined;
  return { name: cert.commonName, groups: [...cert.organizations] };
}

/** The token of an `Authorization: Bearer <token>` header, parsed as Kubernetes' bearertoken does. */
export function bearerToken(header: string | undefined): string | undefined {
  const auth = header?.trim();
  if (!auth) return undefined;
  const parts = auth.split(" ");
  if (parts.length < 2 || parts[0]!.toLowerCase() !== "bearer") return undefined;
  const token = parts[1]!;
  return token === "" ? undefined : token;
}

/** Every authenticated user is also in system:authenticated, so a policy can grant "anyone known". */
function withAuthenticatedGroup(user: UserInfo): UserInfo {
  if (user.groups.includes(AUTHENTICATED_GROUP) || user.groups.includes(UNAUTHENTICATED_GROUP)) return user;
  return { ...user, groups: [...user.groups, AUTHENTICATED_GROUP] };
}
