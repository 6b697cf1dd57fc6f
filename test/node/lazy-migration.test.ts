/**
 * `ckpt migrate --mode lazy` between two real node agents, each on a test host of its own (a network
 * namespace), with the real runc and CRIU: the pod runs on the target before its memory is there,
 * its pages follow over the nodes' HTTPS, and the source's container ends with the last page. A pod
 * with 1 GiB of filled memory keeps it (a checksum computed inside the container, before and after);
 * a page connection broken in the middle leaves the pod running on the source with its memory, and
 * nothing on the target. Also: pre-copy is refused with the host's reason.
 */
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCkptAsync } from "../support/ckpt-cli.js";
import { buildMemfillImage, memfillPod } from "../support/memfill.js";
import { haveNodeStack, makeNodeEnv, REAL_CRIU, type NodeEnv, type RunningAgent } from "../support/node-agent.js";
import { buildBusyboxLayout, haveRegistryTools, pushLayout, startRegistry, type TestRegistry } from "../support/oci-images.js";
import { makeTestHosts, type TestHosts } from "../support/test-hosts.js";
import { counterPod } from "../support/test-pods.js";
import { waitFor } from "../support/wait-for.js";

interface PodJson {
  metadata: { name: string };
  status: { phase: string; podIP: string; containerStatuses: Array<{ name: string; containerID: string; ready: boolean }> };
}

interface MigrationJson {
  mode: string;
  steps: Array<{ step: string; detail: string; ms: number }>;
  downtime: Array<{ container: string; ms: number; last: { time: string; text: string }; first: { time: string; text: string } }>;
  pages?: { pages: number; bytes: number; ms: number };
  targetIP?: string;
}

const lazyPagesWork = () => spawnSync(REAL_CRIU, ["check", "--feature", "uffd-noncoop"], { encoding: "utf8" }).stdout.includes("is supported");
const stack = haveNodeStack() && haveRegistryTools() && spawnSync("sh", ["-c", "command -v nsenter && command -v gcc && command -v ss"]).status === 0 && lazyPagesWork();
const BIG_MIB = 1024;

describe.skipIf(!stack)("ckpt migrate --mode lazy: the pod runs on the target at once, its memory follows", () => {
  let hosts: TestHosts;
  let registry: TestRegistry;
  let envA: NodeEnv;
  let envB: NodeEnv;
  let a: RunningAgent;
  let b: RunningAgent;
  let busybox: string;
  let memfill: string;
  let work = "";
  let pipeMaxBefore = "";

  const cred = () => ({ cert: envA.alice });
  const pods = async (agent: RunningAgent): Promise<PodJson[]> => (JSON.parse((await agent.call("GET", "/pods", cred())).body) as { items: PodJson[] }).items;
  const pod = async (agent: RunningAgent, name: string) => (await pods(agent)).find((p) => p.metadata.name === name);
  const running = (agent: RunningAgent, name: string) =>
    waitFor(`${name} running`, async () => {
      const p = await pod(agent, name);
      return p?.status.phase === "Running" && p.status.containerStatuses.every((c) => c.ready) ? p : undefined;
    });
  const log = async (agent: RunningAgent, name: string, ctr = name) => (await agent.call("GET", `/containerLogs/default/${name}/${ctr}`, cred())).body;
  const lastCount = async (agent: RunningAgent, name: string, ctr = name) => {
    const counts = [...(await log(agent, name, ctr)).matchAll(/^count (\d+)$/gm)];
    return counts.length ? Number(counts.at(-1)![1]) : 0;
  };
  const countsOn = (agent: RunningAgent, name: string, past: number, ctr = name) =>
    waitFor(`${name} counting past ${past}`, async () => ((await lastCount(agent, name, ctr)) > past ? true : undefined), 60_000);
  const checksums = async (agent: RunningAgent, name: string) => [...(await log(agent, name)).matchAll(/^checksum (before|after) ([0-9a-f]{16})$/gm)].map((m) => `${m[1]} ${m[2]}`);
  /** SIGUSR1: memfill hashes its memory again, inside the container, and prints "checksum after X". */
  const checksumNow = async (env: NodeEnv, agent: RunningAgent, name: string) => {
    const before = (await checksums(agent, name)).filter((c) => c.startsWith("after")).length;
    const id = (await pod(agent, name))!.status.containerStatuses[0]!.containerID.replace("runc://", "");
    const r = spawnSync("runc", ["--root", join(env.root, "runc"), "kill", id, "USR1"], { encoding: "utf8" });
    expect(r.status, r.stderr).toBe(0);
    return waitFor(`${name}'s checksum after`, async () => (await checksums(agent, name)).filter((c) => c.startsWith("after"))[before], 60_000);
  };
  const migrate = (target: string, from: RunningAgent, to: RunningAgent, ...more: string[]) =>
    runCkptAsync([
      "migrate", target, "--from", from.url, "--to", to.url, ...more,
      "--client-certificate", envA.alice.certFile, "--client-key", envA.alice.keyFile, "--insecure-skip-tls-verify",
    ]);

  beforeAll(async () => {
    pipeMaxBefore = readFileSync("/proc/sys/fs/pipe-max-size", "utf8");
    hosts = makeTestHosts(["a", "b", "reg"]);
    registry = await startRegistry({ host: hosts.hosts.reg! });
    work = mkdtempSync(join(tmpdir(), "ckpt-lazy-mig-"));
    await buildBusyboxLayout(join(work, "busybox"), { tag: "latest" });
    busybox = await pushLayout(join(work, "busybox"), "latest", registry, "library/busybox");
    mkdirSync(join(work, "memfill-build"));
    await buildMemfillImage(join(work, "memfill-build"), join(work, "memfill"));
    memfill = await pushLayout(join(work, "memfill"), "latest", registry, "test/memfill");
    // Each node has a client certificate of its own (group ckpt-nodes: get nodes/checkpoint only).
    envA = await makeNodeEnv(mkdtempSync(join(tmpdir(), "ckpt-node-a-")), { host: hosts.hosts.a!, insecureRegistries: [registry.host], peerIdentity: "node-a" });
    envB = await makeNodeEnv(mkdtempSync(join(tmpdir(), "ckpt-node-b-")), { host: hosts.hosts.b!, insecureRegistries: [registry.host], authFrom: envA, peerIdentity: "node-b" });
    [a, b] = await Promise.all([envA.start(), envB.start()]);
  }, 240_000);

  afterAll(async () => {
    await envB?.cleanup();
    await envA?.cleanup();
    await registry?.stop();
    hosts?.cleanup();
    if (work) rmSync(work, { recursive: true, force: true });
  }, 120_000);

  it("moves the counter pod from A to B: the count goes on from the freeze, the source is gone, fs.pipe-max-size is put back", async () => {
    expect((await a.call("POST", "/pods", cred(), counterPod("counter", busybox))).status).toBe(201);
    await running(a, "counter");
    await countsOn(a, "counter", 10, "counter");
    const r = await migrate("default/counter", a, b, "--mode", "lazy", "--format", "json");
    expect(r.status, r.stderr).toBe(0);
    const result = JSON.parse(r.stdout) as MigrationJson;
    expect(result.mode).toBe("lazy");
    expect(result.steps.map((s) => s.step)).toEqual(["base image", "checkpoint", "restore", "running", "pages", "stop source"]);
    expect(result.pages!.pages).toBeGreaterThan(0);

    const d = result.downtime[0]!;
    const last = Number(/^count (\d+)$/.exec(d.last.text)![1]);
    expect(d.first.text).toBe(`count ${last + 1}`);
    expect(await pod(a, "counter")).toBeUndefined();
    const moved = await running(b, "counter");
    expect(moved.status.podIP).toBe(result.targetIP);
    // The file the container wrote before the move, and its log from before.
    const id = moved.status.containerStatuses[0]!.containerID.replace("runc://", "");
    expect(readFileSync(join(envB.root, "containers", id, "rootfs/tmp/test-file"), "utf8")).toBe("written-by-counter\n");
    expect(await log(b, "counter")).toContain(`count ${last}\ncount ${last + 1}\n`);
    await countsOn(b, "counter", last + 5, "counter");

    // The source raised the sysctl for its page server, and put it back.
    expect(readFileSync("/proc/sys/fs/pipe-max-size", "utf8")).toBe(pipeMaxBefore);
    if (Number(pipeMaxBefore) < 4 << 20) {
      expect(a.log()).toMatch(/"msg":"fs.pipe-max-size raised for a lazy migration","from":\d+,"to":4194304/);
      expect(a.log()).toMatch(/"msg":"fs.pipe-max-size put back after a lazy migration","from":4194304,"to":\d+/);
    }
    expect((await b.call("DELETE", "/pods/default/counter", cred())).status).toBe(200);
  }, 180_000);

  it(`moves a pod with ${BIG_MIB} MiB of filled memory: the checksum inside the container is the same, the counter goes on`, async () => {
    expect((await a.call("POST", "/pods", cred(), memfillPod("big", memfill, BIG_MIB))).status).toBe(201);
    await running(a, "big");
    const [before] = await waitFor("big's checksum before", async () => ((await checksums(a, "big")).length ? checksums(a, "big") : undefined), 120_000);
    await countsOn(a, "big", 3);

    const r = await migrate("default/big", a, b, "--mode", "lazy");
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^checkpoint +\d+\.\d\d s  default\/big\/big frozen, all but its memory pages dumped/m);
    // Progress lines while the pages come, then the total.
    expect(r.stdout).toMatch(/^pages +\d+\.\d\d s  \d+ pages \(1\.0 GiB\) from https:\/\/.*, [\d.]+ [KMG]iB\/s$/m);
    const last = Number(/last output on the source \S+ "count (\d+)"/.exec(r.stdout)![1]);
    expect(r.stdout).toMatch(new RegExp(`first on the target \\S+ "count ${last + 1}"`));
    expect(await pod(a, "big")).toBeUndefined();

    await running(b, "big");
    expect(before).toMatch(/^before /);
    expect(await checksumNow(envB, b, "big")).toBe(before!.replace("before", "after"));
    await countsOn(b, "big", last + 3);
  }, 300_000);

  it("a page connection broken in the middle: the target's copy is killed, the pod runs again on the source with its memory", async () => {
    const [before] = (await checksums(b, "big")).filter((c) => c.startsWith("before"));
    const bPort = new URL(b.url).port;
    // B is the source now; A, the target, opens the page connection to B. It is cut (both ends
    // reset, as a network failure would) once a tenth of the pages are in.
    let cutAt = 0;
    const cut = (async () => {
      for (let i = 0; i < 2000; i++) {
        const st = await a.call("GET", "/lazy-restore/default/big", cred());
        const c = st.status === 200 ? (JSON.parse(st.body) as { containers: Array<{ pages: number; totalPages: number; state: string }> }).containers[0] : undefined;
        if (c && c.state === "transferring" && c.pages > c.totalPages / 10) {
          cutAt = c.pages;
          const k = spawnSync("nsenter", [`--net=/var/run/netns/${hosts.hosts.a!.netns}`, "ss", "-K", "dst", hosts.hosts.b!.ip, "dport", "=", bPort], { encoding: "utf8" });
          expect(k.status, k.stderr).toBe(0);
          return;
        }
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
    const r = await migrate("default/big", b, a, "--mode", "lazy");
    await cut;
    expect(cutAt, "the connection was cut during the transfer").toBeGreaterThan(0);
    expect(r.status).toBe(1);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
    expect(r.stderr).toMatch(
      /^ckpt: migrating default\/big failed: the page transfer broke after \d+ of \d+ pages \(.*\); the target's copy was killed and removed, and default\/big runs again on https:\/\/\S+ with its memory$/m,
    );
    expect(await pod(a, "big")).toBeUndefined();
    await running(b, "big");
    const last = await lastCount(b, "big");
    await countsOn(b, "big", last + 3);
    expect(await checksumNow(envB, b, "big")).toBe(before!.replace("before", "after"));
    // No network lock of CRIU's is left in the pod's network namespace.
    expect(b.log()).toMatch(/"msg":"lazy migration failed; the source runs on".*"resumed":true/);
    const record = readdirSync(join(envB.root, "pods")).map((f) => JSON.parse(readFileSync(join(envB.root, "pods", f), "utf8")) as { manifest: { metadata: { name: string } }; sandbox: { netns: string } });
    const netns = record.find((p) => p.manifest.metadata.name === "big")!.sandbox.netns;
    expect(spawnSync("nsenter", [`--net=/var/run/netns/${netns}`, "iptables", "-w", "-S", "CRIU"]).status).not.toBe(0);
    expect(readFileSync("/proc/sys/fs/pipe-max-size", "utf8")).toBe(pipeMaxBefore);
  }, 300_000);

  /** Migrates big from `from` to `to` lazily and, once a fifth of its pages are in, kills one agent with SIGKILL. */
  const migrateAndKill = async (from: RunningAgent, to: RunningAgent, victim: "source" | "target") => {
    const run = migrate("default/big", from, to, "--mode", "lazy");
    await waitFor("a fifth of the pages in", async () => {
      const st = await to.call("GET", "/lazy-restore/default/big", cred());
      const c = st.status === 200 ? (JSON.parse(st.body) as { containers: Array<{ pages: number; totalPages: number; state: string }> }).containers[0] : undefined;
      return c && c.state === "transferring" && c.pages > c.totalPages / 5 ? true : undefined;
    }, 120_000);
    await (victim === "source" ? from : to).kill9();
    return run;
  };

  it("the target's agent killed mid-transfer: the source runs on with its memory; the restarted target removes its copy", async () => {
    const [before] = (await checksums(b, "big")).filter((c) => c.startsWith("before"));
    const r = await migrateAndKill(b, a, "target");
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/^ckpt: migrating default\/big failed at pages: .*; default\/big runs again on https:\/\/\S+ with its memory$/m);
    const last = await lastCount(b, "big");
    await countsOn(b, "big", last + 3);
    a = await envA.start();
    await waitFor("A without the copy", async () => ((await pod(a, "big")) === undefined ? true : undefined));
    expect(a.log()).toMatch(/"msg":"a lazy migration to this node was cut short by the agent's stop: its pod is removed, the source runs on","pod":"default\/big"/);
    expect(await checksumNow(envB, b, "big")).toBe(before!.replace("before", "after"));
  }, 300_000);

  it("the source's agent killed mid-transfer: the target removes its copy; the pod runs again on the source once its agent is back", async () => {
    const [before] = (await checksums(b, "big")).filter((c) => c.startsWith("before"));
    const r = await migrateAndKill(b, a, "source");
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/the page transfer broke after \d+ of \d+ pages .*the target's copy was killed and removed, and the source node did not answer .*: default\/big runs again there once its agent is back$/m);
    expect(await pod(a, "big")).toBeUndefined();
    b = await envB.start();
    await running(b, "big");
    const last = await lastCount(b, "big");
    await countsOn(b, "big", last + 3);
    expect(await checksumNow(envB, b, "big")).toBe(before!.replace("before", "after"));
    // The agent died holding fs.pipe-max-size raised: started again, it put it back.
    expect(readFileSync("/proc/sys/fs/pipe-max-size", "utf8")).toBe(pipeMaxBefore);
  }, 300_000);

  it("--mode pre-copy is refused with the node's reason", async () => {
    const dirty = spawnSync(REAL_CRIU, ["check", "--feature", "mem_dirty_track"], { encoding: "utf8" });
    const r = await migrate("default/big", b, a, "--mode", "pre-copy");
    expect(r.status).toBe(1);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
    if (dirty.status !== 0) {
      expect(r.stderr).toMatch(/^ckpt: migrating default\/big: pre-copy migration is not available on node \S+: CRIU cannot track dirty memory on this kernel \(criu check --feature mem_dirty_track: .*Dirty tracking is OFF/);
    } else {
      expect(r.stderr).toMatch(/pre-copy migration is not implemented by ckpt/);
    }
    await running(b, "big");
  }, 60_000);
});
