import { mkdtempSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { listImageFiles } from "../../src/criu-images/index.js";
import { runCrit } from "../support/crit.js";
import { haveCrit } from "../support/crit.js";
import { ckpt } from "../support/ckpt-cli.js";
import { FIXTURE_DIRS, haveFixtures } from "../support/fixtures.js";

const SAMPLE = join(import.meta.dirname, "../../samples/busybox-loop");
const work = mkdtempSync(join(tmpdir(), "ckpt-cli-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe("ckpt crit on the command line", () => {
  it("decode writes crit's text: a newline on stdout, none with -o", async () => {
    const img = join(SAMPLE, "pstree.img");
    const out = await ckpt(["crit", "decode", "-i", img]);
    expect(out.exitCode).toBe(0);
    expect(out.stdout.toString()).toMatch(/^\{"magic": "PSTREE", "entries": \[\{"pid": 17080, .*\]\}\n$/);
    const file = join(work, "pstree.json");
    expect((await ckpt(["crit", "decode", "-i", img, "-o", file])).exitCode).toBe(0);
    expect(readFileSync(file, "utf8")).toBe(out.stdout.toString().slice(0, -1));
  });

  it("reads stdin and writes stdout when no file is named, and encode restores the bytes", async () => {
    const img = readFileSync(join(SAMPLE, "mm-17080.img"));
    const json = await ckpt(["crit", "decode", "--pretty"], img);
    expect(json.stdout.toString()).toContain('"magic": "MM"');
    const back = await ckpt(["crit", "encode"], json.stdout);
    expect(back.exitCode).toBe(0);
    expect(Buffer.compare(back.stdout, img)).toBe(0);
  });

  it("decodes a whole directory into one JSON file per image, raw images left out", async () => {
    const out = join(work, "all");
    const r = await ckpt(["crit", "decode", "--pretty", "-i", SAMPLE, "-o", out]);
    expect(r.stderr.toString()).toBe("");
    expect(r.exitCode).toBe(0);
    const { images, raw } = listImageFiles(SAMPLE);
    expect(readdirSync(out).sort()).toEqual(images.map((n) => n + ".json").sort());
    expect(raw).toEqual(["pages-1.img", "pages-2.img"]);
    const single = await ckpt(["crit", "show", join(SAMPLE, "core-17083.img")]);
    expect(readFileSync(join(out, "core-17083.img.json"), "utf8") + "\n").toBe(single.stdout.toString());
  });

  it("decodes several named inputs into -o DIR and refuses several inputs without it", async () => {
    const out = join(work, "two");
    const files = ["pstree.img", "inventory.img"].map((n) => join(SAMPLE, n));
    expect((await ckpt(["crit", "decode", "-o", out, ...files])).exitCode).toBe(0);
    expect(readdirSync(out).sort()).toEqual(["inventory.img.json", "pstree.img.json"]);
    const refused = await ckpt(["crit", "decode", ...files]);
    expect(refused.exitCode).toBe(1);
    expect(refused.stderr.toString()).toBe("ckpt: decoding several images needs -o DIR for the JSON files\n");
  });

  it("x views print text and JSON", async () => {
    const ps = await ckpt(["crit", "x", SAMPLE, "ps"]);
    expect(ps.stdout.toString()).toBe("    PID   PGID    SID   COMM\n  17080  17080  17080   busybox\n  17083  17080  17080       busybox\n");
    const json = JSON.parse((await ckpt(["crit", "x", SAMPLE, "mems", "--format", "json"])).stdout.toString());
    expect(json.map((p: { pid: number }) => p.pid)).toEqual([17080, 17083]);
    expect(json[0].exe).toBe("/usr/bin/busybox");
    expect(json[0].vmas[0]).toMatchObject({ prot: expect.stringMatching(/^[r-][w-][x-]$/) });
    const bad = await ckpt(["crit", "x", SAMPLE, "nope"]);
    expect(bad.exitCode).not.toBe(0);
    expect(bad.stderr.toString()).toMatch(/'nope' is invalid for argument 'what'. Allowed choices are ps, fds, mems, rss, sk/);
  });

  it("info counts entries", async () => {
    const r = await ckpt(["crit", "info", join(SAMPLE, "pstree.img")]);
    expect(r.stdout.toString()).toBe('{\n    "magic": "PSTREE",\n    "count": 2\n}\n');
  });
});

describe.runIf(haveCrit() && haveFixtures())("ckpt crit show --nopl and info against crit", () => {
  it("show --nopl prints payload sizes as crit does", async () => {
    const dir = FIXTURE_DIRS.unshareMix;
    const names = ["pipes-data.img", "fifo-data.img", "sk-queues.img", "tcp-stream-12920.img", "ipcns-msg-10.img", "ipcns-sem-10.img", "ghost-file-2.img"];
    const crit = runCrit(names.map((n) => ({ op: "show" as const, in: join(dir, n), nopl: true })));
    for (const [i, name] of names.entries()) {
      const ours = await ckpt(["crit", "show", "--nopl", join(dir, name)]);
      expect(ours.stdout.toString(), name).toBe(crit[i]!.output.toString());
    }
  });

  it("info is right where crit miscounts images with payloads", async () => {
    const dir = FIXTURE_DIRS.unshareMix;
    const cases: Array<[string, number, number]> = [
      // name, real entries, crit's count
      ["pstree.img", 2, 2],
      ["pipes-data.img", 1, 2],
      ["sk-queues.img", 3, 2],
      ["ipcns-msg-10.img", 1, 3],
    ];
    const crit = runCrit(cases.map(([n]) => ({ op: "info" as const, in: join(dir, n) })));
    for (const [i, [name, real, critCount]] of cases.entries()) {
      expect(JSON.parse(crit[i]!.output.toString()).count, `crit ${name}`).toBe(critCount);
      const ours = JSON.parse((await ckpt(["crit", "info", join(dir, name)])).stdout.toString());
      expect(ours, name).toEqual({ magic: expect.any(String), count: real });
    }
  });
});

describe("ckpt doctor", () => {
  it("reports each requirement on its own line", async () => {
    const r = await ckpt(["doctor"]);
    const out = r.stdout.toString();
    for (const name of ["root", "kernel", "criu", "runc", "iptables"]) expect(out).toMatch(new RegExp(`^(ok  |warn|FAIL)  ${name} `, "m"));
    if (r.exitCode === 0) expect(out).toMatch(/^ok  +criu +CRIU 4\.2\.\d/m);
    else expect(out).toMatch(/fix: /);
  });
});
