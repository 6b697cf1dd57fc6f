/**
 * The node agent on a real CRI runtime: `ckpt node serve --runtime-endpoint` in front of a private
 * containerd 2.1.9 (test/support/containerd.ts), with runc and CRIU 4.2.1 under it and a loopback
 * registry for the images. The counter pod is made through the CRI, checkpointed through the
 * kubelet's route into an archive checkpointctl reads as containerd's, and restored into new pods
 * from the archive and from a checkpoint image; established TCP needs the pod's annotation; faults
 * leave nothing behind and the container running.
 */
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { CriClient } from "../../src/cri/client.js";
import { runCkpt } from "../support/ckpt-cli.js";
import { checkpointctl, haveCheckpointctl, parseTable } from "../support/checkpointctl.js";
import { haveContainerd, processesMentioning, type TestContainerd } from "../support/containerd.js";
import { startCriNode, type CriNode } from "../support/cri-node.js";
import type { NodeEnv, RunningAgent } from "../support/node-agent.js";
import { haveRegistryTools, type TestRegistry } from "../support/oci-images.js";
import { counterPod, SECRET } from "../support/test-pods.js";
import { expectCountContinued } from "../support/count-continued.js";
import { waitFor } from "../support/wait-for.js";

const ok = haveContainerd() && haveRegistryTools() && haveCheckpointctl();

interface PodJson {
  metadata: { name: string; uid: string };
  status: { phase: string; podIP: string; containerStatuses: Array<{ name: string; containerID: string; ready: boolean; restartCount: number }> };
}

/** A pod whose container holds an established TCP connection to itself (over 127.0.0.1). */
const tcpPod = (name: string, image: string, annotations = "") => `apiVersion: v1
kind: Pod
metadata:
  name: ${name}
  namespace: default${annotations}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: talker
    image: ${image}
    command: ["/bin/sh", "-c", "nc -l -p 9099 -e cat & sleep 0.5; while true; do echo ping; sleep 0.2; done | nc 127.0.0.1 9099"]
`;

describe.skipIf(!ok)("the node agent on containerd 2.1 through the CRI", () => {
  let cd: TestContainerd;
  let registry: TestRegistry;
  let env: NodeEnv;
  let agent: RunningAgent;
  let cri: CriClient;
  let image: string;
  let archive = "";

  const call = (method: string, path: string, body?: string) => agent.call(method, path, { cert: env.alice }, body);
  const pods = async (): Promise<PodJson[]> => (JSON.parse((await call("GET", "/pods")).body) as { items: PodJson[] }).items;
  const pod = async (name: string) => (await pods()).find((p) => p.metadata.name === name);
  const running = (name: string) =>
    waitFor(`${name} running`, async () => {
      const p = await pod(name);
      return p?.status.phase === "Running" && p.status.containerStatuses.every((c) => c.ready) ? p : undefined;
    });
  const counts = async (name: string, container = "counter") =>
    [...(await call("GET", `/containerLogs/default/${name}/${container}`)).body.matchAll(/^count (\d+)$/gm)].map((m) => Number(m[1]));
  const lastCount = async (name: string) => (await counts(name)).at(-1) ?? 0;
  /** The container's init process, from containerd's verbose status. */
  const pidOf = async (p: PodJson) => {
    const id = p.status.containerStatuses[0]!.containerID.replace("containerd://", "");
    return Number(JSON.parse((await cri.containerStatus(id, true)).info.info!).pid);
  };
  const archives = () => readdirSync(env.checkpointsDir);

  let node: CriNode | undefined;
  beforeAll(async () => {
    // The least deadline of a checkpoint: short, for the deadline test; the others take about 1 s.
    node = await startCriNode("ckpt-cri", { runtimeRequestTimeout: 8 });
    ({ cd, cri, registry, env, agent, image } = node);
    const applied = await call("POST", "/pods", counterPod("counter", image));
    expect(applied.status, applied.body).toBe(201);
    await running("counter");
    await waitFor("the counter to count", async () => ((await lastCount("counter")) > 10 ? true : undefined));
  }, 180_000);

  afterAll(async () => {
    if (node) expect(await node.stop(agent)).toEqual([]);
  }, 120_000);

  it("runs the pod through the CRI: labels, log directory, status, logs", async () => {
    const p = (await pod("counter"))!;
    expect(p.status.podIP).toMatch(new RegExp(`^${cd.subnet.split(".").slice(0, 3).join("\\.")}\\.`));
    expect(p.status.containerStatuses[0]!.containerID).toMatch(/^containerd:\/\/[0-9a-f]{64}$/);
    const sandboxes = await cri.listPodSandbox({ labelSelector: { "io.kubernetes.pod.name": "counter" } });
    expect(sandboxes).toHaveLength(1);
    expect(sandboxes[0]!.labels).toMatchObject({ "io.kubernetes.pod.namespace": "default", "io.kubernetes.pod.uid": p.metadata.uid, "checkpoint.ckpt.dev/node": "test-node" });
    const c = (await cri.listContainers({ podSandboxId: sandboxes[0]!.id }))[0]!;
    expect(c.labels).toMatchObject({ "io.kubernetes.container.name": "counter", "io.kubernetes.pod.name": "counter" });
    const st = (await cri.containerStatus(c.id)).status!;
    expect(st.logPath).toBe(join(env.root, "logs", `default_counter_${p.metadata.uid}`, "counter", "0.log"));
    const n = await counts("counter");
    expect(n.slice(0, 3)).toEqual([1, 2, 3]);
  });

  it("finds its pods again through the CRI after a restart, with no state of its own", async () => {
    await agent.kill9();
    agent = await env.start();
    const p = await running("counter");
    expect(p.status.containerStatuses[0]!.restartCount).toBe(0);
  });

  it("checkpoints through CRI CheckpointContainer: the kubelet's answer, an archive checkpointctl reads as containerd's, the container runs on", async () => {
    const before = await lastCount("counter");
    const r = await call("POST", "/checkpoint/default/counter/counter");
    expect(r.status, r.body).toBe(200);
    archive = (JSON.parse(r.body) as { items: string[] }).items[0]!;
    expect(archive).toMatch(new RegExp(`^${env.checkpointsDir}/checkpoint-counter_default-counter-.*\\.tar$`));
    expect(archives()).toEqual([archive.split("/").at(-1)]);

    const show = checkpointctl(["show", archive]);
    expect(show.code, show.stderr).toBe(0);
    const row = parseTable(show.stdout)[0]!;
    expect(row).toMatchObject({ CONTAINER: "counter", ENGINE: "containerd" });
    const ours = runCkpt(["show", archive, "--format", "json"]);
    expect(ours.status, ours.stderr).toBe(0);
    expect(ours.stdout).toContain('"containerd"');
    const inspect = runCkpt(["inspect", archive, "--ps-tree"]);
    expect(inspect.status, inspect.stderr).toBe(0);
    expect(inspect.stdout).toMatch(/sh/);
    const found = runCkpt(["memparse", archive, "-s", SECRET]);
    expect(found.status, found.stderr).toBe(0);
    expect(found.stdout).toContain(SECRET);

    await waitFor("the counter to go on", async () => ((await lastCount("counter")) > before + 5 ? true : undefined));
  });

  /**
   * The restored container's log: containerd's archive holds the log as it was when the archive was
   * written, a little after the dump (the container ran on meanwhile), and the restore copies it. So
   * the log is the archive's, then the restored process's own lines, which go on from the dump's
   * count (at most the archive log's last one plus one) without a gap: a restore, not a new start.
   */
  const archiveCounts = (path: string) => {
    const text = spawnSync("tar", ["-xOf", path, "container.log"], { encoding: "utf8" }).stdout;
    return [...text.matchAll(/ count (\d+)$/gm)].map((m) => Number(m[1]));
  };

  it("restores the archive into a new pod: the count goes on from the checkpoint, the file and the secret are there", async () => {
    const r = await call("POST", "/restore", JSON.stringify({ source: archive, name: "restored" }));
    expect(r.status, r.body).toBe(201);
    const p = await running("restored");
    const before = archiveCounts(archive);
    expect(before.slice(0, 3)).toEqual([1, 2, 3]);
    await waitFor("the restored counter to count", async () => ((await counts("restored")).length > before.length + 3 ? true : undefined));
    expectCountContinued(await counts("restored"), before);
    const pid = await pidOf(p);
    expect(readFileSync(`/proc/${pid}/root/tmp/test-file`, "utf8")).toBe("written-by-counter\n");
    // Its memory has the secret: checkpoint the restored container and search it.
    const again = await call("POST", "/checkpoint/default/restored/counter");
    expect(again.status, again.body).toBe(200);
    const second = (JSON.parse(again.body) as { items: string[] }).items[0]!;
    expect(runCkpt(["memparse", second, "-s", SECRET]).stdout).toContain(SECRET);
    expect((await call("DELETE", "/pods/default/restored")).status).toBe(200);
  });

  it("checkpoints into a checkpoint image and restores from the registry", async () => {
    const ref = `${registry.host}/default/counter-cp:1`;
    const r = await call("POST", `/checkpoint/default/counter/counter?image=${encodeURIComponent(ref)}`);
    expect(r.status, r.body).toBe(200);
    const body = JSON.parse(r.body) as { image: { reference: string; digest: string } };
    expect(body.image.digest).toMatch(/^sha256:/);
    const restore = await call("POST", "/restore", JSON.stringify({ source: `${registry.host}/default/counter-cp@${body.image.digest}`, name: "from-image" }));
    expect(restore.status, restore.body).toBe(201);
    await running("from-image");
    const path = (JSON.parse(r.body) as { items: string[] }).items[0]!;
    const before = archiveCounts(path);
    await waitFor("the restored counter to count", async () => ((await counts("from-image")).length > before.length + 3 ? true : undefined));
    expectCountContinued(await counts("from-image"), before);
    expect((await call("DELETE", "/pods/default/from-image")).status).toBe(200);
  });

  it("leaves a container paused for a migration until it is resumed", async () => {
    const r = await call("POST", "/checkpoint/default/counter/counter?pause=true");
    expect(r.status, r.body).toBe(200);
    const frozenAt = await lastCount("counter");
    await new Promise((res) => setTimeout(res, 800));
    expect(await lastCount("counter")).toBe(frozenAt);
    expect((await call("POST", "/resume/default/counter/counter")).status).toBe(200);
    await waitFor("the counter to go on", async () => ((await lastCount("counter")) > frozenAt + 3 ? true : undefined));
  });

  it("checkpoints an established TCP connection only when the pod asks for it", async () => {
    expect((await call("POST", "/pods", tcpPod("talk", image))).status).toBe(201);
    await running("talk");
    await new Promise((res) => setTimeout(res, 1000));
    const refused = await call("POST", "/checkpoint/default/talk/talker");
    expect(refused.status).toBe(500);
    expect(refused.body).toMatch(/tcp-established|established/i);
    expect((await pod("talk"))!.status.phase).toBe("Running");
    expect((await call("DELETE", "/pods/default/talk")).status).toBe(200);

    const annotated = tcpPod("talk2", image, `\n  annotations:\n    checkpoint.ckpt.dev/tcp-established: "true"`);
    expect((await call("POST", "/pods", annotated)).status).toBe(201);
    await running("talk2");
    await new Promise((res) => setTimeout(res, 1000));
    const done = await call("POST", "/checkpoint/default/talk2/talker");
    expect(done.status, done.body).toBe(200);
    expect((await call("DELETE", "/pods/default/talk2")).status).toBe(200);
  });

  it("a checkpoint past its deadline: 500, nothing left behind, the container running", async () => {
    const before = archives();
    cd.criuMode("slow");
    try {
      const r = await call("POST", "/checkpoint/default/counter/counter?timeout=1");
      expect(r.status).toBe(500);
      expect(r.body).toMatch(/timed out|deadline/i);
    } finally {
      cd.criuMode(undefined);
    }
    expect(archives()).toEqual(before);
    const at = await lastCount("counter");
    // The runtime holds the container frozen while its (slowed) CRIU runs, then lets it go.
    await waitFor("the counter to go on", async () => ((await lastCount("counter")) > at + 3 ? true : undefined), 60_000);
    await waitFor("the runtime's late archive to be removed", () => (archives().length === before.length && !archives().some((a) => a.startsWith(".")) ? true : undefined), 30_000);
    expect(archives()).toEqual(before);
  }, 90_000);

  it("containerd killed during a checkpoint: 500, no archive, and the container runs on after containerd restarts", async () => {
    const before = archives();
    const runtimeCriu = () => processesMentioning(join(cd.dir, "criu-bin")).length > 0;
    // A slowed CRIU of an earlier test may still be sleeping.
    await waitFor("no CRIU of the runtime running", () => (runtimeCriu() ? undefined : true), 60_000);
    cd.criuMode("slow");
    let r: { status: number; body: string };
    try {
      const pending = call("POST", "/checkpoint/default/counter/counter");
      await waitFor("the runtime to start CRIU", () => (runtimeCriu() ? true : undefined), 30_000);
      await cd.kill9();
      r = await pending;
    } finally {
      cd.criuMode(undefined);
    }
    expect(r.status, r.body).toBe(500);
    expect(r.body).toMatch(/CheckpointContainer/);
    expect(archives()).toEqual(before);

    await cd.restart();
    // The shim outlives containerd and runs its CRIU to the end: wait for it before judging.
    await waitFor("the shim's CRIU to end", () => (runtimeCriu() ? undefined : true), 60_000);
    const p = await running("counter");
    const pid = await pidOf(p);
    expect(readFileSync(`/proc/${pid}/status`, "utf8")).not.toMatch(/^State:\s+T/m);
    const at = await lastCount("counter");
    await waitFor("the counter to go on", async () => ((await lastCount("counter")) > at + 3 ? true : undefined), 30_000);
    expect(archives()).toEqual(before);
    // The agent talks to the new containerd: a checkpoint works again.
    const again = await call("POST", "/checkpoint/default/counter/counter");
    expect(again.status, again.body).toBe(200);
  }, 150_000);

  it("refuses to start on a missing or wrong socket, with one line", () => {
    for (const endpoint of [`unix://${cd.dir}/absent.sock`, "tcp://127.0.0.1:1"]) {
      const r = spawnSync(join(process.cwd(), "bin/ckpt"), ["node", "serve", "--runtime-endpoint", endpoint, "--root", join(env.dir, "other-root"), "--port", "0", "--address", "127.0.0.1"], {
        encoding: "utf8",
        timeout: 30_000,
      });
      expect(r.status).not.toBe(0);
      const lines = r.stderr.trim().split("\n");
      expect(lines, r.stderr).toHaveLength(1);
      expect(lines[0]).toMatch(/^ckpt: /);
      expect(lines[0]).not.toMatch(/\n\s+at /);
    }
    expect(existsSync(cd.socket)).toBe(true);
  }, 60_000);
});
