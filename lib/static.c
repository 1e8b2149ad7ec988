/*
 * static.c - the whole core as one translation unit (mimalloc's static.c):
 * the compiler sees every file at once and inlines across them, so splitting
 * the core by concern costs the hot paths nothing. The build compiles this
 * file instead of the others unless ZONE_SINGLE_TU is off.
 */
#include "report.c"
#include "os.c"
#include "tree.c"
#include "reach.c"
#include "index.c"
#include "remote.c"
#include "trim.c"
#include "checker.c"
#include "grow.c"
#include "inspect.c"
#include "zone.c"
