/**
 * The node agent end to end, on the real stack: `ckpt node serve` runs pods with real runc from an
 * OCI image layout, and its kubelet-compatible HTTPS endpoint checkpoints them with real CRIU 4.2.1.
 * The archives are read by the real checkpointctl 1.3.0 and by ckpt itself.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { checkpointctl, haveCheckpointctl, parseTable } from "../support/checkpointctl.js";
import { runCkpt } from "../support/ckpt-cli.js";
import { haveNodeStack, makeNodeEnv, type NodeEnv, type RunningAgent } from "../support/node-agent.js";
import { waitFor } from "../support/wait-for.js";
import { counterPod, SECRET } from "../support/test-pods.js";
import { buildBusyboxLayout, haveRegistryTools, pushLayout, startRegistry, type TestRegistry } from "../support/oci-images.js";

const ARCHIVE_NAME = /^checkpoint-([a-z0-9-]+)_([a-z0-9-]+)-([a-z0-9-]+)-(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:Z|[+-]\d\d:\d\d))\.tar$/;

interface PodJson {
  metadata: { name: string; uid: string };
  spec: { containers: Array<{ name: string; image: string }> };
  status: { phase: string; podIP: string; containerStatuses: Array<{ name: string; containerID: string; restartCount: number; ready: boolean }> };
}

/** The last `count N` the container logged. */
function lastCount(env: NodeEnv, pod: PodJson, container: string): number {
  const dir = join(env.root, "logs", `default_${pod.metadata.name}_${pod.metadata.uid}`, container);
  const logs = readdirSync(dir).sort();
  const text = readFileSync(join(dir, logs.at(-1)!), "utf8");
  const m = [...text.matchAll(/stdout F count (\d+)/g)];
  return m.length ? Number(m.at(-1)![1]) : 0;
}

/** Every `count N` the container logged, in order, over all its runs. */
function allCounts(env: NodeEnv, pod: PodJson, container: string): number[] {
  const dir = join(env.root, "logs", `default_${pod.metadata.name}_${pod.metadata.uid}`, container);
  const text = existsSync(dir) ? readdirSync(dir).sort().map((f) => readFileSync(join(dir, f), "utf8")).join("") : "";
  return [...text.matchAll(/stdout F count (\d+)/g)].map((m) => Number(m[1]));
}

function runcStatus(env: NodeEnv, pod: PodJson, container: string): string {
  const id = pod.status.containerStatuses.find((c) => c.name === container)!.containerID.replace("runc://", "");
  const r = spawnSync("runc", ["--root", join(env.root, "runc"), "state", id], { encoding: "utf8" });
  return r.status === 0 ? (JSON.parse(r.stdout) as { status: string }).status : `unknown (${r.stderr.trim()})`;
}


async function getPod(agent: RunningAgent, env: NodeEnv, name: string): Promise<PodJson | undefined> {
  const r = await agent.call("GET", "/pods", { cert: env.alice });
  const list = JSON.parse(r.body) as { items: PodJson[] };
  return list.items.find((p) => p.metadata.name === name);
}

async function runningPod(agent: RunningAgent, env: NodeEnv, name: string): Promise<PodJson> {
  return waitFor(`pod ${name} running`, async () => {
    const p = await getPod(agent, env, name);
    return p && p.status.phase === "Running" && p.status.containerStatuses.every((c) => c.ready) ? p : undefined;
  });
}

/** What checkpoints in progress keep (and must not leave behind). */
function workFiles(env: NodeEnv): string[] {
  return env.workDirs.flatMap((d) => (existsSync(d) ? readdirSync(d) : []));
}

/** Files in the checkpoint directory that are not finished archives. */
function leftovers(env: NodeEnv): string[] {
  return existsSync(env.checkpointsDir) ? readdirSync(env.checkpointsDir).filter((f) => !ARCHIVE_NAME.test(f)) : [];
}

const stack = haveNodeStack() && haveCheckpointctl();

describe.skipIf(!stack)("ckpt node serve: pods and the kubelet checkpoint API", () => {
  let env: NodeEnv;
  let agent: RunningAgent;
  let pod: PodJson;

  beforeAll(async () => {
    env = await makeNodeEnv(mkdtempSync(join(tmpdir(), "ckpt-node-")), { runtimeRequestTimeout: 2 });
    agent = await env.start();
    // Through the CLI, as users apply pods.
    const manifest = join(env.dir, "counter.yaml");
    writeFileSync(manifest, counterPod("counter", env.image));
    const applied = runCkpt([
      "node", "apply", "-f", manifest, "--server", agent.url,
      "--client-certificate", env.alice.certFile, "--client-key", env.alice.keyFile, "--insecure-skip-tls-verify",
    ]);
    expect(applied.stderr).toBe("");
    expect(applied.stdout).toMatch(/^pod\/counter created \(namespace default, IP 10\.\d+\.\d+\.\d+\)/);
    pod = await runningPod(agent, env, "counter");
  }, 120_000);

  afterAll(async () => {
    await env?.cleanup();
  }, 120_000);

  it("checkpoints a running container for a client certificate: a CRI-O archive checkpointctl and ckpt read", async () => {
    const before = lastCount(env, pod, "counter");
    const r = await agent.call("POST", "/checkpoint/default/counter/counter?timeout=60", { cert: env.alice });
    expect(r.status, r.body).toBe(200);
    expect(r.headers["content-type"]).toBe("application/json");
    const body = JSON.parse(r.body) as { items: string[] };
    expect(Object.keys(body)).toEqual(["items"]);
    const archive = body.items[0]!;
    expect(body.items).toHaveLength(1);
    expect(archive.startsWith(env.checkpointsDir + "/")).toBe(true);
    expect(basename(archive)).toMatch(ARCHIVE_NAME);
    expect(ARCHIVE_NAME.exec(basename(archive))!.slice(1, 4)).toEqual(["counter", "default", "counter"]);
    expect(statSync(archive).mode & 0o777).toBe(0o600);
    expect(statSync(env.checkpointsDir).mode & 0o777).toBe(0o700);

    const show = checkpointctl(["show", archive]);
    expect(show.code, show.stderr).toBe(0);
    const row = parseTable(show.stdout)[0]!;
    expect(row).toMatchObject({ CONTAINER: "counter", ENGINE: "CRI-O", IP: pod.status.podIP, IMAGE: env.image, RUNTIME: "runc" });
    // checkpointctl 1.3.0 cannot read a dump that caught a zombie (the counter's `sleep` between its
    // exit and the shell's wait): it looks for the zombie's pagemap. ckpt reads such a dump; for
    // checkpointctl's inspect, take checkpoints until one has no zombie.
    let inspectable = archive;
    let inspect = checkpointctl(["inspect", "--all", inspectable]);
    for (let i = 0; i < 5 && inspect.code !== 0 && /pagemap-\d+\.img: no such file/.test(inspect.stderr); i++) {
      expect(runCkpt(["inspect", inspectable, "--ps-tree"]).stdout).toMatch(/Zombie|Dead/);
      const again = await agent.call("POST", "/checkpoint/default/counter/counter?timeout=60", { cert: env.alice });
      expect(again.status, again.body).toBe(200);
      inspectable = (JSON.parse(again.body) as { items: string[] }).items[0]!;
      inspect = checkpointctl(["inspect", "--all", inspectable]);
    }
    expect(inspect.code, inspect.stderr).toBe(0);
    expect(inspect.stdout).toContain("Engine: CRI-O");

    const ours = JSON.parse(runCkpt(["show", archive, "--format", "json"]).stdout) as Array<Record<string, unknown>>;
    expect(ours[0]).toMatchObject({ container: "counter", engine: "CRI-O", ip: pod.status.podIP, image: env.image });
    const found = runCkpt(["memparse", archive, "-s", SECRET, "--format", "json"]);
    expect(found.status, found.stderr).toBe(0);
    expect(found.stdout).toContain(SECRET);

    const diff = spawnSync("sh", ["-c", `tar -xOf '${archive}' rootfs-diff.tar | tar -xO tmp/test-file`], { encoding: "utf8" });
    expect(diff.stdout).toBe("written-by-counter\n");
    const members = spawnSync("tar", ["-tf", archive], { encoding: "utf8" }).stdout.split("\n");
    for (const m of ["config.dump", "spec.dump", "stats-dump", "dump.log", "checkpoint/inventory.img", "io.kubernetes.cri-o.LogPath"]) {
      expect(members).toContain(m);
    }

    // The container ran on, unpaused, throughout.
    expect(runcStatus(env, pod, "counter")).toBe("running");
    const after = await waitFor("the counter to advance", () => {
      const n = lastCount(env, pod, "counter");
      return n > before + 5 ? n : undefined;
    });
    expect(after).toBeGreaterThan(before);
    expect(leftovers(env)).toEqual([]);
    // The request's log line (it may reach this process after the HTTP answer).
    const logged = /"user":"alice".*"target":"default\/counter\/counter".*"status":200.*"bytes":\d+/;
    await waitFor("the request's log line", () => (logged.test(agent.log()) ? true : undefined));
  });

  it("restores a checkpoint into a new pod: the counter goes on from where it was, its file is there", async () => {
    const r = await agent.call("POST", "/checkpoint/default/counter/counter?timeout=60", { cert: env.alice });
    expect(r.status, r.body).toBe(200);
    const archive = (JSON.parse(r.body) as { items: string[] }).items[0]!;
    const atCheckpoint = lastCount(env, pod, "counter");
    const manifest = counterPod("restored", archive);
    const applied = await agent.call("POST", "/pods", { cert: env.alice }, manifest);
    expect(applied.status, applied.body).toBe(201);
    const restored = await runningPod(agent, env, "restored");
    expect(restored.status.podIP).not.toBe(pod.status.podIP);
    const counts = await waitFor("the restored counter to log", () => {
      const all = allCounts(env, restored, "counter");
      return all.length && all.at(-1)! > atCheckpoint + 2 ? all : undefined;
    });
    // The log so far came along, and the count goes on from the checkpointed value: 1, 2, … with no
    // second "count 1" (a restart) and no gap.
    expect(counts.slice(0, 3)).toEqual([1, 2, 3]);
    expect(counts).toEqual(counts.map((_, i) => i + 1));
    expect(runcStatus(env, restored, "counter")).toBe("running");
    const id = restored.status.containerStatuses[0]!.containerID.replace("runc://", "");
    expect(readFileSync(join(env.root, "containers", id, "rootfs/tmp/test-file"), "utf8")).toBe("written-by-counter\n");
    // The restored container checkpoints again, and its config.dump says it was restored.
    const again = await agent.call("POST", "/checkpoint/default/restored/counter?timeout=60", { cert: env.alice });
    expect(again.status, again.body).toBe(200);
    const path = (JSON.parse(again.body) as { items: string[] }).items[0]!;
    const config = JSON.parse(spawnSync("tar", ["-xOf", path, "config.dump"], { encoding: "utf8" }).stdout) as Record<string, unknown>;
    expect(config).toMatchObject({ restored: true, rootfsImage: env.image });
    expect((await agent.call("DELETE", "/pods/default/restored", { cert: env.alice })).status).toBe(200);

    // The CLI form: the container's name is read from the archive.
    const cli = runCkpt([
      "node", "restore", archive, "--pod", "restored-cli", "--server", agent.url,
      "--client-certificate", env.alice.certFile, "--client-key", env.alice.keyFile, "--insecure-skip-tls-verify",
    ]);
    expect(cli.stderr).toBe("");
    expect(cli.stdout).toMatch(/^pod\/restored-cli restored from \S+ \(namespace default, IP 10\./);
    const viaCli = await runningPod(agent, env, "restored-cli");
    expect(viaCli.spec.containers[0]).toMatchObject({ name: "counter", image: archive });
    expect((await agent.call("DELETE", "/pods/default/restored-cli", { cert: env.alice })).status).toBe(200);
  });

  it("restores a process tree with pipes between processes, an open file at an offset and a listening socket", async () => {
    // sh → (a writer | a reader) joined by a pipe; the reader keeps /tmp/out open, appending; nc listens.
    const manifest = `apiVersion: v1
kind: Pod
metadata: {name: tree, namespace: default}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: tree
    image: ${env.image}
    command: ["/bin/sh", "-c", "nc -ll -p 7000 -e cat & exec 3>>/tmp/out; i=0; while true; do i=$((i+1)); echo line $i; sleep 0.1; done | while read l; do echo $l >&3; echo $l; done"]
`;
    expect((await agent.call("POST", "/pods", { cert: env.alice }, manifest)).status).toBe(201);
    const tree = await runningPod(agent, env, "tree");
    await new Promise((r) => setTimeout(r, 800));
    const cp = await agent.call("POST", "/checkpoint/default/tree/tree?timeout=60", { cert: env.alice });
    expect(cp.status, cp.body).toBe(200);
    const archive = (JSON.parse(cp.body) as { items: string[] }).items[0]!;
    const before = JSON.parse(runCkpt(["inspect", archive, "--ps-tree", "--files", "--sockets", "--format", "json"]).stdout) as unknown;
    expect((await agent.call("DELETE", "/pods/default/tree", { cert: env.alice })).status).toBe(200);
    const back = await agent.call("POST", "/pods", { cert: env.alice }, manifest.replace("name: tree, namespace", "name: tree2, namespace").replace(`image: ${env.image}`, `image: ${archive}`));
    expect(back.status, back.body).toBe(201);
    const tree2 = await runningPod(agent, env, "tree2");
    expect(tree2.metadata.uid).not.toBe(tree.metadata.uid);
    // Checkpoint the restored tree: the same processes, pipes, open file (at a later offset) and socket.
    await new Promise((r) => setTimeout(r, 500));
    const again = await agent.call("POST", "/checkpoint/default/tree2/tree?timeout=60", { cert: env.alice });
    expect(again.status, again.body).toBe(200);
    const after = JSON.parse(runCkpt(["inspect", (JSON.parse(again.body) as { items: string[] }).items[0]!, "--ps-tree", "--files", "--sockets", "--format", "json"]).stdout) as unknown;
    const shape = (j: unknown) => {
      const text = JSON.stringify(j);
      return {
        // The loop's `sleep` comes and goes (a dump may fall between two of them): not part of the shape.
        commands: [...new Set([...text.matchAll(/"command":"([^"]+)"/g)].map((m) => m[1]))].filter((c) => c !== "sleep").sort(),
        pipes: text.includes('"type":"PIPE"'),
        out: /\/tmp\/out/.test(text),
        listen: /LISTEN/.test(text) && /7000/.test(text),
      };
    };
    expect(shape(after)).toEqual(shape(before));
    expect(shape(before)).toMatchObject({ pipes: true, out: true, listen: true });
    const id = tree2.status.containerStatuses[0]!.containerID.replace("runc://", "");
    const lines = readFileSync(join(env.root, "containers", id, "rootfs/tmp/out"), "utf8").trim().split("\n");
    // One file, written on by the restored process at its offset: numbers rise without a restart at 1.
    const nums = lines.map((l) => Number(l.split(" ")[1]));
    expect(nums.slice(1).every((n, i) => n === nums[i]! + 1)).toBe(true);
    expect(nums.at(-1)).toBeGreaterThan(nums.length / 2);
    expect((await agent.call("DELETE", "/pods/default/tree2", { cert: env.alice })).status).toBe(200);
  });

  it("the same with a bearer token", async () => {
    const r = await agent.call("POST", "/checkpoint/default/counter/counter?timeout=60", { token: env.token });
    expect(r.status, r.body).toBe(200);
    const path = (JSON.parse(r.body) as { items: string[] }).items[0]!;
    expect(checkpointctl(["show", path]).code).toBe(0);
  });

  it("401 without credentials, 403 for a user the policy denies, 404s as the kubelet gives them", async () => {
    const none = await agent.call("POST", "/checkpoint/default/counter/counter", {});
    expect(none.status).toBe(401);
    const bob = await agent.call("POST", "/checkpoint/default/counter/counter", { cert: env.bob });
    expect(bob.status).toBe(403);
    expect(bob.body).toContain("user=bob");
    expect(bob.body).toContain("subresource(s)=[checkpoint]");
    const pod404 = await agent.call("POST", "/checkpoint/default/nope/counter", { cert: env.alice });
    expect([pod404.status, pod404.body]).toEqual([404, "pod does not exist"]);
    const ctr404 = await agent.call("POST", "/checkpoint/default/counter/nope", { cert: env.alice });
    expect([ctr404.status, ctr404.body]).toEqual([404, "container nope does not exist"]);
    const badTimeout = await agent.call("POST", "/checkpoint/default/counter/counter?timeout=soon", { cert: env.alice });
    expect(badTimeout.status).toBe(404);
    expect(leftovers(env)).toEqual([]);
  });

  it("500 when CRIU fails: the container is left running and unpaused, nothing is written", async () => {
    const archives = readdirSync(env.checkpointsDir).length;
    env.criuMode("fail");
    try {
      const r = await agent.call("POST", "/checkpoint/default/counter/counter?timeout=60", { cert: env.alice });
      expect(r.status).toBe(500);
      expect(r.body).toMatch(/^checkpointing of default\/counter\/counter failed \(.*\)$/s);
    } finally {
      env.criuMode(undefined);
    }
    expect(runcStatus(env, pod, "counter")).toBe("running");
    expect(readdirSync(env.checkpointsDir)).toHaveLength(archives);
    expect(workFiles(env)).toEqual([]);
  });

  it("a checkpoint past its deadline is stopped: 500, CRIU killed, container unpaused, no files", async () => {
    const archives = readdirSync(env.checkpointsDir).length;
    env.criuMode("slow");
    try {
      // No timeout asked: the node's least deadline (2 s here) applies.
      const r = await agent.call("POST", "/checkpoint/default/counter/counter", { cert: env.alice });
      expect(r.status).toBe(500);
      expect(r.body).toContain("timed out");
    } finally {
      env.criuMode(undefined);
    }
    expect(runcStatus(env, pod, "counter")).toBe("running");
    expect(readdirSync(env.checkpointsDir)).toHaveLength(archives);
    expect(workFiles(env)).toEqual([]);
    const before = lastCount(env, pod, "counter");
    await waitFor("the counter to advance", () => (lastCount(env, pod, "counter") > before + 3 ? true : undefined));
  });

  it("twenty concurrent requests against three containers: every archive complete and valid, no temp files", async () => {
    const applied = await agent.call("POST", "/pods", { cert: env.alice }, counterPod("trio", env.image, ["a", "b", "c"]));
    expect(applied.status, applied.body).toBe(201);
    const trio = await runningPod(agent, env, "trio");
    const targets = Array.from({ length: 20 }, (_, i) => ["a", "b", "c"][i % 3]!);
    const results = await Promise.all(
      targets.map((c) => agent.call("POST", `/checkpoint/default/trio/${c}?timeout=300`, { token: env.token })),
    );
    const paths = results.map((r) => {
      expect(r.status, r.body).toBe(200);
      return (JSON.parse(r.body) as { items: string[] }).items[0]!;
    });
    expect(new Set(paths).size).toBe(20);
    for (const [i, p] of paths.entries()) {
      expect(basename(p)).toContain(`trio_default-${targets[i]}-`);
      const show = checkpointctl(["show", p]);
      expect(show.code, `${p}: ${show.stderr}`).toBe(0);
      expect(parseTable(show.stdout)[0]).toMatchObject({ CONTAINER: targets[i], ENGINE: "CRI-O" });
    }
    expect(leftovers(env)).toEqual([]);
    for (const c of ["a", "b", "c"]) expect(runcStatus(env, trio, c)).toBe("running");
    expect((await agent.call("DELETE", "/pods/default/trio", { cert: env.alice })).status).toBe(200);
  });

  it("restarts a container that exits, as restartPolicy Always says", async () => {
    const manifest = `apiVersion: v1
kind: Pod
metadata: {name: flaky, namespace: default}
spec:
  containers:
  - name: once
    image: ${env.image}
    command: ["/bin/sh", "-c", "echo started; sleep 0.5; exit 3"]
`;
    expect((await agent.call("POST", "/pods", { cert: env.alice }, manifest)).status).toBe(201);
    const restarted = await waitFor("a restart", async () => {
      const p = await getPod(agent, env, "flaky");
      return p && p.status.containerStatuses[0]!.restartCount >= 1 ? p : undefined;
    });
    expect(restarted.status.containerStatuses[0]!.restartCount).toBeGreaterThanOrEqual(1);
    expect((await agent.call("DELETE", "/pods/default/flaky", { cert: env.alice })).status).toBe(200);
    expect(await getPod(agent, env, "flaky")).toBeUndefined();
  });

  it("kill -9 of the agent during a checkpoint: after a restart no partial archive is visible and the container runs", async () => {
    const archivesBefore = readdirSync(env.checkpointsDir).filter((f) => ARCHIVE_NAME.test(f));
    // Slow CRIU: the kill lands while the container is paused and CRIU is at work.
    env.criuMode("slow");
    const pending = agent.call("POST", "/checkpoint/default/counter/counter?timeout=120", { cert: env.alice }).catch((e: Error) => e);
    await waitFor("the checkpoint to start", () => (workFiles(env).length > 0 ? true : undefined));
    await new Promise((r) => setTimeout(r, 300));
    expect(runcStatus(env, pod, "counter")).toBe("paused");
    await agent.kill9();
    expect(await pending).toBeInstanceOf(Error);
    env.criuMode(undefined);

    agent = await env.start();
    const again = await runningPod(agent, env, "counter");
    expect(again.status.containerStatuses[0]!.containerID).toBe(pod.status.containerStatuses[0]!.containerID);
    expect(runcStatus(env, pod, "counter")).toBe("running");
    expect(readdirSync(env.checkpointsDir).filter((f) => ARCHIVE_NAME.test(f))).toEqual(archivesBefore);
    expect(leftovers(env)).toEqual([]);
    const before = lastCount(env, pod, "counter");
    await waitFor("the counter to advance", () => (lastCount(env, pod, "counter") > before + 3 ? true : undefined));
    // And the re-attached agent checkpoints it again.
    const r = await agent.call("POST", "/checkpoint/default/counter/counter?timeout=60", { cert: env.alice });
    expect(r.status, r.body).toBe(200);
  });

  it("volumes: emptyDir and hostPath are bind mounts, listed in bind.mounts and left out of the rootfs diff", async () => {
    const hostDir = join(env.dir, "hostdata");
    const manifest = `apiVersion: v1
kind: Pod
metadata: {name: vols, namespace: default}
spec:
  terminationGracePeriodSeconds: 1
  volumes:
  - name: cache
    emptyDir: {}
  - name: data
    hostPath: {path: ${hostDir}, type: DirectoryOrCreate}
  containers:
  - name: app
    image: ${env.image}
    volumeMounts:
    - {name: cache, mountPath: /cache}
    - {name: data, mountPath: /data, readOnly: true}
    command: ["/bin/sh", "-c", "echo c > /cache/c.txt; echo t > /tmp/t.txt; while true; do sleep 1; done"]
`;
    const r = await agent.call("POST", "/pods", { cert: env.alice }, manifest);
    expect(r.status, r.body).toBe(201);
    const vols = await runningPod(agent, env, "vols");
    await waitFor("the files to be written", () => (readdirSync(join(env.root, "volumes", vols.metadata.uid, "cache")).includes("c.txt") ? true : undefined));
    const cp = await agent.call("POST", "/checkpoint/default/vols/app?timeout=60", { cert: env.alice });
    expect(cp.status, cp.body).toBe(200);
    const path = (JSON.parse(cp.body) as { items: string[] }).items[0]!;
    const bindMounts = JSON.parse(spawnSync("tar", ["-xOf", path, "bind.mounts"], { encoding: "utf8" }).stdout) as Array<Record<string, unknown>>;
    expect(bindMounts).toEqual([
      { source: join(env.root, "volumes", vols.metadata.uid, "cache"), destination: "/cache", file_type: "directory", permissions: 0o777 },
      { source: hostDir, destination: "/data", file_type: "directory", permissions: 0o755 },
    ]);
    const diff = spawnSync("sh", ["-c", `tar -xOf '${path}' rootfs-diff.tar | tar -t`], { encoding: "utf8" }).stdout.split("\n");
    expect(diff).toContain("tmp/t.txt");
    expect(diff.some((f) => f.startsWith("cache"))).toBe(false);
    // Restoring it into a pod that does not declare those mounts is refused (CVE-2024-8676).
    const undeclared = await agent.call("POST", "/pods", { cert: env.alice }, counterPod("vols-restored", path));
    expect(undeclared.status).toBe(500);
    expect(undeclared.body).toContain("expects the following bind mounts to be declared by the pod (volumeMounts): /cache, /data");
    expect(await getPod(agent, env, "vols-restored")).toBeUndefined();
    const mounts = checkpointctl(["inspect", "--mounts", path]);
    expect(mounts.code, mounts.stderr).toBe(0);
    expect(mounts.stdout).toContain("/cache");
    expect(mounts.stdout).toContain("/data");
    expect((await agent.call("DELETE", "/pods/default/vols", { cert: env.alice })).status).toBe(200);
    expect(existsSync(join(env.root, "volumes", vols.metadata.uid))).toBe(false);
  });

  it("refuses a manifest whose volumeMount names no volume, saying which", async () => {
    const r = await agent.call("POST", "/pods", { cert: env.alice }, `apiVersion: v1
kind: Pod
metadata: {name: bad, namespace: default}
spec:
  containers:
  - name: app
    image: ${env.image}
    volumeMounts: [{name: nope, mountPath: /x}]
`);
    expect([r.status, r.body]).toEqual([400, "manifest: container app: volumeMount nope names no volume of the pod"]);
  });

  it("GET /metrics counts the checkpoints", async () => {
    const r = await agent.call("GET", "/metrics", { cert: env.alice });
    expect(r.status).toBe(200);
    expect(r.body).toMatch(/ckpt_checkpoint_requests_total\{result="success"\} [1-9]/);
  });
});

describe.skipIf(!stack || !haveRegistryTools())("ckpt node serve: registry images, TCP connections, a full disk", () => {
  let env: NodeEnv;
  let agent: RunningAgent;
  let registry: TestRegistry;

  beforeAll(async () => {
    registry = await startRegistry();
    env = await makeNodeEnv(mkdtempSync(join(tmpdir(), "ckpt-node-")), {
      insecureRegistries: [registry.host],
      checkpointsTmpfs: "128m",
      extraArgs: ["--keep-checkpoints", "2"],
    });
    const layout = join(env.dir, "pushed");
    await buildBusyboxLayout(layout, { tag: "v1" });
    await pushLayout(layout, "v1", registry, "tools/busybox");
    agent = await env.start();
  }, 120_000);

  afterAll(async () => {
    await env?.cleanup();
    await registry?.stop();
  }, 120_000);

  it("runs a pod whose image is pulled from an OCI registry", async () => {
    const image = `${registry.host}/tools/busybox:v1`;
    const r = await agent.call("POST", "/pods", { cert: env.alice }, counterPod("pulled", image));
    expect(r.status, r.body).toBe(201);
    const pod = await runningPod(agent, env, "pulled");
    expect(registry.requests().some((q) => q.method === "GET" && q.path.startsWith("/v2/tools/busybox/manifests/v1"))).toBe(true);
    const cp = await agent.call("POST", "/checkpoint/default/pulled/counter?timeout=60", { cert: env.alice });
    expect(cp.status, cp.body).toBe(200);
    const path = (JSON.parse(cp.body) as { items: string[] }).items[0]!;
    expect(parseTable(checkpointctl(["show", path]).stdout)[0]).toMatchObject({ IMAGE: image, ENGINE: "CRI-O" });
    const config = JSON.parse(spawnSync("tar", ["-xOf", path, "config.dump"], { encoding: "utf8" }).stdout) as Record<string, string>;
    expect(config.rootfsImage).toBe(image);
    expect(config.rootfsImageRef).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(runcStatus(env, pod, "counter")).toBe("running");

    // The archive as a checkpoint image in the registry, and a pod restored from that image.
    const checkpointImage = `${registry.host}/checkpoints/pulled:v1`;
    const built = runCkpt(["image", "build", path, checkpointImage, "--insecure-registry", registry.host]);
    expect(built.status, built.stderr).toBe(0);
    expect(built.stdout).toMatch(/^sha256:[0-9a-f]{64}\n$/);
    const inspected = JSON.parse(runCkpt(["image", "inspect", checkpointImage, "--format", "json", "--insecure-registry", registry.host]).stdout) as Record<string, unknown>;
    expect(JSON.stringify(inspected)).toContain('"io.kubernetes.cri-o.annotations.checkpoint.name":"counter"');
    const restoredApply = await agent.call("POST", "/pods", { cert: env.alice }, counterPod("from-image", checkpointImage));
    expect(restoredApply.status, restoredApply.body).toBe(201);
    const restored = await runningPod(agent, env, "from-image");
    const counts = await waitFor("the restored counter to log", () => {
      const all = allCounts(env, restored, "counter");
      return all.length > 3 ? all : undefined;
    });
    // Its log came along and the count goes on: 1, 2, 3, … without a second "count 1".
    expect(counts).toEqual(counts.map((_, i) => i + 1));
    for (const p of ["pulled", "from-image"]) expect((await agent.call("DELETE", `/pods/default/${p}`, { cert: env.alice })).status).toBe(200);
  });

  it("an established TCP connection needs the pod's tcp-established annotation", async () => {
    const talk = (name: string, annotations: Record<string, string>) => `apiVersion: v1
kind: Pod
metadata:
  name: ${name}
  namespace: default
  annotations: {${Object.entries(annotations).map(([k, v]) => `"${k}": "${v}"`).join(", ")}}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: server
    image: ${env.image}
    command: ["/bin/sh", "-c", "nc -ll -p 9000 -e cat"]
  - name: client
    image: ${env.image}
    command: ["/bin/sh", "-c", "sleep 1; while true; do echo ping; sleep 0.2; done | nc 127.0.0.1 9000"]
`;
    for (const [name, ann] of [["plain", {}], ["tcp", { "checkpoint.ckpt.dev/tcp-established": "true" }]] as const) {
      const r = await agent.call("POST", "/pods", { cert: env.alice }, talk(name, ann));
      expect(r.status, r.body).toBe(201);
    }
    const plain = await runningPod(agent, env, "plain");
    await runningPod(agent, env, "tcp");
    await new Promise((r) => setTimeout(r, 1500));

    const refused = await agent.call("POST", "/checkpoint/default/plain/client?timeout=60", { cert: env.alice });
    expect(refused.status).toBe(500);
    expect(refused.body).toMatch(/tcp-established|established/i);
    expect(runcStatus(env, plain, "client")).toBe("running");
    const ok = await agent.call("POST", "/checkpoint/default/tcp/client?timeout=60", { cert: env.alice });
    expect(ok.status, ok.body).toBe(200);
    const path = (JSON.parse(ok.body) as { items: string[] }).items[0]!;
    const sockets = runCkpt(["inspect", path, "--sockets", "--format", "json"]);
    expect(sockets.status, sockets.stderr).toBe(0);
    expect(sockets.stdout).toContain("ESTABLISHED");
    for (const p of ["plain", "tcp"]) expect((await agent.call("DELETE", `/pods/default/${p}`, { cert: env.alice })).status).toBe(200);
  });

  it("keeps the newest two archives of a container (--keep-checkpoints 2), pinned ones aside", async () => {
    expect((await agent.call("POST", "/pods", { cert: env.alice }, counterPod("kept", env.image))).status).toBe(201);
    await runningPod(agent, env, "kept");
    const paths: string[] = [];
    for (let i = 0; i < 4; i++) {
      const r = await agent.call("POST", "/checkpoint/default/kept/counter?timeout=60", { cert: env.alice });
      expect(r.status, r.body).toBe(200);
      paths.push((JSON.parse(r.body) as { items: string[] }).items[0]!);
      if (i === 0) writeFileSync(join(env.checkpointsDir, ".pinned"), `${basename(paths[0]!)}\n`);
    }
    const left = readdirSync(env.checkpointsDir).filter((f) => f.startsWith("checkpoint-kept_")).sort();
    expect(left).toEqual([paths[0]!, paths[2]!, paths[3]!].map((p) => basename(p)).sort());
    rmSync(join(env.checkpointsDir, ".pinned"));
    // The agent's log line may reach this process after the HTTP answer.
    await waitFor("the retention log line", () => (agent.log().includes("old checkpoints removed (retention policy)") ? true : undefined));
    expect((await agent.call("DELETE", "/pods/default/kept", { cert: env.alice })).status).toBe(200);
  });

  it("refuses a checkpoint the disk cannot hold: 500 before dumping, container running", async () => {
    const manifest = `apiVersion: v1
kind: Pod
metadata: {name: fat, namespace: default}
spec:
  containers:
  - name: fat
    image: ${env.image}
    command: ["/bin/sh", "-c", "x=$(head -c 100000000 /dev/zero | tr '\\\\0' a); echo filled; while true; do sleep 1; done"]
`;
    expect((await agent.call("POST", "/pods", { cert: env.alice }, manifest)).status).toBe(201);
    const fat = await runningPod(agent, env, "fat");
    await waitFor("the memory to be filled", () => (lastLogLine(env, fat, "fat").includes("filled") ? true : undefined), 60_000);
    const r = await agent.call("POST", "/checkpoint/default/fat/fat?timeout=60", { cert: env.alice });
    expect(r.status).toBe(500);
    expect(r.body).toContain("not enough free space");
    expect(runcStatus(env, fat, "fat")).toBe("running");
    expect(leftovers(env)).toEqual([]);
  });
});

function lastLogLine(env: NodeEnv, pod: PodJson, container: string): string {
  const dir = join(env.root, "logs", `default_${pod.metadata.name}_${pod.metadata.uid}`, container);
  const logs = readdirSync(dir).sort();
  return readFileSync(join(dir, logs.at(-1)!), "utf8").trim().split("\n").at(-1) ?? "";
}
