/*
 * lock.h - the zone lock. A zone created with ZONE_UNLOCKED skips it; the
 * others take it around every operation. Nothing here allocates, so the lock
 * is safe inside the malloc shim.
 */
#ifndef ZONE_LOCK_H
#define ZONE_LOCK_H

#include <pthread.h>

typedef struct zone__lock {
  pthread_mutex_t mutex;
} zone__lock_t;

static inline void zone__lock_init(zone__lock_t *l) {
  pthread_mutex_init(&l->mutex, NULL);
}
static inline void zone__lock_acquire(zone__lock_t *l) {
  pthread_mutex_lock(&l->mutex);
}
static inline void zone__lock_release(zone__lock_t *l) {
  pthread_mutex_unlock(&l->mutex);
}
static inline void zone__lock_destroy(zone__lock_t *l) {
  pthread_mutex_destroy(&l->mutex);
}

#endif /* ZONE_LOCK_H */
