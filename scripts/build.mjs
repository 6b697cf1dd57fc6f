// Builds dist/: the TypeScript compiled file by file (dist/src, for library users), the CLI bundled
// into a few files (dist/cli, so that a one-image `ckpt crit decode` loads little), and the schema
// compiled from the .proto files into flat tables beside both. dist/cli is built aside and swapped
// in whole, so that a ckpt started during a build (a container shim, a test) finds one build or the
// other, never half of one.
import { execFileSync } from "node:child_process";
import { cpSync, existsSync, mkdirSync, readdirSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const dist = join(root, "dist");
const cli = join(dist, "cli");
const next = join(dist, `cli.next-${process.pid}`);
// What an interrupted or failed build left.
for (const name of existsSync(dist) ? readdirSync(dist) : []) {
  if (/^cli\.(next|old)-\d+$/.test(name)) rmSync(join(dist, name), { recursive: true, force: true });
}
execFileSync(join(root, "node_modules/.bin/tsc"), ["-p", root], { stdio: "inherit" });

await build({
  // The scan threads' entry sits beside main.js, where src/analyze/scan/scan-pool.ts looks for it.
  // The container shim has an entry of its own: it starts with each container, and must start fast.
  entryPoints: { main: join(root, "src/cli/main.ts"), "scan-worker": join(root, "src/analyze/scan/scan-worker.ts"), shim: join(root, "src/node/shim/shim-main.ts") },
  outdir: next,
  bundle: true,
  splitting: true,
  format: "esm",
  platform: "node",
  target: "node20",
  // protobufjs is only for reading .proto files from source; the build ships compiled tables.
  external: ["protobufjs"],
  banner: { js: "import { createRequire as __ckptCreateRequire } from 'node:module'; const require = __ckptCreateRequire(import.meta.url);" },
  minify: true,
  keepNames: true,
  logLevel: "warning",
});

const { parseSchemaFiles, TABLES_FILE } = await import(join(dist, "src/criu-images/schema-registry.js"));
const srcSchema = join(root, "src/criu-images/schema");
const tables = JSON.stringify(parseSchemaFiles(srcSchema));
for (const out of [join(dist, "src/criu-images/schema"), join(next, "schema")]) {
  mkdirSync(out, { recursive: true });
  cpSync(srcSchema, out, { recursive: true });
  writeFileSync(join(out, TABLES_FILE), tables);
}

// The startup snapshot that bin/ckpt starts from: the same CLI as one CommonJS file, run once by
// `node --build-snapshot` with every command loaded and the schema built (src/cli/snapshot-entry.ts).
// A blob only loads in the Node binary that wrote it, so that binary's path is written beside it
// (bin/ckpt compares it, and the binary's mtime with the blob's, before using the blob). No blob
// (e.g. a Node without snapshot support) is not an error: bin/ckpt then starts dist/cli/main.js.
await build({
  entryPoints: [join(root, "src/cli/snapshot-entry.ts")],
  outfile: join(next, "snapshot.cjs"),
  bundle: true,
  format: "cjs",
  platform: "node",
  target: "node20",
  external: ["protobufjs"],
  // Module URLs are resolved where the snapshot is built; dist/ is not moved after a build.
  define: { "import.meta.url": "__ckptModuleUrl" },
  banner: { js: 'var __ckptModuleUrl = require("node:url").pathToFileURL(__filename).href;' },
  minify: true,
  keepNames: true,
  logLevel: "warning",
});

const old = join(dist, `cli.old-${process.pid}`);
if (existsSync(cli)) renameSync(cli, old);
renameSync(next, cli);
rmSync(old, { recursive: true, force: true });

// The blob is made in place (it records where its modules are) and renamed when complete.
const blob = join(cli, "ckpt.blob");
try {
  execFileSync(process.execPath, ["--snapshot-blob", `${blob}.tmp`, "--build-snapshot", join(cli, "snapshot.cjs")], {
    cwd: cli,
    stdio: ["ignore", "ignore", "pipe"],
  });
  writeFileSync(join(cli, "ckpt.blob.node"), process.execPath + "\n");
  renameSync(`${blob}.tmp`, blob);
} catch (err) {
  rmSync(`${blob}.tmp`, { force: true });
  process.stderr.write(`build: no startup snapshot (bin/ckpt will start without it): ${String(err.stderr ?? err.message).trim().split("\n").pop()}\n`);
}

writeFileSync(join(dist, ".build-stamp"), new Date().toISOString() + "\n");
