/* hooks: the PEP 445 allocator hooks, and the switch that installs them.
 *
 * Contract
 * - hooks_enable() wraps the RAW, MEM and OBJ allocators installed at that
 *   moment (stdlib tracemalloc's included) and starts recording;
 *   hooks_disable() stops recording, forgets every trace and puts back
 *   exactly what it wrapped, on each domain where our hook is still the
 *   installed one.  Where another tracer wrapped ours meanwhile, our hook
 *   stays in its chain and passes every call through untouched, so that
 *   tracer keeps working.  hooks_rejoin() puts our hooks back on top of a
 *   chain that another tracer cut them out of (stdlib's stop() restores the
 *   allocator it wrapped, which may lie below ours), and goes above a
 *   tracer that wrapped ours (stdlib's start() after ours): a second
 *   instance of our hooks on top records, the one below turns quiet, so
 *   that tracer's own allocations are never counted (hooks.c,
 *   domain_hook).
 *
 * The rule of the hot path (every hook obeys it; frames, sites, traces and
 * freelists callbacks run inside hooks and obey it too)
 * - A hook never calls the allocator chain above it: no PyMem_*,
 *   PyObject_*, no CPython API that allocates or raises (object creation,
 *   PyCode_SetExtra, PyUnicode_READY, PyErr_*).  The tracer's own memory
 *   comes from libc (rawmem); the one piece of memory CPython must own, a
 *   code object's co_extra array, comes from the allocator the hook wraps
 *   (below us: where code_dealloc's PyMem_Free ends), never from the top.
 *   Another tracer above us may hold its own lock while it calls us: going
 *   back up would wait on that lock forever.
 * - A hook never waits on a lock that anything else may hold while calling
 *   us: it takes only our own locks (the table lock, the sites lock, in
 *   that order), and never calls out of the tracer while holding them.
 *   Calls down the chain (the wrapped allocator) are made with none of our
 *   locks held.
 *
 * What guards what (one GIL per interpreter since 3.12)
 * - gil_table (its notes of dying blocks included, traces.h), the site
 *   gil_* counters, the frame caches hung on code objects and the GIL
 *   frame buffers: the MAIN interpreter's GIL.  Only
 *   threads running in the main interpreter touch them, and legacy
 *   subinterpreters that share its GIL (to find a block freed there).
 * - raw_table and the site raw_* counters: the table lock (a GMutex).  It
 *   holds every RAW block, and the MEM/OBJ blocks of every interpreter but
 *   the main one (isolated interpreters with their own GIL, legacy ones):
 *   those are recorded without caches, reading only their own thread's
 *   frames and immutable code data, as a free-threaded build would have to.
 *   Blocks of an interpreter with its own GIL are tagged with it, so the
 *   blocks that die with it (its arenas are released whole) leave the
 *   statistics at the next read-out (hooks_drop_dead_interpreters).
 * - sites: the sites lock (sites.h).  Totals and peak: atomics (traces.h).
 * - A thread-local guard makes every allocation made while the tracer runs
 *   (by us or the allocator we wrap) pass through untraced.
 * - A block the tracer could not record (out of memory) is counted in
 *   hooks_untraced_count(); the user's allocation never fails because of
 *   the tracer.
 * - hooks_lock_tables()/hooks_unlock_tables() (main GIL held) give a
 *   reader a consistent view of all tables and counters, the notes of
 *   dying blocks settled first; the reader must not allocate Python
 *   objects while it holds them.
 * - enable/disable/clear/rejoin are called with the main interpreter's GIL.
 *   Functions returning int return 0 on success, -1 with no exception set
 *   on failure.
 */
#ifndef PYTRACEMALLOC_HOOKS_H
#define PYTRACEMALLOC_HOOKS_H

#include "compat.h"

#include <stddef.h>

#include "traces.h"

int hooks_init(void);
int hooks_enable(int nframe);
void hooks_disable(void);
int hooks_is_enabled(void);
/* Forget every trace and statistic, and reset the peak; tracing goes on. */
void hooks_clear_traces(void);
size_t hooks_untraced_count(void);
/* While tracing: put our hooks back on top of each domain whose chain no
   longer reaches them (found by a zero-size probe allocation).  Returns
   the number of domains re-joined. */
int hooks_rejoin(void);

/* Main GIL held, no exception pending (a read-out): drop the traces of
   blocks that interpreters with their own GIL left in arenas CPython
   released with them.  Costs nothing until such an interpreter ran. */
void hooks_drop_dead_interpreters(void);

/* A read-out (main GIL held): lock every table, after turning the notes
   of dying blocks into parks (traces.h) so that the statistics read are
   exact.  hooks_settle() does that part alone, for a read of the totals. */
void hooks_lock_tables(void);
void hooks_unlock_tables(void);
void hooks_settle(void);
trace_table *hooks_gil_table(void);
trace_table *hooks_raw_table(void);

/* Run tracer code that allocates Python objects (read-outs) without tracing
   those allocations: they are the tracer's own. */
void hooks_untraced_begin(void);
void hooks_untraced_end(void);
/* Whether a free-list event may touch the MEM/OBJ table (the calling
   thread holds some GIL): tracing, not nested in the tracer, and in the
   main interpreter, whose GIL guards that table (blocks of other
   interpreters live in the locked table, and their free lists are not
   followed).  For the free-list hooks of patched 3.11 interpreters. */
int hooks_may_account_objects(void);

/* The two events of PyRefTracer (3.13+), made for every object created and
   destroyed: one call each, cheapest test first.  Any thread holding some
   GIL may call them; each touches the table only where
   hooks_may_account_objects() would allow it.
   - hooks_note_object_death: the object in `block` died.  Its block is
     noted as dying in the MEM/OBJ table (traces.h): parked unless a free
     follows.  If it was the last block recorded, an object created there
     later comes from a free list: in sampled mode the last recorded block
     can be old enough for its object to die and its block to be handed out
     again by a free list (3.14's ints recycle this way), and without this
     that reuse looked like the fresh allocation and the block stayed
     parked, out of the statistics.
   - hooks_object_recycled: an object was created in `block`.  True when
     that block is not the last one recorded in the MEM/OBJ domains (so it
     came from a free list) and the table may be touched: the caller moves
     the block to the current line. */
void hooks_note_object_death(uintptr_t block);
int hooks_object_recycled(uintptr_t block);

/* Blocks reported by extensions (stdlib's PyTraceMalloc_Track/Untrack,
   our C API): callable from any thread, with or without a GIL.  Track
   records (or moves) the block at ptr in `domain` on the calling thread's
   traceback: 0, -1 when the tracer is out of memory (counted untraced),
   -2 when not tracing.  Untrack forgets it (domain 0: the CPython block at
   ptr, as stdlib does): 0, or -2 when not tracing. */
trace_table *hooks_ext_table(void);
int hooks_track_block(unsigned int domain, uintptr_t ptr, size_t size);
int hooks_untrack_block(unsigned int domain, uintptr_t ptr);

/* Native blocks (native.h), in the same table as the reported ones: any
   thread, with or without a GIL.  Each does nothing (returns 0) while not
   tracing or when called inside the tracer (a library it uses allocating:
   the table lock may be this thread's).
   - hooks_native_record: record the block at ptr in `domain` on the
     calling thread's traceback; 1 when recorded, 0 when not (sampled out,
     or out of memory: then counted untraced).
   - hooks_native_take: forget the block of `domain` at ptr; 1, with what
     hooks_native_put needs in *taken, when it was traced.
   - hooks_native_put: record a block again on the site of a taken one (a
     failed realloc, what a partial munmap leaves); 1 when recorded, 0 when
     a reset came between (the site is gone with it). */
typedef struct {
    size_t size;
    uint32_t site;
    unsigned long epoch;
} hooks_taken;
int hooks_native_record(unsigned int domain, uintptr_t ptr, size_t size);
int hooks_native_take(unsigned int domain, uintptr_t ptr, hooks_taken *taken);
int hooks_native_put(uintptr_t ptr, size_t size, const hooks_taken *taken);
/* Main GIL held: accept native blocks of `domain` from now on (native
   tracing turned on), until hooks_forget_domain(domain). */
void hooks_native_open(unsigned int domain);
/* Main GIL held: forget every reported block of `domain` and accept no
   more native ones there (native tracing turned off: their frees would
   not be seen). */
void hooks_forget_domain(unsigned int domain);

#endif
