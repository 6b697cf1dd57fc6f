/*
 * A small C program for comparing replicas: two runs of it differ by one known page and, through
 * ASLR, by where everything lies. It maps a 4-page buffer between two PROT_NONE guard pages (so it is
 * a VMA of its own that nothing merges with), fills page i with the byte 0x30 + i, then fills page 2
 * with the byte given in CKPT_REPLICA_FILL (a number), and waits.
 *
 * usage: replica WORKDIR   (CKPT_TOKEN and CKPT_REPLICA_FILL in the environment)
 * Writes WORKDIR/ready.json {"pids": {"leader": PID}, "markerPrefixes": {}, "buffer": ADDRESS}, as
 * the Python workloads do (test/support/criu-dump.ts).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define PAGE 4096
#define PAGES 4

int main(int argc, char **argv) {
  const char *fill = getenv("CKPT_REPLICA_FILL");
  if (argc != 2 || !getenv("CKPT_TOKEN") || !fill) {
    fprintf(stderr, "usage: replica WORKDIR (with CKPT_TOKEN and CKPT_REPLICA_FILL set)\n");
    return 2;
  }
  char *reserved = mmap(NULL, (PAGES + 2) * PAGE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (reserved == MAP_FAILED) return perror("mmap"), 1;
  char *buffer = reserved + PAGE;
  if (mprotect(buffer, PAGES * PAGE, PROT_READ | PROT_WRITE) != 0) return perror("mprotect"), 1;
  for (int i = 0; i < PAGES; i++) memset(buffer + i * PAGE, 0x30 + i, PAGE);
  memset(buffer + 2 * PAGE, (int)strtol(fill, NULL, 0), PAGE);

  char path[4096], tmp[4200], text[256];
  snprintf(path, sizeof path, "%s/ready.json", argv[1]);
  snprintf(tmp, sizeof tmp, "%s.tmp", path);
  snprintf(text, sizeof text, "{\"pids\": {\"leader\": %d}, \"markerPrefixes\": {}, \"buffer\": %lu}\n", (int)getpid(), (unsigned long)buffer);
  FILE *f = fopen(tmp, "w");
  if (!f || fputs(text, f) < 0 || fclose(f) != 0 || rename(tmp, path) != 0) return perror(path), 1;
  for (;;) pause();
}
