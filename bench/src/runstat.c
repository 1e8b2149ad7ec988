/*
 * runstat.c - runs one command and reports its wall time, CPU time and peak
 * RSS, as the runner's measuring parent.
 *
 * Why not measure from python directly: Linux carries the peak RSS of the
 * address space a process had before exec into its ru_maxrss, so a child
 * forked from the ~15 MB python runner never reports less than that. This
 * helper is small, so the command it forks and execs starts from a peak of a
 * few hundred KiB. It also keeps the allocator under test out of itself: the
 * preload is taken from BENCH_PRELOAD and set as LD_PRELOAD in the child only.
 *
 * usage: runstat OUTFILE command [args...]
 * Writes "wall_s=<s> cpu_s=<s> maxrss_kb=<n> status=<wait status>" to
 * OUTFILE and exits with the command's exit code (128 + signal if killed).
 * SIGTERM and SIGINT are passed on to the command, and the command dies with
 * this helper (PR_SET_PDEATHSIG), so killing the helper never leaves a server
 * behind.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t child_pid;

static void pass_on(int sig) {
  if (child_pid > 0)
    kill((pid_t)child_pid, sig);
}

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: %s OUTFILE command [args...]\n", argv[0]);
    return 2;
  }
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = pass_on;
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);

  const char *preload = getenv("BENCH_PRELOAD");
  double t0 = now();
  pid_t pid = fork();
  if (pid < 0) {
    perror("runstat: fork");
    return 127;
  }
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    unsetenv("BENCH_PRELOAD");
    if (preload != NULL && preload[0] != '\0')
      setenv("LD_PRELOAD", preload, 1);
    execvp(argv[2], &argv[2]);
    fprintf(stderr, "runstat: %s: %s\n", argv[2], strerror(errno));
    _exit(127);
  }
  child_pid = pid;
  int status = 0;
  struct rusage ru;
  while (wait4(pid, &status, 0, &ru) < 0) {
    if (errno != EINTR) {
      perror("runstat: wait4");
      return 127;
    }
  }
  double wall = now() - t0;
  FILE *out = fopen(argv[1], "w");
  if (out == NULL) {
    perror("runstat: output file");
    return 127;
  }
  fprintf(out, "wall_s=%.6f cpu_s=%.6f maxrss_kb=%ld status=%d\n", wall,
          (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec * 1e-6 +
              (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec * 1e-6,
          ru.ru_maxrss, status);
  fclose(out);
  if (WIFEXITED(status))
    return WEXITSTATUS(status);
  return 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}
