/** `ckpt crit x DIR ps|fds|mems|rss|sk [--format json]`. */
import { ImageDir } from "../criu-images/image-dir.js";
import { FileNames } from "../criu-images/explore/file-names.js";
import { processFds, renderFds } from "../criu-images/explore/fds.js";
import { processMems, renderMems } from "../criu-images/explore/mems.js";
import { psTree, renderPs } from "../criu-images/explore/ps.js";
import { processRss, renderRss } from "../criu-images/explore/rss.js";
import { processSockets, renderSockets } from "../criu-images/explore/sk.js";

type View = { data: (dir: ImageDir, names: FileNames) => unknown; text: (data: never) => string };

const VIEWS: Record<string, View> = {
  ps: { data: (d) => psTree(d), text: renderPs },
  fds: { data: processFds, text: renderFds },
  mems: { data: processMems, text: renderMems },
  rss: { data: processRss, text: renderRss },
  sk: { data: processSockets, text: renderSockets },
};

/** JSON for views: 64-bit values as numbers when exact, else as decimal strings; raw entries dropped. */
function toJson(value: unknown): string {
  return (
    JSON.stringify(
      value,
      (key, v) => {
        if (key === "core" || key === "vma") return undefined;
        if (typeof v === "bigint") return v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v.toString();
        return v;
      },
      2,
    ) + "\n"
  );
}

export function explore(path: string, what: string, format: "text" | "json"): string {
  const dir = new ImageDir(path);
  const view = VIEWS[what]!;
  const data = view.data(dir, new FileNames(dir));
  return format === "json" ? toJson(data) : view.text(data as never);
}
