/**
 * How the agent starts a shim: this package's own CLI (`ckpt node shim DIR`) under the running node,
 * found from this module's location so that it works from dist/, from a startup snapshot and from
 * an installed package alike.
 */
import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

export function packageRoot(from = fileURLToPath(import.meta.url)): string {
  for (let dir = dirname(from); ; dir = dirname(dir)) {
    const pkg = join(dir, "package.json");
    if (existsSync(pkg) && (JSON.parse(readFileSync(pkg, "utf8")) as { name?: string }).name === "ckpt") return dir;
    if (dirname(dir) === dir) throw new Error(`cannot find the ckpt package above ${from}`);
  }
}

/** The shim's own bundle (dist/cli/shim.js), swapped in with the CLI's by the build. */
export function shimCommand(): string[] {
  return [process.execPath, join(packageRoot(), "dist/cli/shim.js")];
}

