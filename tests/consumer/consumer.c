/*
 * consumer.c - a program outside the libzone tree, built against an installed
 * libzone (CMake package or pkg-config). It checks the basics that prove the
 * header, the library and the version macros arrived together and work.
 */
#include <zone.h>

#include <stdio.h>
#include <string.h>

int main(void) {
  if (ZONE_VERSION_MAJOR != 0 || ZONE_VERSION_MINOR < 1) {
    fprintf(stderr, "consumer: unexpected libzone version %d.%d\n", ZONE_VERSION_MAJOR,
            ZONE_VERSION_MINOR);
    return 1;
  }
  zone_t *z = create_zone(4096);
  if (z == NULL) {
    perror("consumer: create_zone");
    return 1;
  }
  char *a = zalloc(z, 100);
  char *b = zalloc(z, 10);
  if (a == NULL || b == NULL || b != a + 112 || zone_block_size(z, a) != 112) {
    fprintf(stderr, "consumer: blocks not placed by first fit\n");
    return 1;
  }
  strcpy(b, "first fit");
  zfree(z, a);
  char *c = zalloc(z, 50);  /* first fit: back to where a was */
  if (c != a || zone_check(z) != 0) {
    fprintf(stderr, "consumer: freed space not reused first\n");
    return 1;
  }
  zone_stats_t st;
  zone_stats(z, &st);
  printf("consumer: libzone %d.%d.%d, %s: size=%zu used=%zu blocks=%zu\n", ZONE_VERSION_MAJOR,
         ZONE_VERSION_MINOR, ZONE_VERSION_PATCH, b, st.size, st.used, st.blocks);
  destroy_zone(z);
  return 0;
}
