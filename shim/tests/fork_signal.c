/*
 * fork_signal.c - fork from a signal handler that interrupted malloc or free
 * in a single-threaded process (glibc's tst-mallocfork2 situation, our own
 * version). A helper process keeps sending SIGUSR1, one signal per step of
 * the main loop, which does nothing but free and malloc; the handler forks,
 * and the child allocates, frees a block made before the fork, and exits.
 * A deadlock is a hang (ctest's timeout); a child that can't allocate or
 * dies is a failure.
 *   fork_signal [signals]
 */
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

enum { SLOTS = 1009, MAX_SIZE = 70000 };

/* Shared with the sender: it sends the next signal once `steps` moves. */
struct shared {
  atomic_long steps;
  atomic_bool done;
};

static struct shared *shared;
static void *objects[SLOTS];
static volatile sig_atomic_t in_call;     /* inside malloc or free right now */
static volatile sig_atomic_t current_slot; /* the slot the main loop is changing */
static volatile sig_atomic_t handled, handled_in_call, child_failures;

static void on_usr1(int signo) {
  (void)signo;
  int saved = errno;
  handled++;
  if (in_call)
    handled_in_call++;
  pid_t pid = fork();
  if (pid == 0) {
    /* The child: allocate and free at once, and free a block made before. */
    for (int i = 0; i < 50; i++) {
      char *p = malloc((size_t)i * 100 + 1);
      if (p == NULL)
        _exit(3);
      p[0] = 1;
      free(p);
    }
    int k = handled % SLOTS;
    if (k == current_slot)
      k = (k + 1) % SLOTS;
    free(objects[k]);
    _exit(0);
  }
  if (pid > 0) {
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
      ;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
      child_failures++;
  } else {
    child_failures++;
  }
  errno = saved;
}

static void sender(pid_t target) {
  long seen = -1;
  struct timespec nap = {0, 0};
  unsigned seed = 5;
  while (!atomic_load(&shared->done)) {
    long now = atomic_load(&shared->steps);
    if (now == seen) {
      sched_yield();
      continue;
    }
    seen = now;
    /* A short, varying delay so that the signal lands at varying points. */
    nap.tv_nsec = rand_r(&seed) % 20000;
    nanosleep(&nap, NULL);
    if (kill(target, SIGUSR1) != 0)
      _exit(0);
  }
  _exit(0);
}

int main(int argc, char **argv) {
  long want = argc > 1 ? atol(argv[1]) : 2000;
  shared = mmap(NULL, sizeof *shared, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (shared == MAP_FAILED)
    return 2;
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_usr1;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGUSR1, &sa, NULL);

  pid_t me = getpid();
  pid_t helper = fork();
  if (helper == 0)
    sender(me);

  unsigned seed = 1;
  time_t start = time(NULL);
  long steps = 0;
  while (handled < want && time(NULL) - start < 60) {
    int slot = rand_r(&seed) % SLOTS;
    size_t size = (size_t)(rand_r(&seed) % MAX_SIZE);
    current_slot = slot;
    in_call = 1;
    free(objects[slot]);
    objects[slot] = malloc(size);
    in_call = 0;
    if (objects[slot] == NULL) {
      fprintf(stderr, "malloc(%zu) failed\n", size);
      return 1;
    }
    atomic_store(&shared->steps, ++steps);
  }
  atomic_store(&shared->done, true);
  kill(helper, SIGKILL);
  waitpid(helper, NULL, 0);
  signal(SIGUSR1, SIG_IGN);
  for (int i = 0; i < SLOTS; i++)
    free(objects[i]);
  printf("%ld steps, %d signals handled, %d inside malloc or free, %d failed children\n", steps,
         (int)handled, (int)handled_in_call, (int)child_failures);
  if (child_failures != 0 || handled < want / 2 || handled_in_call < 10) {
    fprintf(stderr, "fork_signal: not enough signals landed, or children failed\n");
    return 1;
  }
  return 0;
}
