/**
 * Pod checkpoints through the node agent's API on the real stack: a PodCheckpoint object applied
 * while the pod runs, its status as it goes, a Pod with spec.restoreFrom, and the ways it must fail
 * (another spec, a replaced pod, a deadline, an agent killed mid-checkpoint).
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { capturedWhileAllFrozen, parsePodCheckpointManifest, POD_CHECKPOINT_MANIFEST } from "../../src/checkpoint/pod-checkpoint-manifest.js";
import { haveCheckpointctl } from "../support/checkpointctl.js";
import { expectCountContinued } from "../support/count-continued.js";
import { haveNodeStack, makeNodeEnv, type NodeEnv, type RunningAgent } from "../support/node-agent.js";
import { talkPod } from "../support/test-pods.js";
import { waitFor } from "../support/wait-for.js";

const stack = haveNodeStack() && haveCheckpointctl();

const podCheckpoint = (name: string, pod: string, extra: Record<string, unknown> = {}) =>
  JSON.stringify({ apiVersion: "node.k8s.io/v1alpha1", kind: "PodCheckpoint", metadata: { name, namespace: "default" }, spec: { sourcePod: { name: pod }, ...extra } });

const ready = (o: any) => o.status?.conditions?.find((c: any) => c.type === "Ready") ?? {};
/** The numbers of `WORD N` lines: of a container's log as the API gives it, or (cri) in CRI format as archived. */
const numbers = (log: string, word: string, cri = false) => [...log.matchAll(new RegExp(`${cri ? " F " : "^"}${word} (\\d+)$`, "gm"))].map((m) => Number(m[1]));

describe.skipIf(!stack)("PodCheckpoint objects and restoreFrom on the runc node", () => {
  let env: NodeEnv;
  let agent: RunningAgent;
  const json = async (method: string, path: string, body?: string, want = 200) => {
    const r = await agent.call(method, path, { cert: env.alice }, body);
    expect(r.status, `${method} ${path}: ${r.body}`).toBe(want);
    return JSON.parse(r.body);
  };
  const log = async (pod: string, container: string) => (await agent.call("GET", `/containerLogs/default/${pod}/${container}`, { cert: env.alice })).body;

  beforeAll(async () => {
    env = await makeNodeEnv(mkdtempSync(join(tmpdir(), "ckpt-podapi-")), { extraArgs: ["--pod-checkpoint-timeout", "60"] });
    agent = await env.start();
    await json("POST", "/pods", talkPod("talk", env.image), 201);
    await waitFor("the client to get 5 answers", async () => (numbers(await log("talk", "client"), "got ack").length >= 5 ? true : undefined));
  });

  afterAll(async () => {
    if (!env) return;
    env.criuMode(undefined);
    await env.cleanup();
  });

  let template: any;
  let location: string;

  it("checkpoints the running pod through a PodCheckpoint: Pending → CheckpointInProgress → CheckpointCompleted", async () => {
    const created = await json("POST", "/podcheckpoints", podCheckpoint("talk-1", "talk"), 201);
    expect(ready(created)).toMatchObject({ status: "Unknown", reason: "Pending" });
    const seen = new Set<string>([ready(created).reason]);
    let o: any;
    await waitFor("the checkpoint to end", async () => {
      o = await json("GET", "/podcheckpoints/default/talk-1");
      seen.add(ready(o).reason);
      return ["CheckpointCompleted", "CheckpointFailed"].includes(ready(o).reason) ? true : undefined;
    }, 60_000);
    expect(ready(o), JSON.stringify(o.status)).toMatchObject({ status: "True", reason: "CheckpointCompleted" });
    expect(seen).toContain("CheckpointInProgress");
    const pod = (await json("GET", "/pods")).items.find((p: any) => p.metadata.name === "talk");
    expect(o.status).toMatchObject({ nodeName: "test-node", sourcePodUID: pod.metadata.uid, checkpointedContainers: [{ name: "server" }, { name: "client" }, { name: "counter" }] });
    location = o.status.checkpointLocation.nodeLocal.path;
    expect(location).toBe(`checkpoint-${o.metadata.uid}`);
    template = o.status.checkpointedPodTemplate;
    for (const c of template.spec.containers) expect(c.image).toMatch(/@sha256:[0-9a-f]{64}$/);
    const dir = join(env.dir, "pod-checkpoints", location);
    expect(readdirSync(dir).sort()).toEqual(["client.tar", "counter.tar", POD_CHECKPOINT_MANIFEST, "server.tar"]);
    const manifest = parsePodCheckpointManifest(readFileSync(join(dir, POD_CHECKPOINT_MANIFEST), "utf8"), "manifest");
    // Measured, not assumed: every container was captured inside the window all were frozen in.
    expect(capturedWhileAllFrozen(manifest)).toBe(true);
    // The source runs on.
    const before = numbers(await log("talk", "counter"), "count").length;
    await waitFor("the source counter to go on", async () => (numbers(await log("talk", "counter"), "count").length > before + 3 ? true : undefined));
  });

  it("refuses a restore Pod whose spec is not the checkpointed template, naming the field", async () => {
    const spec = { ...template.spec, restoreFrom: "talk-1", containers: template.spec.containers.map((c: any, i: number) => (i === 2 ? { ...c, image: env.image } : c)) };
    const r = await agent.call("POST", "/pods", { cert: env.alice }, JSON.stringify({ apiVersion: "v1", kind: "Pod", metadata: { name: "talk-bad", namespace: "default" }, spec }));
    expect(r.status).toBe(400);
    expect(r.body).toMatch(/^spec\.restoreFrom: the Pod's spec must equal podcheckpoint default\/talk-1's checkpointed template: spec\.containers\[2\]\.image: /);
    expect((await json("GET", "/pods")).items.map((p: any) => p.metadata.name)).toEqual(["talk"]);
  });

  it("restores a Pod with restoreFrom: the conversation and the count go on with no gap and no repeat", async () => {
    const restored = await json(
      "POST",
      "/pods",
      JSON.stringify({ apiVersion: "v1", kind: "Pod", metadata: { name: "talk-2", namespace: "default", labels: template.metadata.labels }, spec: { ...template.spec, restoreFrom: "talk-1" } }),
      201,
    );
    expect(restored.status.phase).toBe("Running");
    await waitFor("the restored client to get 10 more answers", async () => (numbers(await log("talk-2", "client"), "got ack").length >= 15 ? true : undefined), 30_000);
    // The restored logs begin with the checkpoint's: one unbroken sequence across the restore.
    for (const [container, word] of [["client", "sent"], ["client", "got ack"], ["server", "recv"]] as const) {
      const ns = numbers(await log("talk-2", container), word);
      ns.forEach((n, i) => expect(n, `${container} ${word} #${i}`).toBe(i + 1));
    }
    const archived = numbers(readFileSync(join(env.dir, "pod-checkpoints", location, "counter.tar")).toString("latin1"), "count", true);
    expectCountContinued(numbers(await log("talk-2", "counter"), "count"), archived);
  });

  it("a sourcePod.uid that is not the pod's ends SourcePodReplaced, with nothing on disk", async () => {
    await json("POST", "/podcheckpoints", podCheckpoint("talk-uid", "talk", { sourcePod: { name: "talk", uid: "00000000-0000-0000-0000-000000000000" } }), 201);
    let o: any;
    await waitFor("the object to end", async () => ((o = await json("GET", "/podcheckpoints/default/talk-uid")), ready(o).reason !== "Pending" ? true : undefined));
    expect(ready(o)).toMatchObject({ status: "False", reason: "SourcePodReplaced" });
    expect(existsSync(join(env.dir, "pod-checkpoints", `checkpoint-${o.metadata.uid}`))).toBe(false);
  });

  it("a deadline ends CheckpointFailed with the pod running and nothing left on disk", async () => {
    env.criuMode("slow");
    try {
      await json("POST", "/podcheckpoints", podCheckpoint("talk-late", "talk", { timeoutSeconds: 2 }), 201);
      let o: any;
      await waitFor("the object to fail", async () => ((o = await json("GET", "/podcheckpoints/default/talk-late")), ["CheckpointFailed", "CheckpointCompleted"].includes(ready(o).reason) ? true : undefined), 30_000);
      expect(ready(o)).toMatchObject({ status: "False", reason: "CheckpointFailed" });
      expect(ready(o).message).toMatch(/timed out|deadline/);
      expect(existsSync(join(env.dir, "pod-checkpoints", `checkpoint-${o.metadata.uid}`))).toBe(false);
    } finally {
      env.criuMode(undefined);
    }
    const pod = (await json("GET", "/pods")).items.find((p: any) => p.metadata.name === "talk");
    expect(pod.status.containerStatuses.map((s: any) => [s.name, Object.keys(s.state)[0]])).toEqual([["server", "running"], ["client", "running"], ["counter", "running"]]);
    const before = numbers(await log("talk", "counter"), "count").length;
    await waitFor("the counter to go on (not paused)", async () => (numbers(await log("talk", "counter"), "count").length > before + 3 ? true : undefined));
  });

  it("an agent killed mid-checkpoint: on restart the object ends CheckpointFailed, its files gone, the pod running", async () => {
    env.criuMode("slow");
    let uid: string;
    try {
      uid = (await json("POST", "/podcheckpoints", podCheckpoint("talk-cut", "talk", { timeoutSeconds: 60 }), 201)).metadata.uid;
      await waitFor("the checkpoint to be in progress", async () => (ready(await json("GET", "/podcheckpoints/default/talk-cut")).reason === "CheckpointInProgress" ? true : undefined));
      await new Promise((r) => setTimeout(r, 500));
      await agent.kill9();
    } finally {
      env.criuMode(undefined);
    }
    agent = await env.start();
    const o = await json("GET", "/podcheckpoints/default/talk-cut");
    expect(ready(o)).toMatchObject({ status: "False", reason: "CheckpointFailed" });
    expect(ready(o).message).toMatch(/restarted during the checkpoint/);
    expect(existsSync(join(env.dir, "pod-checkpoints", `checkpoint-${uid!}`))).toBe(false);
    const before = numbers(await log("talk", "counter"), "count").length;
    await waitFor("the counter to go on (resumed)", async () => (numbers(await log("talk", "counter"), "count").length > before + 3 ? true : undefined));
  });
});
