/**
 * `npm run bench` (last part): `ckpt seal` / `ckpt unseal` against the age CLI (Debian's `age`) on
 * a big checkpoint archive made now: the "big" workload (BENCH_SEAL_MB MiB of anonymous memory)
 * dumped by the real CRIU 4.2 and packed as a plain CRI-O archive (bench/archive-build.ts).
 *
 * Both tools write the same format, so the unseal case has both open the one file ckpt sealed. Each
 * case runs the two alternately (one warm-up pair, then BENCH_SEAL_RUNS measured pairs), medians
 * in the table; throughput is archive MiB per second of wall time around the process, and the
 * ratio is ckpt's time over age's. ckpt fsyncs its output before renaming it into place (nothing
 * half-written is ever visible); age writes in place without fsync: that difference is in the
 * figures. No assertions on timings; exit status 1 only when the bench cannot run or an output
 * is wrong. Without `age` on PATH, ckpt's figures alone are printed.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { alternate, fmtMB, kbToMB, MB, measure, median, table, type Sample } from "./measure.js";
import { DUMP_TOOLS, fatal, positiveInt, requireFiles, requireRootAndCriu42, setBenchName } from "./preconditions.js";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const CKPT = join(ROOT, "bin/ckpt");
setBenchName("bench/seal");
const RUNS = positiveInt("BENCH_SEAL_RUNS", 3);
const BIG_MB = positiveInt("BENCH_SEAL_MB", 1024);

const { criuBinary, dumpWorkload } = await import("../test/support/criu-dump.ts");
requireRootAndCriu42(criuBinary());
requireFiles(DUMP_TOOLS);
if (!existsSync(join(ROOT, "dist/cli/main.js"))) fatal("dist/ is missing: npm run build");
const haveAge = spawnSync("sh", ["-c", "command -v age"]).status === 0;

const work = mkdtempSync(join(tmpdir(), "ckpt-bench-seal-"));
let dump: Awaited<ReturnType<typeof dumpWorkload>> | undefined;
try {
  console.log(`bench/seal: dumping the big workload (${BIG_MB} MiB) with CRIU…`);
  dump = await dumpWorkload("big", { megabytes: BIG_MB, vmas: 3000 });
  const archive = join(work, "big.tar");
  const built = spawnSync(process.execPath, ["--import", "tsx", join(ROOT, "bench/archive-build.ts"), dump.dir, archive, "none"], { cwd: ROOT, stdio: "inherit" });
  if (built.status !== 0) fatal("building the archive failed");
  await dump.cleanup();
  dump = undefined;
  const size = statSync(archive).size;

  const key = join(work, "key.txt");
  const kg = spawnSync(CKPT, ["seal", "keygen", "-o", key], { encoding: "utf8" });
  if (kg.status !== 0) fatal(`ckpt seal keygen failed: ${kg.stderr}`);
  const recipient = kg.stdout.trim();
  const [ckptSealed, ageSealed, ckptOpened, ageOpened] = ["ckpt.age", "age.age", "ckpt.out", "age.out"].map((n) => join(work, n)) as [string, string, string, string];
  const clear = (...files: string[]) => () => files.forEach((f) => rmSync(f, { force: true }));

  const seal = alternate(
    RUNS,
    () => measure([CKPT, "seal", archive, "-r", recipient, "-o", ckptSealed], "ckpt seal", ROOT, work),
    haveAge ? () => measure(["age", "-r", recipient, "-o", ageSealed, archive], "age -r", ROOT, work) : undefined,
    clear(ckptSealed, ageSealed),
  );
  const unseal = alternate(
    RUNS,
    () => measure([CKPT, "unseal", ckptSealed, "-i", key, "-o", ckptOpened], "ckpt unseal", ROOT, work),
    haveAge ? () => measure(["age", "-d", "-i", key, "-o", ageOpened, ckptSealed], "age -d", ROOT, work) : undefined,
    clear(ckptOpened, ageOpened),
  );
  // The comparison means something only if both did the work right.
  const same = (a: string, b: string) => spawnSync("cmp", ["-s", a, b]).status === 0;
  if (!same(ckptOpened, archive)) fatal("ckpt unseal did not give the archive back");
  if (haveAge && !same(ageOpened, archive)) fatal("age -d did not give the archive back from ckpt's sealed file");

  const sec = (xs: Sample[]) => median(xs.map((s) => s.seconds));
  const rss = (xs: Sample[]) => kbToMB(median(xs.map((s) => s.rssKB)));
  const rate = (xs: Sample[]) => (size / MB / sec(xs)).toFixed(0);
  const rows = [
    ["seal", seal],
    ["unseal", unseal],
  ].map(([name, r]) => {
    const { a, b } = r as { a: Sample[]; b: Sample[] };
    return [name as string, sec(a).toFixed(2), rate(a), rss(a), ...(haveAge ? [sec(b).toFixed(2), rate(b), rss(b), (sec(a) / sec(b)).toFixed(2)] : [])];
  });
  const header = ["case", "ckpt s", "ckpt MiB/s", "ckpt RSS MiB", ...(haveAge ? ["age s", "age MiB/s", "age RSS MiB", "ckpt/age time"] : [])];
  console.log(`\nbench/seal: ${fmtMB(size)} MiB archive, median of ${RUNS} runs${haveAge ? "" : " (no age CLI: apt-get install age for the comparison)"}\n`);
  console.log(table(header, rows));
} finally {
  await dump?.cleanup();
  rmSync(work, { recursive: true, force: true });
}
