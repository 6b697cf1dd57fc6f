/**
 * What a benchmark checks before it starts, and how it stops when it cannot run: one line naming
 * the bench and what is missing, exit status 1.
 */
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";

/** The bench's name in its messages ("bench", "bench/archive", …), set by each bench. */
let benchName = "bench";
export function setBenchName(name: string): void {
  benchName = name;
}

/** Ends the bench with a message: it cannot run, or its comparison would be void. */
export function fatal(message: string): never {
  console.error(`${benchName}: ${message}`);
  process.exit(1);
}

/** A positive integer from the environment, or `dflt` when unset. */
export function positiveInt(name: string, dflt: number): number {
  const v = process.env[name];
  if (v === undefined || v === "") return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) fatal(`${name} must be a positive integer, not ${JSON.stringify(v)}`);
  return n;
}

/** Root and the CRIU 4.2 at `criu`, whose full version is returned; else the bench ends. */
export function requireRootAndCriu42(criu: string): string {
  if (process.getuid?.() !== 0) fatal("must run as root (CRIU needs it to dump): sudo npm run bench");
  const v = spawnSync(criu, ["--version"], { encoding: "utf8", timeout: 10_000 });
  if (v.error || !/Version: 4\.2\b/.test(v.stdout ?? "")) {
    fatal(
      `CRIU 4.2 is needed at ${criu} (CKPT_CRIU overrides): ` +
        (v.error ? String(v.error.message) : `\`criu --version\` says ${JSON.stringify((v.stdout ?? "").trim().split("\n")[0])}`) +
        " (scripts/setup.sh installs it)",
    );
  }
  return /Version: (\S+)/.exec(v.stdout ?? "")?.[1] ?? "?";
}

/** What the benches that dump a workload run besides CRIU: GNU time, and the workloads' tools. */
export const DUMP_TOOLS: ReadonlyArray<readonly [string, string]> = [
  ["/usr/bin/time", "apt-get install time"],
  ["/usr/bin/python3", "the dump workloads need it"],
  ["/usr/bin/unshare", "the dump workloads need it"],
];

/** Files the bench runs, each with how to get it. */
export function requireFiles(files: ReadonlyArray<readonly [path: string, hint: string]>): void {
  for (const [path, hint] of files) if (!existsSync(path)) fatal(`${path} is missing (${hint})`);
}
