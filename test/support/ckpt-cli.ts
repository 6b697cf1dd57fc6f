/**
 * Running the built CLI as a user would (bin/ckpt: the startup snapshot when it fits this node, else
 * bin/ckpt.js → dist/cli), and checking its failure contract: exit
 * code 1, exactly one stderr line "ckpt: …", no stack trace.
 */
import { execFileSync, spawn, spawnSync } from "node:child_process";
import { existsSync, readdirSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import { expect } from "vitest";

export const REPO = resolve(import.meta.dirname, "../..");
const STAMP = join(REPO, "dist/.build-stamp");

function newestMtime(dir: string): number {
  let newest = 0;
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    const st = statSync(p);
    newest = Math.max(newest, st.isDirectory() ? newestMtime(p) : st.mtimeMs);
  }
  return newest;
}

/** Builds dist/ (npm run build's script) when it is missing or older than src/. */
export function ensureCliBuilt(): void {
  if (existsSync(STAMP) && statSync(STAMP).mtimeMs >= newestMtime(join(REPO, "src"))) return;
  execFileSync(process.execPath, [join(REPO, "scripts/build.mjs")], { cwd: REPO, stdio: "pipe" });
}

export interface CliResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

function spawnCkpt(args: string[], input: Uint8Array | string | undefined, env: Record<string, string> = {}) {
  return spawnSync(join(REPO, "bin/ckpt"), args, {
    cwd: REPO,
    input,
    env: { ...process.env, CKPT_DEBUG: "", ...env },
    maxBuffer: 64 << 20,
  });
}

/** `env` is added to this process's environment for the run. */
export function runCkpt(args: string[], input?: Uint8Array, env?: Record<string, string>): CliResult {
  const r = spawnCkpt(args, input, env);
  return { status: r.status, stdout: r.stdout.toString("utf8"), stderr: r.stderr.toString("utf8") };
}

/**
 * The same run without blocking this process: a test that runs node agents as its children must
 * keep reading their output while the CLI talks to them.
 */
export function runCkptAsync(args: string[]): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(join(REPO, "bin/ckpt"), args, { cwd: REPO, env: { ...process.env, CKPT_DEBUG: "" }, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (c: Buffer) => (stdout += c.toString()));
    child.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
    child.on("error", reject);
    child.on("close", (status) => resolve({ status, stdout, stderr }));
  });
}

/** The same run with the output as bytes (images, exact JSON text). */
export async function ckpt(args: string[], input?: string | Buffer): Promise<{ exitCode: number; stdout: Buffer; stderr: Buffer }> {
  const r = spawnCkpt(args, input);
  return { exitCode: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/**
 * The CLI failed the way it must: exit 1, one stderr line starting "ckpt: " that names `file` (and
 * `offset N` when given), and no stack frames anywhere.
 */
export function expectOneLineError(r: CliResult, file: string, offset?: number): string {
  const what = `stderr was: ${JSON.stringify(r.stderr)}`;
  expect(r.status, what).toBe(1);
  expect(r.stderr.endsWith("\n"), what).toBe(true);
  const lines = r.stderr.slice(0, -1).split("\n");
  expect(lines, what).toHaveLength(1);
  const line = lines[0]!;
  expect(line.startsWith("ckpt: "), what).toBe(true);
  expect(line, what).toContain(file);
  expect(line, what).not.toMatch(/internal error/);
  expect(r.stderr, what).not.toMatch(/^\s{4}at /m);
  if (offset !== undefined) expect(line, what).toMatch(new RegExp(`\\boffset ${offset}\\b`));
  return line;
}
