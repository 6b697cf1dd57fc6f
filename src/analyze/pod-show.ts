/**
 * A pod checkpoint for `ckpt show` and `ckpt inspect`: the pod as its manifest describes it (who,
 * where, when, how long it was frozen), then each container's archive as those commands show one
 * archive, in the pod's container order, and the pod's totals.
 */
import { ArchiveError } from "../checkpoint/archive/checkpoint-archive.js";
import { describeMismatch, type ManifestMismatch, type PodArchiveEntry, type PodCheckpointArchive } from "../checkpoint/archive/pod-checkpoint-archive.js";
import { Checkpoint } from "../checkpoint/checkpoint.js";
import { capturedWhileAllFrozen, commonFrozenWindow, podFrozenSpan, type CheckpointedContainer } from "../checkpoint/pod-checkpoint-manifest.js";
import { inspectCheckpoint, type InspectJson, type InspectOptions } from "./inspect.js";
import { add, node, type TreeNode } from "./inspect-tree.js";
import { showCells, showRow, statsCells, type DumpStatistics, type ShowRow } from "./show.js";
import { byteToString } from "./units.js";

/** The CLI loads this module only for a pod checkpoint, and takes this from it with the rest. */
export { describeMismatch };

export interface TimeSpanJson {
  from: string;
  to: string;
  ms: number;
}

export interface PodHeader {
  kind: "pod";
  path: string;
  namespace: string;
  name: string;
  uid: string;
  node: string;
  runtime: string;
  startedAt: string;
  completedAt: string;
  sandbox: { hostname: string; ip?: string };
  containers: string[];
  /** From the first pause to the last resume: how long any part of the pod was frozen. */
  podFrozen: TimeSpanJson;
  /** From the last pause to the first resume: when every container was frozen at once (negative: never). */
  commonFrozenWindow: TimeSpanJson;
  /** Whether every container was captured inside the common window (the pod's consistency rule). */
  capturedWhileAllFrozen: boolean;
  archiveBytes: number;
  /** What was compared with the manifest: sizes always, sha256 with --verify. */
  checked: "sizes" | "sizes and sha256";
  mismatches: ManifestMismatch[];
  /** Files in the pod checkpoint that the manifest does not name. */
  unlisted: string[];
}

export interface PodContainerRow extends ShowRow {
  archive: string;
  archiveBytes: number;
  manifest: CheckpointedContainer;
}

export interface PodShow extends PodHeader {
  rows: PodContainerRow[];
  totals: { archiveBytes: number; checkpointSize: number; rootfsDiffSize: number; stats?: DumpStatistics };
}

/**
 * The pod checkpoint compared with its manifest: sizes, and with `verify` every archive's sha256,
 * when a mismatch is an error naming each archive and what differs.
 */
export async function checkPodArchives(pod: PodCheckpointArchive, verify: boolean): Promise<ManifestMismatch[]> {
  if (!verify) return pod.sizeMismatches();
  const mismatches = await pod.verify();
  if (mismatches.length) throw new ArchiveError(`${pod.path}: does not match ${pod.manifestPath}: ${mismatches.map(describeMismatch).join("; ")}`);
  return mismatches;
}

function span(s: { from: number; to: number; ms: number }): TimeSpanJson {
  return { from: new Date(s.from).toISOString(), to: new Date(s.to).toISOString(), ms: s.ms };
}

export function podHeader(pod: PodCheckpointArchive, mismatches: ManifestMismatch[], verified: boolean): PodHeader {
  const m = pod.manifest;
  return {
    kind: "pod",
    path: pod.path,
    namespace: m.pod.namespace,
    name: m.pod.name,
    uid: m.pod.uid,
    node: m.nodeName,
    runtime: m.runtime,
    startedAt: m.startedAt,
    completedAt: m.completedAt,
    sandbox: m.sandbox,
    containers: m.containers.map((c) => c.name),
    podFrozen: span(podFrozenSpan(m)),
    commonFrozenWindow: span(commonFrozenWindow(m)),
    capturedWhileAllFrozen: capturedWhileAllFrozen(m),
    archiveBytes: pod.entries.reduce((n, e) => n + e.bytes, 0),
    checked: verified ? "sizes and sha256" : "sizes",
    mismatches,
    unlisted: pod.unlisted,
  };
}

/** Each container in the pod's order: its archive opened as a checkpoint, given to `use`, closed again. */
export async function mapContainers<T>(pod: PodCheckpointArchive, use: (cp: Checkpoint, entry: PodArchiveEntry) => T | Promise<T>): Promise<T[]> {
  const out: T[] = [];
  for (const entry of pod.entries) {
    const cp = Checkpoint.fromArchive(await pod.openContainer(entry));
    try {
      out.push(await use(cp, entry));
    } finally {
      cp.close();
    }
  }
  return out;
}

export async function showPod(pod: PodCheckpointArchive, opts: { verify: boolean }): Promise<PodShow> {
  const header = podHeader(pod, await checkPodArchives(pod, opts.verify), opts.verify);
  const rows = await mapContainers(pod, (cp, entry) => ({ ...showRow(cp), archive: entry.container.archive, archiveBytes: entry.bytes, manifest: entry.container }));
  const sum = (f: (r: PodContainerRow) => number) => rows.reduce((n, r) => n + f(r), 0);
  const withStats = rows.filter((r) => r.stats);
  const statSum = (k: keyof DumpStatistics) => withStats.reduce((n, r) => n + r.stats![k], 0);
  return {
    ...header,
    rows,
    totals: {
      archiveBytes: sum((r) => r.archiveBytes),
      checkpointSize: sum((r) => r.checkpointSize),
      rootfsDiffSize: sum((r) => r.rootfsDiffSize),
      stats: withStats.length
        ? {
            freezingTime: statSum("freezingTime"),
            frozenTime: statSum("frozenTime"),
            memdumpTime: statSum("memdumpTime"),
            memwriteTime: statSum("memwriteTime"),
            pagesScanned: statSum("pagesScanned"),
            pagesWritten: statSum("pagesWritten"),
          }
        : undefined,
    },
  };
}

export interface PodInspect extends PodHeader {
  /** What inspect gives for each container's archive alone, in the pod's order. */
  checkpoints: InspectJson[];
}

/** inspect of every container, with the sizes its tree shows and the name of its archive. */
export async function inspectPod(pod: PodCheckpointArchive, opts: InspectOptions & { verify: boolean }): Promise<{ json: PodInspect; sizes: Array<ReturnType<Checkpoint["sizes"]>>; labels: string[] }> {
  const header = podHeader(pod, await checkPodArchives(pod, opts.verify), opts.verify);
  const each = await mapContainers(pod, async (cp, entry) => ({ json: await inspectCheckpoint(cp, opts), sizes: cp.sizes(), label: entry.label }));
  return { json: { ...header, checkpoints: each.map((e) => e.json) }, sizes: each.map((e) => e.sizes), labels: each.map((e) => e.label) };
}

const TOTAL = "pod total";

/** The totals row under the containers' rows (same columns as ckpt show). */
export function podTotalCells(s: PodShow): string[] {
  return showCells({ ...s.rows[0]!, container: TOTAL, image: "", id: "", runtime: "", created: "", engine: "", ip: "", checkpointSize: s.totals.checkpointSize, rootfsDiffSize: s.totals.rootfsDiffSize });
}

export function podStatsTotalCells(s: PodShow): string[] | undefined {
  return s.totals.stats ? statsCells({ ...s.rows[0]!, container: TOTAL, stats: s.totals.stats }) : undefined;
}

function spanText(s: TimeSpanJson): string {
  return `${s.ms} ms (${s.from} to ${s.to})`;
}

/** The pod header as a tree, in the layout of inspect's trees. */
export function podHeaderTree(h: PodHeader): TreeNode {
  const root = node(`Pod ${h.namespace}/${h.name}`);
  add(root, `UID: ${h.uid}`);
  add(root, `Node: ${h.node}`);
  add(root, `Runtime: ${h.runtime}`);
  add(root, `Sandbox: ${h.sandbox.hostname}${h.sandbox.ip ? ` (IP ${h.sandbox.ip})` : ""}`);
  add(root, `Checkpoint: ${h.startedAt} to ${h.completedAt}`);
  add(root, `Containers: ${h.containers.length} (${h.containers.join(", ")})`);
  add(root, `Pod frozen: ${spanText(h.podFrozen)}, first pause to last resume`);
  const w = h.commonFrozenWindow;
  const all =
    w.ms < 0
      ? `All frozen: never (the first resume came ${-w.ms} ms before the last pause)`
      : `All frozen: ${spanText(w)}, ${h.capturedWhileAllFrozen ? "every container captured inside it" : "NOT every container captured inside it"}`;
  add(root, all);
  const files = `${h.containers.length} file${h.containers.length === 1 ? "" : "s"}`;
  const archives = add(
    root,
    h.mismatches.length
      ? `Archives: ${byteToString(h.archiveBytes)} in ${files}, ${h.mismatches.length} NOT as the manifest says`
      : `Archives: ${byteToString(h.archiveBytes)} in ${files}, ${h.checked} as the manifest says`,
  );
  for (const m of h.mismatches) add(archives, describeMismatch(m));
  if (h.unlisted.length) {
    const unlisted = add(root, "Not in the manifest");
    for (const name of h.unlisted) add(unlisted, name);
  }
  return root;
}
