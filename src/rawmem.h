/* rawmem: the tracer's own memory.
 *
 * Contract
 * - Every table of the tracer is allocated here, from libc, never through
 *   the PEP 445 allocators we hook: tracing our own tables would recurse.
 * - rawmem_used() is the number of bytes the tracer holds right now; it is
 *   what get_tracemalloc_memory() reports.
 * - rawmem_fail_after(n) is fault injection for the tests: after n more
 *   successful allocations every allocation fails until it is called with
 *   -1.  It lets the tests prove that the user's allocation never fails
 *   because the tracer ran out of memory.
 * - Thread-safe: the counters are atomics; callers may hold any lock.
 * - On failure the functions return NULL and change nothing.
 */
#ifndef PYTRACEMALLOC_RAWMEM_H
#define PYTRACEMALLOC_RAWMEM_H

#include <stddef.h>

void *rawmem_calloc(size_t nelem, size_t elsize);
void *rawmem_malloc(size_t size);
/* Grow or shrink a block from `old_size` to `new_size` bytes. */
void *rawmem_realloc(void *ptr, size_t old_size, size_t new_size);
void rawmem_free(void *ptr, size_t size);
size_t rawmem_used(void);
void rawmem_fail_after(long count);

#endif
