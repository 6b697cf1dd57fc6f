/**
 * The shim's own entry (dist/cli/shim.js): `node shim.js CONTAINER_DIR`. Not the CLI's, whose
 * start-up (commander, every command's options) would delay each container's start.
 */
import { runShim } from "./container-shim.js";

const dir = process.argv[2];
if (!dir) {
  process.stderr.write("usage: shim.js CONTAINER_DIR\n");
  process.exit(2);
}
process.exitCode = await runShim(dir);
