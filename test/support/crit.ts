/**
 * The real crit 4.2.1 as a test oracle. Jobs run in one Python process through crit-batch.py, which
 * calls crit's own functions, so the output is what the crit command prints.
 */
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const PYCRIU = process.env.CKPT_PYCRIU ?? "/opt/ckpt-tools/sid-root/usr/lib/python3/dist-packages";
const PYTHON = "/usr/bin/python3";

export function haveCrit(): boolean {
  return existsSync(PYTHON) && existsSync(join(PYCRIU, "crit"));
}

export type CritJob =
  | { op: "decode"; in: string; pretty?: boolean; nopl?: boolean }
  | { op: "show"; in: string; nopl?: boolean }
  | { op: "info"; in: string }
  | { op: "x"; dir: string; what: "ps" | "fds" | "mems" | "rss" };

export interface CritResult {
  ok: boolean;
  /** What crit wrote (bytes as latin1-safe Buffer). */
  output: Buffer;
  error?: string;
}

export function runCrit(jobs: CritJob[]): CritResult[] {
  const work = mkdtempSync(join(tmpdir(), "ckpt-crit-"));
  try {
    const withOut = jobs.map((j, i) => ({ ...j, out: join(work, `out-${i}`) }));
    writeFileSync(join(work, "jobs.json"), JSON.stringify(withOut));
    execFileSync(PYTHON, [join(dirname(fileURLToPath(import.meta.url)), "crit-batch.py"), join(work, "jobs.json")], {
      env: { ...process.env, PYTHONPATH: PYCRIU },
      stdio: ["ignore", "ignore", "pipe"],
      maxBuffer: 64 << 20,
    });
    return withOut.map((j) =>
      existsSync(j.out + ".err")
        ? { ok: false, output: Buffer.alloc(0), error: readFileSync(j.out + ".err", "utf8") }
        : { ok: true, output: readFileSync(j.out) },
    );
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
