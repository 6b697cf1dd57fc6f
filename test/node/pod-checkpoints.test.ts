/**
 * The node's PodCheckpoint objects without a runtime: what survives an agent restart, what a failed
 * or refused checkpoint leaves on disk, and the restore Pod's template rule.
 */
import { existsSync, mkdirSync, mkdtempSync, readdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { PodCheckpoints, type PodCheckpointRunner } from "../../src/node/pod-checkpoints.js";
import { parsePodCheckpoint, readyReason, withReady } from "../../src/node/pod-checkpoint-object.js";
import { checkpointedPodTemplate, templateMismatch } from "../../src/node/pod-template.js";
import { parsePodManifest } from "../../src/node/pod-manifest.js";
import type { PodRecord } from "../../src/node/node-state.js";
import { webPodCheckpointManifest } from "../kubelet-endpoint/fake-backend.js";

const OBJECT = parsePodCheckpoint(JSON.stringify({ apiVersion: "node.k8s.io/v1alpha1", kind: "PodCheckpoint", metadata: { name: "cp" }, spec: { sourcePod: { name: "web" } } }));

function store(runner: Partial<PodCheckpointRunner> = {}, root = mkdtempSync(join(tmpdir(), "ckpt-pc-"))) {
  const calls: string[] = [];
  const s = PodCheckpoints.open({
    stateDir: join(root, "state"),
    checkpointRoot: join(root, "pc"),
    nodeName: "n1",
    ceilingSeconds: 15,
    runner: {
      sourcePod: runner.sourcePod ?? (async (_ns, name) => (name === "web" ? { uid: "u-1" } : undefined)),
      checkpoint:
        runner.checkpoint ??
        (async (req) => {
          calls.push(req.dir);
          writeFileSync(join(req.dir, "pod-checkpoint.json"), "{}");
          return webPodCheckpointManifest();
        }),
    },
  });
  return { s, root, calls };
}

const ended = async (s: PodCheckpoints, name = "cp") => (await s.waitFor("default", name, 5000))!;

describe("PodCheckpoints", () => {
  it("an object the agent had in progress when it stopped ends CheckpointFailed, its partial files removed; a Pending one is run", async () => {
    const root = mkdtempSync(join(tmpdir(), "ckpt-pc-"));
    mkdirSync(join(root, "state"), { recursive: true });
    const inProgress = withReady({ ...OBJECT, metadata: { ...OBJECT.metadata, uid: "aaaa-1" } }, "CheckpointInProgress", "", new Date());
    const pending = withReady({ ...OBJECT, metadata: { ...OBJECT.metadata, name: "cp2", uid: "bbbb-2" } }, "Pending", "", new Date());
    writeFileSync(join(root, "state", "aaaa-1.json"), JSON.stringify(inProgress));
    writeFileSync(join(root, "state", "bbbb-2.json"), JSON.stringify(pending));
    mkdirSync(join(root, "pc", "checkpoint-aaaa-1"), { recursive: true });
    writeFileSync(join(root, "pc", "checkpoint-aaaa-1", "half.tar"), "x");
    const { s, calls } = store({}, root);
    const failed = s.get("default", "cp")!;
    expect(readyReason(failed)).toBe("CheckpointFailed");
    expect(failed.status!.conditions[0]!.message).toMatch(/restarted during the checkpoint/);
    expect(existsSync(join(root, "pc", "checkpoint-aaaa-1"))).toBe(false);
    expect(readyReason(await ended(s, "cp2"))).toBe("CheckpointCompleted");
    expect(calls).toEqual([join(root, "pc", "checkpoint-bbbb-2")]);
    // And what it wrote is what a later agent reads.
    const again = store({}, root).s;
    expect(again.list().map((o) => [o.metadata.name, readyReason(o)])).toEqual([
      ["cp", "CheckpointFailed"],
      ["cp2", "CheckpointCompleted"],
    ]);
  });

  it("never writes into a directory that exists already", async () => {
    const { s, root, calls } = store();
    const o = s.apply(OBJECT);
    mkdirSync(join(root, "pc", `checkpoint-${o.metadata.uid}`));
    writeFileSync(join(root, "pc", `checkpoint-${o.metadata.uid}`, "theirs"), "x");
    const done = await ended(s);
    expect(readyReason(done)).toBe("CheckpointFailed");
    expect(done.status!.conditions[0]!.message).toMatch(/EEXIST/);
    expect(readdirSync(join(root, "pc", `checkpoint-${o.metadata.uid}`))).toEqual(["theirs"]);
    expect(calls).toEqual([]);
  });

  it("a pod that is not there ends CheckpointFailed; a deadline is the object's timeout, clamped", async () => {
    const none = store({ sourcePod: async () => undefined }).s;
    none.apply(OBJECT);
    const d = await ended(none);
    expect([readyReason(d), d.status!.conditions[0]!.message]).toEqual(["CheckpointFailed", "pod default/web does not exist on node n1"]);
    const deadlines: number[] = [];
    const { s } = store({
      checkpoint: async (req) => {
        deadlines.push(req.deadline - Date.now());
        return webPodCheckpointManifest();
      },
    });
    s.apply({ ...OBJECT, spec: { ...OBJECT.spec, timeoutSeconds: 3 } });
    s.apply({ ...OBJECT, metadata: { ...OBJECT.metadata, name: "cp-long" }, spec: { ...OBJECT.spec, timeoutSeconds: 600 } });
    await ended(s);
    await ended(s, "cp-long");
    expect(deadlines.sort((a, b) => a - b).map((ms) => Math.round(ms / 1000))).toEqual([3, 15]);
  });
});

describe("the checkpointed template and the restore Pod", () => {
  const record = {
    uid: "u-1",
    manifest: parsePodManifest("apiVersion: v1\nkind: Pod\nmetadata: {name: web, labels: {app: web}}\nspec:\n  containers:\n  - {name: app, image: busybox:1, args: [sleep, '9']}\n"),
    createdAt: "",
    sandbox: { id: "s", netns: "n", ip: "10.0.0.2", createdAt: "" },
    containers: [{ name: "app", id: "c", createdAt: "", restartCount: 0, logPath: "", layers: [], finished: false, image: { reference: "busybox:1", name: "docker.io/library/busybox:1", imageId: "sha256:11", repoDigest: `docker.io/library/busybox@sha256:${"ab".repeat(32)}` } }],
  } as PodRecord;
  const template = checkpointedPodTemplate(record);

  it("pins images to the digest that ran and keeps labels", () => {
    expect((template.spec.containers as Array<{ image: string }>)[0]!.image).toBe(`docker.io/library/busybox@sha256:${"ab".repeat(32)}`);
    expect(template.metadata.labels).toEqual({ app: "web" });
  });

  it("a restore Pod with the template's spec matches; defaults left out are no difference; another field is named", () => {
    const pod = (extra: string, image = `docker.io/library/busybox@sha256:${"ab".repeat(32)}`) =>
      parsePodManifest(`apiVersion: v1\nkind: Pod\nmetadata: {name: web2}\nspec:\n  restoreFrom: cp\n  containers:\n  - {name: app, image: "${image}", args: [sleep, '9']${extra}}\n`);
    expect(templateMismatch(pod(""), template)).toBeUndefined();
    expect(templateMismatch(pod("", "busybox:1"), template)).toBe(`spec.containers[0].image: "busybox:1", the checkpoint has "docker.io/library/busybox@sha256:${"ab".repeat(32)}"`);
    expect(templateMismatch(pod(", workingDir: /tmp"), template)).toBe('spec.containers[0].workingDir: "/tmp", the checkpoint has (not set)');
  });
});

