/**
 * bin/ckpt starts the CLI from its startup snapshot when the snapshot was built by the node it would
 * run, and from dist/cli/main.js otherwise; both must be the same program.
 */
import { spawnSync } from "node:child_process";
import { cpSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ensureCliBuilt, REPO } from "../support/ckpt-cli.js";

const SAMPLE = join(REPO, "samples/counter-crio.tar");
const IMAGES = join(REPO, "samples/busybox-loop");
const work = mkdtempSync(join(tmpdir(), "ckpt-launcher-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

function run(argv: string[], env: Record<string, string> = {}) {
  const r = spawnSync(argv[0]!, argv.slice(1), { cwd: work, encoding: "utf8", env: { ...process.env, NO_COLOR: "1", ...env } });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** A copy of the package whose blob claims another node built it: bin/ckpt must not load it. */
function copyWithForeignBlob(): string {
  const dir = join(work, "pkg");
  cpSync(join(REPO, "bin"), join(dir, "bin"), { recursive: true });
  cpSync(join(REPO, "dist/cli"), join(dir, "dist/cli"), { recursive: true });
  cpSync(join(REPO, "package.json"), join(dir, "package.json"));
  symlinkSync(join(REPO, "node_modules"), join(dir, "node_modules"));
  writeFileSync(join(dir, "dist/cli/ckpt.blob.node"), "/some/other/node\n");
  // Not a snapshot at all: node would refuse it, so passing means it was never handed to node.
  writeFileSync(join(dir, "dist/cli/ckpt.blob"), "not a snapshot");
  return dir;
}

describe("bin/ckpt", () => {
  beforeAll(() => ensureCliBuilt());

  const cases: Array<[string, string[]]> = [
    ["show --print-stats", ["show", SAMPLE, "--print-stats"]],
    ["inspect --all --format json", ["inspect", SAMPLE, "--all", "--format", "json"]],
    ["memparse -s", ["memparse", SAMPLE, "-s", "RANDOM_1432_KEY"]],
    ["crit x ps", ["crit", "x", IMAGES, "ps"]],
    ["--version", ["--version"]],
    ["an error", ["show", join(work, "missing.tar")]],
  ];

  it.each(cases)("%s: the snapshot run prints what bin/ckpt.js prints", (_name, args) => {
    const viaSnapshot = run([join(REPO, "bin/ckpt"), ...args]);
    const plain = run([process.execPath, join(REPO, "bin/ckpt.js"), ...args]);
    expect(viaSnapshot).toEqual(plain);
    expect(viaSnapshot.stdout.length + viaSnapshot.stderr.length).toBeGreaterThan(0);
  });

  it.each(["show", "inspect", "memparse", "list"])("starts %s from the snapshot that this build made", (cmd) => {
    // sh -x shows the command the launcher execs.
    const r = run(["sh", "-x", join(REPO, "bin/ckpt"), cmd, "--help"]);
    expect(r.status).toBe(0);
    expect(r.stderr).toMatch(new RegExp(`exec \\S*node --snapshot-blob \\S*/dist/cli/ckpt\\.blob -- ${cmd} --help`));
    expect(r.stdout).toContain(`Usage: ckpt ${cmd}`);
  });

  it.each([["crit", "--help"], ["node", "--help"], ["--version"]])("runs %s without the snapshot", (...args) => {
    const r = run(["sh", "-x", join(REPO, "bin/ckpt"), ...args]);
    expect(r.status).toBe(0);
    expect(r.stderr).not.toContain("--snapshot-blob");
    expect(r.stderr).toContain(`bin/ckpt.js ${args.join(" ")}`);
  });

  // Node warns when it cannot read NODE_EXTRA_CA_CERTS, which tells whether it read the variable.
  const missingCerts = { NODE_EXTRA_CA_CERTS: "/nonexistent/extra-ca.pem" };
  it.each([
    ["show", SAMPLE],
    ["crit", "x", IMAGES, "ps"],
  ])("starts %s without reading NODE_EXTRA_CA_CERTS (it opens no TLS connection)", (...args) => {
    const r = run([join(REPO, "bin/ckpt"), ...args], missingCerts);
    expect(r.status).toBe(0);
    expect(r.stderr).toBe("");
    expect(r.stdout.length).toBeGreaterThan(0);
  });

  it("keeps NODE_EXTRA_CA_CERTS for the commands that talk to registries and nodes", () => {
    const r = run([join(REPO, "bin/ckpt"), "image", "--help"], missingCerts);
    expect(r.status).toBe(0);
    expect(r.stderr).toContain("/nonexistent/extra-ca.pem");
  });

  it("uses the snapshot only when this node built it", () => {
    const pkg = copyWithForeignBlob();
    const r = run([join(pkg, "bin/ckpt"), "show", SAMPLE]);
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    expect(r.stdout).toContain("counter");
    expect(r.stdout).toContain("CRI-O");
    const traced = run(["sh", "-x", join(pkg, "bin/ckpt"), "show", "--help"]);
    expect(traced.stderr).not.toContain("--snapshot-blob");
    expect(traced.stderr).toContain("bin/ckpt.js show --help");
  });
});
