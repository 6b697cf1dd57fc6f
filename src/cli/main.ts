/** The `ckpt` command line: builds the command tree; each command lives in its own module. */
import { Command } from "commander";
import { critCommand } from "./crit-command.js";
import { showCommand } from "./show-command.js";
import { listCommand } from "./list-command.js";
import { inspectCommand } from "./inspect-command.js";
import { memparseCommand } from "./memparse-command.js";
import { exitWithError } from "./errors.js";

export async function main(argv: string[]): Promise<void> {
  const program = new Command("ckpt")
    .description("container checkpoint/restore and checkpoint forensics")
    .version(process.env.npm_package_version ?? "0.1.0")
    .showHelpAfterError()
    .exitOverride((err) => process.exit(err.exitCode));
  program.addCommand(critCommand());
  program.addCommand(showCommand());
  program.addCommand(listCommand());
  program.addCommand(inspectCommand());
  program.addCommand(memparseCommand());
  program.command("doctor").description("check CRIU, runc and the kernel features checkpointing needs").action(async () => {
    const { doctor } = await import("./doctor-command.js");
    process.exitCode = await doctor();
  });
  try {
    await program.parseAsync(argv);
  } catch (err) {
    exitWithError(err);
  }
}
