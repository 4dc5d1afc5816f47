/* traces: the table of live traced blocks, and the counters it keeps.
 *
 * Contract
 * - A trace_table maps a block address to (size, site id) in 16 bytes a
 *   block: size and site are packed in one 64-bit value.  Blocks of 4 GiB
 *   or more keep their size in a small side map.
 * - Adding or removing a block updates, in the same step, the block's site
 *   counters (gil_* or raw_* by the table's kind), the table's total and
 *   the shared peak: statistics are always live, never recomputed.  They
 *   count each block with its weights (sampling.h): its size and one block
 *   in exact mode, its estimated share in sampled mode; the table itself
 *   keeps the true size.
 * - Locking is the caller's: the GIL for the MEM/OBJ table, the table lock
 *   (hooks.c) for the RAW table and for the table of blocks reported by
 *   extensions (TRACES_EXT).  The totals and the peak are atomics so that any
 *   thread may read them.
 * - traces_add returns 0, or -1 when the table could not grow (nothing is
 *   recorded then); traces_remove returns 1 when the block was traced.
 * - An entry is live (site id >= 1), parked (site 0: kept in a CPython free
 *   list, counted nowhere) or dead (value 0: freed, its key kept so the
 *   address finds its slot again in one probe).
 */
#ifndef PYTRACEMALLOC_TRACES_H
#define PYTRACEMALLOC_TRACES_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "u64map.h"

typedef struct {
    u64map blocks;    /* address -> size << 32 | site id */
    u64map big_sizes; /* address -> size, for sizes >= 4 GiB */
    /* TRACES_GIL: gil_* site counters, the GIL; TRACES_RAW and TRACES_EXT
       (blocks reported by extensions): raw_* counters, the table lock. */
    int kind;
    atomic_size_t total_size;
} trace_table;

enum { TRACES_GIL = 0, TRACES_RAW = 1, TRACES_EXT = 2, TRACES_KINDS = 3 };

int traces_init(trace_table *table, int kind);
int traces_add(trace_table *table, uintptr_t address, size_t size,
               uint32_t site_id);
int traces_remove(trace_table *table, uintptr_t address, size_t *size,
                  uint32_t *site_id);
/* Whether the address is in the table, live or parked. */
int traces_holds(const trace_table *table, uintptr_t address);
/* Find a block without removing it; 1 if found. */
int traces_lookup(trace_table *table, uintptr_t address, size_t *size,
                  uint32_t *site_id);
/* Free lists.  A block that CPython keeps in a free list instead of
   freeing it is "parked": it stays in the table (site 0) but out of every
   statistic, until it is reused (traces_move gives it a site again) or
   really freed.  traces_park returns 1 when a live block was parked;
   traces_move returns 1 when a parked or live block now belongs to
   site_id, 0 when the address is not traced. */
int traces_park(trace_table *table, uintptr_t address);
int traces_move(trace_table *table, uintptr_t address, uint32_t site_id);
/* Forget every block (site counters are reset by sites_reset). */
void traces_reset(trace_table *table);
size_t traces_count(const trace_table *table);

/* Traced bytes in all tables, and the highest value seen since the last
   traces_reset_peak() (whose caller holds the GIL and the raw lock: it
   writes the peak each side keeps). */
size_t traces_current(void);
size_t traces_peak(void);
void traces_reset_peak(void);

#endif
