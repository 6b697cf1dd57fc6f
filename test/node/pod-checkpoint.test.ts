/**
 * Pod checkpoint and restore on the runc runtime, on the real stack (runc, CRIU 4.2.1, CNI,
 * checkpointctl): a pod whose server and client talk over 127.0.0.1 plus a counter is checkpointed
 * with every container frozen at once and restored whole into a new pod, where the conversation and
 * the count go on without a lost or repeated message.
 */
import { spawnSync } from "node:child_process";
import { cpSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, statSync, writeSync, closeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createServer, type AddressInfo, type Server } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { fileSha256 } from "../../src/checkpoint/file-sha256.js";
import {
  capturedWhileAllFrozen,
  commonFrozenWindow,
  parsePodCheckpointManifest,
  POD_CHECKPOINT_MANIFEST,
  type PodCheckpointManifest,
} from "../../src/checkpoint/pod-checkpoint-manifest.js";
import type { ContainerRecord, PodRecord } from "../../src/node/node-state.js";
import { checkpointPod } from "../../src/node/pod-checkpoint.js";
import { loopbackHeld, loopbackUp } from "../../src/node/pod-netfilter.js";
import { restorePodContainers, startRestoredContainers } from "../../src/node/pod-restore.js";
import type { PodRuntime } from "../../src/node/pod-runtime.js";
import { checkpointctl, haveCheckpointctl, parseTable } from "../support/checkpointctl.js";
import { expectCountContinued } from "../support/count-continued.js";
import { haveNodeStack, makeNodeEnv, type NodeEnv } from "../support/node-agent.js";
import { newSandbox, removePod, startPod } from "../support/runtime-pods.js";
import { talkPod } from "../support/test-pods.js";
import { waitFor } from "../support/wait-for.js";

const container = (pod: PodRecord, name: string): ContainerRecord => pod.containers.find((c) => c.name === name)!;

/** The numbers of the log lines `<stream> F <word> N` (all of the container's log: a restore's begins with the checkpoint's). */
function numbers(text: string, word: string): number[] {
  return [...text.matchAll(new RegExp(` F ${word} (\\d+)$`, "gm"))].map((m) => Number(m[1]));
}
const logOf = (c: ContainerRecord) => (existsSync(c.logPath) ? readFileSync(c.logPath, "utf8") : "");

/** 1, 2, 3, … with no gap and no repeat. */
function expectSequence(ns: number[], what: string): void {
  expect(ns.length, what).toBeGreaterThan(0);
  ns.forEach((n, i) => expect(n, `${what}: entry ${i}`).toBe(i + 1));
}

/** The container log an archive holds (CRI-O's member name). */
const archivedLog = (archive: string) => spawnSync("tar", ["-xOf", archive, "io.kubernetes.cri-o.LogPath"], { encoding: "utf8" }).stdout;

/** runc's status, and the state letter of the container's first process in /proc (T: stopped). */
async function processState(runtime: PodRuntime, id: string): Promise<{ status?: string; task?: string }> {
  const st = await runtime.state(id);
  if (!st) return {};
  const stat = existsSync(`/proc/${st.pid}/stat`) ? readFileSync(`/proc/${st.pid}/stat`, "utf8") : "";
  return { status: st.status, task: /\) (\S)/.exec(stat)?.[1] };
}

function podTemplate(pod: PodRecord): PodCheckpointManifest["podTemplate"] {
  const m = pod.manifest;
  return { metadata: { labels: m.metadata.labels, annotations: m.metadata.annotations }, spec: m.spec as unknown as Record<string, unknown> };
}

const stack = haveNodeStack() && haveCheckpointctl();

describe.skipIf(!stack)("pod checkpoint and restore on the runc runtime", () => {
  let env: NodeEnv;
  let runtime: PodRuntime;
  const events: Array<Record<string, unknown>> = [];
  /** Called with each event the runtime logs, as it logs it. */
  let onEvent: ((e: Record<string, unknown>) => void) | undefined;
  const pods: PodRecord[] = [];
  let source: PodRecord;
  let checkpointDir: string;
  let manifest: PodCheckpointManifest;
  /** A peer outside the pod (on the node's address on the pods' bridge) that `caller` talks to. */
  let outside: Server;
  let outsideAddress: string;
  const outsideCallers: string[] = [];
  let pings = "";

  beforeAll(async () => {
    env = await makeNodeEnv(mkdtempSync(join(tmpdir(), "ckpt-pod-")));
    runtime = env.runtime((e) => {
      events.push(e);
      onEvent?.(e);
    });
    outside = createServer((socket) => {
      outsideCallers.push(socket.remoteAddress ?? "");
      socket.on("data", (d: Buffer) => (pings += d.toString()));
      socket.on("error", () => undefined);
    });
    await new Promise<void>((resolve) => outside.listen(0, "0.0.0.0", resolve));
    outsideAddress = `${env.podSubnet.replace(/\.0\/\d+$/, ".1")}:${(outside.address() as AddressInfo).port}`;
    source = await startPod(runtime, talkPod("talk", env.image, outsideAddress));
    pods.push(source);
    await waitFor("the client to get 5 answers", () => (numbers(logOf(container(source, "client")), "got ack").length >= 5 ? true : undefined));
    await waitFor("the caller to ping the outside peer", () => (pings.includes("ping 3") ? true : undefined));
  });

  afterAll(async () => {
    outside?.close();
    if (!env) return;
    env.criuMode(undefined);
    for (const p of pods) await removePod(runtime, p);
    await env.cleanup();
  });

  it("checkpoints the pod with every container frozen at once; checkpointctl reads each archive; the pod runs on", async () => {
    checkpointDir = mkdtempSync(join(env.dir, "pod-checkpoint-"));
    manifest = await checkpointPod({
      runtime,
      pod: source,
      containers: source.containers,
      outputDir: checkpointDir,
      deadline: Date.now() + 60_000,
      nodeName: "test-node",
      podTemplate: podTemplate(source),
    });

    // Every container paused before any was captured, all captured before any was resumed.
    expect(capturedWhileAllFrozen(manifest)).toBe(true);
    for (const a of manifest.containers) {
      for (const b of manifest.containers) expect(Date.parse(a.pausedAt) <= Date.parse(b.resumedAt), `${a.name} frozen while ${b.name} was`).toBe(true);
    }
    const common = commonFrozenWindow(manifest);
    expect(common.ms).toBeGreaterThan(0);
    console.log(
      "pod checkpoint (ms): common frozen window",
      common.ms,
      Object.fromEntries(
        manifest.containers.map((c) => [c.name, { frozen: Date.parse(c.resumedAt) - Date.parse(c.pausedAt), capture: Date.parse(c.capturedAt) - Date.parse(c.captureStartedAt) }]),
      ),
    );

    // The directory holds the archives and the manifest, which says what the pod was.
    expect(readdirSync(checkpointDir).sort()).toEqual(["caller.tar", "client.tar", "counter.tar", POD_CHECKPOINT_MANIFEST, "server.tar"]);
    expect(parsePodCheckpointManifest(readFileSync(join(checkpointDir, POD_CHECKPOINT_MANIFEST), "utf8"), POD_CHECKPOINT_MANIFEST)).toEqual(manifest);
    expect(manifest.containers.map((c) => c.name)).toEqual(["server", "client", "counter", "caller"]);
    expect(manifest).toMatchObject({ pod: { namespace: "default", name: "talk", uid: source.uid }, nodeName: "test-node", runtime: "runc", sandbox: { hostname: "talk", ip: source.sandbox.ip } });
    for (const c of manifest.containers) {
      const path = join(checkpointDir, c.archive);
      expect(statSync(path).size).toBe(c.bytes);
      expect(await fileSha256(path)).toBe(c.sha256);
      expect(c.id).toBe(container(source, c.name).id);
      expect(c.image).toMatch(/^oci:\/.+@sha256:[0-9a-f]{64}$/);
      const show = checkpointctl(["show", path]);
      expect(show.code, show.stderr).toBe(0);
      expect(parseTable(show.stdout)[0]).toMatchObject({ CONTAINER: c.name, ENGINE: "CRI-O", IP: source.sandbox.ip, RUNTIME: "runc" });
    }

    // The pod runs on: nobody is paused, the conversation and the count go on.
    for (const c of source.containers) expect((await runtime.state(c.id))?.status, c.name).toBe("running");
    const acked = numbers(logOf(container(source, "client")), "got ack").length;
    const counted = numbers(logOf(container(source, "counter")), "count").length;
    await waitFor("the source pod to go on", () =>
      numbers(logOf(container(source, "client")), "got ack").length > acked + 3 && numbers(logOf(container(source, "counter")), "count").length > counted + 3 ? true : undefined,
    );
    expectSequence(numbers(logOf(container(source, "server")), "recv"), "source server");
  });

  it("restores the pod into a new sandbox: the conversation and the count go on with no gap and no repeat", async () => {
    const target = await newSandbox(runtime, talkPod("talk-restored", env.image, outsideAddress));
    pods.push(target);
    expect(target.sandbox.ip).not.toBe(source.sandbox.ip);
    const started = performance.now();
    const restored = await restorePodContainers({ runtime, pod: target, checkpointDir, manifest });
    const created = performance.now();
    target.containers.push(...restored);
    expect(restored.map((c) => c.name)).toEqual(["server", "client", "counter", "caller"]);

    // Created, not started: CRIU left every process stopped, and loopback is held until the start.
    expect(await loopbackUp(target.sandbox.netns)).toBe(true);
    expect(await loopbackHeld(target.sandbox.netns)).toBe(true);
    for (const c of restored) expect(await processState(runtime, c.id), c.name).toEqual({ status: "running", task: "T" });
    const before = numbers(logOf(container(target, "client")), "got ack").length;
    await new Promise((r) => setTimeout(r, 300));
    expect(numbers(logOf(container(target, "client")), "got ack").length).toBe(before);

    const startAt = Date.now();
    await startRestoredContainers(runtime, target, restored);
    const startedMs = performance.now() - started;
    expect(await loopbackHeld(target.sandbox.netns)).toBe(false);
    for (const c of restored) expect((await processState(runtime, c.id)).task, c.name).not.toBe("T");

    // The server's and the client's connection is on loopback: restored. The caller's goes to an
    // address outside the pod, which cannot follow it: closed, and the runtime's log says so.
    const notes = (name: string) => events.filter((e) => e.msg === "restore notes" && e.container === name).map((e) => String(e.notes));
    for (const name of ["server", "client"]) expect(notes(name), name).toEqual([expect.stringMatching(/TCP: 1 connection\(s\) on loopback are restored/)]);
    expect(notes("caller")).toEqual([expect.stringMatching(/TCP: 1 connection\(s\) are closed: 1 go to other addresses/)]);
    await waitFor("the caller, its connection closed, to end", () => (runtime.exitStatus(container(target, "caller").id) ? true : undefined));
    expect(logOf(container(target, "caller"))).toMatch(/ F sh: write error: Broken pipe$/m);
    expect(outsideCallers).not.toContain(target.sandbox.ip);

    const archivedAcks = numbers(archivedLog(join(checkpointDir, "client.tar")), "got ack");
    await waitFor("the restored client to get 10 more answers", () => (numbers(logOf(container(target, "client")), "got ack").length >= archivedAcks.length + 10 ? true : undefined));
    const client = logOf(container(target, "client"));
    expectSequence(numbers(client, "sent"), "restored client, sent");
    expectSequence(numbers(client, "got ack"), "restored client, acked");
    expectSequence(numbers(logOf(container(target, "server")), "recv"), "restored server");
    // Its log begins with the checkpoint's: the numbers after it are the restored processes' own.
    expect(numbers(client, "got ack").slice(0, archivedAcks.length)).toEqual(archivedAcks);
    const firstNew = client.split("\n").filter((l) => / F got ack \d+$/.test(l))[archivedAcks.length]!;
    console.log(
      "pod restore (ms): created",
      Math.round(created - started),
      "started (with a 300 ms look at the stopped pod)",
      Math.round(startedMs),
      "first answer after the start",
      Date.parse(firstNew.split(" ")[0]!) - startAt,
    );

    const archivedCounts = numbers(archivedLog(join(checkpointDir, "counter.tar")), "count");
    await waitFor("the restored counter to count", () => (numbers(logOf(container(target, "counter")), "count").length > archivedCounts.length + 3 ? true : undefined));
    expectCountContinued(numbers(logOf(container(target, "counter")), "count"), archivedCounts);

    // The restored pod checkpoints again like any other, and runs on after it (not left stopped).
    const running = target.containers.filter((c) => c.name !== "caller");
    const again = await checkpointPod({ runtime, pod: target, containers: running, outputDir: mkdtempSync(join(env.dir, "pod-checkpoint-")), deadline: Date.now() + 60_000, nodeName: "test-node", podTemplate: podTemplate(target) });
    expect(capturedWhileAllFrozen(again)).toBe(true);
    for (const c of running) expect((await processState(runtime, c.id)).task, c.name).not.toBe("T");
    const acked = numbers(logOf(container(target, "client")), "got ack").length;
    await waitFor("the restored pod to go on after its own checkpoint", () => (numbers(logOf(container(target, "client")), "got ack").length > acked + 5 ? true : undefined));
  });

  it("a deadline that passes during the checkpoint: an error, every container running, the output directory empty", async () => {
    const out = mkdtempSync(join(env.dir, "pod-checkpoint-"));
    env.criuMode("slow");
    try {
      // The CRIU that hangs is the test's wrapper, not yet CRIU: killed after a short grace.
      await expect(
        checkpointPod({ runtime, pod: source, containers: source.containers, outputDir: out, deadline: Date.now() + 2000, nodeName: "test-node", podTemplate: podTemplate(source), killGraceMs: 500 }),
      ).rejects.toThrow(/^pod default\/talk: checkpoint deadline .* passed$/);
    } finally {
      env.criuMode(undefined);
    }
    expect(readdirSync(out)).toEqual([]);
    for (const c of source.containers) expect((await runtime.state(c.id))?.status, c.name).toBe("running");
    expect(env.workDirs.flatMap((d) => (existsSync(d) ? readdirSync(d) : []))).toEqual([]);
    const counted = numbers(logOf(container(source, "counter")), "count").length;
    await waitFor("the counter to go on", () => (numbers(logOf(container(source, "counter")), "count").length > counted + 3 ? true : undefined));
  });

  it("a deadline that passes while CRIU dumps: the dumps end by themselves, the pod runs on and talks, its network unlocked", async () => {
    const out = mkdtempSync(join(env.dir, "pod-checkpoint-"));
    // Past the pauses, inside the dumps: a CRIU killed there would take the processes it holds along.
    await expect(
      checkpointPod({ runtime, pod: source, containers: source.containers, outputDir: out, deadline: Date.now() + 250, nodeName: "test-node", podTemplate: podTemplate(source) }),
    ).rejects.toThrow(/^pod default\/talk: checkpoint deadline .* passed$/);
    expect(readdirSync(out)).toEqual([]);
    for (const c of source.containers) {
      expect(runtime.shimAlive(c.id), c.name).toBe(true);
      expect((await runtime.state(c.id))?.status, c.name).toBe("running");
    }
    for (const table of ["iptables", "ip6tables"]) {
      expect(spawnSync("ip", ["netns", "exec", source.sandbox.netns, table, "-S", "CRIU"]).status, `${table}: CRIU's lock chain`).not.toBe(0);
    }
    const acked = numbers(logOf(container(source, "client")), "got ack").length;
    await waitFor("the conversation to go on", () => (numbers(logOf(container(source, "client")), "got ack").length > acked + 5 ? true : undefined));
    expect(env.workDirs.flatMap((d) => (existsSync(d) ? readdirSync(d) : []))).toEqual([]);
  });

  it("a container that fails to checkpoint fails the pod's: CRIU's reason named, every container running, nothing written", async () => {
    const out = mkdtempSync(join(env.dir, "pod-checkpoint-"));
    env.criuMode("fail");
    try {
      await expect(
        checkpointPod({ runtime, pod: source, containers: source.containers, outputDir: out, deadline: Date.now() + 60_000, nodeName: "test-node", podTemplate: podTemplate(source) }),
      ).rejects.toThrow(/^pod default\/talk: container (server|client|counter|caller): runc checkpoint .*/);
    } finally {
      env.criuMode(undefined);
    }
    expect(readdirSync(out)).toEqual([]);
    for (const c of source.containers) expect((await runtime.state(c.id))?.status, c.name).toBe("running");
    expect(env.workDirs.flatMap((d) => (existsSync(d) ? readdirSync(d) : []))).toEqual([]);
  });

  it("a restore that fails part way removes what it made: the containers restored so far, their logs, the loopback hold", async () => {
    const target = await newSandbox(runtime, talkPod("talk-failing", env.image, outsideAddress));
    pods.push(target);
    const containersBefore = readdirSync(join(env.root, "containers")).sort();
    // The first container comes back; CRIU fails from the second on.
    onEvent = (e) => {
      if (e.msg === "restore steps (ms)" && e.container === "server") env.criuMode("fail");
    };
    try {
      await expect(restorePodContainers({ runtime, pod: target, checkpointDir, manifest })).rejects.toThrow(/^pod default\/talk-failing: container client: .*CRIU/);
    } finally {
      onEvent = undefined;
      env.criuMode(undefined);
    }
    expect(events.some((e) => e.msg === "restore steps (ms)" && e.container === "server" && String(e.archive).startsWith(checkpointDir))).toBe(true);
    expect(readdirSync(join(env.root, "containers")).sort()).toEqual(containersBefore);
    const logs = join(env.root, "logs", `default_talk-failing_${target.uid}`);
    expect(existsSync(logs) ? readdirSync(logs).flatMap((d) => readdirSync(join(logs, d))) : []).toEqual([]);
    expect(await loopbackHeld(target.sandbox.netns)).toBe(false);
  });

  it("refuses a corrupted archive (sha256 mismatch) before creating anything", async () => {
    const copy = join(env.dir, "corrupted");
    mkdirSync(copy);
    cpSync(checkpointDir, copy, { recursive: true });
    const victim = join(copy, "client.tar");
    // One byte in the middle, the size unchanged.
    const at = Math.floor(statSync(victim).size / 2);
    const flipped = Buffer.from([readFileSync(victim)[at]! ^ 0xff]);
    const fd = openSync(victim, "r+");
    writeSync(fd, flipped, 0, 1, at);
    closeSync(fd);
    const target = await newSandbox(runtime, talkPod("talk-corrupted", env.image, outsideAddress));
    pods.push(target);
    const containersBefore = readdirSync(join(env.root, "containers")).length;
    await expect(restorePodContainers({ runtime, pod: target, checkpointDir: copy, manifest })).rejects.toThrow(
      new RegExp(`^${victim.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&")}: sha256 [0-9a-f]{64}, pod-checkpoint.json says [0-9a-f]{64}$`),
    );
    expect(readdirSync(join(env.root, "containers")).length).toBe(containersBefore);
    expect(await loopbackHeld(target.sandbox.netns)).toBe(false);
  });
});
