/**
 * The entry point of ckpt's startup snapshot (`node --build-snapshot`, see scripts/build.mjs): every
 * command's code is loaded and the CRIU schema is built into message types once, at build time, so a
 * run started from the snapshot (bin/ckpt) skips module loading, compiling and schema building.
 * Nothing here may capture per-run state (argv, environment, terminals): that is read inside main().
 */
import { startupSnapshot } from "node:v8";
import { allMessageTypeNames, messageType } from "../criu-images/schema-registry.js";
import { main } from "./main.js";
import { renderTable } from "./table.js";
import { showRows } from "./show-command.js";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { packageRoot } from "../node/shim/shim-command.js";
import "./inspect-command.js";
import "./memparse-command.js";
import "./list-command.js";

for (const name of allMessageTypeNames()) messageType(name);
// Compiled once here rather than on every run: the table renderer is most of a quick command's time.
renderTable(["A", "B"], [["a", "1.0 KiB"]], "warm-up");
// A whole `show` of the bundled sample, when it is there, compiles the command line parser, the
// archive reader and the metadata schemas into the snapshot too.
const sample = join(packageRoot(), "samples/counter-crio.tar");
// The snapshot is taken once the event loop is empty, so this finishes first.
if (existsSync(sample)) void showRows([sample]).catch(() => undefined);

startupSnapshot.setDeserializeMainFunction(() => {
  // A snapshot run has no script in argv (`node --snapshot-blob B ARGS…`); main expects one.
  void main([process.argv[0]!, "ckpt", ...process.argv.slice(1)]);
});
