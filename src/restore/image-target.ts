/**
 * Where a checkpoint image goes or comes from, as skopeo names transports:
 * `oci:DIR[:TAG]` (an OCI image layout), `oci-archive:FILE[:TAG]` (that layout as a tar), or a
 * registry reference `HOST[:PORT]/REPO[:TAG|@DIGEST]`.
 */
import { resolve } from "node:path";
import { parseImageReference, type RegistryReference } from "../node/images/image-reference.js";
import { ImageError } from "../node/images/image-errors.js";

export type ImageTarget =
  | { kind: "oci"; path: string; tag?: string; text: string }
  | { kind: "oci-archive"; path: string; tag?: string; text: string }
  | { kind: "registry"; ref: RegistryReference; text: string };

const TAG = /^[\x21-\x7e]+$/;

export function parseImageTarget(text: string): ImageTarget {
  for (const kind of ["oci-archive", "oci"] as const) {
    if (!text.startsWith(`${kind}:`)) continue;
    let path = text.slice(kind.length + 1);
    let tag: string | undefined;
    const colon = path.lastIndexOf(":");
    if (colon >= 0 && !path.slice(colon + 1).includes("/")) {
      tag = path.slice(colon + 1);
      path = path.slice(0, colon);
      if (!TAG.test(tag)) throw new ImageError(`image ${JSON.stringify(text)}: ${JSON.stringify(tag)} is not a valid tag`);
    }
    if (path === "") throw new ImageError(`image ${JSON.stringify(text)}: no path after ${kind}:`);
    return { kind, path: resolve(path), text, ...(tag ? { tag } : {}) };
  }
  if (text.startsWith("docker://")) text = text.slice("docker://".length);
  const ref = parseImageReference(text);
  if (ref.kind !== "registry") throw new ImageError(`image ${JSON.stringify(text)}: not a registry reference`);
  return { kind: "registry", ref, text };
}

/** Plain HTTP for hosts named insecure and for loopback registries (as containers/image does for localhost). */
export function isInsecureRegistry(host: string, insecureHosts: readonly string[]): boolean {
  if (insecureHosts.includes(host)) return true;
  const name = host.replace(/:\d+$/, "").replace(/^\[|\]$/g, "");
  return name === "localhost" || name === "::1" || /^127\./.test(name) || insecureHosts.includes(name);
}

/** Only registries: an `oci:` path would let a client choose where a node writes. */
export function isRegistryReference(ref: string): boolean {
  try {
    return parseImageTarget(ref).kind === "registry";
  } catch {
    return false;
  }
}
