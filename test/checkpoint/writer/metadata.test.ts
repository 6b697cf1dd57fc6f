/**
 * The pure parts of the writer: Go's JSON as CRI-O writes it (against the test suite's encoder, and
 * Go ≥ 1.22's \b \f escapes), config.dump and spec.dump text, the member plan's order and the
 * members CRI-O leaves out, and bind.mounts from a spec.
 */
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { configDumpJson, specDumpJson } from "../../../src/checkpoint/writer/crio-metadata.js";
import { goTime } from "../../../src/checkpoint/writer/go-json.js";
import type { ImageDirListing } from "../../../src/checkpoint/writer/image-dir.js";
import { bindMountsOf, crioMembers, CRIO_LOG_MEMBER, goJson, parseSpecJson } from "../../../src/checkpoint/writer/index.js";
import type { NodeStat } from "../../../src/checkpoint/writer/tar-members.js";
import { goJson as builderGoJson } from "../../support/archives.js";

const work = mkdtempSync(join(tmpdir(), "ckpt-writer-meta-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe("Go JSON", () => {
  const samples: unknown[] = [
    { a: 1, b: [1, 2, { c: "x" }], d: {}, e: [], f: null, g: true, h: -0.5, i: 1.5e-7 },
    ["<script>&</script>", "tab\there", "nl\nline", 'quote " back \\', "\u2028\u2029", "\u0001\u001f", "é 日本 🎉"],
    { annotations: { "io.kubernetes.cri-o.Labels": '{"app":"x"}' }, nested: { deeper: { deepest: [[], {}] } } },
  ];

  it("matches the test builder's encoder, indented and compact", () => {
    for (const v of samples) {
      expect(goJson(v, 2)).toBe(builderGoJson(v, 2));
      expect(goJson(v, 0)).toBe(builderGoJson(v, 0));
    }
  });

  it("writes \\b and \\f short (Go 1.22+), lone surrogates as U+FFFD, bigints exactly", () => {
    expect(goJson("\b\f")).toBe('"\\b\\f"');
    expect(goJson("a\ud800b")).toBe('"a\ufffdb"');
    expect(goJson({ limit: 18446744073709551615n })).toBe('{\n  "limit": 18446744073709551615\n}');
  });

  it("refuses what Go would not write the same: inexact integers, NaN, functions", () => {
    expect(() => goJson({ a: { b: 2 ** 63 } })).toThrow("$.a.b: 9223372036854776000 is beyond 2^53");
    expect(() => goJson([NaN])).toThrow("$[0]: NaN has no JSON form");
    expect(() => goJson({ f: () => 1 })).toThrow("a function has no JSON form");
  });

  it("formats times as Go's RFC3339Nano", () => {
    expect(goTime(new Date(Date.UTC(2026, 0, 2, 3, 4, 5, 120)))).toBe("2026-01-02T03:04:05.12Z");
    expect(goTime(new Date(Date.UTC(2026, 0, 2, 3, 4, 5)))).toBe("2026-01-02T03:04:05Z");
  });
});

describe("config.dump and spec.dump", () => {
  it("config.dump: the Go struct's field order, empty strings omitted, Go's zero time when never restored", () => {
    const text = configDumpJson(
      { id: "abc", name: "k8s_x", rootfsImage: "", rootfsImageName: "quay.io/x:1", runtime: "runc", createdTime: "2026-01-01T01:00:00.123456789+01:00" },
      new Date(Date.UTC(2026, 0, 1, 0, 0, 1)),
    );
    expect(text).toBe(
      [
        "{",
        '  "id": "abc",',
        '  "name": "k8s_x",',
        '  "rootfsImageName": "quay.io/x:1",',
        '  "runtime": "runc",',
        '  "createdTime": "2026-01-01T01:00:00.123456789+01:00",',
        '  "checkpointedTime": "2026-01-01T00:00:01Z",',
        '  "restoredTime": "0001-01-01T00:00:00Z",',
        '  "restored": false',
        "}",
      ].join("\n"),
    );
  });

  it("spec.dump: annotations sorted as a Go map, every other key where it was, uint64 exact", () => {
    const spec = parseSpecJson('{"ociVersion":"1.0.2","process":{"rlimits":[{"type":"RLIMIT_NOFILE","hard":18446744073709551615,"soft":1024}]},"annotations":{"z":"1","a":"2","B":"3"},"hostname":"h"}');
    const text = specDumpJson(spec);
    expect(Object.keys(JSON.parse(text))).toEqual(["ociVersion", "process", "annotations", "hostname"]);
    expect(text).toContain('"hard": 18446744073709551615,');
    expect(text).toContain('"annotations": {\n    "B": "3",\n    "a": "2",\n    "z": "1"\n  },');
    expect(() => parseSpecJson("[1]")).toThrow("a runtime spec is a JSON object");
  });
});

describe("the member plan", () => {
  const stat = (mode: number): NodeStat => ({ mode, uid: 0, gid: 0, mtime: new Date(0), size: 1, nlink: 1, rdevMajor: 0, rdevMinor: 0, identity: `1:${mode}` });
  const listing = (work: string[]): ImageDirListing => ({
    root: stat(0o40700),
    entries: [
      { rel: "core-1.img", stat: stat(0o100600), isDirectory: false },
      { rel: "descriptors.json", stat: stat(0o100600), isDirectory: false },
      { rel: "inventory.img", stat: stat(0o100600), isDirectory: false },
      { rel: "sub", stat: stat(0o40700), isDirectory: true },
      { rel: "sub/x.img", stat: stat(0o100600), isDirectory: false },
    ],
    workFiles: new Map(work.map((w) => [w, stat(0o100600)])),
  });
  const base = { imagesDir: "/imgs", config: { id: "i", name: "n", createdTime: new Date(0) }, spec: {}, bindMounts: [] };

  it("puts CRI-O's members in CRI-O's order, the CRIU work files at the top", () => {
    const names = crioMembers(
      {
        ...base,
        bindMounts: [{ source: "/s", destination: "/d", file_type: "file", permissions: 0o644 }],
        rootfsDiffTar: "/w/rootfs-diff.tar",
        deletedFiles: ["/gone"],
        containerLog: "/var/log/pods/x/0.log",
      },
      listing(["stats-dump", "dump.log"]),
      new Date(0),
    ).map((m) => m.name);
    expect(names).toEqual([
      "stats-dump",
      "dump.log",
      "checkpoint/",
      "checkpoint/core-1.img",
      "checkpoint/descriptors.json",
      "checkpoint/inventory.img",
      "checkpoint/sub/",
      "checkpoint/sub/x.img",
      "config.dump",
      "spec.dump",
      "bind.mounts",
      "rootfs-diff.tar",
      "deleted.files",
      CRIO_LOG_MEMBER,
    ]);
  });

  it("leaves out what CRI-O leaves out: no work files, no bind mounts, no changes, no log", () => {
    const members = crioMembers({ ...base, deletedFiles: [] }, listing([]), new Date(0));
    expect(members.map((m) => m.name).filter((n) => !n.startsWith("checkpoint/"))).toEqual(["config.dump", "spec.dump"]);
  });

  it("takes stats-dump and dump.log from where the caller says, over the image directory's", () => {
    const members = crioMembers({ ...base, statsDump: "/work/stats-dump", dumpLog: "/work/dump.log" }, listing(["stats-dump", "dump.log"]), new Date(0));
    expect(members.slice(0, 2)).toMatchObject([
      { name: "stats-dump", source: "/work/stats-dump" },
      { name: "dump.log", source: "/work/dump.log" },
    ]);
  });
});

describe("bind.mounts from a spec", () => {
  it("records each bind mount's source type and permissions, skipping CRI-O's container mounts", async () => {
    const dir = join(work, "vol");
    mkdirSync(dir, { mode: 0o750 });
    chmodSync(dir, 0o750);
    const file = join(work, "resolv.conf");
    writeFileSync(file, "nameserver 10.0.0.10\n", { mode: 0o644 });
    chmodSync(file, 0o644);
    const spec = {
      mounts: [
        { destination: "/proc", type: "proc", source: "proc" },
        { destination: "/run/secrets", type: "bind", source: dir },
        { destination: "/data", type: "bind", source: dir, options: ["rbind"] },
        { destination: "/etc/resolv.conf", type: "none", source: file, options: ["bind", "ro"] },
        { destination: "/tmp", type: "tmpfs", source: "tmpfs" },
      ],
    };
    expect(await bindMountsOf(spec)).toEqual([
      { source: dir, destination: "/data", file_type: "directory", permissions: 0o750 },
      { source: file, destination: "/etc/resolv.conf", file_type: "file", permissions: 0o644 },
    ]);
    await expect(bindMountsOf({ mounts: [{ destination: "/x", type: "bind", source: join(work, "missing") }] })).rejects.toThrow("bind mount /x: unable to stat()");
  });
});
