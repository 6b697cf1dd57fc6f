/**
 * The read-only lower layers under a container's upper directory, asked the questions the rootfs
 * diff needs: was this path there before (so a directory is a Modify, not an Add), what was in a
 * directory that is now opaque, and where is the data of a metacopy file. Lookups never follow a
 * symlink — a layer's absolute symlink (`/lib -> /usr/lib`) would otherwise lead to the host — and
 * stop at whiteouts, as containers/storage's overlay Changes does. Layers come top first, as in
 * overlayfs's lowerdir option.
 */
import { isUtf8 } from "node:buffer";
import { lstat, readdir } from "node:fs/promises";
import { join } from "node:path";
import { errnoCode } from "./errors.js";

type Kind = "dir" | "file" | "other" | "whiteout" | "absent";

export class LowerLayers {
  /** layer + "\0" + rel → kind, so that a deep tree does not re-lstat the same ancestors. */
  private readonly kinds = new Map<string, Kind>();

  constructor(readonly layers: readonly string[]) {}

  /** The kind of `rel` ("a/b", no leading "/") in one layer, reached through real directories only. */
  private async kindIn(layer: string, rel: string): Promise<Kind> {
    const key = `${layer}\0${rel}`;
    const cached = this.kinds.get(key);
    if (cached) return cached;
    let kind: Kind;
    const slash = rel.lastIndexOf("/");
    const parent = slash < 0 ? undefined : await this.kindIn(layer, rel.slice(0, slash));
    if (parent === "whiteout") kind = "whiteout";
    else if (parent !== undefined && parent !== "dir") kind = "absent";
    else {
      try {
        const st = await lstat(join(layer, rel));
        kind = st.isDirectory()
          ? "dir"
          : st.isFile()
            ? "file"
            : st.isCharacterDevice() && st.rdev === 0
              ? "whiteout"
              : "other";
      } catch (err) {
        const code = errnoCode(err);
        if (code !== "ENOENT" && code !== "ENOTDIR") throw err;
        kind = "absent";
      }
    }
    this.kinds.set(key, kind);
    return kind;
  }

  /** The first layer's kind for `rel`, top down; a whiteout (on it or an ancestor) hides the rest. */
  async lookup(rel: string): Promise<{ kind: Exclude<Kind, "whiteout" | "absent">; layer: string } | undefined> {
    for (const layer of this.layers) {
      const kind = await this.kindIn(layer, rel);
      if (kind === "whiteout") return undefined;
      if (kind !== "absent") return { kind, layer };
    }
    return undefined;
  }

  async exists(rel: string): Promise<boolean> {
    return (await this.lookup(rel)) !== undefined;
  }

  /**
   * Names under directory `rel` in any layer (whiteout markers themselves left out). Names that a
   * higher layer had hidden may be among them; as deletions they are harmless (nothing to delete).
   */
  async children(rel: string): Promise<string[]> {
    const names = new Set<string>();
    for (const layer of this.layers) {
      const kind = await this.kindIn(layer, rel);
      if (kind === "absent") continue;
      if (kind !== "dir") break; // a whiteout or a non-directory hides the layers below
      const dir = join(layer, rel);
      for (const raw of await readdir(dir, { encoding: "buffer" })) {
        if (!isUtf8(raw)) throw new Error(`${dir}: a file name that is not UTF-8 (${raw.toString("hex")}) is not supported`);
        const name = raw.toString("utf8");
        if ((await this.kindIn(layer, rel ? `${rel}/${name}` : name)) !== "whiteout") names.add(name);
      }
    }
    return [...names];
  }

  /** Where a metacopy file's data is: the first layer holding a regular file at `rel`. */
  async dataPath(rel: string): Promise<string | undefined> {
    const hit = await this.lookup(rel);
    return hit?.kind === "file" ? join(hit.layer, rel) : undefined;
  }
}
