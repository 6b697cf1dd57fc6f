/** The analysis commands read a checkpoint image as they read the archive it was built from. */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ensureCliBuilt, expectOneLineError, REPO, runCkpt } from "../support/ckpt-cli.js";

const SAMPLE = join(REPO, "samples/counter-crio.tar");
const work = mkdtempSync(join(tmpdir(), "ckpt-image-args-"));
const IMAGE = `oci:${work}/layout:counter`;
afterAll(() => rmSync(work, { recursive: true, force: true }));

const withoutPath = (json: string) => (JSON.parse(json) as Array<Record<string, unknown>>).map(({ path: _p, ...rest }) => rest);

describe("checkpoint images as arguments", () => {
  beforeAll(() => {
    ensureCliBuilt();
    const built = runCkpt(["image", "build", SAMPLE, IMAGE]);
    expect(built.status, built.stderr).toBe(0);
  });

  it("show: the same row from the image as from the archive", () => {
    const fromImage = runCkpt(["show", IMAGE, "--format", "json"]);
    expect(fromImage.status, fromImage.stderr).toBe(0);
    expect(withoutPath(fromImage.stdout)).toEqual(withoutPath(runCkpt(["show", SAMPLE, "--format", "json"]).stdout));
  });

  it("inspect --all and memparse: the same processes and the secret", () => {
    const fromImage = runCkpt(["inspect", IMAGE, "--all", "--format", "json"]);
    expect(fromImage.status, fromImage.stderr).toBe(0);
    const strip = (s: string) => s.replaceAll(SAMPLE, "X").replace(/"[^"]*\/blobs\/sha256\/[0-9a-f]+"/g, '"X"');
    expect(strip(fromImage.stdout)).toEqual(strip(runCkpt(["inspect", SAMPLE, "--all", "--format", "json"]).stdout));
    const found = runCkpt(["memparse", IMAGE, "-s", "RANDOM_1432_KEY", "--format", "json"]);
    expect(found.status, found.stderr).toBe(0);
    expect(found.stdout).toContain("RANDOM_1432_KEY");
  });

  it("a reference to no image is one error line", () => {
    expectOneLineError(runCkpt(["show", `oci:${work}/layout:missing`]), "missing");
  });
});
