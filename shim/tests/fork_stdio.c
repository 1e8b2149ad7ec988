/*
 * fork_stdio.c - fork against stdio and realloc under load, which must never
 * deadlock: one thread forks over and over, one calls fflush(NULL) (it holds
 * glibc's stdio list lock while it waits for each FILE's lock), and others
 * read lines with getline from their own FILE (which holds that FILE's lock
 * while it reallocs its buffer). A fork that took the allocator's lock before
 * the stdio list lock would close the cycle. Runs for SECONDS; the ctest
 * timeout catches a hang.
 *
 * Usage: fork_stdio SECONDS
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static volatile int stop;

static void *reader(void *arg) {
  (void)arg;
  char text[4096];
  memset(text, 'x', sizeof text);
  for (size_t i = 63; i < sizeof text; i += 64)
    text[i] = '\n';
  while (!stop) {
    FILE *f = fmemopen(text, sizeof text, "r");
    if (f == NULL)
      abort();
    char *line = NULL;
    size_t cap = 0;
    while (getline(&line, &cap, f) > 0) {
      free(line);  /* so that every getline reallocs */
      line = NULL;
      cap = 0;
    }
    free(line);
    fclose(f);
  }
  return NULL;
}

static void *flusher(void *arg) {
  (void)arg;
  while (!stop)
    fflush(NULL);
  return NULL;
}

int main(int argc, char **argv) {
  int seconds = argc > 1 ? atoi(argv[1]) : 5;
  pthread_t t[4];
  for (int k = 0; k < 3; k++)
    if (pthread_create(&t[k], NULL, reader, NULL) != 0)
      return 1;
  if (pthread_create(&t[3], NULL, flusher, NULL) != 0)
    return 1;
  time_t end = time(NULL) + seconds;
  long forks = 0;
  while (time(NULL) < end) {
    pid_t pid = fork();
    if (pid < 0)
      return 1;
    if (pid == 0) {
      free(malloc(100));
      _exit(0);
    }
    int status;
    if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
      return 1;
    forks++;
  }
  stop = 1;
  for (int k = 0; k < 4; k++)
    pthread_join(t[k], NULL);
  printf("fork_stdio: %ld forks in %d s with stdio and realloc alongside: ok\n", forks, seconds);
  return 0;
}
