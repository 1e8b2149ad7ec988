/*
 * replay.c - runs the fuzz target over files without libFuzzer: each argument
 * is a file or a directory of files (one level), fed to LLVMFuzzerTestOneInput
 * in name order. Lets any compiler and any sanitizer build replay the seed
 * corpus and the saved findings as a regression test (ctest zone.fuzz.corpus).
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int replay_file(const char *path) {
  FILE *f = fopen(path, "rb");
  if (f == NULL) {
    perror(path);
    return 1;
  }
  size_t cap = 4096, len = 0;
  uint8_t *data = malloc(cap);
  size_t n;
  while (data != NULL && (n = fread(data + len, 1, cap - len, f)) > 0) {
    len += n;
    if (len == cap) {
      uint8_t *more = realloc(data, cap *= 2);
      if (more == NULL)
        free(data);
      data = more;
    }
  }
  fclose(f);
  if (data == NULL) {
    fprintf(stderr, "%s: out of memory\n", path);
    return 1;
  }
  LLVMFuzzerTestOneInput(data, len);
  free(data);
  return 0;
}

static int by_name(const struct dirent **a, const struct dirent **b) {
  return strcmp((*a)->d_name, (*b)->d_name);
}

int main(int argc, char **argv) {
  int failed = 0;
  size_t inputs = 0;
  for (int i = 1; i < argc; i++) {
    struct stat st;
    if (stat(argv[i], &st) != 0) {
      perror(argv[i]);
      return 1;
    }
    if (!S_ISDIR(st.st_mode)) {
      failed |= replay_file(argv[i]);
      inputs++;
      continue;
    }
    struct dirent **names;
    int count = scandir(argv[i], &names, NULL, by_name);
    if (count < 0) {
      perror(argv[i]);
      return 1;
    }
    for (int k = 0; k < count; k++) {
      char path[4096];
      snprintf(path, sizeof path, "%s/%s", argv[i], names[k]->d_name);
      if (names[k]->d_name[0] != '.' && stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
        failed |= replay_file(path);
        inputs++;
      }
      free(names[k]);
    }
    free(names);
  }
  printf("replayed %zu inputs\n", inputs);
  return failed || inputs == 0;
}
