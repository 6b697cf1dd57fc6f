/**
 * Builds samples/counter-crio.tar: the runc-counter fixture (a busybox container checkpointed by runc
 * with CRIU 4.2.1; test/fixtures/criu-dumps/README.md) in the layout of a CRI-O checkpoint archive, as the
 * kubelet checkpoint API would leave it in /var/lib/kubelet/checkpoints. Reproducible byte for byte:
 * fixed times, uid/gid 0, sorted members (test/support/archives.ts).
 *
 *   npx tsx scripts/make-sample-archive.ts [OUT]     (CKPT_FIXTURES overrides the fixtures dir)
 */
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { buildArchive, criLog, DEFAULT_CONTAINER } from "../test/support/archives.ts";

const REPO = resolve(import.meta.dirname, "..");
const FIXTURES = resolve(process.env.CKPT_FIXTURES ?? join(REPO, "test/fixtures/criu-dumps"));
const FIXTURE = join(FIXTURES, "runc-counter");
const OUT = resolve(process.argv[2] ?? join(REPO, "samples/counter-crio.tar"));

/** container counter in pod default/counters, IP 10.88.0.9, image quay.io/example/counter:latest
 * with a made-up image ID, created 2025-12-31T23:59:50.123456789Z, checkpointed
 * 2026-01-01T00:00:00.987654321Z. */
const container = DEFAULT_CONTAINER;

// The container's stdout as conmon logged it: what counter.sh printed before the checkpoint (the same
// lines tee wrote to /home/counter/logfile, which is in rootfs-diff.tar).
const counts = Array.from({ length: 16 }, (_, i) => `count ${i + 1}`);

const spec = JSON.parse(readFileSync(join(FIXTURE, "spec.json"), "utf8")) as object;

await buildArchive({
  layout: "crio",
  imagesDir: join(FIXTURE, "checkpoint"),
  out: OUT,
  compression: "none",
  spec,
  container,
  rootfsDiff: join(FIXTURE, "rootfs-diff.tar"),
  deletedFiles: [],
  statsDump: join(FIXTURE, "stats-dump"),
  dumpLog: join(FIXTURE, "dump.log"),
  containerLog: criLog(counts, container.created!, "conmon"),
});

const bytes = readFileSync(OUT);
console.log(`${OUT}: ${bytes.length} bytes, sha256 ${createHash("sha256").update(bytes).digest("hex")}`);
