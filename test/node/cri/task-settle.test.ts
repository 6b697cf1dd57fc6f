/**
 * What settles a container after a checkpoint the runtime went on with: finding runc's checkpoint
 * of it among the processes, and its cgroup's freezer (v1 or v2) as runc's cgroupfs driver lays it.
 */
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { cgroupFrozen, freezerFile, runcCheckpointRunning, thawCgroup } from "../../../src/node/cri/task-settle.js";

const ID = "a".repeat(64);

function proc(cmdlines: Record<string, string[]>): string {
  const dir = mkdtempSync(join(tmpdir(), "ckpt-proc-"));
  for (const [pid, argv] of Object.entries(cmdlines)) {
    mkdirSync(join(dir, pid));
    writeFileSync(join(dir, pid, "cmdline"), argv.join("\0") + "\0");
  }
  mkdirSync(join(dir, "self"));
  return dir;
}

describe("runc's checkpoint of a container", () => {
  it("is found by runc's command line ending with the container's ID", () => {
    const argv = ["/usr/sbin/runc", "--root", "/run/containerd/runc/k8s.io", "--log", "/x/log.json", "checkpoint", "--image-path", "/x/img", "--work-path", "/x/work", "--leave-running", ID];
    expect(runcCheckpointRunning(ID, proc({ "10": argv }))).toBe(true);
    expect(runcCheckpointRunning(ID, proc({ "10": ["runc", "pause", ID], "11": ["criu", "swrk", "20"] }))).toBe(false);
    expect(runcCheckpointRunning(ID, proc({ "10": ["/bin/sh", "-c", `echo checkpoint ${ID}`] }))).toBe(false);
    expect(runcCheckpointRunning(ID, proc({ "10": [...argv.slice(0, -1), "b".repeat(64)] }))).toBe(false);
  });
});

describe("a container's cgroup freezer", () => {
  it("v1: freezer.state under the freezer hierarchy; frozen unless THAWED; thawed by writing THAWED", () => {
    const root = mkdtempSync(join(tmpdir(), "ckpt-cg-"));
    mkdirSync(join(root, "freezer", "pods", ID), { recursive: true });
    writeFileSync(join(root, "freezer", "pods", ID, "freezer.state"), "FROZEN\n");
    const f = freezerFile(`/pods/${ID}`, root)!;
    expect(f).toEqual({ path: join(root, "freezer", "pods", ID, "freezer.state"), v2: false });
    expect(cgroupFrozen(f)).toBe(true);
    thawCgroup(f);
    expect(readFileSync(f.path, "utf8")).toBe("THAWED");
    expect(cgroupFrozen(f)).toBe(false);
  });

  it("v2: cgroup.freeze in the unified hierarchy; a systemd-style path is not placed", () => {
    const root = mkdtempSync(join(tmpdir(), "ckpt-cg-"));
    mkdirSync(join(root, "pods", ID), { recursive: true });
    writeFileSync(join(root, "pods", ID, "cgroup.freeze"), "1\n");
    const f = freezerFile(`/pods/${ID}`, root)!;
    expect(f.v2).toBe(true);
    expect(cgroupFrozen(f)).toBe(true);
    thawCgroup(f);
    expect(cgroupFrozen(f)).toBe(false);
    expect(freezerFile(`kubepods.slice:cri-containerd:${ID}`, root)).toBeUndefined();
    expect(freezerFile(`/absent/${ID}`, root)).toBeUndefined();
  });
});
