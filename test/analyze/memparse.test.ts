import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Checkpoint } from "../../src/checkpoint/checkpoint.js";
import { hexMatcher, literalMatcher, regexMatcher } from "../../src/analyze/memparse/matcher.js";
import { processMemorySizes } from "../../src/analyze/memparse/memory-sizes.js";
import { RunScanner, type RunMatch } from "../../src/analyze/memparse/run-scanner.js";
import { searchMemory } from "../../src/analyze/memparse/search.js";
import { DumpedMemory } from "../../src/criu-images/memory.js";
import { ckpt } from "../support/ckpt-cli.js";
import { dumpWorkload, haveRealStack, type WorkloadDump } from "../support/criu-dump.js";
import { FIXTURE_DIRS, haveFixtures } from "../support/fixtures.js";

describe("run scanner", () => {
  const text = Buffer.from("....xxxxNEEDLExxxx....NEEDLE..NEEDLE");
  const expected = [8, 22, 30];
  it("finds matches split across any chunk boundary, with context", () => {
    for (let cut1 = 1; cut1 < text.length - 1; cut1++) {
      for (const cut2 of [cut1 + 1, Math.min(text.length, cut1 + 7)]) {
        const found: RunMatch[] = [];
        const s = new RunScanner(literalMatcher(Buffer.from("NEEDLE"), "n"), 3, (m) => found.push(m));
        s.feed(text.subarray(0, cut1));
        s.feed(text.subarray(cut1, cut2));
        s.feed(text.subarray(cut2));
        s.end();
        expect(found.map((m) => m.offset), `cuts ${cut1},${cut2}`).toEqual(expected);
        expect(found[0]!.context.toString()).toBe("xxxNEEDLExxx");
        expect(found[0]!.contextStart).toBe(3);
      }
    }
  });

  it("finds every match in large chunks, wherever the chunk boundaries fall, with context across them", () => {
    const size = 200_000;
    const data = Buffer.alloc(size, 0x2e);
    const needle = Buffer.from("CKPT-NEEDLE-0123456789");
    const starts = [0, 4095, 16384 - 11, 16384 + 30, 32768 - 1, 65536 - 22, 100_000, size - needle.length];
    for (const at of starts) needle.copy(data, at);
    for (const chunkSize of [4096, 16384, 65536, 7919]) {
      const found: RunMatch[] = [];
      const s = new RunScanner(literalMatcher(needle, "n"), 8, (m) => found.push(m));
      for (let off = 0; off < size; off += chunkSize) s.feed(data.subarray(off, off + chunkSize));
      s.end();
      expect(found.map((m) => m.offset), `chunks of ${chunkSize}`).toEqual(starts);
      for (const m of found) {
        const from = Math.max(0, m.offset - 8);
        expect(m.context.equals(data.subarray(from, Math.min(size, m.offset + needle.length + 8))), `context at ${m.offset}`).toBe(true);
        expect(m.contextStart).toBe(m.offset - from);
      }
    }
  });

  it("matches regular expressions and raw bytes", () => {
    const found: number[] = [];
    const s = new RunScanner(regexMatcher("NEE+DLE"), 0, (m) => found.push(m.offset));
    s.feed(text.subarray(0, 10));
    s.feed(text.subarray(10));
    s.end();
    expect(found).toEqual(expected);
    const bin: number[] = [];
    const b = new RunScanner(hexMatcher("00ff 10"), 0, (m) => bin.push(m.offset));
    b.feed(Buffer.from([1, 0]));
    b.feed(Buffer.from([0xff, 0x10, 0, 0xff]));
    b.end();
    expect(bin).toEqual([1]);
  });
});

describe.runIf(haveFixtures())("memparse on the shared real dumps", () => {
  it("finds RANDOM_1432_KEY in pid 7 at its two known addresses, with the VMA", async () => {
    const cp = await Checkpoint.open(FIXTURE_DIRS.runcCounter);
    const r = await searchMemory(cp, literalMatcher(Buffer.from("RANDOM_1432_KEY"), "k"), { context: 4 });
    expect(r.matches.map((m) => [m.region.pid, m.address])).toEqual([
      [7, 0x378bc232n],
      [7, 0x378bc857n],
    ]);
    expect(r.matches[0]!.vma).toMatchObject({ start: 0x378ba000n, end: 0x378dc000n, prot: "rw-" });
    expect(r.searchedBytes).toBe((18 + 17 + 17 + 17 + 15) * 4096);
    cp.close();
  });

  it("finds the secret in the bundled sample archive with the right process and VMA", async () => {
    const sample = join(import.meta.dirname, "../../samples/counter-crio.tar");
    const r = await ckpt(["memparse", sample, "-s", "RANDOM_1432_KEY", "--format", "json"]);
    expect(r.exitCode).toBe(0);
    const json = JSON.parse(r.stdout.toString());
    expect(json.matches.map((m: { pid: number; comm: string; address: string; vma: { start: string; end: string; prot: string } }) => [m.pid, m.comm, m.address, m.vma.start, m.vma.end, m.vma.prot])).toEqual([
      [7, "counter.sh", "0x378bc232", "0x378ba000", "0x378dc000", "rw-"],
      [7, "counter.sh", "0x378bc857", "0x378ba000", "0x378dc000", "rw-"],
    ]);
    const table = (await ckpt(["memparse", sample, "-s", "RANDOM_1432_KEY"])).stdout.toString();
    expect(table).toContain("7 (counter.sh)");
    expect(table).toContain("0x00000000378bc232");
  });

  it("searches shared memory objects and names them", async () => {
    const cp = await Checkpoint.open(FIXTURE_DIRS.unshareMix);
    for (const [needle, label] of [
      ["SYSV_SHM_PAYLOAD", "SysV shm key 0x4d495831"],
      ["MEMFD_CONTENT_7777", "memfd mix-memfd"],
      ["SHARED_ANON_MIX_0042", "shared anonymous memory"],
    ] as const) {
      const r = await searchMemory(cp, literalMatcher(Buffer.from(needle), needle));
      expect(r.matches.map((m) => [m.region.kind, m.region.label, m.address]), needle).toEqual([["shmem", label, 0n]]);
    }
    cp.close();
  });

  it("reports memory sizes from nr_pages (CRIU 4.2 dumps), not 0 B", async () => {
    const cp = await Checkpoint.open(FIXTURE_DIRS.runcCounter);
    expect(processMemorySizes(cp.images).map((s) => [s.pid, s.memorySize])).toEqual([
      [1, 18 * 4096],
      [6, 17 * 4096],
      [7, 17 * 4096],
      [29, 17 * 4096],
      [8, 15 * 4096],
    ]);
    cp.close();
  });

  it("hexdumps a process at its real addresses", async () => {
    const r = await ckpt(["memparse", FIXTURE_DIRS.runcCounter, "-p", "7"]);
    expect(r.exitCode).toBe(0);
    const rows = r.stdout.toString().split("\n").filter((l) => /^[0-9a-f]{16}  /.test(l));
    const mem = DumpedMemory.ofProcess((await Checkpoint.open(FIXTURE_DIRS.runcCounter)).images, 7);
    const first = mem.index.ranges[0]!;
    expect(rows[0]!.slice(0, 16)).toBe(first.vaddr.toString(16).padStart(16, "0"));
    const bytes = mem.read(first.vaddr, 16);
    expect(rows[0]!.slice(18, 18 + 48).trim()).toBe([...bytes].map((b) => b.toString(16).padStart(2, "0")).join(" "));
  });
});

describe.runIf(haveRealStack())("memparse finds strings planted at known addresses in a live dump", () => {
  let dump: WorkloadDump;
  let addresses: Record<string, { vaddr: number; offset: number }>;
  const work = mkdtempSync(join(tmpdir(), "ckpt-memparse-"));
  beforeAll(async () => {
    dump = await dumpWorkload("plant");
    addresses = JSON.parse(readFileSync(join(dump.workDir, "addresses.json"), "utf8"));
  });
  afterAll(async () => {
    await dump?.cleanup();
    rmSync(work, { recursive: true, force: true });
  });

  function archives(): string[] {
    const tar = join(work, "plant.tar");
    execFileSync("tar", ["-C", dump.dir, "--transform", "s,^\\.,checkpoint,", "-cf", tar, "."]);
    execFileSync("gzip", ["-kf", tar]);
    execFileSync("zstd", ["-qf", tar, "-o", tar + ".zst"]);
    return [dump.dir, tar, tar + ".gz", tar + ".zst"];
  }

  it("at the exact address in every archive form, across a page boundary and in shared memory", async () => {
    for (const path of archives()) {
      const cp = await Checkpoint.open(path);
      for (const name of ["page", "boundary", "shared"] as const) {
        const marker = dump.markers[name]!;
        const r = await searchMemory(cp, literalMatcher(Buffer.from(marker), marker));
        if (name === "shared") {
          expect(r.matches.map((m) => [m.region.kind, m.address]), `${path} ${name}`).toEqual([["shmem", BigInt(addresses.shared!.offset)]]);
        } else {
          expect(r.matches.map((m) => [m.region.pid, m.address]), `${path} ${name}`).toEqual([[dump.rootPid, BigInt(addresses[name]!.vaddr)]]);
        }
      }
      // The boundary marker really crosses from one page into the next.
      const edge = BigInt(addresses.boundary!.vaddr);
      expect(edge / 4096n).not.toBe((edge + BigInt(dump.markers.boundary!.length) - 1n) / 4096n);
      cp.close();
    }
  });

  it("the CLI prints the match with its process and VMA", async () => {
    const r = await ckpt(["memparse", dump.dir, "-s", dump.markers.page!, "--format", "json"]);
    const json = JSON.parse(r.stdout.toString());
    expect(json.matches).toEqual([expect.objectContaining({ pid: dump.rootPid, comm: "plant", address: "0x" + addresses.page!.vaddr.toString(16) })]);
    expect(json.matches[0].vma.prot).toBe("rw-");
  });
});
