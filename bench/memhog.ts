/**
 * The benches' big-memory workload: a static C program (gcc) that fills N MiB, prints
 * "filled N MiB", then prints "tick N" every 50 ms (flushed), so that a restored copy shows in its
 * log when it runs again. Installed as /bin/memhog in a one-layer busybox image (an OCI layout).
 */
import { execFileSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { BuiltImage } from "../test/support/oci-images.js";

export const MEMHOG_C = `
#include <stdlib.h>
#include <string.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>
int main(int argc, char **argv) {
  size_t mb = (size_t)atol(argv[1]);
  char *p = malloc(mb << 20);
  if (!p) return 1;
  for (size_t i = 0; i < (mb << 20); i += 4096) p[i] = (char)(i >> 12);
  printf("filled %zu MiB\\n", mb);
  fflush(stdout);
  struct timespec d = { 0, 50 * 1000 * 1000 };
  for (unsigned long n = 1;; n++) {
    nanosleep(&d, NULL);
    printf("tick %lu\\n", n);
    fflush(stdout);
  }
}
`;

/** The path of the container's program in the image built by buildMemhogImage. */
export const MEMHOG_PATH = "/bin/memhog";

/**
 * Compiles the program in `work` and writes busybox + /bin/memhog as one layer into the OCI layout
 * `layout` under `tag`.
 */
export async function buildMemhogImage(work: string, layout: string, tag = "latest"): Promise<BuiltImage> {
  const { writeOciImage, busyboxRootfs } = await import("../test/support/oci-images.ts");
  writeFileSync(join(work, "memhog.c"), MEMHOG_C);
  execFileSync("gcc", ["-O2", "-static", "-o", join(work, "memhog"), join(work, "memhog.c")]);
  return writeOciImage(layout, {
    tag,
    layers: [{ entries: [...busyboxRootfs(), { path: MEMHOG_PATH.slice(1), type: "file", mode: 0o755, content: readFileSync(join(work, "memhog")) }] }],
  });
}
