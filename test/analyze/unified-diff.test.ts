/**
 * ckpt diff's unified diffs of small text files against GNU diff -u: the same hunks, line for line,
 * for edits made at random (a seeded generator, so a failure can be replayed) to texts whose lines
 * are all different (so that the shortest edit, and thus the output, is one), with and without a
 * newline at the end.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { unifiedDiff } from "../../src/analyze/diff/unified-diff.js";

const haveGnuDiff = spawnSync("diff", ["--version"], { encoding: "utf8" }).stdout?.includes("GNU diffutils") ?? false;

/** Park-Miller: the same sequence for the same seed. */
function random(seed: number): () => number {
  let s = seed;
  return () => (s = (s * 48271) % 0x7fffffff) / 0x7fffffff;
}

function edited(lines: string[], rnd: () => number, round: number): string[] {
  const out: string[] = [];
  let fresh = 0;
  for (const line of lines) {
    const r = rnd();
    if (r < 0.08) continue; // deleted
    if (r < 0.16) out.push(`changed ${round}.${fresh++}`);
    else out.push(line);
    if (rnd() < 0.06) out.push(`inserted ${round}.${fresh++}`);
  }
  return out;
}

describe.runIf(haveGnuDiff)("unified diffs against GNU diff -u", () => {
  const tmp = mkdtempSync(join(tmpdir(), "ckpt-udiff-"));
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));

  const gnu = (a: string, b: string): string[] => {
    writeFileSync(join(tmp, "a"), a);
    writeFileSync(join(tmp, "b"), b);
    const r = spawnSync("diff", ["-u", join(tmp, "a"), join(tmp, "b")], { encoding: "utf8" });
    return r.stdout.split("\n").slice(2, -1);
  };

  it("agrees on 200 random edits of texts of 0 to 120 lines", () => {
    const rnd = random(20240611);
    for (let round = 0; round < 200; round++) {
      const n = Math.floor(rnd() * 121);
      const a = Array.from({ length: n }, (_, i) => `line ${i}`);
      const b = edited(a, rnd, round);
      const aText = a.join("\n") + (n && rnd() < 0.8 ? "\n" : "");
      const bText = b.join("\n") + (b.length && rnd() < 0.8 ? "\n" : "");
      expect(unifiedDiff(aText, bText), `round ${round}`).toEqual(gnu(aText, bText));
    }
  });

  it("has no hunk for equal texts, and one for a last line that only gained its newline", () => {
    expect(unifiedDiff("x\ny\n", "x\ny\n")).toEqual([]);
    expect(unifiedDiff("x\ny", "x\ny\n")).toEqual(gnu("x\ny", "x\ny\n"));
  });
});
