/** The real CRIU dumps shipped in ../shared/fixtures (facts in its README). */
import { existsSync } from "node:fs";
import { join, resolve } from "node:path";

export const FIXTURES = resolve(process.env.CKPT_FIXTURES ?? join(import.meta.dirname, "../../../shared/fixtures"));

export const FIXTURE_DIRS = {
  runcCounter: join(FIXTURES, "runc-counter/checkpoint"),
  pythonProc: join(FIXTURES, "python-proc/checkpoint"),
  unshareMix: join(FIXTURES, "unshare-mix/checkpoint"),
};

export function haveFixtures(): boolean {
  return existsSync(FIXTURE_DIRS.unshareMix);
}
