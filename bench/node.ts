/**
 * `npm run bench` (third part): the node agent's checkpoint endpoint against a plain
 * `runc checkpoint --leave-running` of the same container, in the same run, and CRIU's frozen time
 * for a container holding 1 GiB of memory.
 *
 * A real agent (`bin/ckpt node serve`, test/support/node-agent.ts) runs a busybox counter pod and a
 * pod whose container fills 1 GiB (bench/memhog.ts: a static C program built with gcc, in its own image layer).
 * Each measured pair: `curl -X POST …/checkpoint/default/counter/counter` (the whole kubelet flow:
 * pause, rootfs diff, runc checkpoint, resume, CRI-O archive written and renamed), then
 * `runc checkpoint --leave-running --image-path D --work-path D ID` on the same container with the
 * same runc and CRIU. Both are timed around the process (wall), medians in the table.
 *
 * Target: the endpoint costs at most 15% more than plain runc, plus writing the archive at the disk's
 * speed (measured here: a file of the archive's size written with fsync). The 1 GiB container's
 * checkpoint is reported with CRIU's own frozen time (its stats-dump, decoded with ckpt's codec).
 * No assertions on timings: the exit status is 1 only when the bench cannot run or a step fails.
 *
 * Env: BENCH_NODE_RUNS (measured pairs, default 9), BENCH_NODE_BIG_MB (1024).
 */
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { alternate, fmtMB, interrupted, measure, median, table } from "./measure.js";
import { buildMemhogImage, MEMHOG_PATH } from "./memhog.js";
import { fatal, positiveInt, setBenchName } from "./preconditions.js";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
setBenchName("bench/node");
const RUNS = positiveInt("BENCH_NODE_RUNS", 9);
const BIG_MB = positiveInt("BENCH_NODE_BIG_MB", 1024);
const OVERHEAD_TARGET = 0.15;


const { haveNodeStack, makeNodeEnv, REAL_CRIU } = await import("../test/support/node-agent.ts");
if (!haveNodeStack()) fatal("needs root, runc, CRIU 4.2, the CNI plugins and busybox (npm run setup)");
if (spawnSync("sh", ["-c", "command -v gcc && command -v curl"]).status !== 0) fatal("needs gcc and curl (npm run setup)");

/** CRIU's frozen time (ms) from a stats-dump image, decoded by ckpt's own codec. */
function frozenMs(statsDump: Buffer): number {
  const json = execFileSync(join(ROOT, "bin/ckpt"), ["crit", "decode"], { input: statsDump, encoding: "utf8" });
  return Number((JSON.parse(json) as { entries: Array<{ dump: { frozen_time: number } }> }).entries[0]!.dump.frozen_time) / 1000;
}

const work = mkdtempSync(join(tmpdir(), "ckpt-bench-node-"));

/** Seconds to write `bytes` into the checkpoint directory and fsync them (dd), as an archive is. */
function diskWriteSeconds(bytes: number): number {
  const file = join(env.checkpointsDir, "dd-speed");
  const count = Math.max(1, Math.ceil(bytes / 65536));
  const s = measure(["dd", "if=/dev/zero", `of=${file}`, "bs=64k", `count=${count}`, "conv=fsync"], "dd", work, work).seconds;
  rmSync(file, { force: true });
  return s;
}
const env = await makeNodeEnv(join(work, "env"));
try {
  // The 1 GiB workload: a static binary in a layer over busybox (bench/memhog.ts).
  const bigLayout = join(work, "memhog-image");
  await buildMemhogImage(work, bigLayout);

  const agent = await env.start();
  const token = { token: env.token };
  const apply = async (yaml: string) => {
    const r = await agent.call("POST", "/pods", token, yaml);
    if (r.status !== 201) throw new Error(`applying a pod: ${r.status} ${r.body}`);
    return JSON.parse(r.body) as { metadata: { name: string; uid: string }; status: { containerStatuses: Array<{ containerID: string }> } };
  };
  process.stderr.write("bench/node: starting the counter pod and the 1 GiB pod…\n");
  const counter = await apply(`apiVersion: v1
kind: Pod
metadata: {name: counter, namespace: default}
spec:
  containers:
  - name: counter
    image: ${env.image}
    command: ["/bin/sh", "-c", "SECRET=RANDOM_1432_KEY; echo written > /tmp/test-file; nc -l -p 8088 -e cat & i=0; while true; do i=$((i+1)); echo count $i; sleep 0.2; done"]
`);
  await apply(`apiVersion: v1
kind: Pod
metadata: {name: big, namespace: default}
spec:
  containers:
  - name: big
    image: oci:${bigLayout}:latest
    command: ["${MEMHOG_PATH}", "${BIG_MB}"]
`);
  const counterId = counter.status.containerStatuses[0]!.containerID.replace("runc://", "");
  const runcRoot = join(env.root, "runc");
  const scratch = join(work, "runc-images");
  const curl = (pod: string, ctr: string) => [
    "curl", "-sSfk", "-X", "POST", "-H", `Authorization: Bearer ${env.token}`, `${agent.url}/checkpoint/default/${pod}/${ctr}?timeout=600`,
  ];
  const plainRunc = (id: string) => [
    "runc", "--root", runcRoot, "--criu", REAL_CRIU, "checkpoint", "--leave-running", "--image-path", scratch, "--work-path", scratch, id,
  ];
  const clean = () => {
    rmSync(scratch, { recursive: true, force: true });
    for (const f of readdirSync(env.checkpointsDir)) rmSync(join(env.checkpointsDir, f), { force: true });
  };

  process.stderr.write(`bench/node: ${RUNS} measured pairs (endpoint, plain runc) on the counter container…\n`);
  const pairs = alternate(
    RUNS,
    () => measure(curl("counter", "counter"), "endpoint checkpoint", work, work),
    () => measure(plainRunc(counterId), "runc checkpoint", work, work),
    clean,
  );
  // One more endpoint checkpoint, kept, to know the archive's size.
  clean();
  measure(curl("counter", "counter"), "endpoint checkpoint", work, work);
  const archive = join(env.checkpointsDir, readdirSync(env.checkpointsDir)[0]!);
  const archiveBytes = statSync(archive).size;
  const writeS = diskWriteSeconds(archiveBytes);
  if (interrupted()) throw new Error("interrupted");

  process.stderr.write(`bench/node: checkpointing the ${BIG_MB} MiB container (endpoint, plain runc; twice)…\n`);
  const bigStatus = JSON.parse((await agent.call("GET", "/pods", token)).body) as {
    items: Array<{ metadata: { name: string }; status: { containerStatuses: Array<{ containerID: string }> } }>;
  };
  const bigId = bigStatus.items.find((p) => p.metadata.name === "big")!.status.containerStatuses[0]!.containerID.replace("runc://", "");
  const big = { endpoint: [] as number[], runc: [] as number[], copy: [] as number[], frozenEndpoint: [] as number[], frozenRunc: [] as number[], bytes: 0 };
  for (let i = 0; i < 2; i++) {
    clean();
    big.endpoint.push(measure(curl("big", "big"), "endpoint checkpoint (big)", work, work).seconds);
    const bigArchive = join(env.checkpointsDir, readdirSync(env.checkpointsDir)[0]!);
    big.bytes = statSync(bigArchive).size;
    big.frozenEndpoint.push(frozenMs(execFileSync("tar", ["-xOf", bigArchive, "stats-dump"])));
    clean();
    big.runc.push(measure(plainRunc(bigId), "runc checkpoint (big)", work, work).seconds);
    big.frozenRunc.push(frozenMs(readFileSync(join(scratch, "stats-dump"))));
    // The same bytes written to disk right after a dump, as the archive is: cat of runc's images
    // into one file in the checkpoint directory, fsync'ed.
    const copy = join(env.checkpointsDir, "copy-speed");
    big.copy.push(measure(["sh", "-c", `cat ${scratch}/*.img > ${copy} && sync -f ${copy}`], "copy", work, work).seconds);
    rmSync(copy, { force: true });
  }
  clean();
  const bigWriteS = median(big.copy);

  const ep = median(pairs.a.map((s) => s.seconds));
  const rc = median(pairs.b.map((s) => s.seconds));
  const overhead = (ep - rc - writeS) / rc;
  const bigEp = median(big.endpoint);
  const bigRc = median(big.runc);
  const bigOverhead = (bigEp - bigRc - bigWriteS) / bigRc;

  const out: string[] = [];
  out.push("", "Node agent: checkpoint endpoint vs plain runc checkpoint --leave-running (same container, same run)", "");
  out.push(
    table(
      ["case", "endpoint s", "runc s", "ratio", "archive", "write at disk speed s", "overhead beyond the write"],
      [
        [
          `counter (busybox), median of ${RUNS}`,
          ep.toFixed(3),
          rc.toFixed(3),
          `${(ep / rc).toFixed(2)}x`,
          `${fmtMB(archiveBytes)} MiB`,
          writeS.toFixed(3),
          `${(overhead * 100).toFixed(1)}%`,
        ],
        [
          `${BIG_MB} MiB container, median of 2`,
          bigEp.toFixed(3),
          bigRc.toFixed(3),
          `${(bigEp / bigRc).toFixed(2)}x`,
          `${fmtMB(big.bytes)} MiB`,
          bigWriteS.toFixed(3),
          `${(bigOverhead * 100).toFixed(1)}%`,
        ],
      ],
    ),
  );
  out.push("");
  out.push(
    `CRIU's frozen time for the ${BIG_MB} MiB container (stats-dump): through the endpoint ${big.frozenEndpoint.map((m) => m.toFixed(0)).join(", ")} ms; ` +
      `plain runc ${big.frozenRunc.map((m) => m.toFixed(0)).join(", ")} ms`,
  );
  // The window the application is frozen for through the endpoint: runc pause until resume done.
  // measure() blocks this process: let the agent's log lines written meanwhile arrive.
  await new Promise((r) => setTimeout(r, 200));
  const windows = agent
    .log()
    .split("\n")
    .filter((l) => l.includes('"checkpoint steps (ms)"') && l.includes('"target":"default/big/big"'))
    .map((l) => JSON.parse(l) as Record<string, number>)
    .map((p) => (p.pause ?? 0) + (p.dump ?? 0) + (p.resume ?? 0));
  out.push(`Frozen window through the endpoint (runc pause until resumed, from the agent's log): ${windows.map((w) => w.toFixed(0)).join(", ")} ms`);
  out.push(
    `"Write at disk speed": counter: dd of the archive's size with conv=fsync into the checkpoint directory (${writeS.toFixed(3)} s); ` +
      `${BIG_MB} MiB: cat of plain runc's images into one file there, fsync'ed, right after its dump (${big.copy.map((x) => x.toFixed(3)).join(", ")} s; ` +
      `a 1 GiB dd from /dev/zero alone takes ${diskWriteSeconds(1 << 30).toFixed(3)} s).`,
  );
  out.push("");
  out.push("Targets:");
  out.push(
    `  endpoint <= runc + 15% + archive write at disk speed (counter)   ${(overhead * 100).toFixed(1)}%  ${overhead <= OVERHEAD_TARGET ? "met" : "MISSED"}`,
  );
  out.push(
    `  the same for the ${BIG_MB} MiB container                            ${(bigOverhead * 100).toFixed(1)}%  ${bigOverhead <= OVERHEAD_TARGET ? "met" : "MISSED"}`,
  );
  out.push("");
  out.push("Notes:");
  out.push("  - The endpoint does more than runc: pause/resume around the dump (as CRI-O), the rootfs diff, config/spec dumps,");
  out.push("    the container log, and the archive written to a temp file, fsync'ed and renamed. runc writes only the image dir.");
  out.push("  - Both are spawned processes timed from outside (curl for the endpoint, over TLS with a bearer token).");
  console.log(out.join("\n"));
} finally {
  await env.cleanup();
  rmSync(work, { recursive: true, force: true });
}
