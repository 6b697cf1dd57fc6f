/**
 * The node agent on containerd 2.1 with sealed archives: `ckpt node serve --runtime-endpoint …
 * --seal-recipient … --seal-identity …` checkpoints the counter pod into a sealed archive through
 * CRI CheckpointContainer, and restores a new pod from that sealed archive: the archive is decrypted
 * as it is read into the restore layout containerd takes, and the count goes on from the checkpoint.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AGE_MAGIC } from "../../src/checkpoint/seal/age-format.js";
import { runCkpt } from "../support/ckpt-cli.js";
import { expectCountContinued } from "../support/count-continued.js";
import { cniNetns, haveContainerd, leftoversOf, startContainerd, type TestContainerd } from "../support/containerd.js";
import { makeNodeEnv, type NodeEnv, type RunningAgent } from "../support/node-agent.js";
import { buildBusyboxLayout, haveRegistryTools, pushLayout, startRegistry, type TestRegistry } from "../support/oci-images.js";
import { counterPod } from "../support/test-pods.js";
import { waitFor } from "../support/wait-for.js";

const ok = haveContainerd() && haveRegistryTools();

describe.skipIf(!ok)("the node agent on containerd with --seal-recipient and --seal-identity", () => {
  let cd: TestContainerd;
  let registry: TestRegistry;
  let env: NodeEnv;
  let agent: RunningAgent;
  let work = "";
  let netnsBefore: string[] = [];

  const call = (method: string, path: string, body?: string) => agent.call(method, path, { cert: env.alice }, body);
  const counts = async (name: string) => [...(await call("GET", `/containerLogs/default/${name}/counter`)).body.matchAll(/^count (\d+)$/gm)].map((m) => Number(m[1]));
  const running = (name: string) =>
    waitFor(`${name} running`, async () => {
      const list = JSON.parse((await call("GET", "/pods")).body) as { items: Array<{ metadata: { name: string }; status: { phase: string } }> };
      return list.items.find((p) => p.metadata.name === name && p.status.phase === "Running");
    });

  beforeAll(async () => {
    netnsBefore = cniNetns();
    cd = await startContainerd();
    registry = await startRegistry();
    work = mkdtempSync(join(tmpdir(), "ckpt-cri-sealed-"));
    await buildBusyboxLayout(join(work, "layout"), { tag: "latest" });
    const image = await pushLayout(join(work, "layout"), "latest", registry, "library/busybox");
    const identity = join(work, "node.key");
    const recipient = runCkpt(["seal", "keygen", "-o", identity]).stdout.trim();
    env = await makeNodeEnv(mkdtempSync(join(tmpdir(), "ckpt-cri-sealed-node-")), {
      insecureRegistries: [registry.host],
      extraArgs: ["--runtime-endpoint", cd.endpoint, "--cgroup-root", cd.cgroupParent, "--seal-recipient", recipient, "--seal-identity", identity],
    });
    agent = await env.start();
    const applied = await call("POST", "/pods", counterPod("counter", image));
    expect(applied.status, applied.body).toBe(201);
    await running("counter");
    await waitFor("the counter to count", async () => ((await counts("counter")).length > 10 ? true : undefined));
  }, 180_000);

  afterAll(async () => {
    const list = JSON.parse((await call("GET", "/pods").catch(() => ({ body: '{"items":[]}' }))).body) as { items: Array<{ metadata: { name: string } }> };
    for (const p of list.items) await call("DELETE", `/pods/default/${p.metadata.name}`).catch(() => undefined);
    await env?.cleanup();
    await cd?.cleanup();
    await registry?.stop();
    if (work) rmSync(work, { recursive: true, force: true });
    if (cd) expect(leftoversOf(cd, netnsBefore)).toEqual([]);
  }, 120_000);

  it("checkpoints into a sealed archive and restores a pod from it: the count goes on from the checkpoint", async () => {
    const r = await call("POST", "/checkpoint/default/counter/counter");
    expect(r.status, r.body).toBe(200);
    const sealed = (JSON.parse(r.body) as { items: string[] }).items[0]!;
    expect(sealed).toMatch(/\.tar\.age$/);
    expect(readdirSync(env.checkpointsDir)).toEqual([basename(sealed)]);
    expect(readFileSync(sealed).subarray(0, AGE_MAGIC.length).toString()).toBe(AGE_MAGIC);

    const restore = await call("POST", "/restore", JSON.stringify({ source: sealed, name: "unsealed" }));
    expect(restore.status, restore.body).toBe(201);
    await running("unsealed");
    // The log the checkpoint holds, read from a copy the test opens itself.
    const opened = join(work, "opened.tar");
    expect(runCkpt(["unseal", sealed, "-i", join(work, "node.key"), "-o", opened]).status).toBe(0);
    const archived = [...spawnSync("tar", ["-xOf", opened, "container.log"], { encoding: "utf8" }).stdout.matchAll(/ count (\d+)$/gm)].map((m) => Number(m[1]));
    await waitFor("the restored counter to count", async () => ((await counts("unsealed")).length > archived.length + 3 ? true : undefined));
    expectCountContinued(await counts("unsealed"), archived);
    // Nothing decrypted stays in the checkpoint directory or in the agent's restore directory.
    expect(readdirSync(env.checkpointsDir)).toEqual([basename(sealed)]);
    expect(readdirSync(join(env.root, "restore"))).toEqual([]);
    expect((await call("DELETE", "/pods/default/unsealed")).status).toBe(200);
  }, 120_000);
});
