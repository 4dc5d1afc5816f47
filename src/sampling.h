/* sampling: which allocations a sampled tracer records, and what each
 * recorded block stands for.
 *
 * Contract
 * - sampling_bytes() is N, the mean number of bytes between two samples,
 *   or 0 in exact mode (every block recorded).  It changes only while
 *   nothing is traced (sampling_set_bytes(), called by enable with the GIL
 *   and the raw lock held), so the weights of a traced block never change
 *   between its recording and its removal.
 * - Poisson sampling by bytes (as tcmalloc and Go do): every allocated
 *   byte is a sampling point with probability 1/N, so a block of s bytes
 *   is recorded with probability p = 1 - exp(-s/N).  Each thread keeps
 *   the distance to its next sampling point, drawn from an exponential
 *   distribution of mean N: an unsampled allocation costs a compare, a
 *   subtraction and a branch (sampling_skip()).
 * - A recorded block of s bytes counts s/p bytes and 1/p blocks
 *   (sampling_weigh()): sums of weights are unbiased estimators of the
 *   true sizes and counts.  Counts are fixed point in sampled mode
 *   (SAMPLING_COUNT_ONE per block); sampling_count() converts a sum.
 *   Weights depend on s and N only, so removing a block subtracts exactly
 *   what adding it added.
 * - Every thread has its own random generator, seeded from the seed of
 *   sampling_set_seed() (settable for reproducible tests) and a thread
 *   number; a new seed or a new N is picked up by the calling thread at
 *   once and by every other thread at its next sample.
 * - Lock-free: the countdown and the generator are thread-local.
 * - The filter: a counting filter of the addresses in the trace tables,
 *   kept in sampled mode only.  sampling_filter_may_hold() is false for an
 *   address the tables surely do not hold, so that the free of an
 *   unsampled block, by far the most common, costs a hash and one load
 *   (no lock, no table probe).  Counters are atomics (both tables update
 *   them, under different locks); one that would overflow stays saturated,
 *   which only costs lookups.  Cleared by sampling_set_bytes() (the tables
 *   are empty then).
 */
#ifndef PYTRACEMALLOC_SAMPLING_H
#define PYTRACEMALLOC_SAMPLING_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define SAMPLING_COUNT_SHIFT 16
#define SAMPLING_COUNT_ONE ((size_t)1 << SAMPLING_COUNT_SHIFT)

/* Bytes left before this thread's next sampling point (>= 1 once drawn;
   0 in a thread that never sampled: its first allocation draws). */
/* Hidden: read without the GOT's indirection on the hooks' fast path. */
extern _Thread_local uint64_t sampling_countdown
    __attribute__((tls_model("initial-exec"), visibility("hidden")));
extern size_t sampling_mean_bytes __attribute__((visibility("hidden")));

static inline size_t
sampling_bytes(void)
{
    return sampling_mean_bytes;
}

/* Set N (0: exact mode).  Caller: nothing is traced (the tables are
   empty), the GIL and the raw lock are held. */
void sampling_set_bytes(size_t mean_bytes);
void sampling_set_seed(uint64_t seed);
uint64_t sampling_seed(void);

/* The slow path of sampling_skip(): 1 when the block is sampled. */
int sampling_hit(size_t size);

/* 1 when an allocation of `size` bytes is not sampled (sampled mode). */
static inline int
sampling_skip(size_t size)
{
    uint64_t left = sampling_countdown;
    if (__builtin_expect(size < left, 1)) {
        sampling_countdown = left - size;
        return 1;
    }
    return !sampling_hit(size);
}

/* What a traced block of `size` bytes counts for in the statistics: its
   size and 1 block in exact mode, else its weighted size and fixed-point
   count.  *variance gets the block's share of the variance of a size
   estimate ((1 - p) / p^2 * s^2: the blocks of a Poisson process are
   sampled independently, so these shares add up to an unbiased estimate
   of the variance of a sum), 0 in exact mode. */
void sampling_weigh_sampled(size_t size, size_t *weighted_size,
                            size_t *weighted_count, double *variance);

static inline void
sampling_weigh(size_t size, size_t *weighted_size, size_t *weighted_count,
               double *variance)
{
    if (__builtin_expect(sampling_mean_bytes == 0, 1)) {
        *weighted_size = size;
        *weighted_count = 1;
        *variance = 0.0;
        return;
    }
    sampling_weigh_sampled(size, weighted_size, weighted_count, variance);
}

/* The counting filter: a counter per slot (touched by sampled blocks
   only), and one bit per slot, set while its counter is not 0, which the
   frees read: 8 KiB, so that the free of an unsampled block reads a line
   that stays in the first-level cache (the counters are 128 KiB). */
#define SAMPLING_FILTER_BITS 16
extern _Atomic uint16_t sampling_filter[1u << SAMPLING_FILTER_BITS]
    __attribute__((visibility("hidden")));
extern _Atomic uint64_t
    sampling_filter_summary[1u << (SAMPLING_FILTER_BITS - 6)]
    __attribute__((visibility("hidden")));

static inline size_t
sampling_filter_slot(uintptr_t address)
{
    uint64_t hash = (uint64_t)(address >> 4) * UINT64_C(0x9E3779B97F4A7C15);
    return (size_t)(hash >> (64 - SAMPLING_FILTER_BITS));
}

static inline int
sampling_filter_may_hold(uintptr_t address)
{
    size_t slot = sampling_filter_slot(address);
    uint64_t word = atomic_load_explicit(&sampling_filter_summary[slot >> 6],
                                         memory_order_relaxed);
    return (word >> (slot & 63)) & 1;
}

/* An address entered (sign +1) or left (-1) a trace table: callers are
   the trace tables, in sampled mode. */
void sampling_filter_count(uintptr_t address, int sign);

/* A sum of counts in blocks (rounded in sampled mode). */
static inline size_t
sampling_count(size_t counts)
{
    if (sampling_mean_bytes == 0) {
        return counts;
    }
    return (counts + SAMPLING_COUNT_ONE / 2) >> SAMPLING_COUNT_SHIFT;
}

#endif
