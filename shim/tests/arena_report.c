/*
 * arena_report.c - a program that ends with more than one arena: two threads
 * allocate and free until malloc_info shows a second heap (they wait for
 * arena 0's lock sooner or later, and one moves), then it calls malloc_stats
 * and exits, so that ZONE_STATS and ZONE_DUMP report every arena.
 * arena_report.sh judges the reports. Exits 77 (skipped) if no second arena
 * appeared within the time allowed.
 */
#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static atomic_bool stop;

static void *churn(void *arg) {
  unsigned seed = (unsigned)(size_t)arg;
  void *live[64] = {0};
  while (!atomic_load(&stop)) {
    seed = seed * 1103515245u + 12345u;
    size_t i = (seed >> 8) % 64;
    free(live[i]);
    live[i] = malloc(16 + (seed >> 16) % 400);
  }
  for (size_t i = 0; i < 64; i++)
    free(live[i]);
  return NULL;
}

/* Heaps malloc_info lists now. */
static int heaps(void) {
  char *text = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&text, &len);
  if (f == NULL || malloc_info(0, f) != 0)
    return 0;
  fclose(f);
  int n = 0;
  for (const char *p = text; (p = strstr(p, "<heap nr=")) != NULL; p++)
    n++;
  free(text);
  return n;
}

int main(void) {
  pthread_t t[2];
  for (size_t i = 0; i < 2; i++)
    if (pthread_create(&t[i], NULL, churn, (void *)(i + 1)) != 0)
      return 1;
  int n = 0;
  for (int tries = 0; tries < 2000 && (n = heaps()) < 2; tries++) {
    struct timespec ts = {0, 10 * 1000 * 1000};
    nanosleep(&ts, NULL);
  }
  atomic_store(&stop, true);
  for (size_t i = 0; i < 2; i++)
    pthread_join(t[i], NULL);
  if (n < 2)
    return 77;
  malloc_stats();
  printf("heaps: %d\n", n);
  return 0;
}
