/*
 * fork_stress.c - forks hundreds of times while other threads allocate and
 * free. Every child must be able to allocate and free at once (the fork
 * handlers hand it a zone no thread was changing, with its lock free), start
 * a thread of its own, and exit through exit() (destructors and all) or
 * _exit(). The allocating threads check a pattern in every block they free.
 *   fork_stress [forks] [threads]
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

enum { SLOTS = 512 };

static atomic_bool stop;
static atomic_long bad_blocks;
static atomic_long thread_ops;

struct block {
  unsigned char *p;
  size_t n;
  unsigned char tag;
};

static void fill(struct block *b, size_t n, unsigned char tag) {
  b->p = malloc(n);
  b->n = n;
  b->tag = tag;
  if (b->p != NULL)
    memset(b->p, tag, n);
}

/* Frees b after checking its pattern; false if it was damaged. */
static int release(struct block *b) {
  int ok = 1;
  for (size_t i = 0; i < b->n; i += 61)
    if (b->p[i] != b->tag)
      ok = 0;
  free(b->p);
  b->p = NULL;
  return ok;
}

static void *churn(void *arg) {
  unsigned seed = (unsigned)(uintptr_t)arg;
  struct block slot[SLOTS];
  memset(slot, 0, sizeof slot);
  while (!atomic_load(&stop)) {
    int i = rand_r(&seed) % SLOTS;
    if (slot[i].p != NULL && !release(&slot[i]))
      atomic_fetch_add(&bad_blocks, 1);
    size_t n = (size_t)(rand_r(&seed) % 4096) + (rand_r(&seed) % 64 == 0 ? 200000 : 0);
    fill(&slot[i], n, (unsigned char)rand_r(&seed));
    atomic_fetch_add(&thread_ops, 1);
  }
  for (int i = 0; i < SLOTS; i++)
    if (slot[i].p != NULL && !release(&slot[i]))
      atomic_fetch_add(&bad_blocks, 1);
  return NULL;
}

static void *child_thread(void *arg) {
  (void)arg;
  for (int i = 0; i < 200; i++)
    free(malloc((size_t)i * 13));
  return NULL;
}

/* What a child does: allocate and free at once, from two threads. */
static int child_work(unsigned seed) {
  struct block b[100];
  for (int i = 0; i < 100; i++)
    fill(&b[i], (size_t)(rand_r(&seed) % 10000), (unsigned char)i);
  pthread_t t;
  if (pthread_create(&t, NULL, child_thread, NULL) != 0)
    return 3;
  int ok = 1;
  for (int i = 0; i < 100; i++)
    ok &= b[i].p != NULL && release(&b[i]);
  pthread_join(t, NULL);
  return ok ? 0 : 4;
}

int main(int argc, char **argv) {
  int forks = argc > 1 ? atoi(argv[1]) : 300;
  int nthreads = argc > 2 ? atoi(argv[2]) : 3;
  pthread_t threads[16];
  if (nthreads > 16)
    nthreads = 16;
  for (int t = 0; t < nthreads; t++)
    pthread_create(&threads[t], NULL, churn, (void *)(uintptr_t)(t + 1));

  int failed = 0;
  for (int k = 0; k < forks; k++) {
    pid_t pid = fork();
    if (pid < 0) {
      perror("fork");
      failed++;
      continue;
    }
    if (pid == 0) {
      int rc = child_work((unsigned)k);
      if (k % 2 == 0)
        exit(rc);  /* through the destructors, the shim's included */
      _exit(rc);
    }
    int status;
    if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
      fprintf(stderr, "fork %d: child ended with status %#x\n", k, status);
      failed++;
    }
  }
  atomic_store(&stop, true);
  for (int t = 0; t < nthreads; t++)
    pthread_join(threads[t], NULL);
  printf("%d forks, %d failed children, %ld thread operations, %ld damaged blocks\n", forks, failed,
         atomic_load(&thread_ops), atomic_load(&bad_blocks));
  return failed == 0 && atomic_load(&bad_blocks) == 0 && atomic_load(&thread_ops) > 0 ? 0 : 1;
}
