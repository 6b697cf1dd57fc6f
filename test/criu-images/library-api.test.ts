import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import {
  DumpedMemory,
  ImageDir,
  MemoryError,
  PE_LAZY,
  PE_PRESENT,
  listProcesses,
  processFds,
  processMems,
  processSockets,
  readEntries,
} from "../../src/criu-images/index.js";
import { FIXTURE_DIRS, haveFixtures } from "../support/fixtures.js";

const ascii = (b: Buffer) => b.toString("latin1");

describe.runIf(haveFixtures())("library API on the shared real dumps (facts from fixtures/README.md)", () => {
  it("streams the entries of an image with their offsets", () => {
    const file = `${FIXTURE_DIRS.runcCounter}/pstree.img`;
    const entries = [...readEntries(readFileSync(file), file)];
    expect(entries.map((e) => e.message.pid)).toEqual([1, 6, 7, 29, 8]);
    expect(entries[0]!.offset).toBe(8);
    expect(entries.every((e, i) => i === 0 || e.offset > entries[i - 1]!.offset)).toBe(true);
  });

  it("lists processes with threads and their names", () => {
    const procs = listProcesses(new ImageDir(FIXTURE_DIRS.unshareMix));
    expect(procs.map((p) => [p.pid, p.ppid, p.comm, p.stateName])).toEqual([
      [28192, 0, "mix-root", "Alive"],
      [28198, 28192, "mix-child", "Alive"],
    ]);
    expect(procs[0]!.threads).toEqual([
      { tid: 28192, comm: "mix-root" },
      { tid: 28199, comm: "mix-worker" },
    ]);
    const python = listProcesses(new ImageDir(FIXTURE_DIRS.pythonProc));
    expect(python[0]!.threads.map((t) => t.tid)).toEqual([22115, 22118, 22119, 22120]);
  });

  it("lists fds and VMAs", () => {
    const dir = new ImageDir(FIXTURE_DIRS.runcCounter);
    const fds = processFds(dir).find((p) => p.pid === 8)!;
    expect(fds.fds.find((f) => f.fd === 3)).toMatchObject({ type: "REG", name: "/home/counter/logfile" });
    expect(fds.fds.find((f) => f.fd === 0)).toMatchObject({ type: "PIPE", name: "pipe[88322]" });
    const mems = processMems(dir);
    expect(mems.map((m) => m.vmas.length)).toEqual([11, 11, 11, 11, 11]);
    expect(mems.every((m) => m.exe === "/bin/busybox")).toBe(true);
  });

  it("reads process memory at a virtual address through pagemap and pages", () => {
    const dir = new ImageDir(FIXTURE_DIRS.runcCounter);
    const mem7 = DumpedMemory.ofProcess(dir, 7);
    expect(ascii(mem7.read(0x378bc232n, 15))).toBe("RANDOM_1432_KEY");
    expect(ascii(mem7.read(0x378bc857n, 15))).toBe("RANDOM_1432_KEY");
    expect(mem7.index.pagesId).toBe(3);
    expect(ascii(DumpedMemory.ofProcess(dir, 1).read(0x7ffc5373afcfn, 20))).toBe("COUNTER_MODE=forensic".slice(0, 20));
    // 3 PE_PRESENT and 4 PE_LAZY|PE_PRESENT ranges, 17 pages, for pid 7.
    const flags = mem7.index.ranges.map((r) => r.flags);
    expect(flags.filter((f) => f === PE_PRESENT)).toHaveLength(3);
    expect(flags.filter((f) => f === (PE_PRESENT | PE_LAZY))).toHaveLength(4);
    expect(mem7.index.presentBytes).toBe(17 * 4096);
    mem7.close();
  });

  it("reads across processes and shared memory objects of a bigger dump", () => {
    const dir = new ImageDir(FIXTURE_DIRS.unshareMix);
    expect(ascii(DumpedMemory.ofProcess(dir, 28192).read(0x7f1b316a0740n, 24))).toBe("UNSHARE_ROOT_SECRET_3141");
    expect(ascii(DumpedMemory.ofProcess(dir, 28198).read(0x7f1b31696000n, 22))).toBe("CHILD_MMAP_MARKER_9001");
    expect(ascii(DumpedMemory.ofShmem(dir, 0).read(0n, 16))).toBe("SYSV_SHM_PAYLOAD");
    expect(ascii(DumpedMemory.ofShmem(dir, 50).read(0n, 18))).toBe("MEMFD_CONTENT_7777");
    expect(ascii(DumpedMemory.ofShmem(dir, 1113).read(0n, 20))).toBe("SHARED_ANON_MIX_0042");
  });

  it("names the first address that is not in the dump", () => {
    const mem = DumpedMemory.ofProcess(new ImageDir(FIXTURE_DIRS.pythonProc), 22115);
    expect(ascii(mem.read(0x7f0b4ed95aa0n, 18))).toBe("PYTHON_SECRET_7781");
    expect(() => mem.read(0x1000n, 4)).toThrow(MemoryError);
    expect(() => mem.read(0x1000n, 4)).toThrow(/0x1000 is not in the dump/);
  });

  it("lists sockets with addresses and queued bytes", () => {
    const socks = processSockets(new ImageDir(FIXTURE_DIRS.unshareMix));
    const est = socks.find((s) => s.pid === 28192 && s.fd === 3)!;
    expect(est).toMatchObject({ proto: "tcp", state: "ESTABLISHED", local: "127.0.0.1:7411", peer: "127.0.0.1:48242", recvQueue: 24, sendQueue: 0 });
    expect(socks.find((s) => s.pid === 28192 && s.fd === 7)).toMatchObject({ proto: "tcp", state: "LISTEN", local: "127.0.0.1:7411" });
    expect(socks.find((s) => s.pid === 28192 && s.fd === 8)).toMatchObject({ proto: "unix-dgram", local: "@unshare-mix-abstract", queuedPackets: 1 });
    expect(socks.find((s) => s.pid === 28192 && s.fd === 10)).toMatchObject({ proto: "unix-seqpacket", state: "LISTEN", local: "/tmp/unshare-mix-work/mix.sock" });
    expect(socks.find((s) => s.pid === 28192 && s.fd === 11)).toMatchObject({ proto: "udp", state: "CLOSE", local: "127.0.0.1:7412" });
    expect(socks.find((s) => s.pid === 28192 && s.fd === 13)).toMatchObject({ proto: "netlink" });
    expect(socks.find((s) => s.pid === 28192 && s.fd === 14)).toMatchObject({ proto: "packet" });
    const runc = processSockets(new ImageDir(FIXTURE_DIRS.runcCounter));
    expect(runc).toEqual([expect.objectContaining({ pid: 6, fd: 3, proto: "tcp6", state: "LISTEN", local: "[::]:8088" })]);
  });
});
