/**
 * Image references as pod manifests write them, parsed and normalised:
 * - `oci:/abs/path/to/layout[:tag]`: an OCI image layout on disk;
 * - `host[:port]/repo[/…][:tag|@sha256:…]`: an image in an OCI distribution registry.
 * The node has no default registry (nothing like docker.io is reachable from it), so a name without a
 * registry host is refused at once rather than sent somewhere that never answers.
 */
import { posix } from "node:path";
import { isSha256Digest } from "./digest.js";
import { ImageError } from "./image-errors.js";

export interface LayoutReference {
  kind: "oci-layout";
  /** As written by the caller. */
  text: string;
  /** Absolute, normalised path of the layout directory. */
  layout: string;
  tag?: string;
}

export interface RegistryReference {
  kind: "registry";
  text: string;
  /** host or host:port, as written (it is also the key of `insecureRegistries`). */
  registry: string;
  /** The repository path inside the registry, e.g. "library/busybox". */
  repository: string;
  tag?: string;
  digest?: string;
}

export type ImageReference = LayoutReference | RegistryReference;

// distribution/reference's grammar (reference/regexp.go), restricted to sha256 digests.
const DOMAIN_COMPONENT = "(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])";
const DOMAIN = new RegExp(`^(?:${DOMAIN_COMPONENT}(?:\\.${DOMAIN_COMPONENT})*|\\[[0-9a-fA-F:]+\\])(?::[0-9]+)?$`);
const PATH_COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const TAG = /^[\w][\w.-]{0,127}$/;
/** Layout tags are OCI ref names: anything printable; '/' would be ambiguous with the path. */
const LAYOUT_TAG = /^[\x21-\x7e]+$/;

export function parseImageReference(text: string): ImageReference {
  if (text.startsWith("oci:")) return parseLayoutReference(text);
  const bad = (why: string) => new ImageError(`image reference ${JSON.stringify(text)}: ${why}`);
  let rest = text;
  let digest: string | undefined;
  const at = rest.indexOf("@");
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!isSha256Digest(digest)) throw bad(`${JSON.stringify(digest)} is not a sha256 digest (sha256:<64 lowercase hex>)`);
  }
  let tag: string | undefined;
  const colon = rest.lastIndexOf(":");
  if (colon > rest.lastIndexOf("/")) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG.test(tag)) throw bad(`${JSON.stringify(tag)} is not a valid tag`);
  }
  const slash = rest.indexOf("/");
  const first = slash < 0 ? rest : rest.slice(0, slash);
  // Docker's rule for telling a registry host from a repository's first component.
  const isHost = first.includes(".") || first.includes(":") || first === "localhost" || first !== first.toLowerCase();
  if (!isHost) {
    throw bad("no registry host; this node has no default registry, so write the registry too (e.g. 127.0.0.1:5000/busybox:latest) or an OCI layout (oci:/path/to/layout:tag)");
  }
  if (!DOMAIN.test(first)) throw bad(`${JSON.stringify(first)} is not a registry host`);
  if (slash < 0) throw bad("no repository after the registry host");
  const repository = rest.slice(slash + 1);
  for (const component of repository.split("/")) {
    if (!PATH_COMPONENT.test(component)) throw bad(`repository component ${JSON.stringify(component)} is not valid (lowercase letters, digits, separators . _ __ -)`);
  }
  if (repository.length > 255) throw bad("repository name longer than 255 characters");
  return { kind: "registry", text, registry: first, repository, ...(tag !== undefined ? { tag } : {}), ...(digest !== undefined ? { digest } : {}) };
}

function parseLayoutReference(text: string): LayoutReference {
  let path = text.slice("oci:".length);
  let tag: string | undefined;
  const colon = path.lastIndexOf(":");
  if (colon >= 0 && !path.slice(colon + 1).includes("/")) {
    tag = path.slice(colon + 1);
    path = path.slice(0, colon);
    if (!LAYOUT_TAG.test(tag)) throw new ImageError(`image reference ${JSON.stringify(text)}: ${JSON.stringify(tag)} is not a valid tag`);
  }
  if (!path.startsWith("/")) throw new ImageError(`image reference ${JSON.stringify(text)}: the layout path must be absolute (oci:/path/to/layout[:tag])`);
  return { kind: "oci-layout", text, layout: posix.resolve(path), ...(tag !== undefined ? { tag } : {}) };
}

/** The repository without tag or digest: "127.0.0.1:5000/busybox", "oci:/abs/layout". */
export function repositoryName(ref: ImageReference): string {
  return ref.kind === "oci-layout" ? `oci:${ref.layout}` : `${ref.registry}/${ref.repository}`;
}

/**
 * The normalised name (ResolvedImage.name), also the key the store keeps an image under: a registry
 * image's tag defaults to "latest" and a digest wins over a tag, as a pull by "repo:tag@digest" does.
 */
export function imageName(ref: ImageReference): string {
  if (ref.kind === "oci-layout") return ref.tag === undefined ? `oci:${ref.layout}` : `oci:${ref.layout}:${ref.tag}`;
  return ref.digest ? `${repositoryName(ref)}@${ref.digest}` : `${repositoryName(ref)}:${ref.tag ?? "latest"}`;
}
