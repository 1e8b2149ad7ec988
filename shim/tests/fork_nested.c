/*
 * fork_nested.c - a signal handler forks while the main thread is inside
 * fork() itself, between the allocator's prepare and parent handlers (where
 * the zone's lock is held on the thread's behalf). Before each fork the main
 * loop arms a one-shot timer a varying few microseconds ahead, so some signals
 * land in that window; each handler forks a child that allocates and frees.
 * A deadlock is a hang (ctest's timeout); a failed child is a failure.
 *   fork_nested [forks]
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile sig_atomic_t handled, failures;

/* Forks a child that allocates and frees; waits for it; counts a failure. */
static void fork_and_wait(size_t bytes) {
  pid_t pid = fork();
  if (pid == 0) {
    char *p = malloc(bytes);
    if (p == NULL)
      _exit(3);
    p[0] = 1;
    free(p);
    _exit(0);
  }
  if (pid < 0) {
    failures++;
    return;
  }
  int status;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
    ;
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    failures++;
}

static void on_alarm(int signo) {
  (void)signo;
  int saved = errno;
  handled++;
  fork_and_wait(100);
  errno = saved;
}

int main(int argc, char **argv) {
  int forks = argc > 1 ? atoi(argv[1]) : 400;
  void *keep = malloc(1000); /* the default zone and its fork handlers exist */
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_alarm;
  sa.sa_flags = SA_RESTART;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGALRM, &sa, NULL);
  for (int i = 0; i < forks; i++) {
    struct itimerval once = {{0, 0}, {0, 1 + (i * 37) % 400}};
    setitimer(ITIMER_REAL, &once, NULL);
    fork_and_wait(50);
  }
  struct itimerval stop = {{0, 0}, {0, 0}};
  setitimer(ITIMER_REAL, &stop, NULL);
  free(keep);
  printf("%d forks, %d signals handled, %d failed children\n", forks, (int)handled,
         (int)failures);
  return failures == 0 && handled > 0 ? 0 : 1;
}
