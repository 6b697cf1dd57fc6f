/**
 * A writer that is killed in the middle (run by atomicity.test.ts): it starts writing an archive,
 * says "mid" once the page data is being written, and then blocks until the test SIGKILLs it.
 */
import { writeSync } from "node:fs";
import { writeCrioArchive } from "../../../src/checkpoint/writer/index.js";

const [target, imagesDir] = process.argv.slice(2) as [string, string];
await writeCrioArchive(
  target,
  { imagesDir, config: { id: "killed", name: "killed", createdTime: new Date(0) }, spec: {}, bindMounts: [] },
  {
    onEntry(name) {
      if (!name.startsWith("checkpoint/pages-")) return;
      writeSync(1, "mid\n");
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0); // until SIGKILL
    },
  },
);
