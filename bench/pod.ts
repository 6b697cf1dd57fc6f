/**
 * `npm run bench` (seventh part): a pod checkpoint (checkpointPod: every selected container paused
 * before any is captured, captured side by side) against checkpointing the same containers one at
 * a time (checkpointContainer, the kubelet endpoint's path), in the same run, alternating; and the
 * pod's restore (restorePodContainers, then startRestoredContainers) into a new pod.
 *
 * The pod is the test's talk pod (test/support/test-pods.ts): a server and a client exchanging
 * numbered messages over 127.0.0.1 (the two containers checkpointed), and a counter that runs on.
 * "Frozen" is the same for both: from `runc pause` returning to `runc resume` being called (the
 * manifest's pausedAt → resumedAt; a single checkpoint's "dump" step). One at a time, the two
 * containers are never frozen together, so their archives need not agree; together, the pod's
 * frozen window is what the application feels.
 * No assertions on timings: the exit status is 1 only when the bench cannot run or a step fails.
 *
 * Env: BENCH_POD_RUNS (measured pairs, default 7), BENCH_POD_RESTORES (3).
 */
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { median, table } from "./measure.js";
import { fatal, positiveInt, setBenchName } from "./preconditions.js";

setBenchName("bench/pod");
const RUNS = positiveInt("BENCH_POD_RUNS", 7);
const RESTORES = positiveInt("BENCH_POD_RESTORES", 3);

const { haveNodeStack, makeNodeEnv } = await import("../test/support/node-agent.ts");
const { talkPod } = await import("../test/support/test-pods.ts");
const { checkpointPod } = await import("../src/node/pod-checkpoint.ts");
const { checkpointContainer } = await import("../src/node/container-checkpoint.ts");
const { restorePodContainers, startRestoredContainers } = await import("../src/node/pod-restore.ts");
const { commonFrozenWindow } = await import("../src/checkpoint/pod-checkpoint-manifest.ts");
const { newSandbox, removePod, startPod } = await import("../test/support/runtime-pods.ts");
type PodRecord = import("../src/node/node-state.ts").PodRecord;
if (!haveNodeStack()) fatal("needs root, runc, CRIU 4.2, the CNI plugins and busybox (npm run setup)");

const SELECTED = ["server", "client"];

const work = mkdtempSync(join(tmpdir(), "ckpt-bench-pod-"));
const env = await makeNodeEnv(join(work, "env"));
const runtime = env.runtime();
const pods: PodRecord[] = [];
try {
  process.stderr.write("bench/pod: starting the talk pod…\n");
  const source = await startPod(runtime, talkPod("talk", env.image));
  pods.push(source);
  await new Promise((r) => setTimeout(r, 2000));
  const selected = source.containers.filter((c) => SELECTED.includes(c.name));
  const template = { metadata: { labels: {}, annotations: {} }, spec: source.manifest.spec as unknown as Record<string, unknown> };

  const together = { frozen: new Map<string, number[]>(), common: [] as number[], wall: [] as number[] };
  const alone = { frozen: new Map<string, number[]>(), wall: [] as number[] };
  const push = (m: Map<string, number[]>, k: string, v: number) => m.set(k, [...(m.get(k) ?? []), v]);
  let kept: { dir: string; manifest: Awaited<ReturnType<typeof checkpointPod>> } | undefined;

  process.stderr.write(`bench/pod: ${RUNS} measured pairs (pod checkpoint, one container at a time) of ${SELECTED.join(" + ")}…\n`);
  for (let i = 0; i <= RUNS; i++) {
    const dir = join(work, `pod-${i}`);
    mkdirSync(dir);
    const t0 = performance.now();
    const manifest = await checkpointPod({ runtime, pod: source, containers: selected, outputDir: dir, deadline: Date.now() + 120_000, nodeName: "bench", podTemplate: template });
    const podWall = performance.now() - t0;
    const singles = join(work, `single-${i}`);
    mkdirSync(singles);
    const t1 = performance.now();
    const frozenAlone: Record<string, number> = {};
    for (const c of selected) {
      await checkpointContainer({ runtime, pod: source, container: c, checkpointsDir: singles, timeoutSeconds: 120, tcpEstablished: true, onPhases: (p) => (frozenAlone[c.name] = p.dump ?? 0) });
    }
    const aloneWall = performance.now() - t1;
    rmSync(singles, { recursive: true, force: true });
    if (i === 0) {
      kept = { dir, manifest };
      continue;
    }
    rmSync(dir, { recursive: true, force: true });
    for (const c of manifest.containers) push(together.frozen, c.name, Date.parse(c.resumedAt) - Date.parse(c.pausedAt));
    together.common.push(commonFrozenWindow(manifest).ms);
    together.wall.push(podWall);
    for (const [name, ms] of Object.entries(frozenAlone)) push(alone.frozen, name, ms);
    alone.wall.push(aloneWall);
  }

  process.stderr.write(`bench/pod: ${RESTORES} restores of the pod checkpoint into new pods…\n`);
  const restore = { created: [] as number[], started: [] as number[] };
  for (let i = 0; i < RESTORES; i++) {
    const target = await newSandbox(runtime, talkPod(`talk-restored-${i}`, env.image));
    pods.push(target);
    const t0 = performance.now();
    const restored = await restorePodContainers({ runtime, pod: target, checkpointDir: kept!.dir, manifest: kept!.manifest });
    restore.created.push(performance.now() - t0);
    target.containers.push(...restored);
    await startRestoredContainers(runtime, target, restored);
    restore.started.push(performance.now() - t0);
    await removePod(runtime, target);
    pods.pop();
  }

  const ms = (xs: number[]) => median(xs).toFixed(0);
  const range = (xs: number[]) => `${Math.min(...xs).toFixed(0)}–${Math.max(...xs).toFixed(0)}`;
  const rows = SELECTED.map((name) => {
    const t = together.frozen.get(name)!;
    const a = alone.frozen.get(name)!;
    return [`${name} frozen`, ms(t), range(t), ms(a), range(a), `${(median(t) / median(a)).toFixed(2)}x`];
  });
  const maxAlone = Math.max(...SELECTED.map((n) => median(alone.frozen.get(n)!)));
  const sumAlone = SELECTED.reduce((s, n) => s + median(alone.frozen.get(n)!), 0);
  rows.push([
    "pod frozen (all at once)",
    ms(together.common),
    range(together.common),
    "never",
    "",
    `${(median(together.common) / maxAlone).toFixed(2)}x the slowest alone, ${(median(together.common) / sumAlone).toFixed(2)}x their sum`,
  ]);
  rows.push(["call, wall", ms(together.wall), range(together.wall), ms(alone.wall), range(alone.wall), `${(median(together.wall) / median(alone.wall)).toFixed(2)}x`]);
  const out = [
    "",
    `Pod checkpoint (${SELECTED.join(" + ")} together) vs one container at a time, ms, medians of ${RUNS}`,
    "",
    table(["", "together", "min–max", "one at a time", "min–max", "together / one at a time"], rows),
    "",
    `Pod restore into a new pod (${RESTORES} runs): created ${ms(restore.created)} ms (${range(restore.created)}), started ${ms(restore.started)} ms (${range(restore.started)})`,
    "",
  ];
  console.log(out.join("\n"));
} catch (err) {
  console.error(`bench/pod: ${(err as Error).message}`);
  process.exitCode = 1;
} finally {
  for (const p of pods) await removePod(runtime, p);
  await env.cleanup();
  rmSync(work, { recursive: true, force: true });
}
