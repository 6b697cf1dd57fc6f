/**
 * Tar entry names inside a layer: normalised, and refused when they could reach outside the layer
 * directory (absolute names, `..`). Relative paths use "/" and have no "." components; "" is the
 * layer's root.
 */

/** Linux's limits: a longer name fails at the kernel anyway, later and with a less useful message. */
const MAX_PATH = 4096;
const MAX_COMPONENT = 255;

export class EntryNameError extends Error {}

export function entryPath(name: string, what = "name"): string {
  if (name.startsWith("/")) throw new EntryNameError(`absolute ${what} refused`);
  if (name.includes("\0")) throw new EntryNameError(`${what} contains a NUL byte`);
  const parts: string[] = [];
  for (const part of name.split("/")) {
    if (part === "" || part === ".") continue;
    if (part === "..") throw new EntryNameError(`".." in the ${what} refused`);
    if (Buffer.byteLength(part) > MAX_COMPONENT) throw new EntryNameError(`a component of the ${what} is longer than ${MAX_COMPONENT} bytes`);
    parts.push(part);
  }
  const path = parts.join("/");
  if (Buffer.byteLength(path) > MAX_PATH) throw new EntryNameError(`${what} longer than ${MAX_PATH} bytes`);
  return path;
}

export function parentOf(rel: string): string {
  const slash = rel.lastIndexOf("/");
  return slash < 0 ? "" : rel.slice(0, slash);
}

export function baseOf(rel: string): string {
  return rel.slice(rel.lastIndexOf("/") + 1);
}

/** OCI whiteout names (image-spec layer.md). */
export const WHITEOUT_PREFIX = ".wh.";
export const OPAQUE_WHITEOUT = ".wh..wh..opq";
