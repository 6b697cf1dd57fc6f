/**
 * A private, real containerd 2.1 (sid's, installed by scripts/setup.sh) as a CRI runtime for tests:
 * its root, state, sockets, CNI config and IPAM data, and runc's root all in one temp dir; a CNI
 * bridge with a test-unique name and subnet; busybox imported as the pinned sandbox ("pause") image.
 * cleanup() removes what containerd leaves outside that dir too (see docs: real-stack.md, "containerd
 * 2.1 as a CRI runtime"): shims and their sockets, the bridge, cgroup parents, libcni's cache.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { busyboxRootfs, writeOciImage } from "./oci-images.js";
import { waitFor } from "./wait-for.js";

export const TOOLS_BIN = process.env.CKPT_TOOLS_BIN ?? "/opt/ckpt-tools/bin";
export const CONTAINERD = join(TOOLS_BIN, "containerd");
export const CTR = join(TOOLS_BIN, "ctr");
const CRIU_WRAPPER = "/usr/local/sbin/criu";
/** The image every sandbox and test container runs: busybox, whose default command sleeps. */
export const TEST_IMAGE = "docker.io/ckpt-test/busybox:1";
const CNI_BIN_DIRS = ["/usr/lib/cni", "/opt/cni/bin"];
/** containerd puts shim sockets here whatever its state dir (defaults.DefaultStateDir + "/s"). */
const SHIM_SOCKET_DIR = "/run/containerd/s";
/** libcni's cache of attachment results (not configurable through the CRI plugin). */
const LIBCNI_CACHE = "/var/lib/cni";

export function haveContainerd(): boolean {
  if (process.getuid?.() !== 0) return false;
  for (const p of [CONTAINERD, CTR, join(TOOLS_BIN, "containerd-shim-runc-v2"), CRIU_WRAPPER, "/usr/lib/cni/bridge", "/usr/lib/cni/host-local", "/bin/busybox"]) {
    if (!existsSync(p)) return false;
  }
  return spawnSync(CONTAINERD, ["--version"]).status === 0 && spawnSync("sh", ["-c", "command -v runc && command -v ip"], { stdio: "ignore" }).status === 0;
}

export interface TestContainerd {
  dir: string;
  /** `unix:///…/containerd.sock`, for CriClient and `ckpt cri --runtime-endpoint`. */
  endpoint: string;
  socket: string;
  bridge: string;
  subnet: string;
  /** A cgroup parent of this test's own, for PodSandboxConfig.linux.cgroupParent. */
  cgroupParent: string;
  image: string;
  process: ChildProcess;
  log(): string;
  /** Makes the CRIU containerd runs hang ("slow") or work again (undefined). */
  criuMode(mode: "slow" | undefined): void;
  /** Kills containerd alone (SIGKILL), as a crash would: its shims and containers run on. */
  kill9(): Promise<void>;
  /** Starts the killed containerd again with the same config and state. */
  restart(): Promise<void>;
  /** Stops containerd and removes everything it and its pods made. Safe to call twice. */
  cleanup(): Promise<void>;
}

function configToml(dir: string, socket: string, cniConfDir: string): string {
  const q = (s: string) => `'${s}'`;
  return `version = 3
root = ${q(join(dir, "root"))}
state = ${q(join(dir, "state"))}
temp = ${q(join(dir, "tmp"))}

[grpc]
  address = ${q(socket)}

[ttrpc]
  address = ${q(socket + ".ttrpc")}

[debug]
  address = ${q(join(dir, "debug.sock"))}
  level = 'info'

[metrics]
  address = ''

[plugins]
  [plugins.'io.containerd.cri.v1.images']
    snapshotter = 'overlayfs'
    [plugins.'io.containerd.cri.v1.images'.pinned_images]
      sandbox = ${q(TEST_IMAGE)}

  [plugins.'io.containerd.cri.v1.runtime']
    # Without it the sandbox's oom_score_adj -998 needs CAP_SYS_RESOURCE: runc fails with
    # "can't get final child's PID from pipe: EOF".
    restrict_oom_score_adj = true
    netns_mounts_under_state_dir = true
    enable_cdi = false
    [plugins.'io.containerd.cri.v1.runtime'.containerd]
      default_runtime_name = 'runc'
      [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]
        runtime_type = 'io.containerd.runc.v2'
        # A container names its CRIU config file (tcp-established) through this annotation.
        container_annotations = ['org.criu.config']
        [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]
          Root = ${q(join(dir, "runc"))}
    [plugins.'io.containerd.cri.v1.runtime'.cni]
      bin_dirs = [${CNI_BIN_DIRS.map(q).join(", ")}]
      conf_dir = ${q(cniConfDir)}
      max_conf_num = 1

  [plugins.'io.containerd.grpc.v1.cri']
    disable_tcp_service = true
    stream_server_address = '127.0.0.1'
    stream_server_port = '0'

  [plugins.'io.containerd.internal.v1.opt']
    path = ${q(join(dir, "opt"))}

  [plugins.'io.containerd.nri.v1.nri']
    disable = true
`;
}

/** The shim's socket path, as containerd's shim.SocketAddress computes it. */
export function shimSocketPath(address: string, namespace: string, id: string): string {
  return join(SHIM_SOCKET_DIR, createHash("sha256").update(join(address, namespace, id)).digest("hex"));
}

/** Shims started for the containerd at `address`: pid and the task id they serve. */
function shimsOf(address: string): { pid: number; namespace: string; id: string }[] {
  const found: { pid: number; namespace: string; id: string }[] = [];
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    let argv: string[];
    try {
      argv = readFileSync(`/proc/${name}/cmdline`, "utf8").split("\0");
    } catch {
      continue;
    }
    if (!argv[0]?.endsWith("containerd-shim-runc-v2")) continue;
    const arg = (flag: string) => argv[argv.indexOf(flag) + 1] ?? "";
    if (arg("-address") === address) found.push({ pid: Number(name), namespace: arg("-namespace"), id: arg("-id") });
  }
  return found;
}

/** Live processes whose command line names a path under `dir`. */
export function processesMentioning(dir: string): number[] {
  const found: number[] = [];
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name) || Number(name) === process.pid) continue;
    try {
      if (readFileSync(`/proc/${name}/cmdline`, "utf8").includes(dir + "/")) found.push(Number(name));
    } catch {
      // exited meanwhile
    }
  }
  return found;
}

function mountsUnder(dir: string): string[] {
  return readFileSync("/proc/self/mountinfo", "utf8")
    .split("\n")
    .map((l) => l.split(" ")[4] ?? "")
    .filter((p) => p === dir || p.startsWith(dir + "/"))
    .sort((a, b) => b.length - a.length);
}

/**
 * Starts containerd with a fresh config in a temp dir, waits for its CRI socket, and imports the
 * busybox test image into the k8s.io namespace.
 */
export async function startContainerd(): Promise<TestContainerd> {
  const dir = mkdtempSync("/tmp/ckpt-cri-");
  const tag = randomBytes(3).toString("hex");
  const bridge = `ckcri${tag}`;
  const rnd = randomBytes(2);
  const subnet = `10.${200 + (rnd[0]! % 50)}.${rnd[1]}.0/24`;
  const netName = `ckpt-cri-${tag}`;
  const cgroupParent = `/ckpt-cri-${tag}`;
  const socket = join(dir, "containerd.sock");
  const cniConfDir = join(dir, "cni", "net.d");
  mkdirSync(cniConfDir, { recursive: true });
  for (const d of ["root", "state", "tmp", "opt", "runc"]) mkdirSync(join(dir, d), { recursive: true });
  writeFileSync(
    join(cniConfDir, "10-ckpt.conflist"),
    JSON.stringify({
      cniVersion: "1.0.0",
      name: netName,
      plugins: [{ type: "bridge", bridge, isGateway: true, ipMasq: false, ipam: { type: "host-local", ranges: [[{ subnet }]], dataDir: join(dir, "cni", "ipam") } }],
    }),
  );
  const config = join(dir, "config.toml");
  writeFileSync(config, configToml(dir, socket, cniConfDir));

  let output = "";
  // A CRIU the test can make hang, in front of the CRIU 4.2.1 wrapper (/usr/local/sbin, itself before
  // bookworm's broken 3.17); the containerd binaries next.
  const criuBin = join(dir, "criu-bin");
  mkdirSync(criuBin);
  const slowFlag = join(dir, "criu-slow");
  writeFileSync(join(criuBin, "criu"), `#!/bin/sh\n[ -e ${slowFlag} ] && [ "$1" != check ] && [ "$1" != --version ] && sleep 15\nexec ${CRIU_WRAPPER} "$@"\n`, { mode: 0o755 });
  const env = { ...process.env, PATH: `${criuBin}:/usr/local/sbin:${TOOLS_BIN}:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin` };
  let child!: ChildProcess;
  let exited = false;
  const launch = () => {
    exited = false;
    child = spawn(CONTAINERD, ["--config", config], { stdio: ["ignore", "pipe", "pipe"], env });
    child.stdout!.on("data", (c: Buffer) => (output += c.toString()));
    child.stderr!.on("data", (c: Buffer) => (output += c.toString()));
    child.on("exit", () => (exited = true));
  };
  const serving = () =>
    waitFor(
      "containerd's socket",
      () => {
        if (exited) throw new Error(`containerd exited:\n${output}`);
        return existsSync(socket) && spawnSync(CTR, ["--address", socket, "version"], { stdio: "ignore" }).status === 0 ? true : undefined;
      },
      20_000,
    );
  launch();

  let cleaned = false;
  const cleanup = async () => {
    if (cleaned) return;
    cleaned = true;
    const shims = shimsOf(socket);
    if (!exited) {
      const gone = new Promise<void>((resolve) => child.once("exit", () => resolve()));
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
      await gone;
      clearTimeout(timer);
    }
    // Containers a test left: runc's root is ours (one subdir per containerd namespace).
    const runcRoot = join(dir, "runc");
    for (const ns of existsSync(runcRoot) ? readdirSync(runcRoot) : []) {
      for (const id of readdirSync(join(runcRoot, ns))) spawnSync("runc", ["--root", join(runcRoot, ns), "delete", "--force", id], { stdio: "ignore" });
    }
    // Shims, and a CRIU wrapper a test made hang (it runs on after its shim).
    for (const pid of [...shimsOf(socket).map((s) => s.pid), ...processesMentioning(dir)]) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        // gone already
      }
    }
    for (const s of shims) {
      for (const p of [shimSocketPath(socket, s.namespace, s.id), shimSocketPath(socket, s.namespace, s.id) + "-debug"]) rmSync(p, { force: true });
    }
    for (const d of [SHIM_SOCKET_DIR, "/run/containerd"]) spawnSync("rmdir", [d], { stdio: "ignore" });
    for (const m of mountsUnder(dir)) spawnSync("umount", ["-l", m], { stdio: "ignore" });
    spawnSync("ip", ["link", "delete", bridge], { stdio: "ignore" });
    // Cgroups: this test's parent, and containerd's default parent when it is left empty.
    const cgroupRoots = existsSync("/sys/fs/cgroup/cgroup.controllers") ? ["/sys/fs/cgroup"] : readdirSync("/sys/fs/cgroup").map((c) => join("/sys/fs/cgroup", c));
    for (const root of cgroupRoots) {
      for (const parent of [join(root, cgroupParent), join(root, "k8s.io")]) {
        if (!existsSync(parent)) continue;
        for (const sub of readdirSync(parent, { withFileTypes: true })) if (sub.isDirectory()) spawnSync("rmdir", [join(parent, sub.name)], { stdio: "ignore" });
        spawnSync("rmdir", [parent], { stdio: "ignore" });
      }
    }
    const results = join(LIBCNI_CACHE, "results");
    for (const f of existsSync(results) ? readdirSync(results) : []) if (f.startsWith(`${netName}-`)) rmSync(join(results, f), { force: true });
    for (const d of [results, LIBCNI_CACHE]) spawnSync("rmdir", [d], { stdio: "ignore" });
    rmSync(dir, { recursive: true, force: true });
  };

  try {
    await serving();
    const layout = join(dir, "image-layout");
    // A sleeping default command: the image is the pod sandbox's "pause" container too.
    await writeOciImage(layout, { tag: TEST_IMAGE, layers: [{ entries: busyboxRootfs() }], config: { Cmd: ["sleep", "2147483647"] } });
    const archive = join(dir, "image.tar");
    const tar = spawnSync("tar", ["-C", layout, "-cf", archive, "."], { encoding: "utf8" });
    if (tar.status !== 0) throw new Error(`tar failed: ${tar.stderr}`);
    const imp = spawnSync(CTR, ["--address", socket, "-n", "k8s.io", "images", "import", archive], { encoding: "utf8" });
    if (imp.status !== 0) throw new Error(`ctr images import failed: ${imp.stderr}${imp.stdout}`);
    rmSync(archive, { force: true });
  } catch (err) {
    await cleanup();
    throw err;
  }
  return {
    dir,
    endpoint: `unix://${socket}`,
    socket,
    bridge,
    subnet,
    cgroupParent,
    image: TEST_IMAGE,
    get process() {
      return child;
    },
    log: () => output,
    kill9: async () => {
      if (exited) return;
      const gone = new Promise<void>((resolve) => child.once("exit", () => resolve()));
      child.kill("SIGKILL");
      await gone;
    },
    restart: async () => {
      if (!exited) throw new Error("containerd is still running");
      launch();
      await serving();
    },
    criuMode: (mode) => (mode ? writeFileSync(slowFlag, "") : rmSync(slowFlag, { force: true })),
    cleanup,
  };
}

/** The names in `ip netns list` that containerd's CNI gives pod namespaces ("cni-UUID"). */
export function cniNetns(): string[] {
  const out = spawnSync("ip", ["netns", "list"], { encoding: "utf8" }).stdout ?? "";
  return out
    .split("\n")
    .map((l) => l.split(" ")[0]!)
    .filter((n) => n.startsWith("cni-"));
}

/**
 * What a stopped test containerd left behind: live processes naming its socket or directory, mounts
 * under its directory, pod network namespaces not in `netnsBefore`, its bridge, its directory.
 */
export function leftoversOf(cd: TestContainerd, netnsBefore: string[]): string[] {
  const found: string[] = [];
  for (const pid of processesMentioning(cd.dir)) {
    try {
      if (!/^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, "utf8"))) found.push(`process ${pid}: ${readFileSync(`/proc/${pid}/cmdline`, "utf8").replaceAll("\0", " ")}`);
    } catch {
      // exited meanwhile
    }
  }
  for (const m of mountsUnder(cd.dir)) found.push(`mount ${m}`);
  for (const n of cniNetns().filter((x) => !netnsBefore.includes(x))) found.push(`netns ${n}`);
  if (spawnSync("ip", ["link", "show", cd.bridge], { stdio: "ignore" }).status === 0) found.push(`bridge ${cd.bridge}`);
  if (existsSync(cd.dir)) found.push(`directory ${cd.dir}`);
  return found;
}
