/** Runs the built CLI (npm test builds first) as a user would. */
import { execa } from "execa";
import { join } from "node:path";

export const CKPT = join(import.meta.dirname, "../../bin/ckpt.js");

export interface CliResult {
  exitCode: number;
  stdout: Buffer;
  stderr: Buffer;
}

export async function ckpt(args: string[], input?: string | Buffer): Promise<CliResult> {
  const r = await execa("node", [CKPT, ...args], { reject: false, input, encoding: "buffer", stripFinalNewline: false });
  return { exitCode: r.exitCode ?? -1, stdout: Buffer.from(r.stdout), stderr: Buffer.from(r.stderr) };
}
