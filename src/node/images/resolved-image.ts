/**
 * An image ready to run: the contract between the image store (pulling, unpacking) and the pod
 * runtime (rootfs, process defaults, the names written into checkpoint metadata).
 */
export interface ImageProcessDefaults {
  entrypoint: string[];
  cmd: string[];
  env: string[];
  workingDir: string;
  user: string;
}

export interface ResolvedImage {
  /** The reference as the pod manifest wrote it (checkpointctl's IMAGE column shows this). */
  reference: string;
  /** Normalised name: "127.0.0.1:5000/busybox:latest", or "oci:/abs/layout:tag" for a layout on disk. */
  name: string;
  /** "sha256:<digest of the image config>": the image ID, as CRI-O's rootfsImageRef. */
  imageId: string;
  /** "name@sha256:<manifest digest>" when the manifest digest is known. */
  repoDigest?: string;
  /** Unpacked layer directories, lowest first: the overlay lowerdir stack. */
  layers: string[];
  process: ImageProcessDefaults;
}
