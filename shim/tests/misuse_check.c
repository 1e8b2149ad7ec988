/*
 * misuse_check.c - runs one misuse case on the shim and judges it:
 *   misuse_check SHIM PROGRAM CASE CALL MODE
 * MODE abort (or default: ZONE_MISUSE unset) wants death by SIGABRT and, on
 * stderr, exactly "zone: CALL(): invalid pointer P" where P is the pointer the
 * program announced; warn wants the same line and a normal exit; ignore wants
 * a normal exit and nothing on stderr.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

/* Reads both pipes to their end (the child may fill either). */
static void drain(int out_fd, char *out, size_t out_cap, int err_fd, char *err, size_t err_cap) {
  size_t out_len = 0, err_len = 0;
  struct pollfd pf[2] = {{out_fd, POLLIN, 0}, {err_fd, POLLIN, 0}};
  int open_fds = 2;
  while (open_fds > 0) {
    if (poll(pf, 2, -1) < 0) {
      if (errno == EINTR)
        continue;
      break;
    }
    for (int i = 0; i < 2; i++) {
      if (pf[i].fd < 0 || pf[i].revents == 0)
        continue;
      char *buf = i == 0 ? out : err;
      size_t *len = i == 0 ? &out_len : &err_len;
      size_t cap = i == 0 ? out_cap : err_cap;
      char scratch[512];
      ssize_t n = read(pf[i].fd, scratch, sizeof scratch);
      if (n <= 0) {
        close(pf[i].fd);
        pf[i].fd = -1;
        open_fds--;
        continue;
      }
      size_t keep = (size_t)n < cap - 1 - *len ? (size_t)n : cap - 1 - *len;
      memcpy(buf + *len, scratch, keep);
      *len += keep;
    }
  }
  out[out_len] = '\0';
  err[err_len] = '\0';
}

int main(int argc, char **argv) {
  if (argc != 6) {
    fprintf(stderr, "usage: misuse_check SHIM PROGRAM CASE CALL abort|default|warn|ignore\n");
    return 2;
  }
  const char *shim = argv[1], *prog = argv[2], *kase = argv[3], *call = argv[4], *mode = argv[5];
  int out_pipe[2], err_pipe[2];
  if (pipe(out_pipe) != 0 || pipe(err_pipe) != 0)
    return 2;
  pid_t pid = fork();
  if (pid < 0)
    return 2;
  if (pid == 0) {
    struct rlimit no_core = {0, 0};
    setrlimit(RLIMIT_CORE, &no_core);  /* an abort here is the expected outcome */
    dup2(out_pipe[1], STDOUT_FILENO);
    dup2(err_pipe[1], STDERR_FILENO);
    close(out_pipe[0]);
    close(err_pipe[0]);
    setenv("LD_PRELOAD", shim, 1);
    if (strcmp(mode, "default") == 0)
      unsetenv("ZONE_MISUSE");
    else
      setenv("ZONE_MISUSE", mode, 1);
    execl(prog, prog, kase, (char *)NULL);
    _exit(127);
  }
  close(out_pipe[1]);
  close(err_pipe[1]);
  char out[4096], err[4096];
  drain(out_pipe[0], out, sizeof out, err_pipe[0], err, sizeof err);
  int status;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
    ;

  char pointer[64] = "";
  sscanf(out, "%63s", pointer);
  char want[256];
  snprintf(want, sizeof want, "zone: %s(): invalid pointer %s\n", call, pointer);
  printf("case %s, mode %s: pointer %s\n--- stdout\n%s--- stderr\n%s---\n", kase, mode, pointer, out, err);

  bool aborting = strcmp(mode, "abort") == 0 || strcmp(mode, "default") == 0;
  if (pointer[0] == '\0') {
    printf("FAIL: the program announced no pointer\n");
    return 1;
  }
  if (aborting) {
    if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGABRT) {
      printf("FAIL: wanted death by SIGABRT, got %s %d\n", WIFSIGNALED(status) ? "signal" : "exit",
             WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
      return 1;
    }
    if (strcmp(err, want) != 0) {
      printf("FAIL: wanted exactly this on stderr: %s", want);
      return 1;
    }
    if (strstr(out, "survived") != NULL) {
      printf("FAIL: the misused call returned\n");
      return 1;
    }
  } else {
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || strstr(out, "survived") == NULL) {
      printf("FAIL: wanted the program to carry on and exit 0\n");
      return 1;
    }
    const char *expected = strcmp(mode, "warn") == 0 ? want : "";
    if (strcmp(err, expected) != 0) {
      printf("FAIL: wanted on stderr: [%s]\n", expected);
      return 1;
    }
  }
  printf("ok\n");
  return 0;
}
