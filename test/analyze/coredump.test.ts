/**
 * `ckpt coredump` against the real stack: processes dumped now by the real CRIU, their core files
 * opened by the real gdb (Debian's /usr/bin/gdb), which must see what the dump holds: every thread
 * with its registers, planted strings where the workload put them, and the functions a C program
 * blocks in.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { closeSync, copyFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, readSync, rmSync, symlinkSync, truncateSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ImageDir } from "../../src/criu-images/image-dir.js";
import { FileNames, text } from "../../src/criu-images/explore/file-names.js";
import { listProcesses } from "../../src/criu-images/explore/processes.js";
import type { WireMessage } from "../../src/criu-images/wire-reader.js";
import { buildArchive } from "../support/archives.js";
import { ensureCliBuilt, expectOneLineError, runCkpt, type CliResult } from "../support/ckpt-cli.js";
import { dumpProgram, dumpWorkload, haveRealStack, type WorkloadDump } from "../support/criu-dump.js";
import { FIXTURE_DIRS, haveFixtures } from "../support/fixtures.js";

const GDB = "/usr/bin/gdb";
const SLEEPERS_C = join(import.meta.dirname, "../support/programs/sleepers.c");

/** gdb's output (stdout, then stderr) for `commands` run on `core` with the program `exe`. */
function gdb(exe: string, core: string, commands: string[]): string {
  const r = spawnSync(GDB, ["-batch", "-nx", ...commands.flatMap((c) => ["-ex", c]), exe, core], { encoding: "utf8", maxBuffer: 16 << 20 });
  if (r.status !== 0) throw new Error(`gdb failed (${r.status}): ${r.stderr}`);
  return r.stdout + r.stderr;
}

/** `thread apply all info registers rip rsp`, by LWP. */
function registersByLwp(out: string): Map<number, { rip: bigint; rsp: bigint }> {
  const regs = new Map<number, { rip: bigint; rsp: bigint }>();
  for (const section of out.split(/^Thread \d+ /m).slice(1)) {
    const lwp = Number(/LWP (\d+)/.exec(section)?.[1]);
    const rip = /^rip\s+0x([0-9a-f]+)/m.exec(section)?.[1];
    const rsp = /^rsp\s+0x([0-9a-f]+)/m.exec(section)?.[1];
    if (rip && rsp) regs.set(lwp, { rip: BigInt("0x" + rip), rsp: BigInt("0x" + rsp) });
  }
  return regs;
}

/** Registers of every thread of every live process, as the core images hold them. */
function dumpedRegisters(dir: string): Map<number, Map<number, { rip: bigint; rsp: bigint }>> {
  const images = new ImageDir(dir);
  const out = new Map<number, Map<number, { rip: bigint; rsp: bigint }>>();
  for (const p of listProcesses(images)) {
    if (!images.has(`mm-${p.pid}.img`)) continue;
    const threads = new Map<number, { rip: bigint; rsp: bigint }>();
    for (const t of p.threads) {
      const gp = ((images.one(`core-${t.tid}.img`)!.thread_info as WireMessage).gpregs as WireMessage);
      threads.set(t.tid, { rip: gp.ip as bigint, rsp: gp.sp as bigint });
    }
    out.set(p.pid, threads);
  }
  images.close();
  return out;
}

function coredump(args: string[]): CliResult {
  const r = runCkpt(["coredump", ...args]);
  expect(r.status, r.stderr).toBe(0);
  return r;
}

function sha256(path: string): string {
  return createHash("sha256").update(readFileSync(path)).digest("hex");
}

/** Where the first page of `path` (file offset 0) is mapped in process `pid`. */
function mappingStart(dir: string, pid: number, path: string): bigint {
  const images = new ImageDir(dir);
  const names = new FileNames(images);
  const vma = (images.one(`mm-${pid}.img`)!.vmas as WireMessage[]).find((v) => {
    const reg = names.find("REG", Number(v.shmid));
    return Number(v.status) & 0x40 && reg && text(reg.name) === path && BigInt(v.pgoff as bigint) === 0n;
  });
  images.close();
  if (!vma) throw new Error(`no mapping of ${path} at offset 0 in process ${pid}`);
  return vma.start as bigint;
}

/** `length` bytes at `vaddr` as the core's PT_LOAD segments give them (readelf -l), or undefined when the segment has none. */
function segmentBytes(core: string, vaddr: bigint, length: number): Buffer | undefined {
  const headers = execFileSync("readelf", ["-lW", core], { encoding: "utf8" });
  for (const m of headers.matchAll(/^\s+LOAD\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)\s+0x[0-9a-f]+\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)/gm)) {
    const [offset, start, filesz, memsz] = m.slice(1, 5).map((h) => BigInt("0x" + h));
    if (vaddr < start! || vaddr >= start! + memsz!) continue;
    if (filesz === 0n) return undefined;
    const fd = openSync(core, "r");
    try {
      const out = Buffer.alloc(length);
      readSync(fd, out, 0, length, Number(offset! + (vaddr - start!)));
      return out;
    } finally {
      closeSync(fd);
    }
  }
  throw new Error(`${core}: no segment holds 0x${vaddr.toString(16)}`);
}

describe.runIf(haveRealStack() && existsSync(GDB))("ckpt coredump of real CRIU dumps, read by gdb", () => {
  let tmp: string;
  let exe: string;
  let sleepers: WorkloadDump;
  let mix: WorkloadDump;
  let plant: WorkloadDump;

  beforeAll(async () => {
    ensureCliBuilt();
    tmp = mkdtempSync(join(tmpdir(), "ckpt-coredump-"));
    exe = join(tmp, "bin", "sleepers");
    mkdirSync(dirname(exe));
    execFileSync("gcc", ["-g", "-O0", "-pthread", "-o", exe, SLEEPERS_C]);
    sleepers = await dumpProgram("sleepers", (workDir) => [exe, workDir]);
    mix = await dumpWorkload("mix");
    plant = await dumpWorkload("plant");
  });

  afterAll(async () => {
    await Promise.all([sleepers, mix, plant].map((d) => d?.cleanup()));
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  it("gives gdb the C program's threads, their registers, the functions they block in and the planted string", () => {
    const out = join(tmp, "sleepers-cores");
    coredump([sleepers.dir, "-o", out]);
    const pid = sleepers.rootPid;
    const core = join(out, `core.${pid}`);
    const expected = dumpedRegisters(sleepers.dir).get(pid)!;
    expect(expected.size).toBe(3);

    const threads = gdb(exe, core, ["info threads"]);
    expect([...threads.matchAll(/^[* ] +\d+ +.*LWP (\d+)/gm)].map((m) => Number(m[1])).sort()).toEqual([...expected.keys()].sort());
    expect(registersByLwp(gdb(exe, core, ["thread apply all info registers rip rsp"]))).toEqual(expected);

    const bt = gdb(exe, core, ["thread apply all bt"]);
    const stacks = bt.split(/^Thread \d+ /m).slice(1);
    const leader = stacks.find((s) => s.includes(`LWP ${pid})`))!;
    expect(leader).toMatch(/\bpause\b/);
    expect(leader).toMatch(/in leader_waits_in_pause \(\) at .*sleepers\.c:\d+/);
    expect(leader).toMatch(/in main \(argc=2, argv=0x[0-9a-f]+\) at .*sleepers\.c:\d+/);
    const workers = stacks.filter((s) => !s.includes(`LWP ${pid})`));
    expect(workers).toHaveLength(2);
    for (const w of workers) {
      expect(w).toMatch(/nanosleep/);
      expect(w).toMatch(/in worker_sleeps_in_nanosleep \(arg=0x0\) at .*sleepers\.c:\d+/);
    }

    // FPU and XSAVE state (NT_FPREGSET, NT_X86_XSTATE) as CRIU saved it: mxcsr, and the AVX-512 mask registers when present.
    const images = new ImageDir(sleepers.dir);
    const fp = ((images.one(`core-${pid}.img`)!.thread_info as WireMessage).fpregs as WireMessage);
    images.close();
    const opmask = ((fp.xsave as WireMessage | undefined)?.opmask_reg as bigint[] | undefined) ?? [];
    const fpOut = gdb(exe, core, ["p/x $mxcsr", ...opmask.map((_, i) => `p/x $k${i}`)]);
    const values = [...fpOut.matchAll(/^\$\d+ = (0x[0-9a-f]+)$/gm)].map((m) => BigInt(m[1]!));
    expect(values).toEqual([BigInt(fp.mxcsr as number), ...opmask.map(BigInt)]);

    // The command line (NT_PRPSINFO, read from the dumped argument pages) and the mapped files (NT_FILE).
    const info = gdb(exe, core, ["info proc mappings"]);
    expect(info).toContain(`Core was generated by \`${exe} ${sleepers.workDir}'.`);
    expect(info).toMatch(new RegExp(`0x0 +${exe.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}\n`));
    expect(info).toMatch(/libc\.so\.6\n/);

    const planted = JSON.parse(readFileSync(join(sleepers.workDir, "addresses.json"), "utf8")).planted as number;
    expect(gdb(exe, core, [`x/s ${planted}`])).toContain(`"${sleepers.markers.planted}"`);
    // The core matches the program, and gdb reads every note and segment without complaint.
    expect(gdb(exe, core, ["info registers ymm0", "info auxv"])).not.toMatch(/warning|error|Cannot/i);
  });

  it("writes a core of every live process of a tree, each thread's registers as CRIU saw them, and skips the zombie", () => {
    const out = join(tmp, "mix-cores");
    const r = coredump([mix.dir, "-o", out]);
    const expected = dumpedRegisters(mix.dir);
    expect(expected.size).toBe(2);
    expect(r.stderr).toContain(`process ${mix.pids.zombie} (`);
    expect(r.stderr).toMatch(/has no core: /);
    expect(existsSync(join(out, `core.${mix.pids.zombie}`))).toBe(false);
    for (const [pid, threads] of expected) {
      const core = join(out, `core.${pid}`);
      const text = gdb("/usr/bin/python3", core, ["info threads", "thread apply all info registers rip rsp"]);
      expect([...text.matchAll(/^[* ] +\d+ +.*LWP (\d+)/gm)].map((m) => Number(m[1])).sort(), `process ${pid}`).toEqual([...threads.keys()].sort());
      expect(registersByLwp(text), `process ${pid}`).toEqual(threads);
    }
    expect(expected.get(mix.pids.leader)!.size).toBe(3);
  });

  it("puts private memory, strings across a page boundary and shared anonymous memory where the process had them", () => {
    const out = join(tmp, "plant-cores");
    coredump([plant.dir, "-o", out, "-p", String(plant.rootPid)]);
    const core = join(out, `core.${plant.rootPid}`);
    const addresses = JSON.parse(readFileSync(join(plant.workDir, "addresses.json"), "utf8")) as Record<string, { vaddr: number }>;
    const text = gdb("/usr/bin/python3", core, Object.values(addresses).map((a) => `x/s ${a.vaddr}`));
    for (const name of ["page", "boundary", "shared"]) {
      expect(text, name).toContain(`0x${addresses[name]!.vaddr.toString(16)}:\t"${plant.markers[name]}"`);
    }
  });

  it("takes program text from --rootfs and from rootfs-diff.tar, never from the host, and says once per file what it lacks", async () => {
    const pid = sleepers.rootPid;
    const textAt = mappingStart(sleepers.dir, pid, exe);
    const head = readFileSync(exe).subarray(0, 4096);
    // Read with readelf and by hand, not gdb: gdb itself would read a file missing from the core
    // from the host.
    const readHead = (core: string) => segmentBytes(core, textAt, head.length);

    // Without the container's files: the program's unwritten pages are absent from the core.
    const bare = coredump([sleepers.dir, "-o", join(tmp, "bare")]);
    expect(bare.stderr.split("\n").filter((l) => l.includes(`${exe}:`))).toHaveLength(1);
    expect(bare.stderr).toMatch(/libc\.so\.6: /);
    expect(readHead(join(tmp, "bare", `core.${pid}`))).toBeUndefined();

    // An image root filesystem whose path to the program goes through an absolute symbolic link:
    // it must resolve inside the root (the host has no /image-tmp).
    const rootfs = join(tmp, "rootfs");
    const staged = join(rootfs, "image-tmp", exe.slice(tmp.length));
    mkdirSync(dirname(staged), { recursive: true });
    copyFileSync(exe, staged);
    mkdirSync(join(rootfs, dirname(tmp)), { recursive: true });
    symlinkSync(join("/image-tmp"), join(rootfs, tmp));
    const withRootfs = coredump([sleepers.dir, "-o", join(tmp, "with-rootfs"), "--rootfs", rootfs]);
    expect(withRootfs.stderr).not.toContain(`${exe}:`);
    expect(readHead(join(tmp, "with-rootfs", `core.${pid}`))?.equals(head)).toBe(true);

    // The program in the container's changes: CRI-O's plain rootfs-diff.tar, containerd's gzip'd layer,
    // and a gzip'd archive read in one streaming pass give the same core.
    const diffRoot = join(tmp, "diff");
    mkdirSync(dirname(join(diffRoot, exe)), { recursive: true });
    copyFileSync(exe, join(diffRoot, exe));
    const diffTar = join(tmp, "diff.tar");
    execFileSync("tar", ["-cf", diffTar, "-C", diffRoot, exe.slice(1)]);
    const cores: string[] = [];
    for (const [layout, compression] of [["crio", "none"], ["containerd", "none"], ["crio", "gzip"]] as const) {
      const archive = await buildArchive({ layout, compression, imagesDir: sleepers.dir, out: join(tmp, `${layout}-${compression}.tar`), rootfsDiff: diffTar });
      const outDir = join(tmp, `${layout}-${compression}`);
      const r = coredump([archive, "-o", outDir, "-p", String(pid)]);
      expect(r.stderr, `${layout} ${compression}`).not.toContain(`${exe}:`);
      cores.push(join(outDir, `core.${pid}`));
    }
    expect(readHead(cores[0]!)?.equals(head)).toBe(true);
    expect(new Set(cores.map(sha256)).size).toBe(1);
    expect(sha256(cores[0]!)).toBe(sha256(join(tmp, "with-rootfs", `core.${pid}`)));
  });
});

describe.runIf(haveFixtures())("ckpt coredump on bad input", () => {
  let tmp: string;
  beforeAll(() => {
    ensureCliBuilt();
    tmp = mkdtempSync(join(tmpdir(), "ckpt-coredump-bad-"));
  });
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));

  it("names the pages image and the offset where it ends when it is truncated, and writes no core", () => {
    const dir = join(tmp, "unshare-mix");
    cpSync(FIXTURE_DIRS.unshareMix, dir, { recursive: true });
    // pid 28192's pages (pages-3.img) cut in the middle of a page.
    const cut = 0x2bb740;
    truncateSync(join(dir, "pages-3.img"), cut);
    const out = join(tmp, "cores");
    const r = runCkpt(["coredump", dir, "-o", out]);
    const line = expectOneLineError(r, "pages-3.img", cut);
    expect(line).toContain(dir);
    expect(line).toContain("process 28192");
    expect(existsSync(out)).toBe(false);
  });

  it("refuses a process that is not in the dump and a --rootfs that is not a directory", () => {
    expectOneLineError(runCkpt(["coredump", FIXTURE_DIRS.unshareMix, "-p", "4242", "-o", join(tmp, "none")]), FIXTURE_DIRS.unshareMix);
    const file = join(tmp, "not-a-dir");
    writeFileSync(file, "");
    expectOneLineError(runCkpt(["coredump", FIXTURE_DIRS.unshareMix, "--rootfs", file, "-o", join(tmp, "none")]), file);
  });
});
