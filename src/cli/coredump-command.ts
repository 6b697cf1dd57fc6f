/** `ckpt coredump ARCHIVE|DIR [-p PID] [-o DIR] [--rootfs DIR]` */
import { Command } from "commander";
import { statSync } from "node:fs";
import { writeCoreDumps } from "../analyze/coredump/coredump.js";
import { byteToString } from "../analyze/units.js";
import { identityFrom, identityOption, openCheckpointArg } from "./checkpoint-arg.js";
import { UserError } from "./errors.js";
import { writeStdout } from "./io.js";

interface CoredumpOptions {
  pid?: string;
  output: string;
  rootfs?: string;
  identity?: string;
}

export function coredumpCommand(): Command {
  return new Command("coredump")
    .description("write an ELF core file (core.PID) of each process, for gdb: registers of every thread, memory, mapped files")
    .argument("<archive>", "checkpoint archive or CRIU image directory")
    .option("-p, --pid <pid>", "only this process")
    .option("-o, --output <dir>", "directory for the core files", ".")
    .option("--rootfs <dir>", "the container image's root filesystem, unpacked: program text and libraries the dump does not hold")
    .addOption(identityOption())
    .action(async (path: string, opts: CoredumpOptions) => {
      const pid = opts.pid === undefined ? undefined : Number(opts.pid);
      if (pid !== undefined && !(Number.isInteger(pid) && pid > 0)) throw new UserError(`-p wants a process ID, got "${opts.pid}"`);
      if (opts.rootfs !== undefined && !statSync(opts.rootfs, { throwIfNoEntry: false })?.isDirectory()) {
        throw new UserError(`${opts.rootfs}: --rootfs wants a directory (an unpacked image root filesystem)`);
      }
      const cp = await openCheckpointArg(path, identityFrom(opts.identity));
      try {
        const warn = (message: string) => process.stderr.write(`ckpt: warning: ${message}\n`);
        const result = await writeCoreDumps(cp, { pid, outDir: opts.output, rootfs: opts.rootfs, warn });
        for (const s of result.skipped) warn(`process ${s.pid} (${s.comm}) has no core: ${s.reason}`);
        const lines = result.cores.map((c) => `${c.path}: process ${c.pid} (${c.comm}), ${c.threads} thread${c.threads === 1 ? "" : "s"}, ${c.segments} segments, ${byteToString(c.size)}\n`);
        writeStdout(lines.join(""));
      } finally {
        cp.close();
      }
    });
}
