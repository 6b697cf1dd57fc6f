/**
 * `ckpt migrate` between two real node agents, each on a test host of its own (a network namespace),
 * with one real registry (Debian's docker-registry) on a third: the counter pod moves from A to B
 * with its memory state, its file and its log; a migration that cannot push leaves the source
 * running; `--keep` copies instead of moving.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCkpt } from "../support/ckpt-cli.js";
import { haveNodeStack, makeNodeEnv, type NodeEnv, type RunningAgent } from "../support/node-agent.js";
import { buildBusyboxLayout, haveRegistryTools, pushLayout, startRegistry, type TestRegistry } from "../support/oci-images.js";
import { makeTestHosts, type TestHosts } from "../support/test-hosts.js";
import { waitFor } from "../support/wait-for.js";
import { counterPod } from "../support/test-pods.js";

interface PodJson {
  metadata: { name: string; uid: string };
  status: { phase: string; podIP: string; containerStatuses: Array<{ name: string; containerID: string; ready: boolean }> };
}

interface MigrationJson {
  containers: string[];
  images: string[];
  steps: Array<{ step: string; detail: string; ms: number }>;
  downtime: Array<{ container: string; ms: number; last: { time: string; text: string }; first: { time: string; text: string } }>;
  downtimeNote?: string;
  targetIP?: string;
}

const stack = haveNodeStack() && haveRegistryTools() && spawnSync("sh", ["-c", "command -v nsenter"]).status === 0;


describe.skipIf(!stack)("ckpt migrate: a pod moves between two nodes with its memory state", () => {
  let hosts: TestHosts;
  let registry: TestRegistry;
  let envA: NodeEnv;
  let envB: NodeEnv;
  let a: RunningAgent;
  let b: RunningAgent;
  let image: string;

  const pods = async (agent: RunningAgent): Promise<PodJson[]> =>
    (JSON.parse((await agent.call("GET", "/pods", { cert: envA.alice })).body) as { items: PodJson[] }).items;
  const pod = async (agent: RunningAgent, name: string) => (await pods(agent)).find((p) => p.metadata.name === name);
  const running = (agent: RunningAgent, name: string) =>
    waitFor(`${name} running`, async () => {
      const p = await pod(agent, name);
      return p?.status.phase === "Running" && p.status.containerStatuses.every((c) => c.ready) ? p : undefined;
    });
  const log = async (agent: RunningAgent, name: string) => (await agent.call("GET", `/containerLogs/default/${name}/counter`, { cert: envA.alice })).body;
  const lastCount = async (agent: RunningAgent, name: string) => {
    const counts = [...(await log(agent, name)).matchAll(/^count (\d+)$/gm)];
    return counts.length ? Number(counts.at(-1)![1]) : 0;
  };
  const runcStatus = (env: NodeEnv, p: PodJson) => {
    const id = p.status.containerStatuses[0]!.containerID.replace("runc://", "");
    const r = spawnSync("runc", ["--root", join(env.root, "runc"), "state", id], { encoding: "utf8" });
    return r.status === 0 ? (JSON.parse(r.stdout) as { status: string }).status : "gone";
  };
  const migrate = (target: string, from: RunningAgent, to: RunningAgent, ...more: string[]) =>
    runCkpt([
      "migrate", target, "--from", from.url, "--to", to.url, ...more,
      "--client-certificate", envA.alice.certFile, "--client-key", envA.alice.keyFile, "--insecure-skip-tls-verify",
    ]);

  let layoutDir = "";
  beforeAll(async () => {
    hosts = makeTestHosts(["a", "b", "reg"]);
    registry = await startRegistry({ host: hosts.hosts.reg! });
    layoutDir = mkdtempSync(join(tmpdir(), "ckpt-mig-busybox-"));
    const layout = join(layoutDir, "layout");
    await buildBusyboxLayout(layout, { tag: "latest" });
    image = await pushLayout(layout, "latest", registry, "library/busybox");
    envA = await makeNodeEnv(mkdtempSync(join(tmpdir(), "ckpt-node-a-")), { host: hosts.hosts.a!, insecureRegistries: [registry.host] });
    envB = await makeNodeEnv(mkdtempSync(join(tmpdir(), "ckpt-node-b-")), { host: hosts.hosts.b!, insecureRegistries: [registry.host], authFrom: envA });
    [a, b] = await Promise.all([envA.start(), envB.start()]);
    const applied = await a.call("POST", "/pods", { cert: envA.alice }, counterPod("counter", image));
    expect(applied.status, applied.body).toBe(201);
    await running(a, "counter");
    await waitFor("the counter to count", async () => ((await lastCount(a, "counter")) > 10 ? true : undefined));
  }, 180_000);

  afterAll(async () => {
    if (layoutDir) rmSync(layoutDir, { recursive: true, force: true });
    await envB?.cleanup();
    await envA?.cleanup();
    await registry?.stop();
    hosts?.cleanup();
  }, 120_000);

  it("moves the counter pod from A to B: the count goes on from the checkpoint, file and log come along", async () => {
    const source = (await pod(a, "counter"))!;
    const r = migrate("default/counter", a, b, "--registry", registry.host, "--format", "json");
    expect(r.status, r.stderr).toBe(0);
    const result = JSON.parse(r.stdout) as MigrationJson;
    expect(result.steps.map((s) => s.step)).toEqual(["base image", "checkpoint", "push", "restore", "running", "stop source"]);
    expect(result.steps.every((s) => s.ms >= 0)).toBe(true);
    expect(result.images[0]).toMatch(new RegExp(`^${registry.host.replace(/\./g, "\\.")}/default/counter-counter@sha256:[0-9a-f]{64}$`));

    // State kept, not restarted: the target's first line is the one after the source's last.
    expect(result.downtime).toHaveLength(1);
    const d = result.downtime[0]!;
    const lastOnSource = Number(/^count (\d+)$/.exec(d.last.text)![1]);
    expect(d.first.text).toBe(`count ${lastOnSource + 1}`);
    expect(d.ms).toBeGreaterThan(0);

    // The source pod is gone from A, with its container.
    expect(await pod(a, "counter")).toBeUndefined();
    expect(runcStatus(envA, source)).toBe("gone");
    // On B: running under a new address, the file it wrote before the move, and its log from before.
    const moved = await running(b, "counter");
    expect(moved.status.podIP).toBe(result.targetIP);
    const id = moved.status.containerStatuses[0]!.containerID.replace("runc://", "");
    expect(readFileSync(join(envB.root, "containers", id, "rootfs/tmp/test-file"), "utf8")).toBe("written-by-counter\n");
    const text = await log(b, "counter");
    expect(text.startsWith("count 1\ncount 2\n")).toBe(true);
    expect(text).toContain(`count ${lastOnSource}\ncount ${lastOnSource + 1}\n`);
    await waitFor("the moved counter to go on", async () => ((await lastCount(b, "counter")) > lastOnSource + 5 ? true : undefined));

    // The checkpoint image is in the registry, under the pod's and container's name.
    const tags = (await (await fetch(`http://${registry.host}/v2/default/counter-counter/tags/list`)).json()) as { tags: string[] };
    expect(tags.tags.some((t) => t.startsWith("checkpoint-"))).toBe(true);
  }, 180_000);

  it("a migration that cannot push fails in one line and leaves the source running, unpaused", async () => {
    const before = await lastCount(b, "counter");
    const r = migrate("default/counter", b, a, "--registry", `${hosts.hosts.reg!.ip}:5999`);
    expect(r.status).not.toBe(0);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
    expect(r.stderr).toMatch(/^ckpt: migrating default\/counter failed at checkpoint: .*pushing the checkpoint image .*; the source pod runs on/);
    const p = (await pod(b, "counter"))!;
    expect(runcStatus(envB, p)).toBe("running");
    await waitFor("the counter to go on", async () => ((await lastCount(b, "counter")) > before + 5 ? true : undefined));
    expect(await pod(a, "counter")).toBeUndefined();
  }, 120_000);

  it("--keep copies: both pods run, the copy goes on from the checkpoint", async () => {
    const r = migrate("default/counter/counter", b, a, "--registry", registry.host, "--keep");
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^checkpoint +\d+\.\d\d s  default\/counter\/counter → /m);
    expect(r.stdout).toMatch(/^push +\d+\.\d\d s  /m);
    expect(r.stdout).toMatch(/^downtime +the source was kept running \(--keep\)/m);
    expect(r.stdout).not.toMatch(/^stop source/m);
    const [onA, onB] = [await running(a, "counter"), await running(b, "counter")];
    expect(runcStatus(envA, onA)).toBe("running");
    expect(runcStatus(envB, onB)).toBe("running");
    const copied = await lastCount(a, "counter");
    expect(copied).toBeGreaterThan(1);

    // Deleting the copy removes its checkpoint image from A's store (it holds the container's
    // memory); the base image stays.
    const storeNames = () =>
      readdirSync(join(envA.root, "images", "images")).map((f) => (JSON.parse(readFileSync(join(envA.root, "images", "images", f), "utf8")) as { name: string }).name);
    expect(storeNames().some((n) => n.includes("/default/counter-counter"))).toBe(true);
    expect((await a.call("DELETE", "/pods/default/counter", { cert: envA.alice })).status).toBe(200);
    expect(storeNames().some((n) => n.includes("/default/counter-counter"))).toBe(false);
    expect(storeNames().some((n) => n.includes("library/busybox"))).toBe(true);
  }, 120_000);
});
