/**
 * The errors of the image store. Each message says where the fault is: the reference, the registry
 * URL, the layout file, or the blob digest and the tar entry of a layer, so one line is enough to act on.
 */

/** Anything that stops an image from being resolved. */
export class ImageError extends Error {
  override name = "ImageError";
}

/** pullPolicy "Never" and the image is not in the store. */
export class ImageNotPresentError extends ImageError {
  override name = "ImageNotPresentError";
}

/** A registry that answered with an error, or could not be reached. */
export class RegistryError extends ImageError {
  override name = "RegistryError";
  constructor(
    readonly url: string,
    readonly status: number | undefined,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** A blob whose bytes are not what its descriptor promised (digest or size). */
export class BlobVerificationError extends ImageError {
  override name = "BlobVerificationError";
  constructor(
    readonly digest: string,
    message: string,
  ) {
    super(message);
  }
}

/** A layer that cannot be unpacked safely: names the layer's blob digest and, when known, the entry. */
export class LayerError extends ImageError {
  override name = "LayerError";
  constructor(
    readonly digest: string,
    readonly entry: string | undefined,
    readonly detail: string,
    options?: { cause?: unknown },
  ) {
    super(`layer ${digest}${entry === undefined ? "" : `, entry ${JSON.stringify(entry)}`}: ${detail}`, options);
  }
}
