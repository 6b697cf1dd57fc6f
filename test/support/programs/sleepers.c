/*
 * A small C program for core file tests: a leader that waits in pause() and two threads that wait
 * in nanosleep(), each called from a named function, and a marker string built on the heap at run
 * time (so it exists nowhere else in memory).
 *
 * usage: sleepers WORKDIR   (CKPT_TOKEN in the environment)
 * Writes WORKDIR/addresses.json {"planted": ADDRESS} and then WORKDIR/ready.json, as the Python
 * workloads do (test/support/criu-dump.ts).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define PLANT_PREFIX "CKPT_CORE_PLANT_"
#define THREADS 2

static pthread_barrier_t started;

static void *worker_sleeps_in_nanosleep(void *arg) {
  (void)arg;
  pthread_barrier_wait(&started);
  for (;;) {
    struct timespec ts = {3600, 0};
    nanosleep(&ts, NULL);
  }
  return NULL;
}

static void leader_waits_in_pause(void) {
  for (;;) pause();
}

static void write_file(const char *work, const char *name, const char *text) {
  char path[4096], tmp[4200];
  snprintf(path, sizeof path, "%s/%s", work, name);
  snprintf(tmp, sizeof tmp, "%s.tmp", path);
  FILE *f = fopen(tmp, "w");
  if (!f || fputs(text, f) < 0 || fclose(f) != 0 || rename(tmp, path) != 0) {
    perror(path);
    exit(1);
  }
}

int main(int argc, char **argv) {
  const char *token = getenv("CKPT_TOKEN");
  if (argc != 2 || !token) {
    fprintf(stderr, "usage: sleepers WORKDIR (with CKPT_TOKEN set)\n");
    return 2;
  }
  char *planted = malloc(strlen(PLANT_PREFIX) + strlen(token) + 1);
  strcpy(planted, PLANT_PREFIX);
  strcat(planted, token);

  pthread_t threads[THREADS];
  pthread_barrier_init(&started, NULL, THREADS + 1);
  for (int i = 0; i < THREADS; i++) pthread_create(&threads[i], NULL, worker_sleeps_in_nanosleep, NULL);
  pthread_barrier_wait(&started);

  char text[512];
  snprintf(text, sizeof text, "{\"planted\": %lu}\n", (unsigned long)planted);
  write_file(argv[1], "addresses.json", text);
  snprintf(text, sizeof text, "{\"pids\": {\"leader\": %d}, \"markerPrefixes\": {\"planted\": \"%s\"}}\n", (int)getpid(), PLANT_PREFIX);
  write_file(argv[1], "ready.json", text);
  leader_waits_in_pause();
  return 0;
}
