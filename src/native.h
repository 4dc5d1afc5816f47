/* native: the blocks that extension modules and the libraries they load
 * take from libc directly (issue 24), in the native domain.
 *
 * Contract
 * - native_targets[] names the libc functions we replace and our wrapper
 *   of each; gotpatch.c points the GOT entries of every loaded object but
 *   the interpreter, libc, the loader, the vDSO and us at them while
 *   native tracing is on (gotpatch_set_native), and puts them back after.
 * - A wrapper always calls the real function first (the one our own
 *   object imports: libc's, or a preloaded allocator's), so every block,
 *   whenever it was taken, is freed by the allocator that made it.  It
 *   then records or forgets the block in the blocks-reported-by-extensions
 *   table (hooks.c) in NATIVE_DOMAIN, on the calling thread's traceback
 *   (with or without a GIL; no Python frame: the "<unknown>" site).  A
 *   free forgets before it frees, and a realloc before it reallocates, so
 *   that no other thread can be handed the address while its old trace is
 *   still there; a failed realloc puts the trace back.
 * - Only the native domain is touched: a block that an extension then
 *   reports to tracemalloc (numpy's array data, PyTraceMalloc_Track) moves
 *   to that domain and is counted once; free() of a block that is not a
 *   native trace costs one lookup.
 * - Anonymous mappings (mmap MAP_ANONYMOUS, mremap) are native blocks
 *   keyed by their start; the mapped ranges are kept in an ordered index
 *   so that munmap (or a MAP_FIXED mapping over them) forgets exactly the
 *   pages it unmaps and keeps the rest, each piece on its old site.
 *
 * Locks and guards
 * - native_on: an atomic, written with the main GIL (native_set_enabled).
 * - The mapping index: region_lock, taken before hooks' table lock, never
 *   the other way round, and never held across a call out of the tracer
 *   but the hooks' table functions.  A thread-local guard makes a wrapper
 *   entered while this thread holds region_lock (a signal handler) pass
 *   through untraced.
 * - Nothing here allocates from the Python allocators or raises.
 */
#ifndef PYTRACEMALLOC_NATIVE_H
#define PYTRACEMALLOC_NATIVE_H

#include <stddef.h>

/* The domain of native blocks ("NATV" in ASCII). */
#define NATIVE_DOMAIN 0x4E415456u

typedef struct {
    const char *name;  /* the libc symbol */
    void *replacement; /* our wrapper */
} native_target;

extern const native_target native_targets[];
extern const size_t native_n_targets;

/* Main GIL held.  On: the wrappers record (once gotpatch installed them);
   off: they pass every call through and the mapping index is emptied. */
void native_set_enabled(int on);
int native_is_enabled(void);
/* Called once, at import: fork handlers for region_lock. */
int native_init(void);

#endif
