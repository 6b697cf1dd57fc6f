/**
 * `npm run bench`: `ckpt crit decode` against the real crit 4.2.1 on dumps made now by the real
 * CRIU 4.2.1 (test/support/criu-dump.ts): a whole image directory (one ckpt process versus a shell
 * loop of one crit call per image, the way a user scripts it), single files, and peak memory.
 *
 * Each case runs both tools alternately (ckpt, crit, ckpt, crit…): one warm-up pair, then N measured
 * pairs; the table shows medians. Wall time is measured around the process; peak RSS is
 * `/usr/bin/time -f %M` (for the crit loop: the largest of its calls, as wait4 reports it).
 * Nothing here asserts on timings: the targets are reported, met or missed, and the exit status is 0.
 * It is 1 only when the bench cannot run (not root, no CRIU 4.2, no crit) or its comparison is void
 * (a tool failed, or the two tools' JSON differ beyond the differences documented in README.md).
 *
 * Env: BENCH_DIR_RUNS (default 5), BENCH_FILE_RUNS (default 10), BENCH_MB (300), BENCH_VMAS (3000).
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, linkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { alternate, fmtMB, interrupted, kbToMB, MB, measure, median, table, TIME, type Sample } from "./measure.js";
import { DUMP_TOOLS, fatal, positiveInt, requireFiles, requireRootAndCriu42, setBenchName } from "./preconditions.js";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
setBenchName("bench");
const DIR_RUNS = positiveInt("BENCH_DIR_RUNS", 5);
const FILE_RUNS = positiveInt("BENCH_FILE_RUNS", 10);
const BIG_MB = positiveInt("BENCH_MB", 300);
const BIG_VMAS = positiveInt("BENCH_VMAS", 3000);


// ---------------------------------------------------------------------------------------------
// Preconditions: checked before anything is dumped.

const { criuBinary, critBinary, dumpWorkload } = await import("../test/support/criu-dump.ts");
const CRIU = criuBinary();
const CRIT = critBinary();
const criuVersion = requireRootAndCriu42(CRIU);
if (!existsSync(CRIT)) fatal(`the reference crit is missing at ${CRIT} (CKPT_CRIT overrides; scripts/setup.sh installs it)`);
const critVersion = (() => {
  const r = spawnSync(CRIT, ["--version"], { encoding: "utf8", timeout: 30_000 });
  return ((r.stdout ?? "") + (r.stderr ?? "")).match(/\d+\.\d+(\.\d+)?/)?.[0] ?? "?";
})();
requireFiles(DUMP_TOOLS);
if (!existsSync(join(ROOT, "dist/src/cli/main.js"))) fatal("dist/ is missing: npm run build");

const { listImageFiles } = (await import(join(ROOT, "dist/src/criu-images/image-dir.js"))) as {
  listImageFiles(dir: string): { images: string[]; raw: string[] };
};

// ---------------------------------------------------------------------------------------------
// Running and timing one process.

let work = "";

/** One timed run of a command, from the repository root. */
function timed(argv: string[], what: string): Sample {
  return measure(argv, what, ROOT, work);
}

function freshDir(path: string): string {
  rmSync(path, { recursive: true, force: true });
  mkdirSync(path, { recursive: true });
  return path;
}

// ---------------------------------------------------------------------------------------------
// Cases.

interface Case {
  name: string;
  /** One measured run of ckpt; the output goes to a fresh place each time. */
  ckpt: string[];
  crit?: string[];
  runs: number;
  /** Before each run, outside the timing. */
  prepare(): void;
  /** After the last run: the pairs of outputs to compare (ckpt's, crit's). */
  outputs?(): Array<[string, string]>;
}

interface Result {
  name: string;
  runs: number;
  ckpt: Sample[];
  crit: Sample[];
}

/** Alternates A B A B: one warm-up pair, then `runs` measured pairs. */
function runCase(c: Case): Result {
  const crit = c.crit;
  const { a: ckpt, b: critSamples } = alternate(
    c.runs,
    () => timed(c.ckpt, `ckpt (${c.name})`),
    crit ? () => timed(crit, `crit (${c.name})`) : undefined,
    () => c.prepare(),
  );
  const r: Result = { name: c.name, runs: c.runs, ckpt, crit: critSamples };
  const ck = median(ckpt.map((s) => s.seconds));
  const cr = critSamples.length ? median(critSamples.map((s) => s.seconds)) : NaN;
  process.stderr.write(
    `  ${c.name.padEnd(34)} ckpt ${ck.toFixed(3)} s` + (critSamples.length ? `  crit ${cr.toFixed(3)} s  (${(cr / ck).toFixed(1)}x)` : "") + "\n",
  );
  return r;
}

function ckptDecode(input: string, out: string, pretty: boolean): string[] {
  return [join(ROOT, "bin/ckpt"), "crit", "decode", "-i", input, "-o", out, ...(pretty ? ["--pretty"] : [])];
}

function critDecode(input: string, out: string, pretty: boolean): string[] {
  return [CRIT, "decode", "-i", input, "-o", out, ...(pretty ? ["--pretty"] : [])];
}

/** The user's shell loop: one crit call per image, stopping at the first failure. */
function critLoop(dir: string, files: string[], out: string, pretty: boolean): string[] {
  const script = `crit=$1 d=$2 o=$3; shift 3; for f in "$@"; do "$crit" decode -i "$d/$f" -o "$o/$f.json"${pretty ? " --pretty" : ""} || exit 1; done`;
  return ["/bin/sh", "-c", script, "sh", CRIT, dir, out, ...files];
}

// ---------------------------------------------------------------------------------------------
// Comparing the two tools' JSON.

/**
 * crit's output with the differences README.md documents as deliberate undone, so that the rest
 * must be byte-equal: IPCNS_SHM's `"extra": ""` for a segment kept in pagemap-shmem, and --pretty's
 * task states (crit: 2 numeric, 3 "Zombie", 6 "Stopped"; ckpt: 2 "Dead", 3 "Stopped", 6 "Zombie").
 */
function undoDocumentedDifferences(name: string, text: string): string {
  if (/^ipcns-shm-\d+\.img/.test(name)) text = text.replace(/,\s*"extra": ""(?=\s*\})/g, "");
  if (/^core-\d+\.img/.test(name)) {
    const names: Record<string, string> = { "2": '"Dead"', '"Zombie"': '"Stopped"', '"Stopped"': '"Zombie"' };
    text = text.replace(/("task_state": )(2|"Zombie"|"Stopped")(?=[,\s}])/g, (_m, key: string, v: string) => key + names[v]);
  }
  return text;
}

interface Comparison {
  identical: number;
  documented: string[];
  different: string[];
}
const comparisons = new Map<string, Comparison>();

function compareOutputs(caseName: string, pairs: Array<[string, string]>): void {
  const cmp: Comparison = { identical: 0, documented: [], different: [] };
  for (const [ours, theirs] of pairs) {
    const name = ours.replace(/^.*\//, "").replace(/\.json$/, "");
    if (!existsSync(ours) || !existsSync(theirs)) {
      cmp.different.push(`${name} (missing output)`);
      continue;
    }
    const a = readFileSync(ours, "latin1");
    const b = readFileSync(theirs, "latin1");
    if (a === b) cmp.identical++;
    else if (a === undoDocumentedDifferences(name, b)) cmp.documented.push(name);
    else cmp.different.push(name);
  }
  comparisons.set(caseName, cmp);
}

function dirPairs(ckptOut: string, critOut: string, files: string[]): Array<[string, string]> {
  const extra = readdirSync(ckptOut).filter((f) => !files.includes(f.replace(/\.json$/, "")));
  return [...files, ...extra.map((f) => f.replace(/\.json$/, ""))].map((f) => [join(ckptOut, `${f}.json`), join(critOut, `${f}.json`)]);
}

// ---------------------------------------------------------------------------------------------
// The dumps.

interface DumpInfo {
  label: string;
  dir: string;
  rootPid: number;
  images: string[];
  raw: string[];
  pagesBytes: number;
  totalBytes: number;
  vmas: number;
  dumpMs: number;
}

function describeDump(label: string, d: { dir: string; rootPid: number; dumpMs: number }): DumpInfo {
  const { images, raw } = listImageFiles(d.dir);
  let pagesBytes = 0;
  let totalBytes = 0;
  for (const f of readdirSync(d.dir)) {
    const size = statSync(join(d.dir, f)).size;
    totalBytes += size;
    if (/^pages-/.test(f)) pagesBytes += size;
  }
  // VMAs: every mm image, counted from ckpt's decode (checked against crit's below).
  const out = freshDir(join(work, `vmas-${label}`));
  let vmas = 0;
  for (const mm of images.filter((f) => /^mm-\d+\.img$/.test(f))) {
    timed(ckptDecode(join(d.dir, mm), join(out, `${mm}.json`), false), `ckpt decode ${mm}`);
    const doc = JSON.parse(readFileSync(join(out, `${mm}.json`), "utf8")) as { entries: Array<{ vmas?: unknown[] }> };
    for (const e of doc.entries) vmas += e.vmas?.length ?? 0;
  }
  return { label, dir: d.dir, rootPid: d.rootPid, images, raw, pagesBytes, totalBytes, vmas, dumpMs: d.dumpMs };
}

// ---------------------------------------------------------------------------------------------
// Main.

type Dump = Awaited<ReturnType<typeof dumpWorkload>>;
const dumps: Dump[] = [];
let voided = false;

try {
  work = mkdtempSync(join(tmpdir(), "ckpt-bench-"));
  const started = performance.now();
  process.stderr.write(`bench: dumping the workloads with ${CRIU} (mix; big: ${BIG_MB} MiB in ${BIG_VMAS} VMAs)…\n`);
  const mix = await dumpWorkload("mix");
  dumps.push(mix);
  const big = await dumpWorkload("big", { megabytes: BIG_MB, vmas: BIG_VMAS });
  dumps.push(big);
  if (interrupted()) throw new Error("interrupted");

  const small = describeDump("small", mix);
  const large = describeDump("big", big);

  // Control for memory: the big dump's images with pages-*.img present but empty (hard links to
  // every other file). If decode never reads pages, its peak RSS is the big dump's.
  const noPages = freshDir(join(work, "big-pages-emptied"));
  for (const f of readdirSync(big.dir)) {
    if (/^pages-/.test(f)) writeFileSync(join(noPages, f), "");
    else linkSync(join(big.dir, f), join(noPages, f));
  }

  const cases: Case[] = [];
  const commandLines: string[] = [];
  const show = (argv: string[]): string =>
    argv
      .map((a) => a.replace(process.execPath, "node").replace(ROOT, "").replace(work, "$W").replace(mix.dir, "$SMALL").replace(big.dir, "$BIG"))
      .map((a) => (/[\s$;"]/.test(a) && !/^\$(W|SMALL|BIG)\b/.test(a) ? `'${a}'` : a))
      .join(" ");

  // a. whole directory
  for (const d of [small, large]) {
    for (const pretty of [false, true]) {
      const name = `dir ${d.label}${pretty ? " --pretty" : ""}`;
      const ckptOut = join(work, `${d.label}${pretty ? "-pretty" : ""}-ckpt`);
      const critOut = join(work, `${d.label}${pretty ? "-pretty" : ""}-crit`);
      const c: Case = {
        name,
        runs: DIR_RUNS,
        ckpt: ckptDecode(d.dir, ckptOut, pretty),
        crit: critLoop(d.dir, d.images, critOut, pretty),
        prepare: () => {
          rmSync(ckptOut, { recursive: true, force: true });
          freshDir(critOut);
        },
        outputs: () => dirPairs(ckptOut, critOut, d.images),
      };
      cases.push(c);
      commandLines.push(`${name}:\n    ckpt: ${show(c.ckpt)}\n    crit: ${show(c.crit!.slice(0, 8))} <the ${d.images.length} image names>`);
    }
  }

  // c. the memory control (ckpt only)
  cases.push({
    name: "dir big, pages-*.img emptied",
    runs: DIR_RUNS,
    ckpt: ckptDecode(noPages, join(work, "big0-ckpt"), false),
    prepare: () => rmSync(join(work, "big0-ckpt"), { recursive: true, force: true }),
  });

  // b. single files
  const singles: Array<[DumpInfo, string, boolean]> = [
    [small, `core-${small.rootPid}.img`, false],
    [large, `core-${large.rootPid}.img`, false],
    [large, `mm-${large.rootPid}.img`, false],
    [large, `mm-${large.rootPid}.img`, true],
    [large, `pagemap-${large.rootPid}.img`, false],
  ];
  for (const [d, file, pretty] of singles) {
    const name = `file ${d.label} ${file.replace(/-\d+\.img$/, "")}${pretty ? " --pretty" : ""}`;
    const ckptOut = join(work, `single-ckpt.json`);
    const critOut = join(work, `single-crit.json`);
    const input = join(d.dir, file);
    if (!existsSync(input)) throw new Error(`${input} is missing from the ${d.label} dump`);
    const c: Case = {
      name,
      runs: FILE_RUNS,
      ckpt: ckptDecode(input, ckptOut, pretty),
      crit: critDecode(input, critOut, pretty),
      prepare: () => {
        rmSync(ckptOut, { force: true });
        rmSync(critOut, { force: true });
      },
    };
    // The compared names must be the image's, for the documented-difference rules.
    c.outputs = () => {
      const a = join(work, "cmp-ckpt", `${file}.json`);
      const b = join(work, "cmp-crit", `${file}.json`);
      freshDir(join(work, "cmp-ckpt"));
      freshDir(join(work, "cmp-crit"));
      linkSync(ckptOut, a);
      linkSync(critOut, b);
      return [[a, b]];
    };
    cases.push(c);
    commandLines.push(`${name}:\n    ckpt: ${show(c.ckpt)}\n    crit: ${show(c.crit!)}`);
  }

  process.stderr.write(
    `bench: ${small.images.length} + ${large.images.length} images; ${DIR_RUNS} runs per directory case, ` +
      `${FILE_RUNS} per single file, one warm-up each, ckpt and crit alternating\n`,
  );
  const results: Result[] = [];
  for (const c of cases) {
    results.push(runCase(c));
    if (c.outputs) compareOutputs(c.name, c.outputs());
  }
  const totalS = (performance.now() - started) / 1000;

  // ---- Report ------------------------------------------------------------------------------
  const out: string[] = [];
  out.push("");
  out.push(
    `ckpt crit decode (node ${process.version}) vs crit ${critVersion} (${CRIT}); dumps made now by CRIU ${criuVersion} (${CRIU}); ` +
      `${(await import("node:os")).cpus().length} CPUs`,
  );
  out.push(`$SMALL = ${mix.dir}, $BIG = ${big.dir} (both removed at the end)`);
  out.push("");
  out.push(
    table(
      ["dump", "pages MB", "dir MB", "images decoded", "raw images", "VMAs", "criu dump s"],
      [small, large].map((d) => [
        d.label === "small" ? "small (mix)" : `big (${BIG_MB} MiB, ${BIG_VMAS} VMAs asked)`,
        fmtMB(d.pagesBytes),
        fmtMB(d.totalBytes),
        String(d.images.length),
        String(d.raw.length),
        String(d.vmas),
        (d.dumpMs / 1000).toFixed(2),
      ]),
    ),
  );
  out.push("");
  const rows = results.map((r) => {
    const ck = median(r.ckpt.map((s) => s.seconds));
    const cr = r.crit.length ? median(r.crit.map((s) => s.seconds)) : NaN;
    const spread = (xs: Sample[]): string =>
      `${Math.min(...xs.map((x) => x.seconds)).toFixed(3)}-${Math.max(...xs.map((x) => x.seconds)).toFixed(3)}`;
    return [
      r.name,
      String(r.runs),
      ck.toFixed(3),
      spread(r.ckpt),
      r.crit.length ? cr.toFixed(3) : "-",
      r.crit.length ? spread(r.crit) : "-",
      r.crit.length ? `${(cr / ck).toFixed(2)}x` : "-",
      kbToMB(median(r.ckpt.map((s) => s.rssKB))),
      r.crit.length ? kbToMB(median(r.crit.map((s) => s.rssKB))) : "-",
    ];
  });
  out.push(
    table(["case", "runs", "ckpt median s", "ckpt min-max", "crit median s", "crit min-max", "crit/ckpt", "ckpt peak RSS MB", "crit peak RSS MB"], rows),
  );
  out.push("(crit on a directory = a shell loop, one crit process per image; its peak RSS is that of its largest call.");
  out.push(" Peak RSS = median over the runs of /usr/bin/time %M.)");
  out.push("");

  // Output equality.
  out.push("Same work: every JSON file of the last run compared byte for byte, ckpt vs crit:");
  for (const [name, c] of comparisons) {
    let line = `  ${name.padEnd(34)} identical ${c.identical}`;
    if (c.documented.length) line += `; identical but for README's deliberate differences ${c.documented.length} (${c.documented.join(", ")})`;
    if (c.different.length) {
      line += `; DIFFERENT ${c.different.length} (${c.different.join(", ")})`;
      voided = true;
    }
    out.push(line);
  }
  out.push("");

  // Targets.
  const byName = new Map(results.map((r) => [r.name, r]));
  const med = (r: Result | undefined, side: "ckpt" | "crit", key: keyof Sample): number => median(r![side].map((s) => s[key]));
  out.push("Targets:");
  for (const r of results.filter((x) => x.name.startsWith("dir ") && x.crit.length)) {
    const ratio = med(r, "crit", "seconds") / med(r, "ckpt", "seconds");
    out.push(`  whole directory >= 20x faster   ${r.name.padEnd(20)} ${ratio.toFixed(1)}x  ${ratio >= 20 ? "met" : "MISSED"}`);
  }
  for (const r of results.filter((x) => x.name.startsWith("file "))) {
    const ck = med(r, "ckpt", "seconds");
    const cr = med(r, "crit", "seconds");
    out.push(
      `  single file no slower than crit ${r.name.padEnd(20)} ckpt ${ck.toFixed(3)} s vs crit ${cr.toFixed(3)} s  ${ck <= cr ? "met" : `MISSED (+${((ck / cr - 1) * 100).toFixed(0)}%)`}`,
    );
  }
  const rssSmall = med(byName.get("dir small"), "ckpt", "rssKB");
  const rssBig = med(byName.get("dir big"), "ckpt", "rssKB");
  const rssBig0 = med(byName.get("dir big, pages-*.img emptied"), "ckpt", "rssKB");
  const pagesGrowth = large.pagesBytes / MB;
  const rssGrowth = (rssBig - rssBig0) / 1024;
  out.push(
    `  memory not growing with pages   ckpt peak RSS: small dir ${kbToMB(rssSmall)} MB (pages ${fmtMB(small.pagesBytes)} MB), ` +
      `big dir ${kbToMB(rssBig)} MB (pages ${fmtMB(large.pagesBytes)} MB), same big dir with pages emptied ${kbToMB(rssBig0)} MB`,
  );
  out.push(
    `                                  ${fmtMB(large.pagesBytes)} MB of pages add ${rssGrowth >= 0 ? "+" : ""}${rssGrowth.toFixed(1)} MB of RSS  ` +
      `${Math.abs(rssGrowth) < 0.05 * pagesGrowth ? "met" : "MISSED"}`,
  );
  out.push("");
  out.push("Command lines (node = " + process.execPath + ", paths relative to " + ROOT + "; $W = " + work + "):");
  out.push(...commandLines.map((l) => "  " + l));
  out.push(`  peak RSS: ${TIME} -o FILE -f %M <command>`);
  out.push("");
  out.push(`bench: ${totalS.toFixed(0)} s in all`);
  console.log(out.join("\n"));
  if (voided) console.error("bench: the two tools' outputs differ (see above): the comparison is void");
} catch (err) {
  console.error(`bench: ${err instanceof Error ? err.message : String(err)}`);
  process.exitCode = 1;
} finally {
  await Promise.all(dumps.map((d) => d.cleanup()));
  if (work) rmSync(work, { recursive: true, force: true });
}
if (voided) process.exitCode = 1;
