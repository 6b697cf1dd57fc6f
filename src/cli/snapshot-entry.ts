/**
 * The entry point of ckpt's startup snapshot (`node --build-snapshot`, see scripts/build.mjs): the
 * archive analysis commands (show, inspect, memparse, list: bin/ckpt starts only those from the
 * snapshot) are loaded and the CRIU schema is built into message types once, at build time, so such
 * a run skips module loading, compiling and schema building. The snapshot holds nothing else: every
 * byte of it is mapped on every run. Nothing here may capture per-run state (argv, environment,
 * terminals): that is read inside runCommands().
 */
import { startupSnapshot } from "node:v8";
import { allMessageTypeNames, messageType } from "../criu-images/schema-registry.js";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { packageRoot } from "../node/shim/shim-command.js";
import { inspectCommand } from "./inspect-command.js";
import { listCommand } from "./list-command.js";
import { runCommands, type CommandTable } from "./main.js";
import { memparseCommand } from "./memparse-command.js";
import { showCommand, showRows } from "./show-command.js";
import { renderTable } from "./table.js";

/** The commands bin/ckpt runs from the snapshot (its launcher lists the same names). */
const COMMANDS: CommandTable = {
  show: async () => showCommand(),
  inspect: async () => inspectCommand(),
  memparse: async () => memparseCommand(),
  list: async () => listCommand(),
};

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
  void runCommands([process.argv[0]!, "ckpt", ...process.argv.slice(1)], COMMANDS);
});
