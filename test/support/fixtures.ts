/**
 * Real CRIU 4.2.1 dumps, kept in the repository (test/fixtures/criu-dumps, facts in its README) so
 * that a checkout alone runs every test; CKPT_FIXTURES points elsewhere.
 */
import { existsSync } from "node:fs";
import { join, resolve } from "node:path";

export const FIXTURES = resolve(process.env.CKPT_FIXTURES ?? join(import.meta.dirname, "../fixtures/criu-dumps"));

export const FIXTURE_DIRS = {
  runcCounter: join(FIXTURES, "runc-counter/checkpoint"),
  pythonProc: join(FIXTURES, "python-proc/checkpoint"),
  unshareMix: join(FIXTURES, "unshare-mix/checkpoint"),
};

export function haveFixtures(): boolean {
  return existsSync(FIXTURE_DIRS.unshareMix);
}
