/**
 * The JSON documents of OCI images and their Docker schema2 equivalents (index / manifest list,
 * manifest, image config, the oci-layout file), as zod schemas: they come from disk or a registry, so
 * nothing is trusted before it parses. Unknown keys are ignored; a document of the wrong shape gives
 * an error naming where it came from and the first bad key.
 */
import { z } from "zod";
import { isSha256Digest } from "./digest.js";
import { ImageError } from "./image-errors.js";

export const MediaType = {
  ociIndex: "application/vnd.oci.image.index.v1+json",
  ociManifest: "application/vnd.oci.image.manifest.v1+json",
  ociConfig: "application/vnd.oci.image.config.v1+json",
  dockerManifestList: "application/vnd.docker.distribution.manifest.list.v2+json",
  dockerManifest: "application/vnd.docker.distribution.manifest.v2+json",
  dockerConfig: "application/vnd.docker.container.image.v1+json",
} as const;

/** What a registry may answer for a manifest request, most specific first. */
export const MANIFEST_ACCEPT = [MediaType.ociManifest, MediaType.ociIndex, MediaType.dockerManifest, MediaType.dockerManifestList].join(", ");

export const INDEX_MEDIA_TYPES: ReadonlySet<string> = new Set([MediaType.ociIndex, MediaType.dockerManifestList]);
export const MANIFEST_MEDIA_TYPES: ReadonlySet<string> = new Set([MediaType.ociManifest, MediaType.dockerManifest]);

/** Layer media types and the compression they announce (the bytes' magic has the last word). */
export const LAYER_MEDIA_TYPES: ReadonlyMap<string, "none" | "gzip" | "zstd"> = new Map([
  ["application/vnd.oci.image.layer.v1.tar", "none"],
  ["application/vnd.oci.image.layer.v1.tar+gzip", "gzip"],
  ["application/vnd.oci.image.layer.v1.tar+zstd", "zstd"],
  ["application/vnd.oci.image.layer.nondistributable.v1.tar", "none"],
  ["application/vnd.oci.image.layer.nondistributable.v1.tar+gzip", "gzip"],
  ["application/vnd.oci.image.layer.nondistributable.v1.tar+zstd", "zstd"],
  ["application/vnd.docker.image.rootfs.diff.tar", "none"],
  ["application/vnd.docker.image.rootfs.diff.tar.gzip", "gzip"],
  ["application/vnd.docker.image.rootfs.foreign.diff.tar.gzip", "gzip"],
]);

/** Manifests and configs are small; a bigger one is an attack or a mistake, not an image. */
export const MAX_DOCUMENT_BYTES = 4 << 20;

const Digest = z.string().refine(isSha256Digest, { message: "not a sha256 digest (sha256:<64 hex>)" });

export const Platform = z.object({
  architecture: z.string(),
  os: z.string(),
  variant: z.string().optional(),
  "os.version": z.string().optional(),
});
export type Platform = z.infer<typeof Platform>;

export const Descriptor = z.object({
  mediaType: z.string(),
  digest: Digest,
  size: z.number().int().nonnegative(),
  urls: z.array(z.string()).optional(),
  annotations: z.record(z.string(), z.string()).optional(),
  platform: Platform.optional(),
});
export type Descriptor = z.infer<typeof Descriptor>;

export const ImageIndex = z.object({
  schemaVersion: z.literal(2),
  mediaType: z.string().optional(),
  manifests: z.array(Descriptor),
  annotations: z.record(z.string(), z.string()).optional(),
});
export type ImageIndex = z.infer<typeof ImageIndex>;

export const ImageManifest = z.object({
  schemaVersion: z.literal(2),
  mediaType: z.string().optional(),
  config: Descriptor,
  layers: z.array(Descriptor),
  annotations: z.record(z.string(), z.string()).optional(),
});
export type ImageManifest = z.infer<typeof ImageManifest>;

/** Docker writes `null` for absent lists; OCI omits them. Both mean "not set". */
const StringList = z.array(z.string()).nullish();

export const ImageConfig = z.object({
  architecture: z.string().optional(),
  os: z.string().optional(),
  config: z
    .object({
      User: z.string().nullish(),
      Env: StringList,
      Entrypoint: StringList,
      Cmd: StringList,
      WorkingDir: z.string().nullish(),
    })
    .nullish(),
  rootfs: z.object({ type: z.literal("layers"), diff_ids: z.array(Digest) }),
});
export type ImageConfig = z.infer<typeof ImageConfig>;

export const OciLayoutFile = z.object({ imageLayoutVersion: z.string() });

/** The annotation an OCI layout's index.json names its images by. */
export const REF_NAME_ANNOTATION = "org.opencontainers.image.ref.name";

/** Parses a JSON document; the error names `where` and the first bad key. */
export function parseDocument<T>(schema: z.ZodType<T>, bytes: Uint8Array, where: string): T {
  let json: unknown;
  try {
    json = JSON.parse(Buffer.from(bytes).toString("utf8"));
  } catch (err) {
    throw new ImageError(`${where}: not valid JSON (${(err as Error).message})`);
  }
  const result = schema.safeParse(json);
  if (!result.success) {
    const issue = result.error.issues[0]!;
    const path = issue.path.length ? issue.path.join(".") : "(top level)";
    throw new ImageError(`${where}: ${path}: ${issue.message}`);
  }
  return result.data;
}

/**
 * Whether a manifest document is an index or an image manifest: by the media type the source gave,
 * else by its own `mediaType`, else by its shape (OCI lets both omit the field).
 */
export function manifestKind(bytes: Uint8Array, mediaType: string | undefined, where: string): "index" | "manifest" {
  const declared = mediaType?.split(";")[0]!.trim();
  if (declared && INDEX_MEDIA_TYPES.has(declared)) return "index";
  if (declared && MANIFEST_MEDIA_TYPES.has(declared)) return "manifest";
  let json: unknown;
  try {
    json = JSON.parse(Buffer.from(bytes).toString("utf8"));
  } catch (err) {
    throw new ImageError(`${where}: not valid JSON (${(err as Error).message})`);
  }
  const doc = (json && typeof json === "object" ? json : {}) as Record<string, unknown>;
  if (doc.schemaVersion === 1) throw new ImageError(`${where}: Docker schema1 manifests are not supported`);
  const own = typeof doc.mediaType === "string" ? doc.mediaType : undefined;
  if (own && INDEX_MEDIA_TYPES.has(own)) return "index";
  if (own && MANIFEST_MEDIA_TYPES.has(own)) return "manifest";
  if (Array.isArray(doc.manifests)) return "index";
  if (Array.isArray(doc.layers)) return "manifest";
  throw new ImageError(`${where}: neither an image index nor an image manifest (media type ${declared || own || "not given"})`);
}
