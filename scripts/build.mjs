// Builds dist/: the TypeScript compiled file by file (dist/src, for library users), the CLI bundled
// into a few files (dist/cli, so that a one-image `ckpt crit decode` loads little), and the schema
// compiled from the .proto files into flat tables beside both.
import { execFileSync } from "node:child_process";
import { cpSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const dist = join(root, "dist");
rmSync(join(dist, "cli"), { recursive: true, force: true });
execFileSync(join(root, "node_modules/.bin/tsc"), ["-p", root], { stdio: "inherit" });

await build({
  entryPoints: [join(root, "src/cli/main.ts")],
  outdir: join(dist, "cli"),
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
for (const out of [join(dist, "src/criu-images/schema"), join(dist, "cli/schema")]) {
  mkdirSync(out, { recursive: true });
  cpSync(srcSchema, out, { recursive: true });
  writeFileSync(join(out, TABLES_FILE), tables);
}
writeFileSync(join(dist, ".build-stamp"), new Date().toISOString() + "\n");
