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
 */
#ifndef PYTRACEMALLOC_SAMPLING_H
#define PYTRACEMALLOC_SAMPLING_H

#include <stddef.h>
#include <stdint.h>

#define SAMPLING_COUNT_SHIFT 16
#define SAMPLING_COUNT_ONE ((size_t)1 << SAMPLING_COUNT_SHIFT)

/* Bytes left before this thread's next sampling point (>= 1 once drawn;
   0 in a thread that never sampled: its first allocation draws). */
extern _Thread_local uint64_t sampling_countdown
    __attribute__((tls_model("initial-exec")));
extern size_t sampling_mean_bytes;

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
   count. */
void sampling_weigh_sampled(size_t size, size_t *weighted_size,
                            size_t *weighted_count);

static inline void
sampling_weigh(size_t size, size_t *weighted_size, size_t *weighted_count)
{
    if (__builtin_expect(sampling_mean_bytes == 0, 1)) {
        *weighted_size = size;
        *weighted_count = 1;
        return;
    }
    sampling_weigh_sampled(size, weighted_size, weighted_count);
}

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
