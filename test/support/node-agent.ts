/**
 * A real node agent for tests: `bin/ckpt node serve` as a child process with its own root, checkpoint
 * directory, bridge, pod subnet and TLS material, on a free loopback port; a CRIU wrapper the test can
 * make fail or hang; an HTTPS client that speaks to it with a client certificate or a token.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { request } from "node:https";
import { join } from "node:path";
import { buildBusyboxLayout } from "./oci-images.js";
import { ensureCliBuilt, REPO } from "./ckpt-cli.js";
import { makeTestCertificates, type PemPair, type TestCertificates } from "./tls-certs.js";
import { NodeSettingsSchema, openPodRuntime } from "../../src/node/node-setup.js";
import type { PodRuntime } from "../../src/node/pod-runtime.js";
import { shimCommand } from "../../src/node/shim/shim-command.js";

export const REAL_CRIU = process.env.CKPT_CRIU ?? "/usr/local/sbin/criu";

export function haveNodeStack(): boolean {
  if (process.getuid?.() !== 0) return false;
  for (const bin of ["runc", "openssl", "ip"]) if (spawnSync("sh", ["-c", `command -v ${bin}`]).status !== 0) return false;
  return existsSync(REAL_CRIU) && existsSync("/usr/lib/cni/bridge") && existsSync("/bin/busybox");
}

export interface Credentials {
  cert?: PemPair;
  token?: string;
}

export interface HttpResult {
  status: number;
  body: string;
  headers: Record<string, string | string[] | undefined>;
}

export interface NodeEnv {
  dir: string;
  root: string;
  checkpointsDir: string;
  certs: TestCertificates;
  /** Policy: user "alice" (certificate) and token user "tina" may do everything; "bob" nothing. */
  alice: PemPair;
  bob: PemPair;
  token: string;
  /** `oci:` reference of a busybox image layout. */
  image: string;
  /** The pods' subnet; its first address is the node's, on the pods' bridge. */
  podSubnet: string;
  /** Where checkpoints keep their work while running: on disk, and in memory (tmpfs). */
  workDirs: string[];
  /** Makes the CRIU the agent's runc uses fail ("fail") or hang ("slow"), or work again (undefined). */
  criuMode(mode: "fail" | "slow" | undefined): void;
  start(): Promise<RunningAgent>;
  /** The node's runc runtime in this process (the agent's root, network and CRIU), for tests of the runtime's own functions. */
  runtime(log?: (event: Record<string, unknown>) => void): PodRuntime;
  /** Removes every pod, network and directory this environment made. */
  cleanup(): Promise<void>;
}

export interface RunningAgent {
  url: string;
  process: ChildProcess;
  log(): string;
  call(method: string, path: string, creds: Credentials, body?: string): Promise<HttpResult>;
  /** SIGTERM and wait. */
  stop(): Promise<void>;
  /** SIGKILL and wait: containers must survive it. */
  kill9(): Promise<void>;
}

let envCount = 0;

export interface NodeEnvOptions {
  runtimeRequestTimeout?: number;
  /** Registries (host:port) the agent reaches over plain HTTP. */
  insecureRegistries?: string[];
  /** Put the checkpoint directory on a tmpfs of this size (e.g. "2m"), to run out of space. */
  checkpointsTmpfs?: string;
  /** More `ckpt node serve` options. */
  extraArgs?: string[];
  /** Run the agent on a test host (test-hosts.ts), listening on its address. */
  host?: { ip: string; prefix: string[] };
  /** Accept the same client certificates and token as this other environment (two nodes, one client). */
  authFrom?: NodeEnv;
  /**
   * Give the agent a client certificate of its own (CN=NAME, group ckpt-nodes, which the policy lets
   * get nodes/checkpoint), to fetch lazy migrations from another node.
   */
  peerIdentity?: string;
}

export async function makeNodeEnv(dir: string, opts: NodeEnvOptions = {}): Promise<NodeEnv> {
  ensureCliBuilt();
  const n = (process.pid % 200) + envCount++;
  const root = join(dir, "root");
  const checkpointsDir = join(dir, "checkpoints");
  const certs = opts.authFrom?.certs ?? makeTestCertificates(join(dir, "pki"));
  const alice = opts.authFrom?.alice ?? certs.client("alice", ["ckpt-admins"]);
  const bob = opts.authFrom?.bob ?? certs.client("bob", ["viewers"]);
  const token = opts.authFrom?.token ?? `tok-${Math.random().toString(36).slice(2)}`;
  writeFileSync(join(dir, "tokens.csv"), `${token},tina,2001,"ckpt-admins"\n`);
  writeFileSync(
    join(dir, "policy.yaml"),
    `rules:\n  - groups: ["ckpt-admins"]\n    verbs: ["*"]\n    resources: ["nodes/*"]\n` +
      `  - groups: ["ckpt-nodes"]\n    verbs: ["get"]\n    resources: ["nodes/checkpoint"]\n`,
  );
  const peer = opts.peerIdentity ? certs.client(opts.peerIdentity, ["ckpt-nodes"]) : undefined;
  const layout = join(dir, "busybox");
  await buildBusyboxLayout(layout, { tag: "latest" });
  const flags = join(dir, "criu-flags");
  mkdirSync(flags, { recursive: true });
  const wrapper = join(dir, "criu");
  writeFileSync(
    wrapper,
    `#!/bin/sh\n[ -e ${flags}/fail ] && { echo "criu: unavailable (made so by the test)" >&2; exit 1; }\n` +
      `[ -e ${flags}/slow ] && sleep 60\nexec ${REAL_CRIU} "$@"\n`,
  );
  chmodSync(wrapper, 0o755);
  const bridge = `ckt${n}`;
  const memoryWorkDir = `/dev/shm/ckpt-test-${process.pid}-${n}`;
  const subnet = `10.${100 + (n % 100)}.0.0/16`;
  const args = [
    ...(opts.host?.prefix ?? []),
    join(REPO, "bin/ckpt"), "node", "serve",
    "--root", root, "--checkpoints-dir", checkpointsDir, "--node-name", "test-node",
    "--address", opts.host?.ip ?? "127.0.0.1", "--port", "0",
    "--client-ca-file", certs.ca.certFile, "--token-auth-file", join(dir, "tokens.csv"),
    "--authorization-policy-file", join(dir, "policy.yaml"),
    "--bridge", bridge, "--pod-subnet", subnet, "--criu", wrapper, "--memory-work-dir", memoryWorkDir,
    "--runtime-request-timeout", String(opts.runtimeRequestTimeout ?? 120),
    ...(opts.insecureRegistries ?? []).flatMap((r) => ["--insecure-registry", r]),
    ...(peer ? ["--peer-client-certificate", peer.certFile, "--peer-client-key", peer.keyFile] : []),
    ...(opts.extraArgs ?? []),
  ];
  if (opts.checkpointsTmpfs) {
    mkdirSync(checkpointsDir, { recursive: true });
    const r = spawnSync("mount", ["-t", "tmpfs", "-o", `size=${opts.checkpointsTmpfs},mode=0700`, "tmpfs", checkpointsDir], { encoding: "utf8" });
    if (r.status !== 0) throw new Error(`mounting a tmpfs on ${checkpointsDir}: ${r.stderr}`);
  }
  const running: RunningAgent[] = [];
  const env: NodeEnv = {
    dir,
    root,
    checkpointsDir,
    certs,
    alice,
    bob,
    token,
    image: `oci:${layout}:latest`,
    podSubnet: subnet,
    workDirs: [join(root, "checkpoints-work"), memoryWorkDir],
    criuMode(mode) {
      rmSync(join(flags, "fail"), { force: true });
      rmSync(join(flags, "slow"), { force: true });
      if (mode) writeFileSync(join(flags, mode), "");
    },
    runtime(log) {
      const settings = NodeSettingsSchema.parse({
        nodeName: "test-node",
        root,
        checkpointsDir,
        criu: wrapper,
        bridge,
        podSubnet: subnet,
        memoryWorkDir,
        insecureRegistries: opts.insecureRegistries ?? [],
      });
      return openPodRuntime(settings, shimCommand(), log);
    },
    async start() {
      const agent = await startAgent(args, certs);
      running.push(agent);
      return agent;
    },
    async cleanup() {
      for (const a of running) if (a.process.exitCode === null && a.process.signalCode === null) await a.kill9();
      removeNodeLeftovers(root, bridge);
      if (opts.checkpointsTmpfs) spawnSync("umount", [checkpointsDir], { stdio: "ignore" });
      rmSync(memoryWorkDir, { recursive: true, force: true });
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return env;
}

async function startAgent(argv: string[], certs: TestCertificates): Promise<RunningAgent> {
  const child = spawn(argv[0]!, argv.slice(1), { stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  child.stdout!.on("data", (b: Buffer) => (out += b.toString()));
  child.stderr!.on("data", (b: Buffer) => (out += b.toString()));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the agent did not start in 30 s:\n${out}`)), 30_000);
    const check = () => {
      const m = /"msg":"serving"[^\n]*"url":"([^"]+)"|"url":"([^"]+)"[^\n]*"msg":"serving"/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve((m[1] ?? m[2])!);
      }
    };
    child.stdout!.on("data", check);
    child.on("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`the agent exited (${code}) before serving:\n${out}`));
    });
  });
  const exited = new Promise<void>((resolve) => child.on("exit", () => resolve()));
  return {
    url,
    process: child,
    log: () => out,
    call: (method, path, creds, body) => httpsCall(url, method, path, creds, certs, body),
    async stop() {
      child.kill("SIGTERM");
      await exited;
    },
    async kill9() {
      child.kill("SIGKILL");
      await exited;
    },
  };
}

export function httpsCall(base: string, method: string, path: string, creds: Credentials, certs: TestCertificates, body?: string): Promise<HttpResult> {
  return new Promise((resolve, reject) => {
    const req = request(
      new URL(path, base),
      {
        method,
        ca: certs.ca.cert,
        // The agent's own self-signed serving certificate: the test checks the API, not the PKI.
        rejectUnauthorized: false,
        cert: creds.cert?.cert,
        key: creds.cert?.key,
        headers: {
          ...(creds.token ? { authorization: `Bearer ${creds.token}` } : {}),
          ...(body !== undefined ? { "content-type": "application/yaml" } : {}),
        },
        agent: false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString("utf8"), headers: res.headers }));
      },
    );
    req.on("error", reject);
    req.end(body);
  });
}

/** Stops the containers under `root` with runc, unmounts, removes namespaces and the bridge. */
export function removeNodeLeftovers(root: string, bridge: string): void {
  const runcRoot = join(root, "runc");
  if (existsSync(runcRoot)) {
    for (const id of readdirSync(runcRoot)) spawnSync("runc", ["--root", runcRoot, "delete", "--force", id], { stdio: "ignore" });
  }
  const containers = join(root, "containers");
  if (existsSync(containers)) {
    for (const id of readdirSync(containers)) spawnSync("umount", ["-l", join(containers, id, "rootfs")], { stdio: "ignore" });
  }
  const netns = spawnSync("ip", ["netns", "list"], { encoding: "utf8" }).stdout ?? "";
  const pods = existsSync(join(root, "pods")) ? readdirSync(join(root, "pods")).map((f) => readFileSync(join(root, "pods", f), "utf8")) : [];
  // Sandboxes of pods run by the runtime in the test's own process have no pod record: their
  // namespaces are named after the sandbox's ID.
  const sandboxes = existsSync(containers) ? readdirSync(containers).map((id) => `ckpt-${id.slice(0, 12)}`) : [];
  for (const line of netns.split("\n")) {
    const name = line.split(" ")[0];
    if (name && (pods.some((p) => p.includes(`"${name}"`)) || sandboxes.includes(name))) spawnSync("ip", ["netns", "delete", name], { stdio: "ignore" });
  }
  spawnSync("ip", ["link", "delete", bridge], { stdio: "ignore" });
  // The pods' cgroup parents (runc removes only the containers' own).
  const uids = existsSync(join(root, "pods")) ? readdirSync(join(root, "pods")).map((f) => f.replace(/\.json$/, "")) : [];
  for (const ctrl of existsSync("/sys/fs/cgroup") ? readdirSync("/sys/fs/cgroup") : []) {
    for (const uid of uids) {
      const dir = join("/sys/fs/cgroup", ctrl, "ckpt", `pod${uid}`);
      if (!existsSync(dir)) continue;
      for (const sub of readdirSync(dir, { withFileTypes: true })) if (sub.isDirectory()) spawnSync("rmdir", [join(dir, sub.name)], { stdio: "ignore" });
      spawnSync("rmdir", [dir], { stdio: "ignore" });
    }
  }
}
