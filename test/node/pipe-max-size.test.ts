/**
 * fs.pipe-max-size for lazy migrations, on a file standing for the sysctl: raised to 4 MiB while any
 * migration holds it, put back when the last one ends, logged both ways, and left alone when it was
 * big enough or someone else changed it meanwhile.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { PipeMaxSize } from "../../src/node/pipe-max-size.js";

const dir = mkdtempSync(join(tmpdir(), "ckpt-pipe-max-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function sysctl(value: string) {
  const path = join(dir, `pipe-max-size-${Math.random().toString(36).slice(2)}`);
  writeFileSync(path, value);
  const events: Array<Record<string, unknown>> = [];
  return { path, events, pipes: new PipeMaxSize((e) => events.push(e), undefined, path), now: () => readFileSync(path, "utf8").trim() };
}

describe("PipeMaxSize", () => {
  it("raises 1 MiB to 4 MiB while held, twice held, and puts it back after the last release", async () => {
    const s = sysctl("1048576\n");
    const first = await s.pipes.hold();
    expect(s.now()).toBe("4194304");
    const second = await s.pipes.hold();
    await first();
    await first();
    expect(s.now()).toBe("4194304");
    await second();
    expect(s.now()).toBe("1048576");
    expect(s.events.map((e) => e.msg)).toEqual(["fs.pipe-max-size raised for a lazy migration", "fs.pipe-max-size put back after a lazy migration"]);
    expect(s.events[0]).toMatchObject({ from: 1048576, to: 4194304 });
    expect(s.events[1]).toMatchObject({ from: 4194304, to: 1048576 });
  });

  it("leaves a value of 4 MiB or more as it is", async () => {
    const s = sysctl("8388608\n");
    await (await s.pipes.hold())();
    expect(s.now()).toBe("8388608");
    expect(s.events).toEqual([]);
  });

  it("does not put back a value someone else changed meanwhile", async () => {
    const s = sysctl("1048576\n");
    const release = await s.pipes.hold();
    writeFileSync(s.path, "2097152\n");
    await release();
    expect(s.now()).toBe("2097152");
    expect(s.events.at(-1)).toMatchObject({ msg: "fs.pipe-max-size left as it is: changed by someone else during the lazy migration", value: 2097152 });
  });

  it("an agent that died holding it puts it back when it starts again (the value found is kept in a file)", async () => {
    const s = sysctl("1048576\n");
    const record = join(dir, `raised-${Math.random().toString(36).slice(2)}`);
    await new PipeMaxSize(() => undefined, record, s.path).hold();
    expect([s.now(), readFileSync(record, "utf8").trim()]).toEqual(["4194304", "1048576"]);
    const events: Array<Record<string, unknown>> = [];
    const next = new PipeMaxSize((e) => events.push(e), record, s.path);
    await (await next.hold())();
    expect(s.now()).toBe("1048576");
    expect(events[0]).toMatchObject({ msg: "fs.pipe-max-size put back after a lazy migration", to: 1048576 });
    expect(() => readFileSync(record)).toThrow();
  });

  it("fails, naming the file, when the sysctl cannot be read, and holds nothing then", async () => {
    const path = join(dir, "late");
    const pipes = new PipeMaxSize(() => undefined, undefined, path);
    await expect(pipes.hold()).rejects.toThrow(`cannot read ${path}`);
    writeFileSync(path, "1048576\n");
    const release = await pipes.hold();
    expect(readFileSync(path, "utf8").trim()).toBe("4194304");
    await release();
    expect(readFileSync(path, "utf8").trim()).toBe("1048576");
  });
});
