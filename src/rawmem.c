#include "rawmem.h"

#include <stdatomic.h>
#include <stdlib.h>

/* Bytes held by the tracer.  Atomic: tables are touched from GIL-holding
   threads and from threads in the RAW domain that hold no GIL. */
static atomic_size_t used_bytes;

/* Fault injection: allocations left before failing; -1 means never fail. */
static atomic_long allocations_before_failure = -1;

static int
injected_failure(void)
{
    long left = atomic_load_explicit(&allocations_before_failure,
                                     memory_order_relaxed);
    if (left < 0) {
        return 0;
    }
    if (left == 0) {
        return 1;
    }
    atomic_fetch_sub_explicit(&allocations_before_failure, 1,
                              memory_order_relaxed);
    return 0;
}

void *
rawmem_calloc(size_t nelem, size_t elsize)
{
    if (injected_failure()) {
        return NULL;
    }
    void *ptr = calloc(nelem, elsize);
    if (ptr != NULL) {
        atomic_fetch_add_explicit(&used_bytes, nelem * elsize,
                                  memory_order_relaxed);
    }
    return ptr;
}

void *
rawmem_malloc(size_t size)
{
    if (injected_failure()) {
        return NULL;
    }
    void *ptr = malloc(size);
    if (ptr != NULL) {
        atomic_fetch_add_explicit(&used_bytes, size, memory_order_relaxed);
    }
    return ptr;
}

void *
rawmem_realloc(void *ptr, size_t old_size, size_t new_size)
{
    if (injected_failure()) {
        return NULL;
    }
    void *new_ptr = realloc(ptr, new_size);
    if (new_ptr != NULL) {
        atomic_fetch_add_explicit(&used_bytes, new_size, memory_order_relaxed);
        atomic_fetch_sub_explicit(&used_bytes, old_size, memory_order_relaxed);
    }
    return new_ptr;
}

void
rawmem_free(void *ptr, size_t size)
{
    if (ptr == NULL) {
        return;
    }
    free(ptr);
    atomic_fetch_sub_explicit(&used_bytes, size, memory_order_relaxed);
}

size_t
rawmem_used(void)
{
    return atomic_load_explicit(&used_bytes, memory_order_relaxed);
}

void
rawmem_fail_after(long count)
{
    atomic_store_explicit(&allocations_before_failure, count,
                          memory_order_relaxed);
}
