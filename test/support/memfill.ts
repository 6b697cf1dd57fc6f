/**
 * A workload whose memory can be checked after a move: a static C program (gcc) that fills N MiB
 * with a known pattern (every word written, each page different), prints "checksum before X" (an
 * order-sensitive hash of all of it, computed inside the container), then "count N" every PERIOD
 * ms; on SIGUSR1 it hashes its memory again and prints "checksum after X". A page lost, zeroed or
 * swapped in a move changes the hash. Installed as /bin/memfill in a one-layer busybox image.
 * Each page is one repeated value but for its first word, so a checkpoint of it compresses well.
 */
import { execFileSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { busyboxRootfs, writeOciImage, type BuiltImage } from "./oci-images.js";

export const MEMFILL_C = `
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>
static volatile sig_atomic_t verify = 0;
static void on_usr1(int sig) { (void)sig; verify = 1; }
static uint64_t hash(const uint64_t *p, size_t words) {
  uint64_t h = 1469598103934665603ull;
  for (size_t i = 0; i < words; i++) h = (h ^ p[i]) * 1099511628211ull;
  return h;
}
int main(int argc, char **argv) {
  size_t bytes = (size_t)atol(argv[1]) << 20;
  long period = argc > 2 ? atol(argv[2]) : 100;
  uint64_t *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) return 1;
  size_t words = bytes / 8;
  for (size_t i = 0; i < words; i++) {
    uint64_t page = i >> 9;
    p[i] = (i & 511) == 0 ? page * 0x9E3779B97F4A7C15ull : (page + 1) * 0x0101010101010101ull;
  }
  printf("checksum before %016llx\\n", (unsigned long long)hash(p, words));
  fflush(stdout);
  struct sigaction sa = { 0 };
  sa.sa_handler = on_usr1;
  sa.sa_flags = SA_RESTART;
  sigaction(SIGUSR1, &sa, NULL);
  struct timespec d = { period / 1000, (period % 1000) * 1000000L };
  for (unsigned long n = 1;; n++) {
    nanosleep(&d, NULL);
    if (verify) {
      verify = 0;
      printf("checksum after %016llx\\n", (unsigned long long)hash(p, words));
    }
    printf("count %lu\\n", n);
    fflush(stdout);
  }
}
`;

/** The program's path in the image buildMemfillImage writes. */
export const MEMFILL_PATH = "/bin/memfill";

/** Compiles the program in `work` and writes busybox + /bin/memfill as one layer into the OCI layout `layout`. */
export function buildMemfillImage(work: string, layout: string, tag = "latest"): Promise<BuiltImage> {
  writeFileSync(join(work, "memfill.c"), MEMFILL_C);
  execFileSync("gcc", ["-O2", "-static", "-o", join(work, "memfill"), join(work, "memfill.c")]);
  return writeOciImage(layout, {
    tag,
    layers: [{ entries: [...busyboxRootfs(), { path: MEMFILL_PATH.slice(1), type: "file", mode: 0o755, content: readFileSync(join(work, "memfill")) }] }],
  });
}

/** A pod running memfill: MiB of memory, a line every `periodMs`. */
export function memfillPod(name: string, image: string, mib: number, periodMs = 100): string {
  return `apiVersion: v1
kind: Pod
metadata: {name: ${name}, namespace: default}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: ${name}
    image: ${image}
    command: ["${MEMFILL_PATH}", "${mib}", "${periodMs}"]
`;
}
