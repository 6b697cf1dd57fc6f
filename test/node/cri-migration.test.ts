/**
 * `ckpt migrate` across backends: the counter pod moves from a node agent on the built-in runc
 * runtime to one on containerd 2.1 (through the CRI), and back. Both agents run on this host (each
 * with its own bridge and subnet), with a loopback registry: containerd pulls a checkpoint's base
 * image by NAME@DIGEST with its default resolver, which speaks plain HTTP to loopback only.
 */
import { createHash } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCkpt } from "../support/ckpt-cli.js";
import { cniNetns, haveContainerd, leftoversOf, startContainerd, type TestContainerd } from "../support/containerd.js";
import { haveNodeStack, makeNodeEnv, type NodeEnv, type RunningAgent } from "../support/node-agent.js";
import { buildBusyboxLayout, haveRegistryTools, pushLayout, startRegistry, type TestRegistry } from "../support/oci-images.js";
import { counterPod } from "../support/test-pods.js";
import { waitFor } from "../support/wait-for.js";

const ok = haveNodeStack() && haveContainerd() && haveRegistryTools();

interface PodJson {
  metadata: { name: string };
  status: { phase: string; containerStatuses: Array<{ containerID: string; ready: boolean }> };
}

interface MigrationJson {
  steps: Array<{ step: string }>;
  downtime: Array<{ ms: number; last: { text: string }; first: { text: string } }>;
}

describe.skipIf(!ok)("ckpt migrate between a runc node and a containerd node", () => {
  let cd: TestContainerd;
  let registry: TestRegistry;
  let envRunc: NodeEnv;
  let envCri: NodeEnv;
  let onRunc: RunningAgent;
  let onCri: RunningAgent;
  let netnsBefore: string[] = [];

  const pods = async (agent: RunningAgent): Promise<PodJson[]> => (JSON.parse((await agent.call("GET", "/pods", { cert: envRunc.alice })).body) as { items: PodJson[] }).items;
  const pod = async (agent: RunningAgent, name: string) => (await pods(agent)).find((p) => p.metadata.name === name);
  const running = (agent: RunningAgent, name: string) =>
    waitFor(`${name} running`, async () => {
      const p = await pod(agent, name);
      return p?.status.phase === "Running" && p.status.containerStatuses.every((c) => c.ready) ? p : undefined;
    });
  let image = "";
  const lastCount = async (agent: RunningAgent, name = "counter") => {
    const body = (await agent.call("GET", `/containerLogs/default/${name}/counter`, { cert: envRunc.alice })).body;
    const all = [...body.matchAll(/^count (\d+)$/gm)];
    return all.length ? Number(all.at(-1)![1]) : 0;
  };
  const migrate = (from: RunningAgent, to: RunningAgent, name = "counter") =>
    runCkpt([
      "migrate", `default/${name}`, "--from", from.url, "--to", to.url, "--registry", registry.host, "--format", "json",
      "--client-certificate", envRunc.alice.certFile, "--client-key", envRunc.alice.keyFile, "--insecure-skip-tls-verify",
    ]);
  const expectMoved = async (r: ReturnType<typeof migrate>, from: RunningAgent, to: RunningAgent, scheme: string, name = "counter") => {
    expect(r.status, r.stderr).toBe(0);
    const result = JSON.parse(r.stdout) as MigrationJson;
    expect(result.steps.map((s) => s.step)).toEqual(["base image", "checkpoint", "push", "restore", "running", "stop source"]);
    const d = result.downtime[0]!;
    const last = Number(/^count (\d+)$/.exec(d.last.text)![1]);
    // The process state came along: the target's first line is the one after the source's last.
    expect(d.first.text).toBe(`count ${last + 1}`);
    expect(await pod(from, name)).toBeUndefined();
    const moved = await running(to, name);
    expect(moved.status.containerStatuses[0]!.containerID.startsWith(`${scheme}://`)).toBe(true);
    await waitFor("the moved counter to go on", async () => ((await lastCount(to, name)) > last + 5 ? true : undefined));
  };

  let layoutDir = "";
  let layoutManifest = "";
  beforeAll(async () => {
    netnsBefore = cniNetns();
    cd = await startContainerd();
    registry = await startRegistry();
    layoutDir = mkdtempSync(join(tmpdir(), "ckpt-xmig-busybox-"));
    const layout = join(layoutDir, "layout");
    layoutManifest = (await buildBusyboxLayout(layout, { tag: "latest" })).manifestDigest;
    image = await pushLayout(layout, "latest", registry, "library/busybox");
    envRunc = await makeNodeEnv(mkdtempSync(join(tmpdir(), "ckpt-xmig-runc-")), { insecureRegistries: [registry.host] });
    envCri = await makeNodeEnv(mkdtempSync(join(tmpdir(), "ckpt-xmig-cri-")), {
      insecureRegistries: [registry.host],
      authFrom: envRunc,
      extraArgs: ["--runtime-endpoint", cd.endpoint, "--cgroup-root", cd.cgroupParent],
    });
    [onRunc, onCri] = await Promise.all([envRunc.start(), envCri.start()]);
    const applied = await onRunc.call("POST", "/pods", { cert: envRunc.alice }, counterPod("counter", image));
    expect(applied.status, applied.body).toBe(201);
    await running(onRunc, "counter");
    await waitFor("the counter to count", async () => ((await lastCount(onRunc)) > 10 ? true : undefined));
  }, 180_000);

  afterAll(async () => {
    if (layoutDir) rmSync(layoutDir, { recursive: true, force: true });
    for (const [agent, env] of [[onCri, envCri], [onRunc, envRunc]] as const) {
      for (const name of ["counter", "native", "fromlayout", "deleter"]) if (agent) await agent.call("DELETE", `/pods/default/${name}`, { cert: env.alice }).catch(() => undefined);
    }
    await envCri?.cleanup();
    await envRunc?.cleanup();
    await cd?.cleanup();
    await registry?.stop();
    if (cd) expect(leftoversOf(cd, netnsBefore)).toEqual([]);
  }, 120_000);

  it("moves the counter from the runc node to the containerd node", async () => {
    await expectMoved(migrate(onRunc, onCri), onRunc, onCri, "containerd");
  }, 180_000);

  it("moves a pod started on the containerd node to the runc node", async () => {
    const applied = await onCri.call("POST", "/pods", { cert: envRunc.alice }, counterPod("native", image));
    expect(applied.status, applied.body).toBe(201);
    await running(onCri, "native");
    await waitFor("the counter to count", async () => ((await lastCount(onCri, "native")) > 5 ? true : undefined));
    await expectMoved(migrate(onCri, onRunc, "native"), onCri, onRunc, "runc", "native");
  }, 180_000);

  it("copies a base image the target cannot pull (an OCI layout on the source node) to the registry, and restores from that copy", async () => {
    const applied = await onRunc.call("POST", "/pods", { cert: envRunc.alice }, counterPod("fromlayout", `oci:${join(layoutDir, "layout")}:latest`));
    expect(applied.status, applied.body).toBe(201);
    await running(onRunc, "fromlayout");
    await waitFor("the counter to count", async () => ((await lastCount(onRunc, "fromlayout")) > 5 ? true : undefined));
    const r = migrate(onRunc, onCri, "fromlayout");
    await expectMoved(r, onRunc, onCri, "containerd", "fromlayout");
    const base = (JSON.parse(r.stdout) as MigrationJson & { steps: Array<{ step: string; detail: string }> }).steps[0]!;
    const copy = `${registry.host}/default/fromlayout-counter-base@sha256:`;
    expect(base.step).toBe("base image");
    expect(base.detail).toContain(`copied to ${copy}`);
    // The copy is the layout's image unchanged: the same manifest, so the same image ID.
    const pinned = /copied to (\S+):/.exec(base.detail)![1]!;
    const res = await fetch(`http://${registry.host}/v2/default/fromlayout-counter-base/manifests/base`, {
      headers: { accept: "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json" },
    });
    expect(res.status).toBe(200);
    const manifest = Buffer.from(await res.arrayBuffer());
    expect(`sha256:${createHash("sha256").update(manifest).digest("hex")}`).toBe(pinned.split("@")[1]);
    expect(pinned.split("@")[1]).toBe(layoutManifest);
  }, 180_000);

  it("a file the container deleted from its image stays deleted on containerd (deleted.files as whiteouts)", async () => {
    const manifest = `apiVersion: v1
kind: Pod
metadata:
  name: deleter
  namespace: default
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: counter
    image: ${image}
    command: ["/bin/sh", "-c", "rm /etc/motd; i=0; while true; do i=$((i+1)); if [ -e /etc/motd ]; then echo count $i motd-is-back; else echo count $i; fi; sleep 0.1; done"]
`;
    const applied = await onRunc.call("POST", "/pods", { cert: envRunc.alice }, manifest);
    expect(applied.status, applied.body).toBe(201);
    await running(onRunc, "deleter");
    await waitFor("the counter to count", async () => ((await lastCount(onRunc, "deleter")) > 5 ? true : undefined));
    const r = migrate(onRunc, onCri, "deleter");
    await expectMoved(r, onRunc, onCri, "containerd", "deleter");
    const log = (await onCri.call("GET", "/containerLogs/default/deleter/counter", { cert: envRunc.alice })).body;
    const last = Number(/^count (\d+)$/.exec((JSON.parse(r.stdout) as MigrationJson).downtime[0]!.last.text)![1]);
    const after = log.split("\n").filter((l) => Number(/^count (\d+)/.exec(l)?.[1] ?? 0) > last);
    expect(after.length).toBeGreaterThan(5);
    expect(after.filter((l) => l.includes("motd-is-back"))).toEqual([]);
  }, 180_000);

  it("a container restored on containerd from a runc node's dump cannot be dumped again: CRIU's reason, the source runs on", async () => {
    // CRIU 4.2.1 refuses the masked /proc files of the twice-restored mount tree ("doesn't have a
    // proper root mount"); the migration says so and leaves the pod running where it was.
    const before = await lastCount(onCri);
    const r = migrate(onCri, onRunc);
    expect(r.status).not.toBe(0);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
    expect(r.stderr).toMatch(/failed at checkpoint: .*CRIU: Error \(criu\/mount\.c:\d+\): mnt: .* doesn't have a proper root mount\); the source pod runs on/);
    await waitFor("the counter to go on", async () => ((await lastCount(onCri)) > before + 5 ? true : undefined));
    expect(await pod(onRunc, "counter")).toBeUndefined();
  }, 180_000);
});
