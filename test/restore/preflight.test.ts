/** The checks before a restore, and the mounts a restored container may get. */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { Checkpoint } from "../../src/checkpoint/checkpoint.js";
import { MountPolicyError, restoredBindMounts } from "../../src/restore/bind-mount-policy.js";
import { missingCpuFeatures, parseCpuinfoFlags, xstateFeatures } from "../../src/restore/cpu-features.js";
import { archiveFacts, dumpLogFacts, hostFacts, isLoopbackEndpoint, keepsLoopbackTcp, preflight, type ArchiveFacts, type HostFacts } from "../../src/restore/restore-preflight.js";
import { REPO } from "../support/ckpt-cli.js";
import { FIXTURE_DIRS, haveFixtures } from "../support/fixtures.js";

const HOST: HostFacts = { arch: "x86_64", kernel: "6.18.44-fc-v669", criuVersion: "4.2.1", runtime: "runc" };
const ARCHIVE: ArchiveFacts = { arch: "x86_64", kernel: "6.18.44-fc-v669", criuVersion: "4.2.1", runtime: "runc", ip: "10.88.0.9", establishedTcp: 0 };

describe("preflight", () => {
  it("passes a checkpoint made on a node like this one", () => {
    expect(preflight(ARCHIVE, HOST)).toEqual({ errors: [], notes: [] });
  });

  it("refuses another CPU architecture, an older CRIU and another runtime, each said", () => {
    const r = preflight({ ...ARCHIVE, arch: "aarch64", criuVersion: "4.3.0", runtime: "crun" }, HOST);
    expect(r.errors).toEqual([
      "CPU architecture: the checkpoint was made on aarch64, this node is x86_64",
      "CRIU version: the checkpoint was made by CRIU 4.3.0, this node has the older 4.2.1",
      "runtime: the checkpoint was made with crun, this node restores with runc",
    ]);
  });

  it("takes runtime names by family and architectures by alias", () => {
    expect(preflight({ ...ARCHIVE, arch: "amd64", runtime: "io.containerd.runc.v2", criuVersion: "4.1.1" }, HOST).errors).toEqual([]);
  });

  it("notes another kernel and says what becomes of established TCP connections", () => {
    const moved = preflight({ ...ARCHIVE, kernel: "6.1.0-18-amd64", establishedTcp: 2 }, HOST, "10.88.0.20");
    expect(moved.errors).toEqual([]);
    expect(moved.notes).toEqual([
      "kernel: the checkpoint was made on Linux 6.1.0-18-amd64, this node runs 6.18.44-fc-v669 (CRIU restores across kernels when the features it used exist)",
      "TCP: 2 established connection(s) are closed: the pod's address changes (10.88.0.9 → 10.88.0.20); listening sockets are restored",
    ]);
    expect(preflight({ ...ARCHIVE, establishedTcp: 1 }, HOST, "10.88.0.9").notes).toEqual([
      "TCP: 1 established connection(s) are restored (the pod keeps its address 10.88.0.9)",
    ]);
  });

  it("keeps a container's connections when its pod is restored whole and they are all on loopback", () => {
    const loopbackOnly = { ...ARCHIVE, establishedTcp: 1, connectedTcp: { loopback: 1, other: 0 } };
    expect(keepsLoopbackTcp(loopbackOnly)).toBe(true);
    expect(preflight(loopbackOnly, HOST, "10.88.0.20", { keepLoopbackTcp: true }).notes).toEqual([
      "TCP: 1 connection(s) on loopback are restored with the pod's other containers; listening sockets are restored",
    ]);
    const mixed = { ...ARCHIVE, establishedTcp: 3, connectedTcp: { loopback: 1, other: 2 } };
    expect(keepsLoopbackTcp(mixed)).toBe(false);
    expect(preflight(mixed, HOST, "10.88.0.20", { keepLoopbackTcp: true }).notes).toEqual([
      "TCP: 3 connection(s) are closed: 2 go to other addresses and the pod's address changes, so its 1 loopback connection(s) are closed too; listening sockets are restored",
    ]);
    // A container restored on its own closes them all, loopback or not.
    expect(preflight(loopbackOnly, HOST, "10.88.0.20").notes).toEqual([
      "TCP: 1 established connection(s) are closed: the pod's address changes (10.88.0.9 → 10.88.0.20); listening sockets are restored",
    ]);
  });

  it("tells loopback endpoints as `x sk` prints them", () => {
    for (const e of ["127.0.0.1:9000", "127.1.2.3:1", "[::1]:9000", "[::ffff:7f00:1]:9000"]) expect(isLoopbackEndpoint(e), e).toBe(true);
    for (const e of ["10.88.0.9:9000", "0.0.0.0:0", "[::]:0", "[::ffff:a58:9]:9000", "[fe80::1]:22", "1.127.0.0:1"]) expect(isLoopbackEndpoint(e), e).toBe(false);
  });

  it("reads CRIU's version, the kernel and the architecture from dump.log", () => {
    const log = "(00.000000) CRIU run id = x\n(00.000410) Version: 4.2.1 (gitid 0)\n(00.000415) Running on vm Linux 6.18.44-fc-v669 #1 SMP PREEMPT_DYNAMIC @0 x86_64\n";
    expect(dumpLogFacts(log)).toEqual({ criuVersion: "4.2.1", kernel: "6.18.44-fc-v669", arch: "x86_64" });
  });

  it("gathers the facts of the sample archive", async () => {
    const cp = await Checkpoint.open(join(REPO, "samples/counter-crio.tar"));
    try {
      // The sample's counter has a listening socket (httpd), no established connection.
      // Every task's xstate_bv is 0xa2 (SSE, AVX-512 opmask, Hi16_ZMM): AVX-512 state in use.
      expect(archiveFacts(cp)).toEqual({
        criuVersion: "4.2.1",
        kernel: "6.18.44-fc-v669",
        arch: "x86_64",
        runtime: "runc",
        ip: "10.88.0.9",
        establishedTcp: 0,
        cpuFeatures: ["avx512f"],
      });
    } finally {
      cp.close();
    }
  });

  it("finds this host's facts", () => {
    const h = hostFacts(process.env.CKPT_CRIU ?? "/usr/local/sbin/criu");
    expect(h.arch).toMatch(/^(x86_64|aarch64)$/);
    expect(h.kernel).toMatch(/^\d+\.\d+/);
    expect(h.runtime).toBe("runc");
    // x86 kernels list the CPU's flags; every x86_64 CPU has SSE2.
    if (h.arch === "x86_64") expect(h.cpuFlags).toContain("sse2");
  });
});

describe("preflight: CPU features", () => {
  const AVX512_HOST: HostFacts = { ...HOST, cpuFlags: ["fpu", "sse", "sse2", "xsave", "avx", "avx2", "avx512f", "pku", "ospke"] };
  const OLD_HOST: HostFacts = { ...HOST, cpuFlags: ["fpu", "sse", "sse2", "xsave", "avx", "avx2", "pku"] };

  it("passes when this node's CPU has every feature the tasks use", () => {
    expect(preflight({ ...ARCHIVE, cpuFeatures: ["avx", "avx512f", "pku"] }, AVX512_HOST)).toEqual({ errors: [], notes: [] });
    expect(preflight({ ...ARCHIVE, cpuFeatures: [] }, OLD_HOST)).toEqual({ errors: [], notes: [] });
  });

  it("refuses a node whose CPU lacks features the tasks use, naming them all", () => {
    const r = preflight({ ...ARCHIVE, cpuFeatures: ["avx", "mpx", "avx512f", "pku"] }, OLD_HOST);
    // pku counts only when the kernel has enabled it (ospke).
    expect(r.errors).toEqual(["CPU features: the checkpointed tasks use mpx, avx512f, pku, this node's CPU lacks them"]);
    expect(r.notes).toEqual([]);
  });

  it("notes, without refusing, features it cannot check", () => {
    expect(preflight({ ...ARCHIVE, cpuFeatures: ["avx512f"] }, HOST)).toEqual({
      errors: [],
      notes: ["CPU features: the checkpointed tasks use avx512f; this node's CPU flags are unknown (no flags line in /proc/cpuinfo)"],
    });
    expect(preflight({ ...ARCHIVE, cpuinfoImage: true }, AVX512_HOST).notes).toEqual([
      "CPU: the dump carries cpuinfo.img (the CPU it was made on); CRIU compares it with this node's CPU itself when restoring with --cpu-cap",
    ]);
  });

  it("leaves features to the architecture check on another architecture", () => {
    expect(preflight({ ...ARCHIVE, cpuFeatures: ["avx512f"] }, { ...HOST, arch: "aarch64", cpuFlags: [] }).errors).toEqual([
      "CPU architecture: the checkpoint was made on x86_64, this node is aarch64",
    ]);
  });

  it("maps xstate_bv bits to features, in every form a uint64 takes", () => {
    expect(xstateFeatures(0xa2n)).toEqual(["avx512f"]);
    expect(xstateFeatures(0x3)).toEqual([]);
    expect(xstateFeatures("0x2e7")).toEqual(["avx", "avx512f", "pku"]);
    expect(xstateFeatures((1n << 18n) | (1n << 17n) | 0b11000n)).toEqual(["mpx", "amx_tile"]);
  });

  it("reads the flags of the first processor of /proc/cpuinfo", () => {
    const cpuinfo = [
      "processor\t: 0",
      "vendor_id\t: GenuineIntel",
      "model name\t: Intel(R) Xeon(R) Platinum 8375C CPU @ 2.90GHz",
      "flags\t\t: fpu vme sse sse2 avx avx512f pku ospke",
      "bugs\t\t: spectre_v1",
      "",
      "processor\t: 1",
      "flags\t\t: fpu sse sse2",
      "",
    ].join("\n");
    expect(parseCpuinfoFlags(cpuinfo)).toEqual(["fpu", "vme", "sse", "sse2", "avx", "avx512f", "pku", "ospke"]);
    expect(parseCpuinfoFlags("processor\t: 0\nFeatures\t: fp asimd evtstrm\n")).toBeUndefined();
  });

  describe.runIf(haveFixtures())("on the real dumps", () => {
    it.each(Object.entries(FIXTURE_DIRS))("%s uses only features of this machine's CPU, which dumped it", async (_name, dir) => {
      const cp = await Checkpoint.open(dir);
      try {
        const facts = archiveFacts(cp);
        // Every task and thread of the three dumps has xstate_bv 0xa2: AVX-512 state in use.
        expect(facts.cpuFeatures).toEqual(["avx512f"]);
        const flags = parseCpuinfoFlags(readFileSync("/proc/cpuinfo", "utf8"));
        expect(flags).toBeDefined();
        expect(missingCpuFeatures(facts.cpuFeatures!, flags!)).toEqual([]);
      } finally {
        cp.close();
      }
    });
  });
});

describe("restoredBindMounts", () => {
  const archive = [
    { destination: "/proc", type: "proc", source: "proc" },
    { destination: "/etc/hosts", type: "bind", source: "/var/lib/old/hosts", options: ["rbind"] },
    { destination: "/data", type: "bind", source: "/srv/old-data", options: ["rbind", "ro"] },
    { destination: "/cache/", type: "none", source: "/var/lib/old/cache", options: ["bind"] },
  ];

  it("takes each bind mount's source from the new pod, never from the archive", () => {
    const got = restoredBindMounts(archive, [
      { destination: "/data", source: "/srv/new-data", readOnly: true },
      { destination: "/cache", source: "/var/lib/ckpt/volumes/u/cache", readOnly: false },
      { destination: "/extra", source: "/srv/extra", readOnly: false },
    ]);
    expect(got).toEqual([
      { destination: "/data", source: "/srv/new-data", readOnly: true },
      { destination: "/cache", source: "/var/lib/ckpt/volumes/u/cache", readOnly: false },
    ]);
  });

  it("refuses an archive bind mount the new pod does not declare, naming each", () => {
    expect(() => restoredBindMounts(archive, [])).toThrow(MountPolicyError);
    expect(() => restoredBindMounts(archive, [])).toThrow(
      "restoring this checkpoint expects the following bind mounts to be declared by the pod (volumeMounts): /data, /cache",
    );
  });
});
