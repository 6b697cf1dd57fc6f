// Compiles the TypeScript to dist/ and bundles the .proto schemas as JSON beside the compiled codec,
// so that a one-file `ckpt crit decode` does not parse ~80 schema files at every start.
import { execFileSync } from "node:child_process";
import { cpSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import protobuf from "protobufjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
execFileSync(join(root, "node_modules/.bin/tsc"), ["-p", root], { stdio: "inherit" });

const srcSchema = join(root, "src/criu-images/schema");
const outSchema = join(root, "dist/src/criu-images/schema");
mkdirSync(outSchema, { recursive: true });
cpSync(srcSchema, outSchema, { recursive: true, filter: (p) => !p.endsWith("schema.json") });

const files = readFileSync(join(srcSchema, "index.txt"), "utf8")
  .split("\n")
  .map((l) => l.trim())
  .filter((l) => l && !l.startsWith("#"));
const schemaRoot = new protobuf.Root();
schemaRoot.resolvePath = (_origin, target) => join(srcSchema, target.replace(/^.*\//, ""));
schemaRoot.loadSync(files.map((f) => join(srcSchema, f)), { keepCase: true });
schemaRoot.resolveAll();
writeFileSync(join(outSchema, "schema.json"), JSON.stringify(schemaRoot.toJSON({ keepComments: false })));
writeFileSync(join(root, "dist/.build-stamp"), new Date().toISOString() + "\n");
