/* hooks: the PEP 445 allocator hooks, and the switch that installs them.
 *
 * Contract
 * - hooks_enable() wraps the RAW, MEM and OBJ allocators installed at that
 *   moment (stdlib tracemalloc's included) and starts recording;
 *   hooks_disable() stops recording, forgets every trace and puts back
 *   exactly what it wrapped, on each domain where our hook is still the
 *   installed one.  Where another tracer wrapped ours meanwhile, our hook
 *   stays in its chain and passes every call through untouched, so that
 *   tracer keeps working.
 * - The MEM/OBJ table and the site gil_* counters are guarded by the GIL;
 *   the RAW table and raw_* counters by the raw lock (RAW functions are
 *   called without the GIL).  A thread-local guard makes every allocation
 *   made while the tracer runs (by us or the allocator we wrap) pass
 *   through untraced.
 * - A block the tracer could not record (out of memory) is counted in
 *   hooks_untraced_count(); the user's allocation never fails because of
 *   the tracer.
 * - hooks_lock_tables()/hooks_unlock_tables() (GIL held) give a reader a
 *   consistent view of all tables and counters; the reader must not
 *   allocate Python objects while it holds them.
 * - enable/disable/clear are called with the GIL.  Functions returning int
 *   return 0 on success, -1 with no exception set on failure.
 */
#ifndef PYTRACEMALLOC_HOOKS_H
#define PYTRACEMALLOC_HOOKS_H

#include "compat.h"

#if COMPAT_SUPPORTED

#include <stddef.h>

#include "traces.h"

int hooks_init(void);
int hooks_enable(int nframe);
void hooks_disable(void);
int hooks_is_enabled(void);
/* Forget every trace and statistic, and reset the peak; tracing goes on. */
void hooks_clear_traces(void);
size_t hooks_untraced_count(void);

void hooks_lock_tables(void);
void hooks_unlock_tables(void);
trace_table *hooks_gil_table(void);
trace_table *hooks_raw_table(void);

/* Run tracer code that allocates Python objects (read-outs) without tracing
   those allocations: they are the tracer's own. */
void hooks_untraced_begin(void);
void hooks_untraced_end(void);
/* Whether this thread is running tracer code now. */
int hooks_in_tracer(void);
/* The last block recorded in the MEM/OBJ domains (GIL held): an object
   created in that block was just allocated, not taken from a free list. */
uintptr_t hooks_last_recorded_block(void);

/* Blocks reported by extensions (stdlib's PyTraceMalloc_Track/Untrack,
   our C API): callable from any thread, with or without the GIL.  Track
   records (or moves) the block at ptr in `domain` on the calling thread's
   traceback: 0, -1 when the tracer is out of memory (counted untraced),
   -2 when not tracing.  Untrack forgets it (domain 0: the CPython block at
   ptr, as stdlib does): 0, or -2 when not tracing. */
trace_table *hooks_ext_table(void);
int hooks_track_block(unsigned int domain, uintptr_t ptr, size_t size);
int hooks_untrack_block(unsigned int domain, uintptr_t ptr);

#endif /* COMPAT_SUPPORTED */
#endif
