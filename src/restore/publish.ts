/** Sending a built checkpoint image to its target: an OCI layout, an OCI archive, or a registry. */
import { mkdtempSync, renameSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import type { CheckpointImage } from "./checkpoint-image.js";
import { isInsecureRegistry, type ImageTarget } from "./image-target.js";
import { writeToLayout } from "./layout-writer.js";
import { tarLayout } from "./oci-archive.js";
import { RegistryPusher, type Credentials } from "./registry-push.js";

export interface PublishOptions {
  insecureRegistries?: readonly string[];
  credentials?: Credentials;
}

/** Writes or pushes `image`; returns the manifest digest. */
export async function publishImage(image: CheckpointImage, target: ImageTarget, opts: PublishOptions = {}): Promise<string> {
  switch (target.kind) {
    case "oci":
      writeToLayout(image, target.path, target.tag);
      return image.manifest.digest;
    case "oci-archive": {
      // Built next to the destination and renamed into place: a failed build leaves no half archive.
      const staging = mkdtempSync(join(dirname(target.path), ".ckpt-oci-archive-"));
      try {
        writeToLayout(image, join(staging, "layout"), target.tag);
        await tarLayout(join(staging, "layout"), join(staging, "archive.tar"));
        renameSync(join(staging, "archive.tar"), target.path);
      } finally {
        rmSync(staging, { recursive: true, force: true });
      }
      return image.manifest.digest;
    }
    case "registry": {
      const insecure = isInsecureRegistry(target.ref.registry, opts.insecureRegistries ?? []);
      return new RegistryPusher(target.ref, { insecure, ...(opts.credentials ? { credentials: opts.credentials } : {}) }).push(image);
    }
  }
}
