/**
 * `npm run bench` (last part): the node agent on containerd 2.1.9 (`--runtime-endpoint`), against
 * the bare CRI in the same run.
 *
 * - Checkpoint: `POST /checkpoint/default/counter/counter` (TLS, token, the agent's locks, the CRI
 *   call into a temp name, the rename) against a bare CRI `CheckpointContainer` of the same container
 *   to a fresh path, alternating; both timed in this process around the request. Target: at most 10%
 *   overhead.
 * - Restore: `POST /pods` of a pod whose image is that archive (what `/restore` makes) (the archive rewritten for containerd,
 *   a sandbox, CreateContainer, StartContainer) against a cold start of the same pod (`POST /pods`),
 *   the image already pulled; both until the answer (the container started).
 *
 * A private containerd (test/support/containerd.ts) with a loopback registry. No assertions on
 * timings: the exit status is 1 only when the bench cannot run or a step fails.
 *
 * Env: BENCH_CRI_RUNS (measured pairs, default 7).
 */
import { mkdirSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { median, table } from "./measure.js";
import { fatal, positiveInt, setBenchName } from "./preconditions.js";

setBenchName("bench/cri");
const RUNS = positiveInt("BENCH_CRI_RUNS", 7);
const OVERHEAD_TARGET = 0.1;

const { haveContainerd, startContainerd } = await import("../test/support/containerd.ts");
const { makeNodeEnv } = await import("../test/support/node-agent.ts");
const { buildBusyboxLayout, haveRegistryTools, pushLayout, startRegistry } = await import("../test/support/oci-images.ts");
const { counterPod } = await import("../test/support/test-pods.ts");
const { CriClient } = await import("../src/cri/client.ts");
if (!haveContainerd() || !haveRegistryTools()) fatal("needs root, containerd 2.1.9, runc, CRIU 4.2, the CNI plugins and docker-registry (npm run setup)");

const work = mkdtempSync(join(tmpdir(), "ckpt-bench-cri-"));
const cd = await startContainerd();
const registry = await startRegistry();
const cri = new CriClient({ endpoint: cd.endpoint });
const env = await makeNodeEnv(join(work, "env"), {
  insecureRegistries: [registry.host],
  extraArgs: ["--runtime-endpoint", cd.endpoint, "--cgroup-root", cd.cgroupParent],
});
const since = (t0: number) => (performance.now() - t0) / 1000;
try {
  const layout = join(work, "busybox");
  await buildBusyboxLayout(layout, { tag: "latest" });
  const image = await pushLayout(layout, "latest", registry, "library/busybox");
  const agent = await env.start();
  const token = { token: env.token };
  const call = async (method: string, path: string, body?: string, expected = 200) => {
    const r = await agent.call(method, path, token, body);
    if (r.status !== expected) throw new Error(`${method} ${path}: ${r.status} ${r.body}`);
    return JSON.parse(r.body) as Record<string, unknown>;
  };
  process.stderr.write("bench/cri: starting the counter pod on containerd…\n");
  const pod = (await call("POST", "/pods", counterPod("counter", image), 201)) as { status: { containerStatuses: Array<{ containerID: string }> } };
  const id = pod.status.containerStatuses[0]!.containerID.replace("containerd://", "");
  const clean = () => {
    for (const f of readdirSync(env.checkpointsDir)) rmSync(join(env.checkpointsDir, f), { force: true });
    rmSync(join(work, "bare"), { recursive: true, force: true });
  };

  process.stderr.write(`bench/cri: ${RUNS} measured pairs (endpoint, bare CRI CheckpointContainer)…\n`);
  const endpoint: number[] = [];
  const bare: number[] = [];
  for (let i = 0; i <= RUNS; i++) {
    clean();
    let t0 = performance.now();
    await call("POST", "/checkpoint/default/counter/counter");
    const e = since(t0);
    const location = join(work, "bare", `c${i}.tar`);
    rmSync(join(work, "bare"), { recursive: true, force: true });
    mkdirSync(join(work, "bare"), { recursive: true });
    t0 = performance.now();
    await cri.checkpointContainer(id, location, 120);
    const b = since(t0);
    if (i === 0) continue;
    endpoint.push(e);
    bare.push(b);
  }
  clean();
  const archive = ((await call("POST", "/checkpoint/default/counter/counter")) as { items: string[] }).items[0]!;

  process.stderr.write(`bench/cri: ${RUNS} measured pairs (restore from the archive, cold start)…\n`);
  const restore: number[] = [];
  const cold: number[] = [];
  for (let i = 0; i <= RUNS; i++) {
    let t0 = performance.now();
    // The archive as the container's image restores it (CRI-O's rule, as /restore does).
    await call("POST", "/pods", counterPod("restored", archive), 201);
    const r = since(t0);
    await call("DELETE", "/pods/default/restored");
    t0 = performance.now();
    await call("POST", "/pods", counterPod("cold", image), 201);
    const c = since(t0);
    await call("DELETE", "/pods/default/cold");
    if (i === 0) continue;
    restore.push(r);
    cold.push(c);
  }

  const ep = median(endpoint);
  const bc = median(bare);
  const overhead = (ep - bc) / bc;
  const rs = median(restore);
  const cs = median(cold);
  const out: string[] = [];
  out.push("", "Node agent on containerd 2.1.9: checkpoint endpoint vs bare CRI CheckpointContainer; restore vs cold start (same run)", "");
  out.push(
    table(
      ["case", "ckpt s", "peer s", "ratio"],
      [
        [`checkpoint: endpoint vs bare CRI, counter, median of ${RUNS}`, ep.toFixed(3), bc.toFixed(3), `${(ep / bc).toFixed(2)}x`],
        [`restore from the archive vs cold start, median of ${RUNS}`, rs.toFixed(3), cs.toFixed(3), `${(rs / cs).toFixed(2)}x`],
      ],
    ),
  );
  out.push("");
  out.push("Targets:");
  out.push(`  endpoint <= bare CRI CheckpointContainer + 10%   ${(overhead * 100).toFixed(1)}%  ${overhead <= OVERHEAD_TARGET ? "met" : "MISSED"}`);
  out.push("");
  out.push("Notes:");
  out.push("  - Both checkpoint calls are timed in this process around the request: HTTPS with a token for the endpoint, gRPC on the unix socket for the bare call.");
  out.push("  - The restore rewrites the archive into containerd's restore layout (status.dump, the base image pinned by digest) before CreateContainer.");
  console.log(out.join("\n"));
} finally {
  cri.close();
  await env.cleanup();
  await cd.cleanup();
  await registry.stop();
  rmSync(work, { recursive: true, force: true });
}
