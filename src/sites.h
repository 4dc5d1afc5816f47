/* sites: interned filenames, frames and tracebacks ("sites"), and the live
 * statistics of every site.
 *
 * Contract
 * - Ids are small integers starting at 1; 0 means "none" (and is what the
 *   intern functions return when memory is missing).
 * - A frame is (filename id, line number, function name id); filenames
 *   and function names share one table of names.  A site is a domain and a
 *   traceback: up to nframe frame ids, most recent first.  Domain 0 holds
 *   the blocks of CPython's allocators; the others, blocks reported by
 *   extensions (numpy's array data: 389047), as in stdlib tracemalloc.
 *   Interning the same content twice gives the same id, so the statistics
 *   of one line (or one traceback) of a domain live in exactly one place.
 * - Locking: sites_lock() guards every intern function and the filename and
 *   frame tables.  Site records never move once created, so site_get() is
 *   lock-free.  A site's gil_* counters are guarded by the GIL (MEM and OBJ
 *   domains), its raw_* counters by the hooks' raw lock (RAW domain).
 *   Lock order: raw lock, then sites lock.
 * - sites_reset() forgets everything; the caller holds the GIL, the raw lock
 *   and the sites lock, so no hook can hold an id across it.
 * - Memory comes from rawmem only.
 */
#ifndef PYTRACEMALLOC_SITES_H
#define PYTRACEMALLOC_SITES_H

#include <stddef.h>
#include <stdint.h>

#define SITES_CHUNK_BITS 12
#define SITES_CHUNK_SIZE (1u << SITES_CHUNK_BITS)
#define SITES_MAX_CHUNKS 16384u

/* A frame: where (filename and line) and in which function.  Two
   functions on one line (a comprehension on 3.11, a lambda) are two
   frames; line_id, the first frame interned with that filename and line,
   is what read-outs by line add up on. */
typedef struct {
    uint32_t filename_id;
    int32_t lineno;
    uint32_t function_id; /* a name id (co_qualname), 0: no name */
    uint32_t line_id;
} tm_frame;

typedef struct {
    size_t gil_size; /* guarded by the GIL */
    size_t gil_count;
    size_t raw_size; /* guarded by the raw lock */
    size_t raw_count;
    /* Sampled mode: the estimated variance of the size estimate (the
       sum over the site's sampled blocks of (1 - p) / p^2 * s^2), each
       side under its lock as the counters above. */
    double gil_variance;
    double raw_variance;
    uint64_t hash;
    uint32_t next_same_hash; /* chain of sites whose hash collides */
    uint32_t nframe;
    uint32_t domain;
    uint32_t inline_frame; /* storage for the common nframe == 1 */
    uint32_t *frames;      /* nframe frame ids, most recent first */
} tm_site;

typedef struct {
    const char *utf8;
    size_t length;
} tm_filename;

extern tm_site *sites_chunks[SITES_MAX_CHUNKS];

int sites_init(void);
void sites_lock(void);
void sites_unlock(void);
/* Re-create the lock in a child process after fork(). */
void sites_after_fork_child(void);

/* A name (a filename or a function's qualified name): length UTF-8
   bytes. */
uint32_t sites_intern_filename(const char *utf8, size_t length);
uint32_t sites_intern_frame(uint32_t filename_id, int lineno,
                            uint32_t function_id);
/* A site of domain 0. */
uint32_t sites_intern_traceback(const uint32_t *frame_ids, uint32_t nframe);
uint32_t sites_intern_traceback_in_domain(uint32_t domain,
                                          const uint32_t *frame_ids,
                                          uint32_t nframe);
/* The site with the traceback of site_id in `domain`: site_id itself for
   the site's own domain, else one hash probe once known. */
uint32_t sites_with_domain(uint32_t site_id, uint32_t domain);
/* The frame ("<unknown>", 0) for blocks allocated with no Python frame. */
uint32_t sites_unknown_frame(void);

/* Number of ids handed out so far, plus one: valid ids are 1..count-1. */
uint32_t sites_site_limit(void);
uint32_t sites_frame_limit(void);
tm_frame sites_frame(uint32_t frame_id);
tm_filename sites_filename(uint32_t filename_id);

static inline tm_site *
site_get(uint32_t site_id)
{
    return &sites_chunks[site_id >> SITES_CHUNK_BITS]
                        [site_id & (SITES_CHUNK_SIZE - 1)];
}

void sites_reset(void);
/* Incremented by every sites_reset(): an id remembered with the
   generation it was read in is valid while the generation is the same
   (read it under the raw lock, which sites_reset's callers hold). */
extern unsigned long sites_generation;
#endif
