/**
 * `npm run bench` (fourth part): starting a pod from a checkpoint image against a cold start of the
 * same pod, and the downtime of `ckpt migrate` between two node agents.
 *
 * Setup as test/node/migration.test.ts: three test hosts (network namespaces, test/support/test-hosts.ts),
 * a real registry (docker-registry) on one, a real node agent (`bin/ckpt node serve`, with a client
 * certificate of its own for lazy migrations) on each of the two others, the busybox image and the
 * filled-memory image (test/support/memfill.ts) pushed to the registry.
 *
 * 1. Restore vs cold start, on node A, of the counter pod (test/support/test-pods.ts: "count N" every
 *    0.1 s). Cold: POST /pods with the base image (already pulled). Restore: POST /pods of the same
 *    manifest with the image set to a checkpoint image, made once with
 *    `POST /checkpoint/default/counter/counter?image=REGISTRY/bench/counter:cp1` of a running counter.
 *    Each start is timed from just before the POST to the timestamp (the node's own, from
 *    /containerLogs?timestamps=true) of the container's first "count" line written after the POST;
 *    the POST's answer and the pod seen Running are reported too. Cold and restore alternate, each pod
 *    deleted after; medians. The first restore (it pulls and unpacks the checkpoint image) is reported
 *    apart and not in the median.
 * 2. Migration: `ckpt migrate default/POD --from A --to B --format json`, moving the pod back and forth
 *    (A→B, B→A, A→B, …), alternately stop-copy (`--registry REG`: checkpoint, push, pull, restore)
 *    and lazy (`--mode lazy`: restored at once, the memory pages follow over the nodes' HTTPS), for
 *    the counter pod and for a pod holding BENCH_MIGRATE_BIG_MB MiB of filled memory
 *    (test/support/memfill.ts: every word written, "count N" every 100 ms like the counter).
 *    Reported: the downtime `ckpt migrate` measures from the container's own log lines (the source's
 *    last line before its freeze to the target's first after the restore, so it includes up to one
 *    line period, 100 ms for both pods), each step's time, the total, the checkpoint image's size
 *    (stop-copy) and the page transfer's size and rate (lazy), side by side with their ratios.
 *
 * Targets: the counter's stop-copy downtime stays under 2 s between two nodes of one machine; the
 * lazy downtime of the big pod stays under 0.6 s and within 1.5x of the counter's lazy downtime (it
 * must not grow with the memory). The restore/cold ratio is printed without a target: a restore
 * does more than a cold start (pull, preflight, rootfs diff, CRIU), and what it buys is the state,
 * not the start time. No assertions on timings: the exit status is 1 only when the bench cannot run
 * or a step fails.
 *
 * Env: BENCH_MIGRATE_RUNS (cold/restore pairs, and moves per pod; default 5), BENCH_MIGRATE_BIG_MB (1024).
 */
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fmtMB, interrupted, median, table } from "./measure.js";
import { fatal, positiveInt, setBenchName } from "./preconditions.js";

setBenchName("bench/migrate");
const RUNS = positiveInt("BENCH_MIGRATE_RUNS", 5);
const BIG_MB = positiveInt("BENCH_MIGRATE_BIG_MB", 1024);
const DOWNTIME_TARGET_MS = 2000;
const LAZY_BIG_TARGET_MS = 600;
const LAZY_BIG_RATIO_TARGET = 1.5;

const { haveNodeStack, makeNodeEnv } = await import("../test/support/node-agent.ts");
const { buildBusyboxLayout, haveRegistryTools, pushLayout, startRegistry } = await import("../test/support/oci-images.ts");
const { makeTestHosts } = await import("../test/support/test-hosts.ts");
const { counterPod } = await import("../test/support/test-pods.ts");
const { runCkptAsync } = await import("../test/support/ckpt-cli.ts");
const { buildMemfillImage, memfillPod } = await import("../test/support/memfill.ts");
type NodeEnv = import("../test/support/node-agent.ts").NodeEnv;
type RunningAgent = import("../test/support/node-agent.ts").RunningAgent;
type TestRegistry = import("../test/support/oci-images.ts").TestRegistry;
type TestHosts = import("../test/support/test-hosts.ts").TestHosts;

if (!haveNodeStack()) fatal("needs root, runc, CRIU 4.2, the CNI plugins and busybox (npm run setup)");
if (!haveRegistryTools()) fatal("needs /usr/bin/docker-registry and skopeo (npm run setup)");
if (spawnSync("sh", ["-c", "command -v gcc && command -v nsenter"]).status !== 0) fatal("needs gcc and nsenter (npm run setup)");

interface PodJson {
  metadata: { name: string };
  status: { phase: string; containerStatuses?: Array<{ name: string; ready: boolean }> };
}

interface MigrationJson {
  mode: "stop-copy" | "lazy";
  steps: Array<{ step: string; detail: string; ms: number }>;
  pages?: { pages: number; bytes: number; ms: number };
  images: string[];
  downtime: Array<{ container: string; ms: number; last: { time: string; text: string }; first: { time: string; text: string } }>;
  downtimeNote?: string;
  totalMs: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function stopIfInterrupted(): void {
  if (interrupted()) throw new Error("interrupted");
}

async function waitFor<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 60_000, everyMs = 20): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    stopIfInterrupted();
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(everyMs);
  }
}

/** Milliseconds since the epoch of an RFC3339(Nano) time, with the fraction kept. */
function timeMs(t: string): number {
  const m = /^(.*?)(?:\.(\d{1,9}))?(Z|[+-]\d\d:\d\d)$/.exec(t);
  if (!m) throw new Error(`not an RFC3339 time: ${JSON.stringify(t)}`);
  return Date.parse(m[1]! + m[3]!) + Number(`0.${m[2] ?? "0"}`) * 1000;
}

const stats = (xs: number[]) => ({ median: median(xs), min: Math.min(...xs), max: Math.max(...xs) });
const ms = (x: number) => x.toFixed(0);
const size = (bytes: number) => (bytes < 1 << 20 ? `${(bytes / 1024).toFixed(1)} KiB` : `${fmtMB(bytes)} MiB`);

const work = mkdtempSync(join(tmpdir(), "ckpt-bench-migrate-"));
let hosts: TestHosts | undefined;
let registry: TestRegistry | undefined;
let envA: NodeEnv | undefined;
let envB: NodeEnv | undefined;
let failed = false;
try {
  process.stderr.write("bench/migrate: test hosts, registry, images, two node agents…\n");
  hosts = makeTestHosts(["a", "b", "reg"]);
  registry = await startRegistry({ host: hosts.hosts.reg! });
  const reg = registry;
  const busyboxLayout = join(work, "busybox");
  await buildBusyboxLayout(busyboxLayout, { tag: "latest" });
  const image = await pushLayout(busyboxLayout, "latest", reg, "library/busybox");
  const memfillLayout = join(work, "memfill-image");
  mkdirSync(join(work, "memfill-build"));
  await buildMemfillImage(join(work, "memfill-build"), memfillLayout);
  const bigImage = await pushLayout(memfillLayout, "latest", reg, "bench/memfill");
  mkdirSync(join(work, "node-a"));
  mkdirSync(join(work, "node-b"));
  envA = await makeNodeEnv(join(work, "node-a"), { host: hosts.hosts.a!, insecureRegistries: [reg.host], peerIdentity: "node-a" });
  envB = await makeNodeEnv(join(work, "node-b"), { host: hosts.hosts.b!, insecureRegistries: [reg.host], authFrom: envA, peerIdentity: "node-b" });
  const [a, b] = await Promise.all([envA.start(), envB.start()]);
  const cred = { cert: envA.alice };

  const pods = async (agent: RunningAgent): Promise<PodJson[]> => {
    const r = await agent.call("GET", "/pods", cred);
    if (r.status !== 200) throw new Error(`GET /pods: ${r.status} ${r.body}`);
    return (JSON.parse(r.body) as { items: PodJson[] }).items;
  };
  const running = (agent: RunningAgent, name: string) =>
    waitFor(`${name} running`, async () => {
      const p = (await pods(agent)).find((x) => x.metadata.name === name);
      return p?.status.phase === "Running" && (p.status.containerStatuses ?? []).every((c) => c.ready) ? p : undefined;
    });
  const logLines = async (agent: RunningAgent, pod: string, container: string) => {
    const r = await agent.call("GET", `/containerLogs/default/${pod}/${container}?timestamps=true`, cred);
    if (r.status !== 200) throw new Error(`GET /containerLogs/default/${pod}/${container}: ${r.status} ${r.body}`);
    return r.body
      .split("\n")
      .filter((l) => l !== "")
      .map((l) => ({ time: timeMs(l.slice(0, l.indexOf(" "))), text: l.slice(l.indexOf(" ") + 1) }));
  };
  /** The first line matching `re` written after `afterMs` (epoch ms), once it is there. */
  const firstLine = (agent: RunningAgent, pod: string, container: string, re: RegExp, afterMs: number, timeoutMs = 60_000) =>
    waitFor(`a ${re} line of ${pod}/${container} after ${new Date(afterMs).toISOString()}`, async () =>
      (await logLines(agent, pod, container)).find((l) => l.time > afterMs && re.test(l.text)), timeoutMs);
  const apply = async (agent: RunningAgent, yaml: string) => {
    const r = await agent.call("POST", "/pods", cred, yaml);
    if (r.status !== 201) throw new Error(`applying a pod: ${r.status} ${r.body}`);
  };
  const remove = async (agent: RunningAgent, name: string) => {
    const r = await agent.call("DELETE", `/pods/default/${name}`, cred);
    if (r.status >= 300) throw new Error(`deleting ${name}: ${r.status} ${r.body}`);
  };

  // ---- 1. Restore from a checkpoint image vs cold start, on node A --------------------------------
  process.stderr.write("bench/migrate: checkpoint image of a running counter pod…\n");
  await apply(a, counterPod("counter", image));
  await running(a, "counter");
  await firstLine(a, "counter", "counter", /^count 10$/, 0);
  const cpTag = `${reg.host}/bench/counter:cp1`;
  const cpStarted = performance.now();
  const cpAnswer = await a.call("POST", `/checkpoint/default/counter/counter?image=${encodeURIComponent(cpTag)}`, cred);
  const cpMs = performance.now() - cpStarted;
  if (cpAnswer.status !== 200) throw new Error(`checkpointing the counter into ${cpTag}: ${cpAnswer.status} ${cpAnswer.body}`);
  const cp = JSON.parse(cpAnswer.body) as { bytes?: number; image?: { reference: string; digest: string; bytes: number }; durations?: Record<string, number> };
  if (!cp.image) throw new Error(`the node did not push a checkpoint image: ${cpAnswer.body}`);
  const cpImage = cp.image;
  await remove(a, "counter");

  interface Start {
    postMs: number;
    runningMs: number;
    firstMs: number;
  }
  const start = async (img: string): Promise<Start> => {
    stopIfInterrupted();
    const t0 = Date.now();
    const p0 = performance.now();
    await apply(a, counterPod("counter", img));
    const postMs = performance.now() - p0;
    await running(a, "counter");
    const runningMs = performance.now() - p0;
    const first = await firstLine(a, "counter", "counter", /^count \d+$/, t0);
    await remove(a, "counter");
    return { postMs, runningMs, firstMs: first.time - t0 };
  };

  process.stderr.write(`bench/migrate: first restore (pulls the checkpoint image), then ${RUNS} pairs (cold, restore)…\n`);
  const firstRestore = await start(cpImage.reference);
  const cold: Start[] = [];
  const restore: Start[] = [];
  for (let i = 0; i < RUNS; i++) {
    cold.push(await start(image));
    restore.push(await start(cpImage.reference));
  }

  // ---- 2. Migration A ↔ B, stop-copy and lazy ----------------------------------------------------
  process.stderr.write(`bench/migrate: the counter pod and a ${BIG_MB} MiB pod on node A…\n`);
  await apply(a, counterPod("counter", image));
  await apply(a, memfillPod("big", bigImage, BIG_MB, 100));
  await running(a, "counter");
  await running(a, "big");
  await firstLine(a, "counter", "counter", /^count 10$/, 0);
  await firstLine(a, "big", "big", /^checksum before /, 0, 300_000);
  await firstLine(a, "big", "big", /^count /, 0);

  const nodes = { A: a, B: b };
  type Mode = "stop-copy" | "lazy";
  interface Move {
    json: MigrationJson;
    /** The checkpoint image's layer (stop-copy). */
    layerBytes?: number;
  }
  const migrations: Record<string, Record<Mode, Move[]>> = { counter: { "stop-copy": [], lazy: [] }, big: { "stop-copy": [], lazy: [] } };
  for (const name of ["counter", "big"]) {
    let from: "A" | "B" = "A";
    // Alternately, so that both modes see the same machine.
    for (let i = 0; i < 2 * RUNS; i++) {
      stopIfInterrupted();
      const mode: Mode = i % 2 === 0 ? "stop-copy" : "lazy";
      const to: "A" | "B" = from === "A" ? "B" : "A";
      process.stderr.write(`bench/migrate: ${name} ${from}→${to} ${mode} (${Math.floor(i / 2) + 1}/${RUNS})…\n`);
      const r = await runCkptAsync([
        "migrate", `default/${name}`, "--from", nodes[from].url, "--to", nodes[to].url, "--mode", mode, "--registry", reg.host, "--format", "json",
        "--client-certificate", envA.alice.certFile, "--client-key", envA.alice.keyFile, "--insecure-skip-tls-verify",
      ]);
      stopIfInterrupted();
      if (r.status !== 0) throw new Error(`ckpt migrate default/${name} ${from}→${to} --mode ${mode} failed (exit ${r.status}): ${r.stderr.trim()}`);
      const json = JSON.parse(r.stdout) as MigrationJson;
      if (json.downtime.length !== 1) throw new Error(`ckpt migrate default/${name}: downtime not measured (${json.downtimeNote ?? "no note"})`);
      let layerBytes: number | undefined;
      if (mode === "stop-copy") {
        // The checkpoint image's layer, as the registry has it.
        const ref = json.images[0]!;
        const at = ref.indexOf("@");
        const repo = ref.slice(reg.host.length + 1, at);
        const manifest = await fetch(`http://${reg.host}/v2/${repo}/manifests/${ref.slice(at + 1)}`, {
          headers: { accept: "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json" },
        });
        if (!manifest.ok) throw new Error(`GET the manifest of ${ref}: ${manifest.status}`);
        layerBytes = ((await manifest.json()) as { layers: Array<{ size: number }> }).layers.reduce((n, l) => n + l.size, 0);
      }
      migrations[name]![mode].push({ json, ...(layerBytes !== undefined ? { layerBytes } : {}) });
      // The pod goes on where it arrived before it moves again.
      await running(nodes[to], name);
      await firstLine(nodes[to], name, name, /^count \d+$/, Date.now());
      from = to;
    }
  }

  // ---- Output ----------------------------------------------------------------------------------------
  const out: string[] = [];
  out.push("", "Checkpoint/restore: restoring a pod from a checkpoint image vs a cold start, and ckpt migrate between two nodes", "");
  const startRow = (what: string, xs: Start[]) => [
    what,
    ms(median(xs.map((x) => x.postMs))),
    ms(median(xs.map((x) => x.runningMs))),
    ms(median(xs.map((x) => x.firstMs))),
    `${ms(Math.min(...xs.map((x) => x.firstMs)))}–${ms(Math.max(...xs.map((x) => x.firstMs)))}`,
  ];
  out.push(`Counter pod on one node (busybox, "count N" every 0.1 s): ms from just before POST /pods`);
  out.push(
    table(
      ["start", "POST answered", "seen Running", "first count line", "first line min–max"],
      [startRow(`cold (base image pulled), median of ${RUNS}`, cold), startRow(`restore (checkpoint image), median of ${RUNS}`, restore), startRow("first restore (pulls the image)", [firstRestore])],
    ),
  );
  const ratio = median(restore.map((x) => x.firstMs)) / median(cold.map((x) => x.firstMs));
  const postRatio = median(restore.map((x) => x.postMs)) / median(cold.map((x) => x.postMs));
  out.push("");
  out.push(`restore/cold ${ratio.toFixed(2)}x (to the first count line)   restore/cold ${postRatio.toFixed(2)}x (POST answered)`);
  out.push(
    `Checkpoint image ${cpImage.reference}: layer ${size(cpImage.bytes)} (archive ${size(cp.bytes ?? 0)}), ` +
      `checkpoint + push ${ms(cpMs)} ms` +
      (cp.durations ? ` (${Object.entries(cp.durations).map(([k, v]) => `${k} ${ms(v)}`).join(", ")})` : ""),
  );

  const stepNames = ["base image", "checkpoint", "push", "restore", "running", "pages", "stop source"];
  const downtimes = (name: string, mode: Mode) => migrations[name]![mode].map((m) => m.json.downtime[0]!.ms);
  const cell = (xs: number[]) => (xs.length && xs.every((x) => Number.isFinite(x)) ? `${ms(median(xs))} (${ms(Math.min(...xs))}–${ms(Math.max(...xs))})` : "–");
  for (const [name, what] of [
    ["counter", "counter pod (busybox, a line every 100 ms)"],
    ["big", `${BIG_MB} MiB pod (memfill: every word written, a line every 100 ms)`],
  ] as const) {
    const m = migrations[name]!;
    const col = (mode: Mode, f: (mv: Move) => number) => m[mode].map(f);
    const rows: string[][] = [];
    const row = (label: string, f: (mv: Move) => number) => {
      const [sc, lz] = [col("stop-copy", f), col("lazy", f)];
      const ratio = sc.every(Number.isFinite) && lz.every(Number.isFinite) && median(sc) > 0 ? `${(median(lz) / median(sc)).toFixed(2)}x` : "";
      rows.push([label, cell(sc), cell(lz), ratio]);
    };
    row("downtime (log lines)", (mv) => mv.json.downtime[0]!.ms);
    for (const s of stepNames) row(`  ${s}`, (mv) => mv.json.steps.find((x) => x.step === s)?.ms ?? NaN);
    row("total", (mv) => mv.json.totalMs);
    out.push("");
    // The archive's size, as the stop-copy checkpoint step names it: "… → PATH (12.3 MiB)".
    const archive = /\(([\d.]+ [KMG]iB)\)$/.exec(m["stop-copy"][0]!.json.steps.find((x) => x.step === "checkpoint")?.detail ?? "")?.[1] ?? "?";
    const pages = m.lazy.map((mv) => mv.json.pages!);
    const rate = median(pages.map((p) => (p.pages * 4096) / (1 << 20) / (p.ms / 1000)));
    out.push(`ckpt migrate of the ${what}: ${RUNS} moves each way of each mode, alternating, A→B, B→A, …`);
    out.push(
      `  stop-copy: checkpoint image layer ${size(median(m["stop-copy"].map((mv) => mv.layerBytes ?? 0)))} (archive ${archive}); ` +
        `lazy: ${size(median(pages.map((p) => p.pages * 4096)))} of pages after the restore, ${rate.toFixed(1)} MiB/s`,
    );
    out.push(table(["ms, median (min–max)", "stop-copy", "lazy", "lazy/stop-copy"], rows));
  }
  const med = (name: string, mode: Mode) => median(downtimes(name, mode));
  out.push("");
  out.push("Downtime, median ms");
  out.push(
    table(
      ["pod", "stop-copy", "lazy", "lazy/stop-copy"],
      (["counter", "big"] as const).map((n) => [n === "big" ? `${BIG_MB} MiB` : "counter", ms(med(n, "stop-copy")), ms(med(n, "lazy")), `${(med(n, "lazy") / med(n, "stop-copy")).toFixed(2)}x`]),
    ),
  );
  const counterDowntime = med("counter", "stop-copy");
  const lazyBig = med("big", "lazy");
  const lazyRatio = lazyBig / med("counter", "lazy");
  out.push("");
  out.push("Targets:");
  const target = (what: string, value: string, met: boolean) => out.push(`  ${what.padEnd(48)} ${value.padStart(8)}  ${met ? "met" : "MISSED"}`);
  target(`counter stop-copy downtime < ${DOWNTIME_TARGET_MS} ms`, `${ms(counterDowntime)} ms`, counterDowntime < DOWNTIME_TARGET_MS);
  target(`${BIG_MB} MiB lazy downtime < ${LAZY_BIG_TARGET_MS} ms`, `${ms(lazyBig)} ms`, lazyBig < LAZY_BIG_TARGET_MS);
  target(`${BIG_MB} MiB lazy / counter lazy downtime <= ${LAZY_BIG_RATIO_TARGET}x`, `${lazyRatio.toFixed(2)}x`, lazyRatio <= LAZY_BIG_RATIO_TARGET);
  out.push("");
  out.push("Notes:");
  out.push("  - Times of first lines are the node's log timestamps; a restored counter resumes in its `sleep 0.1`, so its first");
  out.push("    line comes up to 100 ms after the process runs again, while a cold counter prints at once.");
  out.push("  - Downtime is ckpt migrate's own: the source's last log line before its freeze to the target's first after");
  out.push("    the restore; it includes up to one line period (100 ms for both pods). Stop-copy's includes checkpoint, push,");
  out.push("    pull and restore; lazy's the dump of all but the memory pages, the archive's way to the target and the restore.");
  out.push("  - Lazily the pod runs on the target while its pages come (on first touch, the rest in the background); the");
  out.push("    source's container is ended once the last one is served.");
  console.log(out.join("\n"));
} catch (err) {
  failed = true;
  console.error(`bench/migrate: ${err instanceof Error ? err.message : String(err)}`);
} finally {
  for (const [what, fn] of [
    ["node B", () => envB?.cleanup()],
    ["node A", () => envA?.cleanup()],
    ["registry", () => registry?.stop()],
    ["test hosts", () => hosts?.cleanup()],
  ] as const) {
    try {
      await fn();
    } catch (err) {
      failed = true;
      console.error(`bench/migrate: cleaning up ${what}: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  rmSync(work, { recursive: true, force: true });
}
if (failed) process.exit(1);
