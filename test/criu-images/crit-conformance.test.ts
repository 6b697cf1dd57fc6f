import { describe, expect, it } from "vitest";
import { checkDirAgainstCrit } from "../support/crit-conformance.js";
import { haveCrit } from "../support/crit.js";
import { FIXTURE_DIRS, haveFixtures } from "../support/fixtures.js";

describe.runIf(haveCrit() && haveFixtures())("conformance with crit 4.2.1 on the shared real dumps", () => {
  for (const [name, dir] of Object.entries(FIXTURE_DIRS)) {
    it(`${name}: every image decodes, pretty-decodes and re-encodes as crit does; x views match`, () => {
      const counts = checkDirAgainstCrit(dir);
      expect(counts.images).toBeGreaterThan(10);
      expect(counts.views).toBe(4);
    });
  }
});
