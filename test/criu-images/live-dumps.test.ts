/**
 * Dumps made now with the real CRIU 4.2.1: a process tree that uses every kind of object the codec
 * must carry (threads, pipes, FIFO, unix and TCP sockets with queued data, eventfd, epoll, timerfd,
 * signalfd, inotify, memfd, SysV shm/sem/msg, deleted open files small and big, locks, a zombie),
 * checked image by image against the real crit, and the markers it planted found where they belong.
 */
import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DumpedMemory, ImageDir, decodeImage, listProcesses, processFds, processSockets, stringifyPython } from "../../src/criu-images/index.js";
import { checkDirAgainstCrit } from "../support/crit-conformance.js";
import { haveCrit } from "../support/crit.js";
import { dumpWorkload, haveRealStack, type WorkloadDump } from "../support/criu-dump.js";

const live = haveRealStack() && haveCrit();

describe.runIf(live)("live dumps of a process tree with every image kind", () => {
  let mix: WorkloadDump;
  let zombie: WorkloadDump;
  beforeAll(async () => {
    mix = await dumpWorkload("mix");
    zombie = await dumpWorkload("zombie");
  });
  afterAll(async () => {
    await mix?.cleanup();
    await zombie?.cleanup();
  });

  it("every image matches crit 4.2.1 (decode, pretty, encode, x views)", () => {
    for (const d of [mix, zombie]) {
      const counts = checkDirAgainstCrit(d.dir);
      expect(counts.images).toBeGreaterThan(d === mix ? 40 : 10);
      expect(counts.encodes).toBe(2 * counts.images);
    }
  });

  it("holds the image kinds the workload was built to produce", () => {
    const dir = new ImageDir(mix.dir);
    const kinds = new Set(dir.entries("files.img").map((f) => f.type));
    // REG PIPE FIFO INETSK UNIXSK EVENTFD EVENTPOLL INOTIFY SIGNALFD PACKETSK NETLINKSK TIMERFD MEMFD
    for (const t of [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 13, 17, 18]) expect(kinds.has(t), `file type ${t}`).toBe(true);
    for (const img of ["pipes-data.img", "fifo-data.img", "sk-queues.img", "ipcns-msg-10.img", "ipcns-sem-10.img", "ipcns-shm-10.img", "filelocks.img", "remap-fpath.img", "memfd.img"]) {
      expect(dir.has(img), img).toBe(true);
    }
    const ghosts = ["ghost-file-1.img", "ghost-file-2.img"].map((g) => dir.entries(g)[0]!);
    expect(ghosts.map((g) => g.chunks === true).sort()).toEqual([false, true]);
  });

  it("shows the zombie with CRIU's state name instead of crashing", () => {
    const dir = new ImageDir(mix.dir);
    const zombieProc = listProcesses(dir).find((p) => p.pid === mix.pids.zombie)!;
    expect(zombieProc).toMatchObject({ state: 2, stateName: "Dead" });
    expect(processFds(dir).find((p) => p.pid === mix.pids.zombie)).toMatchObject({ defunct: "dead", fds: [] });
    const core = decodeImage(readFileSync(dir.file(`core-${mix.pids.zombie}.img`)), "core", { pretty: true });
    expect(stringifyPython(core, 4)).toContain('"task_state": "Dead"');
  });

  it("finds each memory marker at its place and queue markers in their payloads", () => {
    const dir = new ImageDir(mix.dir);
    const pagesOf = (pagemap: string) => readFileSync(dir.file(`pages-${dir.entries(pagemap)[0]!.pages_id}.img`));
    expect(pagesOf(`pagemap-${mix.pids.leader}.img`).includes(mix.markers.leader!)).toBe(true);
    expect(pagesOf(`pagemap-${mix.pids.leader}.img`).includes(mix.markers.child!)).toBe(false);
    expect(pagesOf(`pagemap-${mix.pids.child}.img`).includes(mix.markers.child!)).toBe(true);
    const shm = DumpedMemory.ofShmem(dir, 0);
    expect(shm.read(0n, mix.markers.sysvShm!.length).toString("latin1")).toBe(mix.markers.sysvShm);
    const json = (img: string) => stringifyPython(decodeImage(readFileSync(dir.file(img)), img), null);
    const b64 = (s: string) => Buffer.from(s).toString("base64").slice(0, 16);
    expect(json("pipes-data.img")).toContain(b64(mix.markers.pipe!));
    expect(json("fifo-data.img")).toContain(b64(mix.markers.fifo!));
    const sockets = processSockets(dir);
    const tcp = sockets.filter((s) => s.proto === "tcp" && s.state === "ESTABLISHED");
    expect(tcp).toHaveLength(2);
    expect(tcp.every((s) => (s.recvQueue ?? 0) > 0)).toBe(true);
    expect(tcp.some((s) => (s.sendQueue ?? 0) > 0)).toBe(true);
  });
});
