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
 * - traces_add and traces_remove are inline for their common case (exact
 *   mode, a size under 4 GiB, a table with room): a probe and a few
 *   counter updates.  Everything else goes to the out-of-line *_slow
 *   forms, which handle every case.
 */
#ifndef PYTRACEMALLOC_TRACES_H
#define PYTRACEMALLOC_TRACES_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "sampling.h"
#include "sites.h"
#include "u64map.h"

#define TRACES_SIZE_IN_SIDE_MAP UINT32_MAX
#define TRACES_PARKED_SITE 0
#define TRACES_DYING_MAX 4

typedef struct {
    u64map blocks;    /* address -> size << 32 | site id */
    u64map big_sizes; /* address -> size, for sizes >= 4 GiB */
    /* TRACES_GIL: gil_* site counters, the GIL; TRACES_RAW and TRACES_EXT
       (blocks reported by extensions): raw_* counters, the table lock. */
    int kind;
    /* Blocks whose object died (traces_note_dying) and that were neither
       freed nor created again since: parked when traces_settle() runs or
       when the list is full.  Same lock as the table. */
    uintptr_t dying[TRACES_DYING_MAX];
    unsigned n_dying;
} trace_table;

enum { TRACES_GIL = 0, TRACES_RAW = 1, TRACES_EXT = 2, TRACES_KINDS = 3 };

/* The traced bytes of each table kind (weighted), each written by its
   table's lock only, so a relaxed load and store do. */
extern atomic_size_t traces_totals[TRACES_KINDS];
/* The peak as seen by each side (0: the GIL, 1: the raw lock), each
   written by one side only, so a plain store does: no compare-and-swap on
   the path of every allocation of a growing heap.  The peak is the larger
   of the two. */
extern atomic_size_t traces_peak_seen[2];

int traces_init(trace_table *table, int kind);
/* Every case of traces_add / traces_remove (the inline forms' fallback). */
int traces_add_slow(trace_table *table, uintptr_t address, size_t size,
                    uint32_t site_id);
int traces_remove_slow(trace_table *table, uintptr_t address, size_t *size,
                       uint32_t *site_id);
/* Count a block of `size` bytes in (sign +1) or out (-1) of its site and
   of the totals, with its weights (sampling.h). */
void traces_count_block(trace_table *table, uint32_t site_id, size_t size,
                        int sign);

static inline size_t
traces_sum_of_totals(void)
{
    _Static_assert(TRACES_KINDS == 3, "a load per kind");
    return atomic_load_explicit(&traces_totals[0], memory_order_relaxed) +
           atomic_load_explicit(&traces_totals[1], memory_order_relaxed) +
           atomic_load_explicit(&traces_totals[2], memory_order_relaxed);
}

static inline void
traces_grow_total(int kind, size_t size)
{
    size_t mine =
        atomic_load_explicit(&traces_totals[kind], memory_order_relaxed) +
        size;
    atomic_store_explicit(&traces_totals[kind], mine, memory_order_relaxed);
    size_t current = traces_sum_of_totals();
    atomic_size_t *peak = &traces_peak_seen[kind == TRACES_GIL ? 0 : 1];
    if (current > atomic_load_explicit(peak, memory_order_relaxed)) {
        atomic_store_explicit(peak, current, memory_order_relaxed);
    }
}

static inline void
traces_shrink_total(int kind, size_t size)
{
    size_t mine =
        atomic_load_explicit(&traces_totals[kind], memory_order_relaxed) -
        size;
    atomic_store_explicit(&traces_totals[kind], mine, memory_order_relaxed);
}

/* Exact mode's traces_count_block: a block is its size and one block.
   `kind` is the table's (a constant where the caller knows it). */
static inline void
traces_count_exact(int kind, uint32_t site_id, size_t size, int sign)
{
    tm_site *site = site_get(site_id);
    if (kind == TRACES_GIL) {
        site->gil_size += sign > 0 ? size : -size;
        site->gil_count += sign > 0 ? 1 : (size_t)-1;
    }
    else {
        site->raw_size += sign > 0 ? size : -size;
        site->raw_count += sign > 0 ? 1 : (size_t)-1;
    }
    if (sign > 0) {
        traces_grow_total(kind, size);
    }
    else {
        traces_shrink_total(kind, size);
    }
}

/* Forced inline: the compiler would keep one out-of-line copy, a call and
   a register save on the path of every traced allocation. */
#define TRACES_HOT static inline __attribute__((always_inline))

/* traces_add for a table of a kind the caller knows (a constant folds
   the kind's branches away). */
TRACES_HOT int
traces_add_to(trace_table *table, int kind, uintptr_t address, size_t size,
              uint32_t site_id)
{
    if (size < TRACES_SIZE_IN_SIDE_MAP && sampling_bytes() == 0 &&
        u64map_has_room(&table->blocks)) {
        int was_live;
        u64map_slot *slot =
            u64map_claim_with_room(&table->blocks, address, &was_live);
        if (!was_live) {
            slot->value = ((uint64_t)size << 32) | site_id;
            traces_count_exact(kind, site_id, size, +1);
            return 0;
        }
        /* A live entry is left as found: the slow form takes its old block
           out of its site first. */
    }
    return traces_add_slow(table, address, size, site_id);
}

TRACES_HOT int
traces_add(trace_table *table, uintptr_t address, size_t size,
           uint32_t site_id)
{
    return traces_add_to(table, table->kind, address, size, site_id);
}

/* Dying blocks (3.13+'s reference tracer, freelists.c).  An object's
   death is told before its block is either freed (most objects: the trace
   goes, one lookup) or kept in a free list (the block must leave the
   statistics: parked).  Parking at once cost a lookup and a slow removal
   on every free; so a death only notes the block, and the note is
   dropped when the block is freed, created again or replaced, and turned
   into a park by traces_settle() (every read-out) or when more than
   TRACES_DYING_MAX deaths are pending (nested deallocations).  Between a
   death and a read-out, the only difference is the peak, which may count
   those few blocks. */
void traces_park_oldest_dying(trace_table *table);
void traces_drop_dying(trace_table *table, uintptr_t address);
void traces_settle(trace_table *table);

/* Inline: on 3.13+ every object's death comes here (freelists.c). */
static inline void
traces_note_dying(trace_table *table, uintptr_t address)
{
    if (table->n_dying == TRACES_DYING_MAX) {
        traces_park_oldest_dying(table);
    }
    table->dying[table->n_dying++] = address;
}

static inline void
traces_forget_dying(trace_table *table, uintptr_t address)
{
    unsigned n = table->n_dying;
    if (n != 0) {
        if (table->dying[n - 1] == address) {
            table->n_dying = n - 1; /* the common case: the last death */
        }
        else {
            traces_drop_dying(table, address);
        }
    }
}

TRACES_HOT int
traces_remove_from(trace_table *table, int kind, uintptr_t address,
                   size_t *size, uint32_t *site_id)
{
    traces_forget_dying(table, address);
    if (sampling_bytes() == 0) {
        u64map_slot *slot = u64map_find(&table->blocks, address);
        if (slot == NULL || slot->value == 0) {
            return 0;
        }
        uint64_t packed = slot->value;
        size_t block_size = (size_t)(packed >> 32);
        uint32_t block_site = (uint32_t)packed;
        if (block_size != TRACES_SIZE_IN_SIDE_MAP &&
            block_site != TRACES_PARKED_SITE) {
            u64map_kill(&table->blocks, slot);
            traces_count_exact(kind, block_site, block_size, -1);
            if (size != NULL) {
                *size = block_size;
            }
            if (site_id != NULL) {
                *site_id = block_site;
            }
            return 1;
        }
    }
    return traces_remove_slow(table, address, size, site_id);
}

TRACES_HOT int
traces_remove(trace_table *table, uintptr_t address, size_t *size,
              uint32_t *site_id)
{
    return traces_remove_from(table, table->kind, address, size, site_id);
}
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
