#include "sampling.h"

#include <math.h>
#include <stdatomic.h>

_Thread_local uint64_t sampling_countdown
    __attribute__((tls_model("initial-exec")));
size_t sampling_mean_bytes;
_Atomic uint16_t sampling_filter[1u << SAMPLING_FILTER_BITS];
_Atomic uint64_t sampling_filter_summary[1u << (SAMPLING_FILTER_BITS - 6)];

void
sampling_filter_count(uintptr_t address, int sign)
{
    size_t slot = sampling_filter_slot(address);
    _Atomic uint16_t *counter = &sampling_filter[slot];
    _Atomic uint64_t *word = &sampling_filter_summary[slot >> 6];
    uint64_t bit = (uint64_t)1 << (slot & 63);
    uint16_t seen = atomic_load(counter);
    for (;;) {
        if (seen == UINT16_MAX || (sign < 0 && seen == 0)) {
            return; /* saturated: stays "may hold" for good */
        }
        uint16_t next = (uint16_t)(sign > 0 ? seen + 1 : seen - 1);
        if (atomic_compare_exchange_weak(counter, &seen, next)) {
            break;
        }
    }
    /* The two sides (the GIL, the raw lock) count concurrently: a side
       that empties a slot clears its bit, then looks again, so that a
       count that the other side raised meanwhile keeps the bit set. */
    if (sign > 0 && seen == 0) {
        atomic_fetch_or(word, bit);
    }
    else if (sign < 0 && seen == 1) {
        atomic_fetch_and(word, ~bit);
        if (atomic_load(counter) != 0) {
            atomic_fetch_or(word, bit);
        }
    }
}

/* The generator of each thread: splitmix64 (one state word, full period,
   passes BigCrush), seeded from the shared seed.  A thread whose epoch is
   behind the shared one reseeds and redraws its countdown. */
static _Thread_local uint64_t random_state
    __attribute__((tls_model("initial-exec")));
static _Thread_local unsigned long thread_epoch
    __attribute__((tls_model("initial-exec")));

static atomic_uint_least64_t shared_seed = 0x5DEECE66DULL;
static atomic_ulong shared_epoch = 1;
/* Numbers the threads of one epoch, so that each gets its own stream. */
static atomic_uint_least64_t next_thread_number;

static inline uint64_t
next_random(void)
{
    uint64_t z = (random_state += UINT64_C(0x9E3779B97F4A7C15));
    z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
    return z ^ (z >> 31);
}

/* Distance in bytes to the next sampling point: ceil of an exponential
   variable of mean N, so that a block of s bytes holds a point (countdown
   <= s) with probability exactly 1 - exp(-s/N). */
static uint64_t
draw_countdown(void)
{
    /* u uniform in (0, 1]: 53 random bits, never 0. */
    double u = (double)((next_random() >> 11) + 1) * 0x1.0p-53;
    double distance = -log(u) * (double)sampling_mean_bytes;
    if (distance >= 0x1.0p63) {
        return UINT64_C(1) << 63;
    }
    uint64_t bytes = (uint64_t)ceil(distance);
    return bytes ? bytes : 1;
}

static void
reseed_this_thread(unsigned long epoch, uint64_t thread_number)
{
    random_state = atomic_load(&shared_seed) ^
                   (thread_number * UINT64_C(0xD1B54A32D192ED03));
    thread_epoch = epoch;
    sampling_countdown = sampling_mean_bytes ? draw_countdown() : 0;
}

int
sampling_hit(size_t size)
{
    unsigned long epoch = atomic_load_explicit(&shared_epoch,
                                               memory_order_relaxed);
    if (thread_epoch != epoch) {
        reseed_this_thread(epoch, atomic_fetch_add(&next_thread_number, 1));
        if (size < sampling_countdown) {
            sampling_countdown -= size;
            return 0;
        }
    }
    /* A point falls in this block.  The next one is an exponential
       distance after the block's end (the process has no memory). */
    sampling_countdown = draw_countdown();
    return 1;
}

/* A new epoch: the calling thread restarts now, as thread number 0 (so a
   test that sets a seed gets the same samples every run), the others at
   their next sample. */
static void
restart(void)
{
    unsigned long epoch = atomic_fetch_add(&shared_epoch, 1) + 1;
    atomic_store(&next_thread_number, 1);
    reseed_this_thread(epoch, 0);
}

void
sampling_set_bytes(size_t mean_bytes)
{
    sampling_mean_bytes = mean_bytes;
    for (size_t i = 0; i < (1u << SAMPLING_FILTER_BITS); i++) {
        atomic_store_explicit(&sampling_filter[i], 0, memory_order_relaxed);
    }
    for (size_t i = 0; i < (1u << (SAMPLING_FILTER_BITS - 6)); i++) {
        atomic_store_explicit(&sampling_filter_summary[i], 0,
                              memory_order_relaxed);
    }
    restart();
}

void
sampling_set_seed(uint64_t seed)
{
    atomic_store(&shared_seed, seed);
    restart();
}

uint64_t
sampling_seed(void)
{
    return atomic_load(&shared_seed);
}

void
sampling_weigh_sampled(size_t size, size_t *weighted_size,
                       size_t *weighted_count, double *variance)
{
    /* p = 1 - exp(-s/N), computed without cancellation for s << N. */
    double p = -expm1(-(double)size / (double)sampling_mean_bytes);
    if (!(p > 0.0)) {
        /* An empty block is never sampled; one that got here anyway (a
           parked block reused, a realloc put back) counts as itself. */
        p = 1.0;
    }
    double estimated_size = (double)size / p;
    *variance = (1.0 - p) * estimated_size * estimated_size;
    double estimated_count = (double)SAMPLING_COUNT_ONE / p;
    *weighted_size = estimated_size >= 0x1.0p63
                         ? (size_t)1 << 63
                         : (size_t)llround(estimated_size);
    *weighted_count = estimated_count >= 0x1.0p63
                          ? (size_t)1 << 63
                          : (size_t)llround(estimated_count);
}
