/**
 * The `ckpt` command line. Only the command named on the command line is loaded (every command for
 * help), so that a quick command does not pay for the code of the others.
 */
import { Command } from "commander";
import { critCommand } from "./crit-command.js";
import { exitWithError } from "./errors.js";

export type CommandTable = Record<string, () => Promise<Command>>;

const COMMANDS: CommandTable = {
  // Loaded with the entry point: a one-image `ckpt crit decode` is where start-up time matters most.
  crit: async () => critCommand(),
  show: async () => (await import("./show-command.js")).showCommand(),
  inspect: async () => (await import("./inspect-command.js")).inspectCommand(),
  memparse: async () => (await import("./memparse-command.js")).memparseCommand(),
  coredump: async () => (await import("./coredump-command.js")).coredumpCommand(),
  diff: async () => (await import("./diff-command.js")).diffCommand(),
  scan: async () => (await import("./scan-command.js")).scanCommand(),
  list: async () => (await import("./list-command.js")).listCommand(),
  node: async () => (await import("./node-command.js")).nodeCommand(),
  image: async () => (await import("./image-command.js")).imageCommand(),
  migrate: async () => (await import("./migrate-command.js")).migrateCommand(),
  cri: async () => (await import("./cri-command.js")).criCommand(),
  seal: async () => (await import("./seal-command.js")).sealCommand(),
  unseal: async () => (await import("./seal-command.js")).unsealCommand(),
  report: async () => (await import("./report-command.js")).reportCommand(),
  doctor: async () =>
    new Command("doctor").description("check CRIU, runc and the kernel features checkpointing needs").action(async () => {
      const { doctor } = await import("./doctor-command.js");
      process.exitCode = await doctor();
    }),
};

export function main(argv: string[]): Promise<void> {
  return runCommands(argv, COMMANDS);
}

/** Parses argv against `commands` (only the one named is built) and runs it. */
export async function runCommands(argv: string[], commands: CommandTable): Promise<void> {
  try {
    const program = new Command("ckpt")
      .description("container checkpoint/restore and checkpoint forensics")
      .version(process.env.npm_package_version ?? "0.1.0")
      .showHelpAfterError()
      .exitOverride((err) => process.exit(err.exitCode));
    const named = argv[2];
    const wanted = named !== undefined && named in commands ? [named] : Object.keys(commands);
    for (const name of wanted) program.addCommand(await commands[name]!());
    await program.parseAsync(argv);
  } catch (err) {
    exitWithError(err);
  }
}
