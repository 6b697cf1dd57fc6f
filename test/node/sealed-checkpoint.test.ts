/**
 * The node agent sealing its archives: `ckpt node serve --seal-recipient` on the real stack (runc,
 * CRIU) checkpoints a running pod; the response names the sealed file, no plain archive is left in
 * the checkpoint directory, and the sealed file opens with the identity into a valid checkpoint.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AGE_MAGIC } from "../../src/checkpoint/seal/age-format.js";
import { Checkpoint } from "../../src/checkpoint/checkpoint.js";
import { readIdentityFile } from "../../src/checkpoint/seal/identity-file.js";
import { expectOneLineError, runCkpt } from "../support/ckpt-cli.js";
import { haveNodeStack, makeNodeEnv, type NodeEnv, type RunningAgent } from "../support/node-agent.js";
import { counterPod } from "../support/test-pods.js";
import { waitFor } from "../support/wait-for.js";

const SEALED_NAME = /^checkpoint-counter_default-counter-\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:Z|[+-]\d\d:\d\d)\.tar\.age$/;

describe.runIf(haveNodeStack())("ckpt node serve --seal-recipient", () => {
  const keys = mkdtempSync(join(tmpdir(), "ckpt-seal-keys-"));
  const identity = join(keys, "node.key");
  let env: NodeEnv;
  let agent: RunningAgent;
  let sealedPath = "";
  let countAfterCheckpoint = 0;
  const counted = async (pod: string) => {
    const log = (await agent.call("GET", `/containerLogs/default/${pod}/counter`, { cert: env.alice })).body;
    return [...log.matchAll(/^count (\d+)$/gm)].map((m) => Number(m[1]));
  };

  beforeAll(async () => {
    const recipient = runCkpt(["seal", "keygen", "-o", identity]).stdout.trim();
    env = await makeNodeEnv(mkdtempSync(join(tmpdir(), "ckpt-node-seal-")), { extraArgs: ["--seal-recipient", recipient, "--seal-identity", identity] });
    agent = await env.start();
    const manifest = join(env.dir, "counter.yaml");
    writeFileSync(manifest, counterPod("counter", env.image));
    const applied = await agent.call("POST", "/pods", { cert: env.alice }, readFileSync(manifest, "utf8"));
    expect(applied.status, applied.body).toBeLessThan(300);
    await waitFor("pod counter running", async () => {
      const list = JSON.parse((await agent.call("GET", "/pods", { cert: env.alice })).body) as { items: Array<{ metadata: { name: string }; status: { phase: string } }> };
      return list.items.find((p) => p.metadata.name === "counter" && p.status.phase === "Running");
    });
  }, 180_000);

  afterAll(async () => {
    await env?.cleanup();
    rmSync(keys, { recursive: true, force: true });
  }, 120_000);

  it("answers with the sealed archive, leaves no plain one, and the archive opens into a valid checkpoint", async () => {
    const r = await agent.call("POST", "/checkpoint/default/counter/counter?timeout=60", { cert: env.alice });
    expect(r.status, r.body).toBe(200);
    const path = (JSON.parse(r.body) as { items: string[] }).items[0]!;
    sealedPath = path;
    // At least the count the checkpoint holds: the container counted on after it.
    countAfterCheckpoint = Math.max(...(await counted("counter")));
    expect(basename(path)).toMatch(SEALED_NAME);
    expect(readdirSync(env.checkpointsDir)).toEqual([basename(path)]);
    expect(readFileSync(path).subarray(0, AGE_MAGIC.length).toString()).toBe(AGE_MAGIC);

    // Without the key: refused; with it: the container the agent checkpointed.
    expectOneLineError(runCkpt(["show", path]), path);
    const cp = await Checkpoint.open(path, { identities: () => readIdentityFile(identity) });
    try {
      expect(cp.container()).toMatchObject({ name: "counter", pod: "counter", namespace: "default", engine: "CRI-O" });
      expect(cp.archive.has("checkpoint/inventory.img")).toBe(true);
      expect([...cp.archive.members.keys()].some((n) => /^checkpoint\/pages-\d+\.img$/.test(n))).toBe(true);
    } finally {
      cp.close();
    }
    const out = join(keys, "opened.tar");
    const unsealed = runCkpt(["unseal", path, "-i", identity, "-o", out]);
    expect(unsealed.stderr).toBe("");
    const shown = runCkpt(["show", out, "--format", "json"]);
    expect(JSON.parse(shown.stdout)).toEqual([expect.objectContaining({ container: "counter", engine: "CRI-O" })]);
    // The process tree CRIU dumped, read from the sealed file as from the opened one.
    const tree = (args: string[]) => JSON.parse(runCkpt(["inspect", "--ps-tree", "--format", "json", ...args]).stdout)[0].process_tree;
    const opened = tree([out]);
    expect(JSON.stringify(opened)).toMatch(/"command":"sh"/);
    expect(tree(["-i", identity, path])).toEqual(opened);
  });

  it("restores a pod from its sealed archive with --seal-identity: the count goes on from the checkpoint", async () => {
    expect(sealedPath).not.toBe("");
    const r = await agent.call("POST", "/restore", { cert: env.alice }, JSON.stringify({ source: sealedPath, name: "unsealed" }));
    expect(r.status, r.body).toBe(201);
    // Counts past the checkpoint's come from the restored process only.
    const counts = await waitFor("the restored counter to count past its checkpoint", async () => {
      const c = await counted("unsealed");
      return c.length && c.at(-1)! > countAfterCheckpoint + 5 ? c : undefined;
    });
    // The restored log is the container's log up to its checkpoint, then the process goes on from
    // there: one unbroken count, not a fresh start at 1.
    expect(counts[0]).toBe(1);
    expect(counts.every((n, i) => i === 0 || n === counts[i - 1]! + 1)).toBe(true);
    await agent.call("DELETE", "/pods/default/unsealed", { cert: env.alice });
  }, 120_000);

  it("refuses to start with an identity file it cannot read, in one line", () => {
    const missing = join(keys, "missing.key");
    const r = runCkpt(["node", "serve", "--root", join(keys, "root2"), "--seal-identity", missing, "--port", "0"]);
    expect(expectOneLineError(r, missing)).toMatch(/cannot read the identity file \(no such file\)/);
  });

  it("refuses to start with a recipient that is not an age key, in one line", () => {
    const r = runCkpt(["node", "serve", "--root", join(keys, "root"), "--seal-recipient", "age1notakey", "--port", "0"]);
    const line = expectOneLineError(r, "age1notakey");
    expect(line).toMatch(/not an age recipient/);
  });
});
