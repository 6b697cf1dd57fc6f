/**
 * Pod checkpoints on a real containerd 2.1.9 through the node agent (`ckpt node serve
 * --runtime-endpoint`): a two-container pod of counters checkpointed through a PodCheckpoint (both
 * containers paused through containerd's task API, captured by CRI CheckpointContainer while both
 * stay paused), each archive read by checkpointctl, the frozen windows and the counters' own logs
 * agreeing that nothing ran in the common window; restored through a Pod with spec.restoreFrom, both
 * counters going on from their checkpointed values. Failures (the deadline on a large container, a
 * container that is not running) end CheckpointFailed with the pod running and the directory gone.
 */
import { spawnSync } from "node:child_process";
import { appendFileSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { CriClient } from "../../src/cri/client.js";
import { ContainerdTasks } from "../../src/cri/containerd-tasks.js";
import { capturedWhileAllFrozen, commonFrozenWindow, parsePodCheckpointManifest, type PodCheckpointManifest } from "../../src/checkpoint/pod-checkpoint-manifest.js";
import { digestReference } from "../../src/node/cri/cri-pod-checkpoint.js";
import { cgroupFrozen, freezerFile, runcCheckpointRunning } from "../../src/node/cri/task-settle.js";
import { checkpointctl, haveCheckpointctl, parseTable } from "../support/checkpointctl.js";
import { haveContainerd, type TestContainerd } from "../support/containerd.js";
import { startCriNode, type CriNode } from "../support/cri-node.js";
import type { NodeEnv, RunningAgent } from "../support/node-agent.js";
import { haveRegistryTools, type TestRegistry } from "../support/oci-images.js";
import { counterPod } from "../support/test-pods.js";
import { waitFor } from "../support/wait-for.js";

const ok = haveContainerd() && haveRegistryTools() && haveCheckpointctl();

interface PodJson {
  metadata: { name: string; uid: string };
  status: { phase: string; containerStatuses: Array<{ name: string; containerID: string; ready: boolean; restartCount: number }> };
}

interface PodCheckpointJson {
  metadata: { name: string; uid: string };
  status: {
    conditions: Array<{ type: string; status: string; reason: string; message: string }>;
    checkpointLocation?: { nodeLocal: { path: string } };
    checkpointedPodTemplate?: { metadata: Record<string, unknown>; spec: Record<string, unknown> };
    checkpointedContainers?: Array<{ name: string }>;
  };
}

const podCheckpoint = (name: string, pod: string, timeoutSeconds?: number) =>
  JSON.stringify({ apiVersion: "node.k8s.io/v1alpha1", kind: "PodCheckpoint", metadata: { name, namespace: "default" }, spec: { sourcePod: { name: pod }, ...(timeoutSeconds ? { timeoutSeconds } : {}) } });

/** A pod of a counter and one other container (not restarted when it exits, with restartPolicy Never). */
const counterAnd = (name: string, image: string, other: { name: string; script: string }, restartPolicy = "Always") => `apiVersion: v1
kind: Pod
metadata:
  name: ${name}
  namespace: default
spec:
  terminationGracePeriodSeconds: 1
  restartPolicy: ${restartPolicy}
  containers:
  - name: counter
    image: ${image}
    command: ["/bin/sh", "-c", "i=0; while true; do i=$((i+1)); echo count $i; sleep 0.1; done"]
  - name: ${other.name}
    image: ${image}
    command: ["/bin/sh", "-c", "${other.script}"]
`;

/** Beside the counter, a container holding `mb` MB in its memory (a dump that takes seconds). */
const fatPod = (name: string, image: string, mb: number) =>
  counterAnd(name, image, { name: "fat", script: `x=$(head -c ${mb}000000 /dev/zero | tr '\\\\0' a); echo filled; while true; do sleep 1; done` });

/** Beside the counter, a container that exits at once and is not restarted. */
const exitedPod = (name: string, image: string) => counterAnd(name, image, { name: "once", script: "exit 0" }, "Never");

describe("containerd's image references, by digest", () => {
  it("takes the registry digest containerd reports, else pins the pod's image to the image ID", () => {
    expect(digestReference("reg:5000/busybox:latest", { imageRef: "reg:5000/busybox@sha256:" + "a".repeat(64) })).toBe("reg:5000/busybox@sha256:" + "a".repeat(64));
    expect(digestReference("docker.io/x/busybox:1", { imageRef: "sha256:" + "b".repeat(64) })).toBe("docker.io/x/busybox:1@sha256:" + "b".repeat(64));
    expect(digestReference("reg/x@sha256:" + "c".repeat(64), { imageRef: "sha256:" + "d".repeat(64) })).toBe("reg/x@sha256:" + "c".repeat(64));
  });
});

describe.skipIf(!ok)("pod checkpoints on containerd 2.1 through the CRI and containerd's task API", () => {
  let cd: TestContainerd;
  let registry: TestRegistry;
  let env: NodeEnv;
  let agent: RunningAgent;
  let cri: CriClient;
  let tasks: ContainerdTasks;
  let image: string;
  let done: PodCheckpointJson;
  let manifest: PodCheckpointManifest;
  let dir = "";

  const call = (method: string, path: string, body?: string) => agent.call(method, path, { cert: env.alice }, body);
  const pods = async (): Promise<PodJson[]> => (JSON.parse((await call("GET", "/pods")).body) as { items: PodJson[] }).items;
  const pod = async (name: string) => (await pods()).find((p) => p.metadata.name === name);
  const running = (name: string, timeoutMs?: number) =>
    waitFor(
      `${name} running`,
      async () => {
        const p = await pod(name);
        return p?.status.phase === "Running" && p.status.containerStatuses.every((c) => c.ready) ? p : undefined;
      },
      timeoutMs,
    );
  /** The container's log lines with the time the runtime took each. */
  const logLines = async (name: string, container: string) =>
    [...(await call("GET", `/containerLogs/default/${name}/${container}?timestamps=true`)).body.matchAll(/^(\S+) count (\d+)$/gm)].map((m) => ({ at: Date.parse(m[1]!), n: Number(m[2]) }));
  const counts = async (name: string, container: string) => (await logLines(name, container)).map((l) => l.n);
  const lastCount = async (name: string, container: string) => (await counts(name, container)).at(-1) ?? 0;
  const ended = (name: string, timeoutMs = 60_000) =>
    waitFor(
      `podcheckpoint ${name} to end`,
      async () => {
        const o = JSON.parse((await call("GET", `/podcheckpoints/default/${name}`)).body) as PodCheckpointJson;
        return ["CheckpointCompleted", "CheckpointFailed", "SourcePodReplaced"].includes(o.status.conditions[0]!.reason) ? o : undefined;
      },
      timeoutMs,
    );
  const podCheckpointRoot = () => join(env.dir, "pod-checkpoints");
  const containerIds = async (name: string) => Object.fromEntries((await pod(name))!.status.containerStatuses.map((c) => [c.name, c.containerID.replace("containerd://", "")]));
  const archivedCounts = (path: string) => [...spawnSync("tar", ["-xOf", path, "container.log"], { encoding: "utf8" }).stdout.matchAll(/ count (\d+)$/gm)].map((m) => Number(m[1]));

  let node: CriNode | undefined;
  beforeAll(async () => {
    node = await startCriNode("ckpt-cri-pod");
    ({ cd, cri, registry, env, agent, image } = node);
    tasks = new ContainerdTasks(cri);
    const applied = await call("POST", "/pods", counterPod("duo", image, ["first", "second"]));
    expect(applied.status, applied.body).toBe(201);
    await running("duo");
    await waitFor("both counters to count", async () => ((await lastCount("duo", "first")) > 10 && (await lastCount("duo", "second")) > 10 ? true : undefined));
  }, 180_000);

  afterAll(async () => {
    if (node) expect(await node.stop(agent)).toEqual([]);
  }, 120_000);

  it("checkpoints the pod through a PodCheckpoint: CheckpointCompleted, one containerd archive per container that checkpointctl reads, the manifest last", async () => {
    const ids = await containerIds("duo");
    const r = await call("POST", "/podcheckpoints", podCheckpoint("duo-cp", "duo"));
    expect(r.status, r.body).toBe(201);
    done = await ended("duo-cp");
    expect(done.status.conditions[0], JSON.stringify(done.status)).toMatchObject({ status: "True", reason: "CheckpointCompleted" });
    expect(done.status.checkpointedContainers).toEqual([{ name: "first" }, { name: "second" }]);
    dir = join(podCheckpointRoot(), done.status.checkpointLocation!.nodeLocal.path);
    expect(readdirSync(dir).sort()).toEqual(["first.tar", "pod-checkpoint.json", "second.tar"]);
    manifest = parsePodCheckpointManifest(readFileSync(join(dir, "pod-checkpoint.json"), "utf8"), "pod-checkpoint.json");
    expect(manifest).toMatchObject({ runtime: "containerd", nodeName: "test-node", pod: { namespace: "default", name: "duo" } });
    expect(manifest.containers.map((c) => [c.name, c.id, c.archive])).toEqual([
      ["first", ids.first, "first.tar"],
      ["second", ids.second, "second.tar"],
    ]);
    // The images as digest references, in the manifest and in the template a restore must match.
    const digest = manifest.containers[0]!.image;
    expect(digest).toMatch(new RegExp(`^${registry.host}/library/busybox@sha256:[0-9a-f]{64}$`));
    expect((done.status.checkpointedPodTemplate!.spec.containers as Array<{ image: string }>).map((c) => c.image)).toEqual([digest, digest]);
    for (const c of manifest.containers) {
      const archive = join(dir, c.archive);
      expect(c.bytes).toBe(readFileSync(archive).length);
      expect(c.sha256).toBe(spawnSync("sha256sum", [archive], { encoding: "utf8" }).stdout.split(" ")[0]);
      const show = checkpointctl(["show", archive]);
      expect(show.code, show.stderr).toBe(0);
      expect(parseTable(show.stdout)[0]).toMatchObject({ CONTAINER: c.name, ENGINE: "containerd" });
    }
    // Both run on, unpaused.
    for (const id of Object.values(ids)) expect(await tasks.status(id)).toBe("RUNNING");
    const at = await lastCount("duo", "second");
    await waitFor("the counters to go on", async () => ((await lastCount("duo", "second")) > at + 3 ? true : undefined));
  }, 120_000);

  it("kept every container frozen until the last was captured: the frozen windows overlap over every capture, and neither counter wrote a line in the common window", async () => {
    const w = commonFrozenWindow(manifest);
    expect(w.ms).toBeGreaterThan(0);
    expect(capturedWhileAllFrozen(manifest)).toBe(true);
    for (const c of manifest.containers) {
      const lines = await logLines("duo", c.name);
      const inside = lines.filter((l) => l.at > w.from && l.at < w.to);
      expect(inside, `${c.name} wrote during ${new Date(w.from).toISOString()} … ${new Date(w.to).toISOString()}`).toEqual([]);
      // It wrote right before and right after: the silence is the freeze, not an idle counter.
      const before = lines.filter((l) => l.at <= w.from).at(-1)!;
      const after = lines.find((l) => l.at >= w.to)!;
      expect(after.n).toBe(before.n + 1);
      expect(after.at - before.at).toBeGreaterThanOrEqual(w.ms);
    }
    console.log(
      "frozen windows (ms): " +
        manifest.containers.map((c) => `${c.name} ${Date.parse(c.resumedAt) - Date.parse(c.pausedAt)} (capture ${Date.parse(c.capturedAt) - Date.parse(c.captureStartedAt)})`).join(", ") +
        `; common ${w.ms}`,
    );
  });

  it("restores the pod from a Pod with spec.restoreFrom: both counters go on from their checkpointed values", async () => {
    const template = done.status.checkpointedPodTemplate!;
    const restore = { apiVersion: "v1", kind: "Pod", metadata: { ...template.metadata, name: "duo-back", namespace: "default" }, spec: { ...template.spec, restoreFrom: "duo-cp" } };
    const r = await call("POST", "/pods", JSON.stringify(restore));
    expect(r.status, r.body).toBe(201);
    await running("duo-back");
    for (const c of manifest.containers) {
      // The archive's log was copied while the container was frozen: it ends exactly where the
      // dumped process stopped, and the restored one writes the next number.
      const archived = archivedCounts(join(dir, c.archive));
      expect(archived.length).toBeGreaterThan(10);
      await waitFor(`${c.name} restored counting`, async () => ((await counts("duo-back", c.name)).length > archived.length + 3 ? true : undefined));
      const restored = await counts("duo-back", c.name);
      expect(restored.slice(0, archived.length)).toEqual(archived);
      const own = restored.slice(archived.length);
      expect(own[0]).toBe(archived.at(-1)! + 1);
      for (let i = 1; i < own.length; i++) expect(own[i]).toBe(own[i - 1]! + 1);
    }
    expect((await call("DELETE", "/pods/default/duo-back")).status).toBe(200);
  }, 120_000);

  it("refuses a restore Pod whose spec is not the template, or whose archive changed, before making anything", async () => {
    const sandboxes = async () => (await cri.listPodSandbox()).length;
    const before = await sandboxes();
    const template = done.status.checkpointedPodTemplate!;
    const changed = { apiVersion: "v1", kind: "Pod", metadata: { name: "duo-other", namespace: "default" }, spec: { ...template.spec, terminationGracePeriodSeconds: 5, restoreFrom: "duo-cp" } };
    const r = await call("POST", "/pods", JSON.stringify(changed));
    expect(r.status).toBe(400);
    expect(r.body).toMatch(/checkpointed template: spec\.terminationGracePeriodSeconds: 5, the checkpoint has 1/);

    appendFileSync(join(dir, "second.tar"), "x");
    const same = { apiVersion: "v1", kind: "Pod", metadata: { ...template.metadata, name: "duo-tampered", namespace: "default" }, spec: { ...template.spec, restoreFrom: "duo-cp" } };
    const t = await call("POST", "/pods", JSON.stringify(same));
    expect(t.status).toBe(400);
    expect(t.body).toContain(`${join(dir, "second.tar")}: ${manifest.containers[1]!.bytes + 1} bytes, pod-checkpoint.json says ${manifest.containers[1]!.bytes}`);
    expect(t.body.split("\n")).toHaveLength(1);
    expect(await sandboxes()).toBe(before);
    expect(await pod("duo-tampered")).toBeUndefined();
  });

  /** The container's cgroup freezer, read directly. */
  const frozen = async (id: string) => {
    const path = (JSON.parse((await cri.containerStatus(id, true)).info.info!) as { runtimeSpec: { linux: { cgroupsPath: string } } }).runtimeSpec.linux.cgroupsPath;
    return cgroupFrozen(freezerFile(path)!);
  };

  it("a checkpoint past its deadline (1 s, a container with 800 MB to dump): CheckpointFailed, both containers running, nothing left", async () => {
    expect((await call("POST", "/pods", fatPod("fat", image, 800))).status).toBe(201);
    await running("fat");
    await waitFor("the memory to be filled", async () => ((await call("GET", "/containerLogs/default/fat/fat")).body.includes("filled") ? true : undefined), 120_000);
    const ids = await containerIds("fat");
    const r = await call("POST", "/checkpoint/default/fat?timeout=1");
    expect(r.status).toBe(500);
    expect(r.body).toMatch(/^checkpointing of pod default\/fat failed \(CheckpointFailed: pod default\/fat: checkpoint deadline \S+ passed.* \(podcheckpoint default\/fat-[a-z0-9]+\)\)$/);
    // A container whose dump the runtime still runs at the deadline may not be resumable then (its
    // CRIU holds the processes and has thawed the cgroup to dump them), or be frozen again by that
    // CRIU when it ends: the agent settles it once runc's checkpoint of it has ended.
    await waitFor("the runtime's checkpoints to end", () => (Object.values(ids).some((id) => runcCheckpointRunning(id)) ? undefined : true), 120_000);
    await waitFor(
      "both containers running, neither cgroup frozen",
      async () => {
        for (const id of Object.values(ids)) if ((await tasks.status(id)) !== "RUNNING" || (await frozen(id))) return undefined;
        return true;
      },
      30_000,
    );
    const settled = [...agent.log().matchAll(/"msg":"container after the runtime's abandoned checkpoint","container":"(\w+)","outcome":"(\w+)"/g)];
    console.log("settled after the deadline: " + settled.map((m) => `${m[1] === ids.fat ? "fat" : "counter"} ${m[2]}`).join(", "));
    const at = await lastCount("fat", "counter");
    await waitFor("the counter to go on", async () => ((await lastCount("fat", "counter")) > at + 5 ? true : undefined), 60_000);
    await waitFor("no pod checkpoint directory", () => (readdirSync(podCheckpointRoot()).length === 1 ? true : undefined), 30_000);
    expect(readdirSync(podCheckpointRoot())).toEqual([done.status.checkpointLocation!.nodeLocal.path]);
    expect((await call("DELETE", "/pods/default/fat")).status).toBe(200);
  }, 240_000);

  it("a pod with a container that is not running: CheckpointFailed naming it, nothing paused, nothing left", async () => {
    const made = await call("POST", "/pods", exitedPod("half", image));
    expect(made.status, made.body).toBe(201);
    await waitFor("the short container to exit", async () => {
      const p = await pod("half");
      return p && p.status.containerStatuses.find((c) => c.name === "once") && !p.status.containerStatuses.find((c) => c.name === "once")!.ready ? p : undefined;
    });
    const ids = await containerIds("half");
    expect((await call("POST", "/podcheckpoints", podCheckpoint("half-cp", "half"))).status).toBe(201);
    const o = await ended("half-cp");
    expect(o.status.conditions[0]).toMatchObject({ status: "False", reason: "CheckpointFailed" });
    expect(o.status.conditions[0]!.message).toMatch(/container once is not running/);
    expect(await tasks.status(ids.counter!)).toBe("RUNNING");
    expect(readdirSync(podCheckpointRoot())).toEqual([done.status.checkpointLocation!.nodeLocal.path]);
    expect((await call("DELETE", "/pods/default/half")).status).toBe(200);
  }, 120_000);

  it("an agent restarted while a pod checkpoint held containers paused resumes them", async () => {
    const ids = await containerIds("duo");
    await agent.kill9();
    // As a pod checkpoint cut short by the crash leaves them.
    for (const id of Object.values(ids)) await tasks.pause(id);
    agent = await env.start();
    for (const id of Object.values(ids)) expect(await tasks.status(id)).toBe("RUNNING");
    const at = await lastCount("duo", "first");
    await waitFor("the counter to go on", async () => ((await lastCount("duo", "first")) > at + 3 ? true : undefined));
  }, 60_000);
});
