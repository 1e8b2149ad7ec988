/*
 * mallopt_race.c - mallopt(M_TRIM_THRESHOLD, ...) from one thread while
 * others allocate and free on the shim's default zone, each operation counted
 * for automatic memory return as the shim's malloc and free do, so the
 * threads read the threshold while it changes. Built from the shim's sources
 * (but its exported malloc family) and run under ThreadSanitizer by CI: a
 * torn or racy threshold is a report. Checks too that every block keeps its
 * contents and that the zone is sound at the end.
 */
#include "fast.h"

#include <malloc.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define THREADS 3
#define ROUNDS 20000
#define LIVE 256

static _Atomic bool done;

/* As the shim's malloc and free count each call (malloc.c). */
static void count_op(zone_t *z) {
  (void)z;
  if ((zone__shim_self.marks -= ZONE_MARK_OP) < 0)
    zone__shim_op_due(zone__shim_arena(), false);
}
static _Atomic int failures;

static void *churn(void *arg) {
  unsigned seed = (unsigned)(uintptr_t)arg;
  unsigned char *live[LIVE] = {0};
  size_t size[LIVE] = {0};
  zone_t *z = zone__shim_get();
  for (int round = 0; round < ROUNDS; round++) {
    seed = seed * 1103515245u + 12345u;
    size_t i = (seed >> 8) % LIVE;
    if (live[i] != NULL) {
      for (size_t b = 0; b < size[i]; b++)
        if (live[i][b] != (unsigned char)i)
          atomic_fetch_add(&failures, 1);
      zone__shim_enter();
      int err = zfree(z, live[i]);
      zone__shim_leave();
      if (err != 0)
        atomic_fetch_add(&failures, 1);
      count_op(z);
    }
    /* Sometimes large, so the usage swings and memory goes back. */
    size[i] = (seed >> 20) % 16 == 0 ? (size_t)64 << 10 : 16 + (seed >> 16) % 512;
    zone__shim_enter();
    live[i] = zalloc(z, size[i]);
    zone__shim_leave();
    if (live[i] == NULL) {
      atomic_fetch_add(&failures, 1);
      break;
    }
    memset(live[i], (int)i, size[i]);
    count_op(z);
  }
  for (size_t i = 0; i < LIVE; i++)
    if (live[i] != NULL)
      zfree(z, live[i]);
  return NULL;
}

static void *tune(void *arg) {
  (void)arg;
  int values[] = {4096, 0, 1 << 20, -1, 128 << 10, 65536};
  for (unsigned k = 0; !atomic_load(&done); k++)
    if (mallopt(M_TRIM_THRESHOLD, values[k % 6]) != 1)
      atomic_fetch_add(&failures, 1);
  return NULL;
}

int main(void) {
  if (zone__shim_get() == NULL) {
    fprintf(stderr, "mallopt_race: no default zone\n");
    return 1;
  }
  pthread_t workers[THREADS], tuner;
  if (pthread_create(&tuner, NULL, tune, NULL) != 0)
    return 1;
  for (uintptr_t t = 0; t < THREADS; t++)
    if (pthread_create(&workers[t], NULL, churn, (void *)(t + 1)) != 0)
      return 1;
  for (int t = 0; t < THREADS; t++)
    pthread_join(workers[t], NULL);
  atomic_store(&done, true);
  pthread_join(tuner, NULL);
  zone_stats_t st;
  zone_stats(zone__shim_get(), &st);
  if (zone_check(zone__shim_get()) != 0 || st.blocks != 0) {
    fprintf(stderr, "mallopt_race: zone unsound or blocks left (%zu)\n", st.blocks);
    return 1;
  }
  if (atomic_load(&failures) != 0) {
    fprintf(stderr, "mallopt_race: %d failures\n", atomic_load(&failures));
    return 1;
  }
  printf("mallopt_race: %d threads x %d rounds with mallopt alongside: ok\n", THREADS, ROUNDS);
  return 0;
}
