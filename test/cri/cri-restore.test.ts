/**
 * `ckpt cri restore` against a real private containerd 2.1 with a loopback registry: a counter
 * made through the CRI is checkpointed by `ckpt cri checkpoint`, restored into new sandboxes from
 * the archive (rewritten into containerd's layout) and from a checkpoint image `ckpt image build`
 * pushed, which containerd restores by itself, and from the archive sealed with `ckpt seal` (opened
 * with -i or $CKPT_IDENTITY, decrypted as it is read: no plaintext beside it or in the temp
 * directory afterwards). A failed restore leaves no sandbox.
 */
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CriClient, type PodSandboxConfig } from "../../src/cri/client.js";
import { ensureCliBuilt, expectOneLineError, runCkpt } from "../support/ckpt-cli.js";
import { cniNetns, haveContainerd, leftoversOf, startContainerd, type TestContainerd } from "../support/containerd.js";
import { buildBusyboxLayout, haveRegistryTools, pushLayout, startRegistry, type TestRegistry } from "../support/oci-images.js";
import { SECRET } from "../support/test-pods.js";
import { expectCountContinued } from "../support/count-continued.js";
import { waitFor } from "../support/wait-for.js";

const ok = haveContainerd() && haveRegistryTools();

/** The "count N" numbers of a CRI log file. */
const countsIn = (text: string) => [...text.matchAll(/ count (\d+)$/gm)].map((m) => Number(m[1]));
const countsOf = (file: string) => {
  try {
    return countsIn(readFileSync(file, "utf8"));
  } catch {
    return [];
  }
};

describe.skipIf(!ok)("`ckpt cri restore` on containerd 2.1", () => {
  let cd: TestContainerd;
  let registry: TestRegistry;
  let cri: CriClient;
  let work: string;
  let archive: string;
  let netnsBefore: string[] = [];
  const sandboxes: string[] = [];

  const podConfig = (name: string): PodSandboxConfig => ({
    metadata: { name, uid: `uid-${name}-${Date.now()}`, namespace: "ckpt-test", attempt: 0 },
    hostname: name,
    logDirectory: join(work, "logs", name),
    linux: { cgroupParent: cd.cgroupParent },
  });


  const restoredPid = async (containerId: string) => Number(JSON.parse((await cri.containerStatus(containerId, true)).info.info!).pid);

  beforeAll(async () => {
    ensureCliBuilt();
    netnsBefore = cniNetns();
    cd = await startContainerd();
    cri = new CriClient({ endpoint: cd.endpoint });
    registry = await startRegistry();
    work = mkdtempSync(join(tmpdir(), "ckpt-cri-restore-"));
    await buildBusyboxLayout(join(work, "layout"), { tag: "latest" });
    const image = await pushLayout(join(work, "layout"), "latest", registry, "library/busybox");
    await cri.pullImage(image);

    const config = podConfig("source");
    const pod = await cri.runPodSandbox(config);
    sandboxes.push(pod);
    const id = await cri.createContainer(
      pod,
      {
        metadata: { name: "counter" },
        image: { image },
        command: ["/bin/sh", "-c", `SECRET=${SECRET}; echo written-by-counter > /tmp/test-file; i=0; while true; do i=$((i+1)); echo count $i; sleep 0.1; done`],
        logPath: "counter.log",
        linux: { securityContext: { namespaceOptions: { network: "POD", pid: "CONTAINER", ipc: "POD" } } },
      },
      config,
    );
    await cri.startContainer(id);
    await waitFor("the counter to count", () => (countsOf(join(config.logDirectory!, "counter.log")).length > 10 ? true : undefined));
    archive = join(work, "counter.tar");
    const r = runCkpt(["cri", "-r", cd.endpoint, "checkpoint", id, "--export", archive]);
    expect(r.status, r.stderr).toBe(0);
  }, 180_000);

  afterAll(async () => {
    for (const id of sandboxes) {
      await cri?.stopPodSandbox(id).catch(() => undefined);
      await cri?.removePodSandbox(id).catch(() => undefined);
    }
    cri?.close();
    await cd?.cleanup();
    await registry?.stop();
    if (work) spawnSync("rm", ["-rf", work]);
    if (cd) expect(leftoversOf(cd, netnsBefore)).toEqual([]);
  }, 120_000);

  it("restores an archive into a new sandbox from a YAML pod config in crictl's field names", async () => {
    const logDir = join(work, "logs", "from-archive");
    const file = join(work, "pod-archive.yaml");
    writeFileSync(
      file,
      `metadata:\n  name: from-archive\n  namespace: ckpt-test\n  uid: uid-from-archive\n  attempt: 0\nhostname: from-archive\nlog_directory: ${logDir}\nlabels:\n  app_name: counter\nlinux:\n  cgroup_parent: ${cd.cgroupParent}\n`,
    );
    const r = runCkpt(["cri", "-r", cd.endpoint, "restore", archive, "--pod-config", file, "--format", "json"]);
    expect(r.status, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as { podSandboxId: string; containerId: string; name: string };
    sandboxes.push(out.podSandboxId);
    expect(out.name).toBe("counter");
    const sandbox = (await cri.podSandboxStatus(out.podSandboxId)).status!;
    expect(sandbox.state).toBe("SANDBOX_READY");
    // Map keys stay as written; field names were turned into the proto's.
    expect(sandbox.labels).toMatchObject({ app_name: "counter" });
    expect((await cri.containerStatus(out.containerId)).status?.state).toBe("CONTAINER_RUNNING");

    const archived = countsIn(spawnSync("tar", ["-xOf", archive, "container.log"], { encoding: "utf8" }).stdout);
    await waitFor("the restored counter to count", () => (countsOf(join(logDir, "counter.log")).length > archived.length + 3 ? true : undefined));
    expectCountContinued(countsOf(join(logDir, "counter.log")), archived);
    expect(readFileSync(`/proc/${await restoredPid(out.containerId)}/root/tmp/test-file`, "utf8")).toBe("written-by-counter\n");
  });

  it("restores a `ckpt image build` image pushed to a registry: containerd takes it as a checkpoint image itself", async () => {
    const ref = `${registry.host}/ckpt-test/counter-checkpoint:1`;
    const built = runCkpt(["image", "build", archive, ref]);
    expect(built.status, built.stderr).toBe(0);
    const logDir = join(work, "logs", "from-image");
    const file = join(work, "pod-image.json");
    writeFileSync(file, JSON.stringify({ ...podConfig("from-image"), logDirectory: logDir }));
    const r = runCkpt(["cri", "-r", cd.endpoint, "restore", ref, "--pod-config", file, "--format", "json"]);
    expect(r.status, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as { podSandboxId: string; containerId: string };
    sandboxes.push(out.podSandboxId);
    // containerd's own restore marks the container and names the image it came from.
    const st = (await cri.containerStatus(out.containerId)).status!;
    expect(st.state).toBe("CONTAINER_RUNNING");
    expect(st.annotations).toMatchObject({ restored: "true", checkpointImage: ref });

    const archived = countsIn(spawnSync("tar", ["-xOf", archive, "container.log"], { encoding: "utf8" }).stdout);
    const logFile = join(logDir, "counter-checkpoint.log");
    await waitFor("the counter restored from the image to count", () => (countsOf(logFile).length > archived.length + 3 ? true : undefined));
    expectCountContinued(countsOf(logFile), archived);
    expect(readFileSync(`/proc/${await restoredPid(out.containerId)}/root/tmp/test-file`, "utf8")).toBe("written-by-counter\n");
  });

  describe("a sealed archive", () => {
    let sealed: string;
    let key: string;
    let sealedDir: string;

    beforeAll(() => {
      sealedDir = join(work, "sealed");
      mkdirSync(sealedDir);
      key = join(work, "restore.key");
      const recipient = runCkpt(["seal", "keygen", "-o", key]).stdout.trim();
      sealed = join(sealedDir, "counter.tar.age");
      const r = runCkpt(["seal", archive, "-r", recipient, "-o", sealed]);
      expect(r.status, r.stderr).toBe(0);
    });

    /** Restores the sealed archive into a new sandbox with TMPDIR private; checks what it leaves on disk. */
    const restoreSealed = async (name: string, args: string[], env: Record<string, string> = {}) => {
      const logDir = join(work, "logs", name);
      const file = join(work, `pod-${name}.json`);
      writeFileSync(file, JSON.stringify({ ...podConfig(name), logDirectory: logDir }));
      const tmp = mkdtempSync(join(work, "tmp-"));
      const r = runCkpt(["cri", "-r", cd.endpoint, "restore", sealed, "--pod-config", file, "--format", "json", ...args], undefined, { TMPDIR: tmp, ...env });
      expect(r.status, r.stderr).toBe(0);
      const out = JSON.parse(r.stdout) as { podSandboxId: string; containerId: string; name: string };
      sandboxes.push(out.podSandboxId);
      // The rewritten archive lived in a private directory under TMPDIR, removed once containerd took it.
      expect(readdirSync(tmp)).toEqual([]);
      expect(readdirSync(sealedDir)).toEqual(["counter.tar.age"]);
      return { out, logFile: join(logDir, "counter.log") };
    };

    it("restores with -i: the count goes on from the checkpoint, the file is there, nothing decrypted is left on disk", async () => {
      const { out, logFile } = await restoreSealed("from-sealed", ["-i", key]);
      expect(out.name).toBe("counter");
      expect((await cri.containerStatus(out.containerId)).status?.state).toBe("CONTAINER_RUNNING");
      const archived = countsIn(spawnSync("tar", ["-xOf", archive, "container.log"], { encoding: "utf8" }).stdout);
      await waitFor("the counter restored from the sealed archive to count", () => (countsOf(logFile).length > archived.length + 3 ? true : undefined));
      expectCountContinued(countsOf(logFile), archived);
      expect(readFileSync(`/proc/${await restoredPid(out.containerId)}/root/tmp/test-file`, "utf8")).toBe("written-by-counter\n");
    });

    it("restores with $CKPT_IDENTITY", async () => {
      const { out } = await restoreSealed("from-sealed-env", [], { CKPT_IDENTITY: key });
      expect((await cri.containerStatus(out.containerId)).status?.state).toBe("CONTAINER_RUNNING");
    });

    it("without a key, or with another one: one line, and no sandbox is made", async () => {
      const before = (await cri.listPodSandbox()).length;
      const file = join(work, "pod-sealed-nokey.json");
      writeFileSync(file, JSON.stringify(podConfig("sealed-nokey")));
      const line = expectOneLineError(runCkpt(["cri", "-r", cd.endpoint, "restore", sealed, "--pod-config", file], undefined, { CKPT_IDENTITY: "" }), sealed);
      expect(line).toMatch(/sealed archive: give --identity/);
      const other = join(work, "other.key");
      runCkpt(["seal", "keygen", "-o", other]);
      expectOneLineError(runCkpt(["cri", "-r", cd.endpoint, "restore", sealed, "--pod-config", file, "-i", other]), sealed);
      expect((await cri.listPodSandbox()).length).toBe(before);
    });
  });

  it("fails in one line and leaves no sandbox: a bad pod config, an image that is not there", async () => {
    const bad = join(work, "bad.yaml");
    writeFileSync(bad, "metadata:\n  name: x\n  namespace: ckpt-test\n");
    expectOneLineError(runCkpt(["cri", "-r", cd.endpoint, "restore", archive, "--pod-config", bad]), `${bad}: metadata.uid`);

    const before = (await cri.listPodSandbox()).length;
    const file = join(work, "pod-missing.json");
    writeFileSync(file, JSON.stringify(podConfig("missing")));
    const r = runCkpt(["cri", "-r", cd.endpoint, "restore", `${registry.host}/ckpt-test/absent:1`, "--pod-config", file]);
    expectOneLineError(r, "PullImage");
    expect((await cri.listPodSandbox()).length).toBe(before);
  });
});
