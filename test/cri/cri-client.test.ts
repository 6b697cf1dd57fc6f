/**
 * CriClient and `ckpt cri` against a real private containerd 2.1 (test/support/containerd.ts): a pod
 * sandbox and a busybox counter made through the CRI, listed by `ckpt cri pods`/`ps`, checkpointed by
 * `ckpt cri checkpoint` into an archive `ckpt show` reads, while it keeps running.
 */
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CriClient, CriError, type PodSandboxConfig } from "../../src/cri/client.js";
import { ensureCliBuilt, expectOneLineError, runCkpt } from "../support/ckpt-cli.js";
import { haveContainerd, startContainerd, type TestContainerd } from "../support/containerd.js";
import { waitFor } from "../support/wait-for.js";

const ok = haveContainerd();

/** The names in `ip netns list` that containerd's CNI gives pod namespaces ("cni-UUID"). */
function cniNetns(): string[] {
  const out = spawnSync("ip", ["netns", "list"], { encoding: "utf8" }).stdout ?? "";
  return out
    .split("\n")
    .map((l) => l.split(" ")[0]!)
    .filter((n) => n.startsWith("cni-"));
}

function mountsUnder(dir: string): string[] {
  return readFileSync("/proc/self/mountinfo", "utf8")
    .split("\n")
    .map((l) => l.split(" ")[4] ?? "")
    .filter((p) => p === dir || p.startsWith(dir + "/"));
}

/** Processes (not zombies) whose command line mentions `needle`. */
function liveProcessesMentioning(needle: string): string[] {
  const found: string[] = [];
  for (const pid of readdirSync("/proc").filter((n) => /^\d+$/.test(n))) {
    try {
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, "utf8");
      const state = /^State:\s+(\S)/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1];
      if (state !== "Z" && cmdline.includes(needle)) found.push(`${pid} ${cmdline.replaceAll("\0", " ")}`);
    } catch {
      // exited meanwhile
    }
  }
  return found;
}

/** The counter's last number in its CRI log ("TIMESTAMP stdout F 12"). */
function lastCount(logFile: string): number {
  if (!existsSync(logFile)) return 0;
  const lines = readFileSync(logFile, "utf8").trim().split("\n");
  return Number(lines.at(-1)?.split(" ").at(-1) ?? 0) || 0;
}

describe.skipIf(!ok)("CRI client and `ckpt cri` against a private containerd 2.1", () => {
  let cd: TestContainerd;
  let client: CriClient;
  let netnsBefore: string[];
  let podId = "";
  let containerId = "";
  let sandboxConfig: PodSandboxConfig;
  let logDir = "";

  beforeAll(async () => {
    ensureCliBuilt();
    netnsBefore = cniNetns();
    cd = await startContainerd();
    client = new CriClient({ endpoint: cd.endpoint, timeoutMs: 30_000 });
  });

  afterAll(async () => {
    try {
      if (podId) {
        await client.stopPodSandbox(podId).catch(() => undefined);
        await client.removePodSandbox(podId).catch(() => undefined);
      }
    } finally {
      client?.close();
      const socket = cd?.socket;
      await cd?.cleanup();
      if (socket) {
        // Nothing left: no containerd or shim of ours, no netns (containerd keeps them under its
        // state dir: mounts there), bridge or temp dir. Other tests' namespaces may come and go.
        expect(liveProcessesMentioning(socket)).toEqual([]);
        expect(mountsUnder(cd.dir)).toEqual([]);
        expect(cniNetns().filter((n) => !netnsBefore.includes(n))).toEqual([]);
        expect(spawnSync("ip", ["link", "show", cd.bridge], { stdio: "ignore" }).status).not.toBe(0);
        expect(existsSync(cd.dir)).toBe(false);
      }
    }
  });

  it("reads the runtime's version, through the client and the CLI", async () => {
    const v = await client.version();
    expect(v).toMatchObject({ runtimeName: "containerd", runtimeApiVersion: "v1" });
    expect(v.runtimeVersion).toMatch(/^2\.1\./);

    const r = runCkpt(["cri", "--runtime-endpoint", cd.endpoint, "version", "--format", "json"]);
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual(v);
    const text = runCkpt(["cri", "-r", cd.endpoint, "version"]);
    expect(text.stdout).toMatch(/^RuntimeName:\s+containerd$/m);
  });

  it("sees the imported test image", async () => {
    const images = await client.listImages();
    expect(images.some((i) => i.repoTags.includes(cd.image))).toBe(true);
    expect((await client.imageStatus(cd.image))?.repoTags).toContain(cd.image);
    expect(await client.imageStatus("docker.io/ckpt-test/absent:1")).toBeUndefined();
  });

  it("runs a pod and a container, listed by `ckpt cri pods` and `ps`", async () => {
    logDir = join(cd.dir, "logs", "counter-pod");
    sandboxConfig = {
      metadata: { name: "counter-pod", uid: `uid-${Date.now()}`, namespace: "ckpt-test", attempt: 0 },
      hostname: "counter-pod",
      logDirectory: logDir,
      labels: { app: "counter" },
      linux: { cgroupParent: cd.cgroupParent },
    };
    podId = await client.runPodSandbox(sandboxConfig);
    const status = await client.podSandboxStatus(podId);
    expect(status.status?.state).toBe("SANDBOX_READY");
    expect(status.status?.network?.ip).toMatch(new RegExp(`^${cd.subnet.split(".").slice(0, 3).join("\\.")}\\.`));

    containerId = await client.createContainer(
      podId,
      {
        metadata: { name: "counter" },
        image: { image: cd.image },
        command: ["sh", "-c", "i=0; while true; do i=$((i+1)); echo $i; sleep 0.2; done"],
        logPath: "counter.log",
        labels: { app: "counter" },
      },
      sandboxConfig,
    );
    await client.startContainer(containerId);
    expect((await client.containerStatus(containerId)).status?.state).toBe("CONTAINER_RUNNING");
    await waitFor("the counter's output", () => (lastCount(join(logDir, "counter.log")) > 0 ? true : undefined));

    // The endpoint from the environment, as crictl reads it.
    const saved = process.env.CONTAINER_RUNTIME_ENDPOINT;
    process.env.CONTAINER_RUNTIME_ENDPOINT = cd.endpoint;
    try {
      const pods = runCkpt(["cri", "pods", "--format", "json"]);
      expect(pods.stderr).toBe("");
      const items = JSON.parse(pods.stdout).items as { id: string; state: string; metadata: { name: string; namespace: string } }[];
      expect(items).toHaveLength(1);
      expect(items[0]).toMatchObject({ id: podId, state: "SANDBOX_READY", metadata: { name: "counter-pod", namespace: "ckpt-test" } });
      const table = runCkpt(["cri", "pods"]);
      expect(table.status).toBe(0);
      expect(table.stdout).toContain(podId.slice(0, 13));
      expect(table.stdout).toMatch(/counter-pod.*ckpt-test/);

      const ps = runCkpt(["cri", "ps", "--format", "json"]);
      const containers = JSON.parse(ps.stdout).containers as { id: string; podSandboxId: string; state: string; metadata: { name: string } }[];
      expect(containers).toEqual([expect.objectContaining({ id: containerId, podSandboxId: podId, state: "CONTAINER_RUNNING", metadata: expect.objectContaining({ name: "counter" }) })]);
      const psTable = runCkpt(["cri", "ps"]);
      expect(psTable.stdout).toContain(containerId.slice(0, 13));
      expect(psTable.stdout).toMatch(/RUNNING.*counter/);
      expect(psTable.stdout).toContain(cd.image);
    } finally {
      if (saved === undefined) delete process.env.CONTAINER_RUNTIME_ENDPOINT;
      else process.env.CONTAINER_RUNTIME_ENDPOINT = saved;
    }
  });

  it("checkpoints the container into an archive `ckpt show` reads, and the container keeps running", async () => {
    expect(containerId).not.toBe("");
    const out = join(cd.dir, "exports");
    spawnSync("mkdir", ["-p", out]);
    const file = join(out, "counter.tar");
    const before = lastCount(join(logDir, "counter.log"));
    const started = Date.now();
    // A unique prefix of the ID is enough, as with crictl.
    const r = runCkpt(["cri", "-r", cd.endpoint, "checkpoint", containerId.slice(0, 12), "--export", file, "--timeout", "60"]);
    const took = Date.now() - started;
    expect(r.stderr, r.stderr).toMatch(/^checkpointed [0-9a-f]{12}.* in [\d.]+ s\n$/);
    expect(r.status).toBe(0);
    expect(statSync(file).size).toBeGreaterThan(10_000);
    // Only the archive: the temp name it was written under is gone.
    expect(readdirSync(out)).toEqual(["counter.tar"]);
    console.log(`ckpt cri checkpoint: ${took} ms (CLI start included)`);

    const show = runCkpt(["show", file, "--format", "json"]);
    expect(show.stderr).toBe("");
    expect(show.status).toBe(0);
    const shown = JSON.stringify(JSON.parse(show.stdout));
    expect(shown).toContain("counter");
    expect(shown).toContain(containerId.slice(0, 12));

    expect((await client.containerStatus(containerId)).status?.state).toBe("CONTAINER_RUNNING");
    await waitFor("the counter to go on after the checkpoint", () => (lastCount(join(logDir, "counter.log")) > before + 2 ? true : undefined));

    // Again to the same file: a new archive replaces the old one whole, still readable.
    const again = runCkpt(["cri", "-r", cd.endpoint, "checkpoint", containerId, "--export", file]);
    expect(again.status, again.stderr).toBe(0);
    expect(readdirSync(out)).toEqual(["counter.tar"]);
    expect(runCkpt(["show", file, "--format", "json"]).status).toBe(0);
  });

  it("fails in one line for an unknown container, leaving no file", () => {
    const file = join(cd.dir, "nothing.tar");
    const r = runCkpt(["cri", "-r", cd.endpoint, "checkpoint", "0123456789abcdef", "--export", file]);
    expectOneLineError(r, "0123456789abcdef");
    expect(existsSync(file)).toBe(false);
  });

  it("stops and removes the container and pod through the CRI", async () => {
    await client.stopContainer(containerId, 0);
    expect((await client.containerStatus(containerId)).status?.state).toBe("CONTAINER_EXITED");
    // The runtime refuses to checkpoint a stopped container: one line, and no file or temp file left.
    const out = join(cd.dir, "exports-stopped");
    spawnSync("mkdir", ["-p", out]);
    const r = runCkpt(["cri", "-r", cd.endpoint, "checkpoint", containerId, "--export", join(out, "stopped.tar")]);
    expectOneLineError(r, "CheckpointContainer");
    expect(readdirSync(out)).toEqual([]);
    await client.removeContainer(containerId);
    expect(await client.listContainers()).toEqual([]);
    await client.stopPodSandbox(podId);
    await client.removePodSandbox(podId);
    expect(await client.listPodSandbox()).toEqual([]);
    podId = "";
  });
});

describe("CRI errors", () => {
  it("reports an endpoint nobody listens on as CriError UNAVAILABLE, in one line", async () => {
    const client = new CriClient({ endpoint: "unix:///nonexistent/ckpt-cri.sock", timeoutMs: 5_000 });
    try {
      const err = await client.version().then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(CriError);
      expect((err as CriError).status).toBe("UNAVAILABLE");
      expect((err as CriError).message).toMatch(/^CRI Version at unix:\/\/\/nonexistent\/ckpt-cri\.sock: UNAVAILABLE: /);
      expect((err as CriError).message).not.toContain("\n");
      expect((err as CriError).message).not.toMatch(/Resolution note/);
    } finally {
      client.close();
    }
  });

  it("rejects an endpoint that is not a unix socket URL", () => {
    expect(() => new CriClient({ endpoint: "tcp://127.0.0.1:1" })).toThrow(CriError);
  });

  describe.skipIf(!existsSync("dist/.build-stamp") && !ok)("ckpt cri", () => {
    beforeAll(() => ensureCliBuilt());

    it("fails in one line, non-zero, for a bad endpoint", () => {
      const r = runCkpt(["cri", "--runtime-endpoint", "unix:///nonexistent/ckpt-cri.sock", "ps"]);
      expectOneLineError(r, "/nonexistent/ckpt-cri.sock");
      expect(r.stderr).toMatch(/UNAVAILABLE/);
      const bad = runCkpt(["cri", "--runtime-endpoint", "http://localhost", "version"]);
      expectOneLineError(bad, "http://localhost");
    });
  });
});
