/** The node agent's image store: what the rest of the node imports. */
export { ImageStore, defaultPullPolicy, type EnsureOptions, type ImageStoreOptions, type PullPolicy } from "./image-store.js";
export type { ImageProcessDefaults, ResolvedImage } from "./resolved-image.js";
export { parseImageReference, imageName, repositoryName, type ImageReference } from "./image-reference.js";
export { BlobVerificationError, ImageError, ImageNotPresentError, LayerError, RegistryError } from "./image-errors.js";
export { DEFAULT_LAYER_LIMITS, type LayerLimits } from "./layer-unpacker.js";
