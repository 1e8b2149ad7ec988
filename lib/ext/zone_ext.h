/*
 * zone_ext.h - the narrow internal API that the malloc shim and the tools
 * use beside zone.h: what only a process-wide allocator needs (memory return,
 * a dump to a file descriptor, the fork protocol, a lookup that takes no lock,
 * the thread's lock waits and the zone's address span, which tell a
 * multi-zone allocator when to spread threads and which zone owns a block,
 * the page size). Not installed, not exported from libzone.so: the shim links
 * the core's objects directly. Nothing here exposes a struct field.
 */
#ifndef ZONE_EXT_H
#define ZONE_EXT_H

#include "zone.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- trim.c: memory back to the OS ---------------------------------------- */

/* Gives the whole pages inside free runs of at least min_bytes back to the
 * OS (they read as zero when next used); returns the bytes released. Pages
 * given back by an earlier call and not taken since are skipped: they are
 * still given back, and not counted again. These calls (and the decay's look
 * below) have no error to report and keep errno. */
size_t zone__trim(zone_t *z, size_t min_bytes);
/* As zone__trim, but the lowest keep_bytes of the pages it would give back
 * stay: first fit takes the lowest free memory first, so they are the pages
 * a program that grows again uses first. */
size_t zone__trim_keep(zone_t *z, size_t min_bytes, size_t keep_bytes);
/* Bytes given back by zone__trim that blocks were taken over again since, all
 * along: how much of what was returned came back (to tell a program whose
 * usage swings from one that shrank for good). */
size_t zone__trim_reused(zone_t *z);
/* The look of a decay: gives back the whole free pages of the chunks (8 KiB
 * of the zone) in which a free left a bitmap word wholly free before the
 * last look and none since, the pages found free now; the chunks freed into
 * since then wait for the next look. So a page goes back after it has
 * stayed free from one look to the next with no free into its chunk in
 * between, whatever the size of its free run, and a page taken again in
 * between stays. Returns the bytes released; a look with nothing
 * freed since the last one costs a few loads per extent. *handed_out gets
 * the bytes of the zone that blocks have ever covered (each extent's low
 * part up to the highest granule handed out): its growth is what the
 * program's first touches can come to. */
size_t zone__trim_freed(zone_t *z, size_t *handed_out);

/* ---- zone.c: fork and lock-free lookup -------------------------------------- */

/* Around fork(): the prepare handler takes the zone's lock, the parent
 * releases it, the child makes it new whatever state the parent left. */
void zone__fork_lock(zone_t *z);
void zone__fork_unlock(zone_t *z);
void zone__fork_reinit(zone_t *z);
/* In a fork child whose parent held every zone's lock through the fork:
 * zone__fork_reinit, then the frees other threads had handed over (below)
 * applied, those whose pusher was stopped halfway by the fork left out. */
void zone__fork_child(zone_t *z);
/* For a zone no thread changes any more (frozen in a fork child): whether p
 * lies inside it, and if so *usable gets the bytes from p that can be read
 * (its block, or up to its extent's end when p starts none). Takes no lock. */
bool zone__lookup_unlocked(const zone_t *z, const void *p, size_t *usable);
/* zfree of p (not NULL) if z's span (below) holds it: NULL once its block
 * is freed; p itself when no live block of z starts there (zfree's EINVAL)
 * or, with nothing touched, not even the lock, when the span does not hold
 * it. The free of a process with several zones, whose blocks mostly belong
 * to the caller's own, in one call. p comes first, as free's caller passes
 * it, and is handed back, not an error code, so that a caller that handles
 * the refusal moves no register and keeps nothing across the call. */
void *zone__free_held(void *p, zone_t *z);
/* zalloc for z not NULL and 1 <= bytes <= ZONE_ALLOC_SIZED_MAX (the
 * largest extent's bytes), without zalloc's own tests of those (the malloc
 * shim's hot path makes them anyway); the same result otherwise. The size
 * comes first, as malloc's caller passes it: the shim's call moves no
 * register. */
#define ZONE_ALLOC_SIZED_MAX ((size_t)1 << 35)
void *zone__alloc_sized(size_t bytes, zone_t *z);
/* The same for a zone whose span needs no test (the caller's only zone):
 * zfree of p, z and p not NULL, with p handed back when no live block of z
 * starts there. */
void *zone__free_known(void *p, zone_t *z);

/* zone_block_size(z, p), z and p not NULL, with a short path for the
 * zone's first extent (malloc_usable_size, which some programs call at every
 * allocation and free). */
size_t zone__block_size_known(const void *p, zone_t *z);

/* Whether the zone defers the frees made through zone__free_known and
 * zone__free_held (the shim's ZONE_FREE_DEFER): such a free fetches its
 * block's bookkeeping without waiting for it and is done at the next call
 * into the zone, so that a free in a large zone waits for no cache miss.
 * Every call sees the zone as if the free had been done at once (the
 * lowest fit stays exact); only a pointer that starts no block is found out
 * later, when its free is done (at the next such free, at an allocation
 * whose lowest fit it could change, or at any other call into the zone),
 * and handed to zone__refused_late. A pointer
 * outside the zone's first extent, one with no granule's alignment and the
 * block whose free is waiting (a double free) are refused at once. A zone
 * with a heap checker never defers, nor one whose first extent is smaller
 * than min_bytes (its bookkeeping then mostly stays in cache, and deferring
 * would only cost allocations a second search now and then). */
void zone__defer_frees(zone_t *z, bool on, size_t min_bytes);
/* Called, the zone's lock held, with the pointer of a free made after its
 * call (deferred, or handed over: zone__remote_push) that starts no block
 * when that free is done; NULL: nobody is told. It must not call into the
 * zone. */
extern void (*zone__refused_late)(void *p);

/* Times this thread waited for a zone's lock (another thread held it) since
 * the caller last set it to 0: a caller reads it after its calls to see
 * contention. Written only on the lock's slow path, so a free lock costs
 * nothing. */
extern __thread unsigned zone__lock_waits __attribute__((tls_model("initial-exec")));

/* ---- remote.c: frees handed over without the lock ----------------------------- */

/* Hands the free of p (a block of z, as far as the caller knows) to whichever
 * thread next takes z's lock, without taking it: 0 once queued. That thread
 * applies it before anything else it does under the lock, so every call on z
 * sees every free handed over before it. EAGAIN when it can't be (the ring is
 * full or could not be mapped, z is ZONE_UNLOCKED or under a heap checker):
 * the caller frees p itself. A p that is no live block of z when it is
 * applied (zfree's EINVAL) goes to zone__refused_late, from the thread that
 * applies it. */
int zone__remote_push(zone_t *z, void *p);
/* zfree of p, z and p not NULL, without waiting for z's lock: when the lock is
 * free, the free is made at once (0, or EINVAL as zfree says); when another
 * thread holds it, the free is handed over (zone__remote_push, 0), and only
 * when that can't be done does the call wait for the lock. */
int zone__free_or_hand_over(zone_t *z, void *p);

/* ---- grow.c: the zone's address span ------------------------------------------ */

/* The range [lo, hi) that holds every extent the zone has mapped (0, 0 for
 * none yet). It only grows, and is read without the lock: a block this thread
 * knows of (it got its address from the thread that allocated it, through
 * any synchronisation) lies inside it. Zones' spans may overlap (an extent
 * mapped wherever the kernel put it), so the span narrows an owner down; the
 * zone's own calls (zfree, zone_block_size) decide exactly. */
void zone__span(const zone_t *z, uintptr_t *lo, uintptr_t *hi);
/* Whether p lies inside the zone's span. */
bool zone__span_holds(const zone_t *z, const void *p);
/* How many times any zone's span has grown in this process: while the count
 * stays, every span read before it is still current. A thread that got a
 * block's address from the thread that allocated it sees every growth that
 * came before that block (the count is raised after the span, with release;
 * read it with acquire). */
extern _Atomic unsigned long zone__span_changes;

/* ---- inspect.c: looking inside ---------------------------------------------- */

/* Writes the zdump text to a file descriptor with no stdio and no malloc,
 * holding the lock throughout; tag (NULL for none), such as "pid=1 prog=ls",
 * ends the header line. 0, or EINVAL for a NULL zone or bad fd. */
int zone__dump_fd(const zone_t *z, int fd, const char *tag);
/* Bytes in live blocks (zone_stats' used) without the rest of zone_stats:
 * a read under the lock, for a check made every few dozen calls. */
size_t zone__used_bytes(const zone_t *z);
/* The zone's extents (mappings) right now. */
size_t zone__extent_count(const zone_t *z);
/* The bytes of the zone's bookkeeping: its record's pages up to its last
 * extent in use and the pages in use of each extent's index, the marks of
 * returned pages included (the record's extents never used, a book's room
 * beyond its pages in use, and the summary tree's padding are address space
 * only). */
size_t zone__bookkeeping_bytes(const zone_t *z);

/* ---- os.c ------------------------------------------------------------------- */

size_t zone__os_page_size(void);

#endif /* ZONE_EXT_H */
