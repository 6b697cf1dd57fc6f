/**
 * Choosing one image from a multi-platform index: the node's own OS and architecture, as the
 * kubelet's runtimes do.
 */
import type { Descriptor, ImageIndex, Platform } from "./oci-documents.js";
import { ImageError } from "./image-errors.js";

/** Node's process.arch in OCI's (GOARCH) spelling. */
const GOARCH: Record<string, string> = { x64: "amd64", arm64: "arm64", arm: "arm", ia32: "386", ppc64: "ppc64le", s390x: "s390x", riscv64: "riscv64" };

export function hostPlatform(): Platform {
  return { os: "linux", architecture: GOARCH[process.arch] ?? process.arch, ...(process.arch === "arm64" ? { variant: "v8" } : {}) };
}

function matches(p: Platform | undefined, want: Platform): boolean {
  if (!p || p.os !== want.os || p.architecture !== want.architecture) return false;
  // arm64 images often omit "v8"; a declared variant that differs is another platform.
  return !p.variant || !want.variant || p.variant === want.variant;
}

/** The index entry for `want`; an error listing what the index offers otherwise. */
export function selectPlatform(index: ImageIndex, want: Platform, where: string): Descriptor {
  // Attestation manifests (BuildKit's "unknown/unknown") sit beside the images; never pick them.
  const found = index.manifests.find((d) => matches(d.platform, want));
  if (found) return found;
  const offered = index.manifests.map((d) => (d.platform ? `${d.platform.os}/${d.platform.architecture}${d.platform.variant ? `/${d.platform.variant}` : ""}` : "(no platform)"));
  throw new ImageError(`${where}: no image for ${want.os}/${want.architecture} in the index (it has ${offered.join(", ") || "no manifests"})`);
}
