/*
 * misuse.c - one misuse of the allocator per run, named by argv[1]: double
 * frees, frees and reallocs of interior, stack, static, wild, mapped and
 * already freed pointers. Prints the pointer it is about to pass (as %p) on
 * stdout first, and "survived" if the call returns (a _then_free case: if
 * the free after it returns too, where a deferred free's misuse is found at
 * the latest). misuse_check runs it on the shim and judges the outcome.
 */
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

static char static_buffer[64];

/* Tells the checker which pointer the call gets. */
static void *announce(void *p) {
  printf("%p\n", p);
  return p;
}

/* Keeps the compiler from seeing through the misuse (it may warn or fold it). */
static void *opaque(void *p) {
  __asm__ volatile("" : "+r"(p));
  return p;
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: misuse CASE\n");
    return 2;
  }
  /* Unbuffered: a stdout buffer allocated after a free would take the freed
   * block's place (first fit), and the double free would free it instead. */
  setvbuf(stdout, NULL, _IONBF, 0);
  const char *c = argv[1];
  char stack_buffer[64];
  memset(stack_buffer, 0, sizeof stack_buffer);
  void *r = NULL;

  if (strcmp(c, "free_double") == 0) {
    void *p = malloc(40);
    free(p);
    free(opaque(announce(p)));
  } else if (strcmp(c, "free_double_large") == 0) {
    void *p = malloc((size_t)8 << 20);  /* glibc maps this apart and misses it */
    memset(p, 1, (size_t)8 << 20);
    free(p);
    free(opaque(announce(p)));
  } else if (strcmp(c, "free_double_mapped_block") == 0) {
    /* A block of a mapping of its own (ZONE_MMAP_THRESHOLD, 32 MiB by
     * default): its record is kept apart from it, as the zones' are. */
    void *p = malloc((size_t)64 << 20);
    memset(p, 1, 4096);
    free(p);
    free(opaque(announce(p)));
  } else if (strcmp(c, "free_interior_mapped_block") == 0) {
    char *p = malloc((size_t)64 << 20);
    free(opaque(announce(p + 4096)));
  } else if (strcmp(c, "realloc_freed_mapped_block") == 0) {
    void *p = malloc((size_t)64 << 20);
    free(p);
    r = realloc(opaque(announce(p)), (size_t)100 << 20);
  } else if (strcmp(c, "usable_size_interior_mapped_block") == 0) {
    char *p = malloc((size_t)40 << 20);
    printf("%zu\n", malloc_usable_size(opaque(announce(p + 16))));
  } else if (strcmp(c, "free_interior") == 0) {
    char *p = malloc(100);
    free(opaque(announce(p + 16)));  /* a granule boundary inside the block */
  } else if (strcmp(c, "free_interior_then_free") == 0) {
    char *p = malloc(100);
    free(opaque(announce(p + 16)));
    free(malloc(1));
  } else if (strcmp(c, "free_interior_large_zone_then_free") == 0 ||
             strcmp(c, "free_interior_large_zone") == 0) {
    /* The zone grown past what ZONE_FREE_DEFER=1 defers frees in (by
     * blocks below ZONE_MMAP_THRESHOLD, which stay in the zone); the bad
     * free the run's last, or followed by another. */
    void *big[3];
    for (int i = 0; i < 3; i++)
      big[i] = malloc((size_t)30 << 20);
    char *p = malloc(100);
    free(opaque(announce(p + 16)));
    printf("after the bad free\n");
    if (strcmp(c, "free_interior_large_zone_then_free") == 0) {
      free(malloc(1));
      for (int i = 0; i < 3; i++)
        free(big[i]);
    }
  } else if (strcmp(c, "free_interior_odd") == 0) {
    char *p = malloc(100);
    free(opaque(announce(p + 5)));
  } else if (strcmp(c, "free_stack") == 0) {
    free(opaque(announce(stack_buffer)));
  } else if (strcmp(c, "free_static") == 0) {
    free(opaque(announce(static_buffer)));
  } else if (strcmp(c, "free_wild") == 0) {
    free(opaque(announce((void *)(uintptr_t)0xdeadbee0)));
  } else if (strcmp(c, "free_mapped") == 0) {
    void *m = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    free(opaque(announce(m)));
  } else if (strcmp(c, "free_after_reuse") == 0) {
    /* The freed block's space is taken by a smaller block: the old pointer
     * is now inside or beside a live block, still not one to free. */
    char *p = malloc(256);
    free(p);
    char *q = malloc(64);
    (void)q;
    free(opaque(announce(p == q ? p + 128 : p)));
  } else if (strcmp(c, "free_after_reuse_then_free") == 0) {
    char *p = malloc(256);
    free(p);
    char *q = malloc(64);
    free(opaque(announce(p == q ? p + 128 : p)));
    free(malloc(1));
  } else if (strcmp(c, "realloc_interior") == 0) {
    char *p = malloc(100);
    r = realloc(opaque(announce(p + 32)), 200);
  } else if (strcmp(c, "realloc_stack") == 0) {
    r = realloc(opaque(announce(stack_buffer)), 10);
  } else if (strcmp(c, "realloc_wild") == 0) {
    r = realloc(opaque(announce((void *)(uintptr_t)0x7ead0000)), 10);
  } else if (strcmp(c, "realloc_freed") == 0) {
    void *p = malloc(100);
    free(p);
    r = realloc(opaque(announce(p)), 300);
  } else if (strcmp(c, "realloc_zero_freed") == 0) {
    void *p = malloc(100);
    free(p);
    r = realloc(opaque(announce(p)), 0);  /* a free in disguise */
  } else if (strcmp(c, "usable_size_freed") == 0) {
    void *p = malloc(100);
    free(p);
    printf("%zu\n", malloc_usable_size(opaque(announce(p))));
  } else {
    fprintf(stderr, "misuse: unknown case %s\n", c);
    return 2;
  }
  printf("survived %p\n", r);
  return 0;
}
