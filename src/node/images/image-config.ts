/**
 * An image config's run defaults, as the pod runtime needs them. Docker and OCI configs share the
 * capitalised `config` keys; absent values get the defaults runc and the kubelet assume.
 */
import type { ImageConfig } from "./oci-documents.js";
import type { ImageProcessDefaults } from "./resolved-image.js";

export function processDefaults(config: ImageConfig): ImageProcessDefaults {
  const c = config.config ?? {};
  return {
    entrypoint: c.Entrypoint ?? [],
    cmd: c.Cmd ?? [],
    env: c.Env ?? [],
    // An empty WorkingDir is what Docker writes for "not set".
    workingDir: c.WorkingDir || "/",
    user: c.User ?? "",
  };
}
