/** Retention of checkpoint archives: newest N per container, a total size cap, pins. */
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { containerKey, planRetention, type ArchiveFile } from "../../src/node/checkpoint-retention.js";
import { runCkpt } from "../support/ckpt-cli.js";

const at = (s: number) => Date.parse("2026-11-23T12:00:00Z") + s * 1000;
const name = (pod: string, ctr: string, s: number) => `checkpoint-${pod}_default-${ctr}-${new Date(at(s)).toISOString().replace(/\.000Z$/, "Z")}.tar`;
const archive = (pod: string, ctr: string, s: number, size = 100, pinned = false): ArchiveFile => ({ name: name(pod, ctr, s), size, time: at(s), pinned });

describe("planRetention", () => {
  const all = [
    archive("web", "app", 1),
    archive("web", "app", 2),
    archive("web", "app", 3),
    archive("web", "sidecar", 4),
    archive("db", "db", 5, 100, true),
    archive("db", "db", 6),
  ];

  it("keeps the newest N of each container; a pinned archive neither goes nor counts", () => {
    expect(planRetention(all, { keepPerContainer: 1 })).toEqual([name("web", "app", 1), name("web", "app", 2)]);
    expect(planRetention(all, { keepPerContainer: 2 })).toEqual([name("web", "app", 1)]);
  });

  it("caps the total size, oldest first, pinned ones kept", () => {
    expect(planRetention(all, { maxTotalBytes: 350 })).toEqual([name("web", "app", 1), name("web", "app", 2), name("web", "app", 3)]);
    expect(planRetention(all, { maxTotalBytes: 10 })).toEqual(all.filter((a) => !a.pinned).map((a) => a.name));
    expect(planRetention(all, { maxTotalBytes: 600 })).toEqual([]);
  });

  it("applies both, and ignores files that are not archives", () => {
    const withOther = [...all, { name: "notes.txt", size: 10_000, time: at(0), pinned: false }];
    expect(planRetention(withOther, { keepPerContainer: 2, maxTotalBytes: 10_400 })).toEqual([name("web", "app", 1), name("web", "app", 2)]);
  });

  it("takes the container key from kubelet names, '-' in namespaces and containers included", () => {
    expect(containerKey("checkpoint-web_kube-system-my-app-2026-11-23T12:00:00Z.tar")).toBe("web_kube-system-my-app");
    expect(containerKey("checkpoint-web_default-app-2026-11-23T12:00:00+01:00.tar")).toBe("web_default-app");
    expect(containerKey("checkpoint-web.tar")).toBeUndefined();
  });
});

describe("ckpt node gc", () => {
  const dir = mkdtempSync(join(tmpdir(), "ckpt-gc-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("deletes what the policy says, keeps pins, and --dry-run deletes nothing", () => {
    for (const s of [1, 2, 3]) writeFileSync(join(dir, name("web", "app", s)), "x".repeat(100));
    writeFileSync(join(dir, ".pinned"), `${name("web", "app", 1)}\n`);
    const dry = runCkpt(["node", "gc", dir, "--keep", "1", "--dry-run"]);
    expect(dry.status, dry.stderr).toBe(0);
    expect(dry.stdout).toBe(`would delete ${join(dir, name("web", "app", 2))}\n`);
    expect(readdirSync(dir)).toHaveLength(4);
    const real = runCkpt(["node", "gc", dir, "--keep", "1"]);
    expect(real.stdout).toBe(`deleted ${join(dir, name("web", "app", 2))}\n`);
    expect(existsSync(join(dir, name("web", "app", 1)))).toBe(true);
    expect(existsSync(join(dir, name("web", "app", 3)))).toBe(true);
    const nothing = runCkpt(["node", "gc", dir, "--max-size", "1G"]);
    expect(nothing.stdout).toBe("nothing to delete\n");
  });

  it("refuses a run without a policy and a bad size, in one line", () => {
    const none = runCkpt(["node", "gc", dir]);
    expect([none.status, none.stderr]).toEqual([1, "ckpt: give --keep, --max-size or both\n"]);
    const bad = runCkpt(["node", "gc", dir, "--max-size", "lots"]);
    expect(bad.status).toBe(1);
    expect(bad.stderr).toContain("--max-size must be a size such as 500M or 20G");
  });
});
