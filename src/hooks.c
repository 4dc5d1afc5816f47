#include "hooks.h"

#include <errno.h>
#include <glib.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include "frames.h"
#include "sampling.h"
#include "sites.h"
#include "timer.h"

typedef struct {
    PyMemAllocatorEx wrapped; /* the allocator we call through to */
    int installed;            /* our hook is somewhere in the chain */
    /* Below another tracer that wrapped it, with our top instance above
       that tracer: record nothing, forget as usual.  What reaches it then
       not nested in our top hook is that tracer's own bookkeeping (stdlib
       tracemalloc's traces and tracebacks, allocated outside its hooks). */
    int quiet;
} domain_hook;

/* Written with the main GIL by enable/disable/rejoin; read by the hooks.
   Each domain has two instances of our hook (the same functions, told
   apart by their context): the first one, installed by enable(), and the
   top one, installed above a tracer that wrapped the first one (stdlib's
   tracemalloc.start() after ours), so that every allocation is recorded
   once, at the top, and what that tracer allocates for itself, nested in
   our top hook or made by it directly, is never recorded (issue 27).  The
   chain is then the one stdlib-first would give: ours, stdlib, ours
   (quiet), the allocator. */
static domain_hook hook_raw;
static domain_hook hook_mem;
static domain_hook hook_obj;
static domain_hook top_raw;
static domain_hook top_mem;
static domain_hook top_obj;

/* Whether hooks record.  Written with the main GIL and the table lock
   held; read by every hook without a lock (a hook that sees a stale value
   re-checks under the table lock, or holds the main GIL). */
static atomic_int tracing;

/* The reentrancy guard: set while this thread runs tracer code or the
   allocator we wrap.  initial-exec: one instruction to read, no call. */
static _Thread_local int in_tracer __attribute__((tls_model("initial-exec")));

/* hooks_rejoin()'s probe: while in_tracer holds IN_TRACER_PROBE, a hook
   that is called notes its domain in probe_hits and passes through.  Only
   the nested path (in_tracer set) reads it, never the hot one.  Both are
   touched only by the thread probing, with the main GIL. */
#define IN_TRACER_PROBE 0x40000000
static unsigned int probe_hits;

static void
note_probe(void *hook_ctx);

static trace_table gil_table; /* the main interpreter's GIL */
static trace_table raw_table; /* table_lock */
static GMutex table_lock;
/* Bumped (under table_lock) by every reset: a locked realloc that removed a
   block before calling the allocator puts it back only when no reset
   happened meanwhile, since its site id would be stale. */
static unsigned long reset_epoch;

static atomic_size_t untraced_count;

/* errno: the callers of an allocator may read errno after it (getpath.py
   does, reading files while an interpreter is created), and our locks can
   leave EAGAIN in it (a contended futex wait).  Every hook gives its
   caller the errno that the wrapped allocator left: saved before our own
   work, restored after it. */

/* The interpreter whose GIL guards gil_table and the frame caches: the
   main one (the engine refuses to initialize anywhere else).  Set once. */
static PyInterpreterState *main_interp;

/* Set the first time raw_table receives a MEM/OBJ block of another
   interpreter: from then on a main-interpreter free that misses gil_table
   looks in raw_table too (objects of legacy subinterpreters, which share
   the main GIL and allocator, may die in the main interpreter).  Until
   then that look costs nothing. */
static atomic_int foreign_blocks;

static inline int
is_tracing(void)
{
    return atomic_load_explicit(&tracing, memory_order_relaxed);
}

static void
count_untraced(void)
{
    atomic_fetch_add_explicit(&untraced_count, 1, memory_order_relaxed);
}

/* ---- where a MEM/OBJ call comes from ------------------------------------ */

enum {
    IN_MAIN,        /* main interpreter: gil_table, caches */
    IN_SHARED_GIL,  /* legacy subinterpreter: main GIL held, no caches */
    IN_OWN_GIL      /* an interpreter with its own GIL: table lock only */
};

static int
context_elsewhere(PyThreadState *tstate)
{
    if (tstate == NULL) {
        return compat_null_tstate_holds_main_gil() ? IN_MAIN : IN_OWN_GIL;
    }
    return compat_interp_shares_main_gil(compat_tstate_interp(tstate),
                                         main_interp)
               ? IN_SHARED_GIL
               : IN_OWN_GIL;
}

/* A MEM/OBJ hook's context: the common case, the main interpreter, is two
   loads and a compare. */
static inline int
gil_context(PyThreadState *tstate)
{
    if (tstate != NULL && compat_tstate_interp(tstate) == main_interp) {
        return IN_MAIN;
    }
    return context_elsewhere(tstate);
}

/* ---- blocks of interpreters with their own GIL ----------------------------
 * When such an interpreter is destroyed, CPython releases its object arenas
 * whole: the blocks still live in them are never freed one by one.  Each is
 * tagged with its interpreter (owner_of: address -> owner slot + 1), so that
 * its traces can be dropped once the interpreter is gone (found at a
 * read-out, or when its address comes back as another interpreter's).
 * Everything here is guarded by table_lock.
 */
#define MAX_OWNERS 256

typedef struct {
    PyInterpreterState *interp; /* NULL: free slot */
    int64_t id;                 /* tells a reused address apart */
} owner;

static owner owners[MAX_OWNERS];
static u64map owner_of;
/* Set once owner_of holds anything: until then frees skip it. */
static atomic_int owned_blocks;

static void
drop_owner(int index)
{
    for (size_t i = 0; i <= owner_of.mask; i++) {
        u64map_slot *slot = &owner_of.slots[i];
        if (slot->key != 0 && slot->value == (uint64_t)index + 1) {
            traces_remove(&raw_table, (uintptr_t)slot->key, NULL, NULL);
            u64map_kill(&owner_of, slot);
        }
    }
    owners[index].interp = NULL;
}

/* The tag of an interpreter's blocks (owner slot + 1), or 0 when every slot
   is taken (its blocks then stay untagged). */
static uint64_t
owner_tag(PyInterpreterState *interp)
{
    int64_t id = compat_interp_id(interp);
    int free_index = -1;
    for (int i = 0; i < MAX_OWNERS; i++) {
        if (owners[i].interp == interp) {
            if (owners[i].id == id) {
                return (uint64_t)i + 1;
            }
            drop_owner(i); /* the address came back: the old one is gone */
        }
        if (owners[i].interp == NULL && free_index < 0) {
            free_index = i;
        }
    }
    if (free_index < 0) {
        return 0;
    }
    owners[free_index].interp = interp;
    owners[free_index].id = id;
    return (uint64_t)free_index + 1;
}

static void
tag_block(PyInterpreterState *interp, void *ptr)
{
    uint64_t tag = owner_tag(interp);
    if (tag != 0 && u64map_put(&owner_of, (uintptr_t)ptr, tag) == 0) {
        atomic_store_explicit(&owned_blocks, 1, memory_order_relaxed);
    }
}

/* traces_remove on raw_table, forgetting the block's owner too. */
static int
remove_locked(void *ptr, size_t *size, uint32_t *site)
{
    if (atomic_load_explicit(&owned_blocks, memory_order_relaxed)) {
        u64map_pop(&owner_of, (uintptr_t)ptr, NULL);
    }
    return traces_remove(&raw_table, (uintptr_t)ptr, size, site);
}

/* ---- recording ------------------------------------------------------------
 */

/* See hooks_object_recycled().  Written with the main GIL; read first,
   before the context is known, by every object event of any interpreter:
   hence atomic (relaxed: a plain load and store). */
static atomic_uintptr_t last_recorded_block;

/* A MEM/OBJ block of the main interpreter (main GIL held). */
static inline void
record_in_main(PyThreadState *tstate, void *ptr, size_t size)
{
    atomic_store_explicit(&last_recorded_block, (uintptr_t)ptr,
                          memory_order_relaxed);
    /* The block's slot loads while the site is found. */
    u64map_prefetch(&gil_table.blocks, (uintptr_t)ptr);
    uint32_t site = frames_capture_site_with_gil(tstate);
    if (site == 0 || traces_add_to(&gil_table, TRACES_GIL, (uintptr_t)ptr,
                                   size, site) < 0) {
        count_untraced();
    }
    timer_tick();
}

/* A block recorded in raw_table, its site read without caches: the
   calling thread's own frames and immutable code data only.  With `owner`,
   the block lives in that interpreter's own arenas. */
static void
record_locked(PyThreadState *tstate, void *ptr, size_t size,
              PyInterpreterState *owner)
{
    g_mutex_lock(&table_lock);
    if (is_tracing()) {
        uint32_t site = frames_capture_site(tstate, 0);
        if (site == 0 ||
            traces_add(&raw_table, (uintptr_t)ptr, size, site) < 0) {
            count_untraced();
        }
        else if (owner != NULL) {
            tag_block(owner, ptr);
        }
    }
    g_mutex_unlock(&table_lock);
}

/* Out of line: MEM/OBJ blocks of other interpreters are rare. */
static void
record_elsewhere(PyThreadState *tstate, void *ptr, size_t size)
{
    atomic_store_explicit(&foreign_blocks, 1, memory_order_relaxed);
    PyInterpreterState *owner = NULL;
    if (tstate != NULL && context_elsewhere(tstate) == IN_OWN_GIL) {
        owner = compat_tstate_interp(tstate);
    }
    record_locked(tstate, ptr, size, owner);
}

static inline void
record_gil_block(void *ptr, size_t size)
{
    PyThreadState *tstate = compat_tstate_gil_known();
    if (gil_context(tstate) == IN_MAIN) {
        record_in_main(tstate, ptr, size);
    }
    else {
        record_elsewhere(tstate, ptr, size);
    }
}

/* A RAW block: with the main interpreter's GIL, the site comes from the
   caches (before the table lock is taken: creating a cache calls the
   allocator below us); otherwise as record_locked. */
static void
record_raw_block(void *ptr, size_t size)
{
    PyThreadState *tstate = compat_tstate_holding_gil();
    if (tstate != NULL && compat_tstate_interp(tstate) == main_interp) {
        uint32_t site = frames_capture_site_with_gil(tstate);
        g_mutex_lock(&table_lock);
        if (is_tracing() &&
            (site == 0 ||
             traces_add(&raw_table, (uintptr_t)ptr, size, site) < 0)) {
            count_untraced();
        }
        g_mutex_unlock(&table_lock);
        return;
    }
    if (tstate == NULL) {
        tstate = compat_tstate_of_this_thread();
    }
    record_locked(tstate, ptr, size, NULL);
}

/* What a quiet hook (domain_hook) records of a block it resizes. */
static void
record_nothing(void *ptr, size_t size)
{
    (void)ptr;
    (void)size;
}

/* Remove a block from raw_table; 1 when it was traced there. */
static int
forget_locked(void *ptr)
{
    g_mutex_lock(&table_lock);
    int was_traced = remove_locked(ptr, NULL, NULL);
    g_mutex_unlock(&table_lock);
    return was_traced;
}

static void
forget_elsewhere(int context, void *ptr)
{
    if (!forget_locked(ptr) && context == IN_SHARED_GIL) {
        /* A legacy subinterpreter frees an object of the main one: both
           run under the main GIL, which we hold. */
        traces_remove(&gil_table, (uintptr_t)ptr, NULL, NULL);
    }
}

/* Forget a MEM/OBJ block of the main interpreter (the main GIL held); with
   may_be_foreign, look in raw_table too when gil_table does not have it.
   A free in the main interpreter is a traced event for 0.9.1's timer too. */
static inline void
forget_in_main(void *ptr, int may_be_foreign)
{
    if (!traces_remove_from(&gil_table, TRACES_GIL, (uintptr_t)ptr, NULL,
                            NULL) &&
        may_be_foreign) {
        forget_locked(ptr);
    }
    timer_tick();
}

/* ---- the hooks ------------------------------------------------------------
 */

/* Sampled mode (issue 17, src/sampling.h): whether a new block is left
   out.  Exact mode: one predictable branch.  Sampled mode: an unsampled
   block costs the countdown's compare, subtraction and branch. */
static inline int
sampled_out(size_t size)
{
    return sampling_bytes() != 0 && sampling_skip(size);
}

/* Sampled mode: a block being freed that the tables surely do not hold
   (the filter of sampling.h): no context, no lock, no probe. */
static inline int
surely_untraced(void *ptr)
{
    return sampling_bytes() != 0 &&
           !sampling_filter_may_hold((uintptr_t)ptr);
}

/* Sampled mode's fast paths.  An allocation that is not sampled (the
   countdown covers it) goes to the wrapped allocator under the guard
   only: pymalloc hands big blocks to PyMem_RawMalloc, whose hook must see
   them as nested (else they would be sampled a second time, as RAW
   blocks, and outlive their free).  A free of a block the filter says is
   not traced goes straight through (a nested RAW free it makes finds
   nothing to remove).  The rest (recording) lives in a separate function
   so that the fast path saves no registers. */
#define UNSAMPLED_CALL(call, after)                                           \
    do {                                                                      \
        in_tracer = 1;                                                        \
        void *block = (call);                                                 \
        in_tracer = 0;                                                        \
        after;                                                                \
        return block;                                                         \
    } while (0)

/* 0.9.1's timer counts every allocation and free of the MEM/OBJ domains
   as an event, sampled or not: the fast paths of sampled mode test its
   flag (one load) and tick here, in the main interpreter only (timer.h:
   its state is the main GIL's). */
static __attribute__((noinline)) void
tick_unsampled(void)
{
    if (in_tracer || !is_tracing()) {
        return; /* nested in the tracer or the allocator; or tracing off */
    }
    PyThreadState *tstate = compat_tstate_gil_known();
    if (gil_context(tstate) == IN_MAIN) {
        in_tracer = 1;
        int saved_errno = errno; /* see "errno" above */
        timer_poll();
        errno = saved_errno;
        in_tracer = 0;
    }
}

static inline void
tick_unsampled_if_due(void)
{
    if (__builtin_expect(
            atomic_load_explicit(&timer_due, memory_order_relaxed), 0)) {
        tick_unsampled();
    }
}

static inline int
passes_unsampled(size_t nelem, size_t elsize)
{
    size_t size;
    if (sampling_bytes() == 0 || in_tracer ||
        __builtin_mul_overflow(nelem, elsize, &size) ||
        size >= sampling_countdown) {
        return 0;
    }
    sampling_countdown -= size;
    return 1;
}

#define SLOW_PATH __attribute__((noinline))

/* malloc (zeroed = 0) or calloc through the wrapped allocator, recording
   the block with `record`.  Inlined into the four hooks below with
   constant arguments. */
static inline void *
traced_allocation(domain_hook *hook, size_t nelem, size_t elsize, int zeroed,
                  void (*record)(void *ptr, size_t size))
{
    PyMemAllocatorEx *wrapped = &hook->wrapped;
    if (in_tracer || hook->quiet) {
        if (in_tracer == IN_TRACER_PROBE) {
            note_probe(hook);
        }
        else if (!in_tracer) {
            /* Quiet: the bytes of another tracer's block count down like
               any others, and a sample landing in them is dropped, so
               that the user's blocks keep their chance of being sampled. */
            (void)sampled_out(nelem * elsize);
        }
        return zeroed ? wrapped->calloc(wrapped->ctx, nelem, elsize)
                      : wrapped->malloc(wrapped->ctx, elsize);
    }
    in_tracer = 1;
    void *ptr = zeroed ? wrapped->calloc(wrapped->ctx, nelem, elsize)
                       : wrapped->malloc(wrapped->ctx, elsize);
    if (ptr != NULL && is_tracing() && !sampled_out(nelem * elsize)) {
        int saved_errno = errno; /* see "errno" above */
        record(ptr, nelem * elsize);
        errno = saved_errno;
    }
    in_tracer = 0;
    return ptr;
}

/* realloc where the old block is in raw_table and other threads allocate
   concurrently (RAW; MEM/OBJ of interpreters other than the main one):
   the old block is removed before the allocator frees it, since once
   freed its address may be handed to another thread and traced again. */
static void locked_realloc_record(void *ptr, void *old_ptr, size_t size,
                                  void (*record)(void *ptr, size_t size),
                                  int was_traced, size_t old_size,
                                  uint32_t old_site, unsigned long epoch);

static void *
locked_realloc(domain_hook *hook, void *old_ptr, size_t size,
               void (*record)(void *ptr, size_t size))
{
    int was_traced = 0;
    size_t old_size = 0;
    uint32_t old_site = 0;
    unsigned long epoch = 0;
    int saved_errno = errno; /* see "errno" above */
    if (old_ptr != NULL) {
        g_mutex_lock(&table_lock);
        was_traced = remove_locked(old_ptr, &old_size, &old_site);
        epoch = reset_epoch;
        g_mutex_unlock(&table_lock);
    }
    errno = saved_errno;
    void *ptr = hook->wrapped.realloc(hook->wrapped.ctx, old_ptr, size);
    saved_errno = errno;
    locked_realloc_record(ptr, old_ptr, size, record, was_traced, old_size,
                          old_site, epoch);
    errno = saved_errno;
    return ptr;
}

/* The second half of locked_realloc, after the allocator's call. */
static void
locked_realloc_record(void *ptr, void *old_ptr, size_t size,
                      void (*record)(void *ptr, size_t size), int was_traced,
                      size_t old_size, uint32_t old_site, unsigned long epoch)
{
    if (ptr != NULL) {
        if (!sampled_out(size)) {
            record(ptr, size);
        }
    }
    else if (was_traced) {
        g_mutex_lock(&table_lock);
        if (is_tracing() && epoch == reset_epoch &&
            traces_add(&raw_table, (uintptr_t)old_ptr, old_size, old_site) <
                0) {
            count_untraced();
        }
        g_mutex_unlock(&table_lock);
    }
}

static SLOW_PATH void *
gil_malloc_traced(void *ctx, size_t size)
{
    return traced_allocation(ctx, 1, size, 0, record_gil_block);
}

static void *
gil_malloc(void *ctx, size_t size)
{
    domain_hook *hook = ctx;
    if (passes_unsampled(1, size)) {
        UNSAMPLED_CALL(hook->wrapped.malloc(hook->wrapped.ctx, size),
                       tick_unsampled_if_due());
    }
    return gil_malloc_traced(ctx, size);
}

static SLOW_PATH void *
gil_calloc_traced(void *ctx, size_t nelem, size_t elsize)
{
    return traced_allocation(ctx, nelem, elsize, 1, record_gil_block);
}

static void *
gil_calloc(void *ctx, size_t nelem, size_t elsize)
{
    domain_hook *hook = ctx;
    if (passes_unsampled(nelem, elsize)) {
        UNSAMPLED_CALL(hook->wrapped.calloc(hook->wrapped.ctx, nelem, elsize),
                       tick_unsampled_if_due());
    }
    return gil_calloc_traced(ctx, nelem, elsize);
}

static void *
gil_realloc(void *ctx, void *old_ptr, size_t size)
{
    domain_hook *hook = ctx;
    if (in_tracer || !is_tracing()) {
        return hook->wrapped.realloc(hook->wrapped.ctx, old_ptr, size);
    }
    in_tracer = 1;
    void *ptr;
    PyThreadState *tstate = compat_tstate_gil_known();
    int context = gil_context(tstate);
    if (context == IN_MAIN) {
        /* Forget the old block while its address is still allocated: a
           thread of another interpreter may be given it once freed. */
        size_t old_size = 0;
        uint32_t old_site = 0;
        int was_traced = 0;
        int saved_errno = errno; /* see "errno" above */
        if (old_ptr != NULL) {
            was_traced = traces_remove(&gil_table, (uintptr_t)old_ptr,
                                       &old_size, &old_site);
            if (!was_traced && atomic_load_explicit(&foreign_blocks,
                                                    memory_order_relaxed)) {
                forget_locked(old_ptr);
            }
        }
        errno = saved_errno;
        ptr = hook->wrapped.realloc(hook->wrapped.ctx, old_ptr, size);
        saved_errno = errno;
        if (ptr != NULL) {
            /* The block now belongs to the line that resized it, as in
               stdlib tracemalloc. */
            if (hook->quiet) {
                /* another tracer's own block: not an event of ours */
            }
            else if (!sampled_out(size)) {
                record_in_main(tstate, ptr, size);
            }
            else {
                timer_tick(); /* an event, sampled or not */
            }
        }
        else if (was_traced &&
                 traces_add(&gil_table, (uintptr_t)old_ptr, old_size,
                            old_site) < 0) {
            /* On failure the old block is untouched: put it back. */
            count_untraced();
        }
        errno = saved_errno;
    }
    else {
        if (old_ptr != NULL && context == IN_SHARED_GIL) {
            /* The old block may be the main interpreter's. */
            traces_remove(&gil_table, (uintptr_t)old_ptr, NULL, NULL);
        }
        ptr = locked_realloc(hook, old_ptr, size,
                             hook->quiet ? record_nothing : record_gil_block);
    }
    in_tracer = 0;
    return ptr;
}

static SLOW_PATH void
gil_free_traced(void *ctx, void *ptr)
{
    domain_hook *hook = ctx;
    if (in_tracer || ptr == NULL) {
        hook->wrapped.free(hook->wrapped.ctx, ptr);
        return;
    }
    in_tracer = 1;
    if (!is_tracing()) {
        hook->wrapped.free(hook->wrapped.ctx, ptr);
        in_tracer = 0;
        return;
    }
    PyThreadState *tstate = compat_tstate_gil_known();
    int context = gil_context(tstate);
    int foreign = atomic_load_explicit(&foreign_blocks, memory_order_relaxed);
    if (context == IN_MAIN && !foreign) {
        /* The block can only be in gil_table, which the main GIL guards:
           nobody can record its address again before the trace is
           removed, even once it is freed.  So free first, with the trace's
           slot being loaded meanwhile: a big table's cache miss overlaps
           the allocator's own. */
        u64map_prefetch(&gil_table.blocks, (uintptr_t)ptr);
        hook->wrapped.free(hook->wrapped.ctx, ptr);
        int saved_errno = errno; /* see "errno" above */
        forget_in_main(ptr, 0);
        errno = saved_errno;
    }
    else {
        /* Forget first: while its address is still allocated, no thread
           of another interpreter can be given it and record it. */
        int saved_errno = errno; /* see "errno" above */
        if (context == IN_MAIN) {
            forget_in_main(ptr, 1);
        }
        else {
            forget_elsewhere(context, ptr);
        }
        errno = saved_errno;
        hook->wrapped.free(hook->wrapped.ctx, ptr);
    }
    in_tracer = 0;
}

static void
gil_free(void *ctx, void *ptr)
{
    domain_hook *hook = ctx;
    /* No guard test: a free the filter lets through passes through the
       slow path too, nested or not (the chain probe of hooks_rejoin()
       looks at allocations only, which keep the test). */
    if (surely_untraced(ptr)) {
        hook->wrapped.free(hook->wrapped.ctx, ptr);
        if (ptr != NULL) {
            tick_unsampled_if_due();
        }
        return;
    }
    gil_free_traced(ctx, ptr);
}

static SLOW_PATH void *
raw_malloc_traced(void *ctx, size_t size)
{
    return traced_allocation(ctx, 1, size, 0, record_raw_block);
}

static void *
raw_malloc(void *ctx, size_t size)
{
    domain_hook *hook = ctx;
    if (passes_unsampled(1, size)) {
        UNSAMPLED_CALL(hook->wrapped.malloc(hook->wrapped.ctx, size),
                       (void)0); /* RAW: no GIL, so no timer */
    }
    return raw_malloc_traced(ctx, size);
}

static SLOW_PATH void *
raw_calloc_traced(void *ctx, size_t nelem, size_t elsize)
{
    return traced_allocation(ctx, nelem, elsize, 1, record_raw_block);
}

static void *
raw_calloc(void *ctx, size_t nelem, size_t elsize)
{
    domain_hook *hook = ctx;
    if (passes_unsampled(nelem, elsize)) {
        UNSAMPLED_CALL(hook->wrapped.calloc(hook->wrapped.ctx, nelem, elsize),
                       (void)0);
    }
    return raw_calloc_traced(ctx, nelem, elsize);
}

static void *
raw_realloc(void *ctx, void *old_ptr, size_t size)
{
    domain_hook *hook = ctx;
    if (in_tracer || !is_tracing()) {
        return hook->wrapped.realloc(hook->wrapped.ctx, old_ptr, size);
    }
    in_tracer = 1;
    void *ptr = locked_realloc(hook, old_ptr, size,
                               hook->quiet ? record_nothing : record_raw_block);
    in_tracer = 0;
    return ptr;
}

static void
raw_free(void *ctx, void *ptr)
{
    domain_hook *hook = ctx;
    if (in_tracer || ptr == NULL || !is_tracing() || surely_untraced(ptr)) {
        hook->wrapped.free(hook->wrapped.ctx, ptr);
        return;
    }
    in_tracer = 1;
    int saved_errno = errno; /* see "errno" above */
    forget_locked(ptr);
    errno = saved_errno;
    hook->wrapped.free(hook->wrapped.ctx, ptr);
    in_tracer = 0;
}

/* ---- installation ---------------------------------------------------------
 */

static void
before_fork(void)
{
    g_mutex_lock(&table_lock);
    sites_lock();
}

static void
after_fork_in_parent(void)
{
    sites_unlock();
    g_mutex_unlock(&table_lock);
}

static void
after_fork_in_child(void)
{
    /* Only this thread survives: the locks it took in before_fork are
       released; tables stay as they were, so tracing goes on. */
    sites_unlock();
    g_mutex_unlock(&table_lock);
}

int
hooks_init(void)
{
    g_mutex_init(&table_lock);
    main_interp = PyInterpreterState_Main();
    /* Frame caches hang on code objects in the main interpreter only, so
       co_extra memory comes from the MEM allocator we wrap there. */
    frames_set_extra_allocator(&hook_mem.wrapped);
    if (sites_init() < 0 || traces_init(&gil_table, 0) < 0 ||
        traces_init(&raw_table, 1) < 0 ||
        traces_init(hooks_ext_table(), TRACES_EXT) < 0 ||
        u64map_init(&owner_of, 64) < 0 || frames_init() < 0) {
        return -1;
    }
    if (pthread_atfork(before_fork, after_fork_in_parent,
                       after_fork_in_child) != 0) {
        return -1;
    }
    return 0;
}

static void
install(PyMemAllocatorDomain domain, domain_hook *hook,
        const PyMemAllocatorEx *ours)
{
    if (hook->installed) {
        return;
    }
    PyMem_GetAllocator(domain, &hook->wrapped);
    PyMem_SetAllocator(domain, (PyMemAllocatorEx *)ours);
    hook->installed = 1;
}

static void
uninstall(PyMemAllocatorDomain domain, domain_hook *hook)
{
    if (!hook->installed) {
        return;
    }
    PyMemAllocatorEx current;
    PyMem_GetAllocator(domain, &current);
    if (current.ctx == hook) {
        PyMem_SetAllocator(domain, &hook->wrapped);
        hook->installed = 0;
    }
    /* else another tracer wrapped ours: stay in its chain, passing
       through, rather than cut it out. */
}

static void
reset_all(void)
{
    frames_drop_caches();
    g_mutex_lock(&table_lock);
    sites_lock();
    traces_reset(&gil_table);
    traces_reset(&raw_table);
    traces_reset(hooks_ext_table());
    (void)u64map_reset(&owner_of, 64);
    memset(owners, 0, sizeof(owners));
    atomic_store(&owned_blocks, 0);
    sites_reset();
    reset_epoch++;
    traces_reset_peak();
    sites_unlock();
    g_mutex_unlock(&table_lock);
}

/* A domain's two instances of our hook and their allocator tables. */
typedef struct {
    PyMemAllocatorDomain domain;
    domain_hook *first;
    domain_hook *top;
    PyMemAllocatorEx first_ops;
    PyMemAllocatorEx top_ops;
} domain_hooks;

static const domain_hooks raw_hooks = {
    PYMEM_DOMAIN_RAW, &hook_raw, &top_raw,
    {&hook_raw, raw_malloc, raw_calloc, raw_realloc, raw_free},
    {&top_raw, raw_malloc, raw_calloc, raw_realloc, raw_free}};
static const domain_hooks mem_hooks = {
    PYMEM_DOMAIN_MEM, &hook_mem, &top_mem,
    {&hook_mem, gil_malloc, gil_calloc, gil_realloc, gil_free},
    {&top_mem, gil_malloc, gil_calloc, gil_realloc, gil_free}};
static const domain_hooks obj_hooks = {
    PYMEM_DOMAIN_OBJ, &hook_obj, &top_obj,
    {&hook_obj, gil_malloc, gil_calloc, gil_realloc, gil_free},
    {&top_obj, gil_malloc, gil_calloc, gil_realloc, gil_free}};
static const domain_hooks *const all_hooks[] = {&raw_hooks, &mem_hooks,
                                                &obj_hooks};


int
hooks_enable(int nframe)
{
    g_mutex_lock(&table_lock);
    frames_set_max_nframe(nframe);
    g_mutex_unlock(&table_lock);
    if (is_tracing()) {
        hooks_rejoin();
        return 0;
    }
    for (size_t i = 0; i < G_N_ELEMENTS(all_hooks); i++) {
        install(all_hooks[i]->domain, all_hooks[i]->first,
                &all_hooks[i]->first_ops);
    }
    atomic_store(&untraced_count, 0);
    g_mutex_lock(&table_lock);
    traces_reset_peak();
    atomic_store(&tracing, 1);
    g_mutex_unlock(&table_lock);
    /* A first instance left in another tracer's chain by an earlier
       disable() records again from there: put the top one above that
       tracer. */
    hooks_rejoin();
    return 0;
}

void
hooks_disable(void)
{
    timer_stop();
    if (!is_tracing()) {
        return;
    }
    g_mutex_lock(&table_lock);
    atomic_store(&tracing, 0);
    g_mutex_unlock(&table_lock);
    for (size_t i = G_N_ELEMENTS(all_hooks); i-- > 0;) {
        const domain_hooks *hooks = all_hooks[i];
        uninstall(hooks->domain, hooks->top);
        uninstall(hooks->domain, hooks->first);
        /* A top instance put back what it wrapped: the first one is the
           only one left in the chain (passing through, tracing off). */
        if (!hooks->top->installed) {
            hooks->first->quiet = 0;
        }
    }
    reset_all();
}

static void
note_probe(void *hook_ctx)
{
    probe_hits |=
        hook_ctx == &hook_raw || hook_ctx == &top_raw ? 1u << PYMEM_DOMAIN_RAW
        : hook_ctx == &hook_mem || hook_ctx == &top_mem
            ? 1u << PYMEM_DOMAIN_MEM
            : 1u << PYMEM_DOMAIN_OBJ;
}

/* Whether an allocation made at the top of `domain` reaches our hook: a
   probe block that our hook lets through unrecorded, so no statistic
   moves.  A wrong "no" would install us twice in one chain, and the
   deeper copy would call the top again: only a probe that could not be
   made says "yes" without having seen us. */
static int
chain_reaches_us(PyMemAllocatorDomain domain)
{
    probe_hits = 0;
    in_tracer = IN_TRACER_PROBE;
    void *probe;
    switch (domain) {
    case PYMEM_DOMAIN_RAW:
        probe = PyMem_RawMalloc(1);
        PyMem_RawFree(probe);
        break;
    case PYMEM_DOMAIN_MEM:
        probe = PyMem_Malloc(1);
        PyMem_Free(probe);
        break;
    default:
        probe = PyObject_Malloc(1);
        PyObject_Free(probe);
        break;
    }
    in_tracer = 0;
    return probe == NULL || (probe_hits & (1u << domain)) != 0;
}

/* Make the domain's chain have one recording instance of our hook, at its
   top where we can: see domain_hook.  Returns 1 when an instance was
   installed. */
static int
settle_domain(const domain_hooks *hooks)
{
    domain_hook *first = hooks->first, *top = hooks->top;
    PyMemAllocatorEx current;
    PyMem_GetAllocator(hooks->domain, &current);
    if (current.ctx == top) {
        return 0;
    }
    if (current.ctx == first) {
        /* The tracer above the first instance put back what it wrapped:
           our top instance went with it. */
        top->installed = 0;
        first->quiet = 0;
        return 0;
    }
    if (!chain_reaches_us(hooks->domain)) {
        /* Cut out: what is on top now is what the cutting tracer wrapped,
           a chain that no longer contains us.  Wrap it again. */
        top->installed = 0;
        first->quiet = 0;
        first->installed = 0;
        install(hooks->domain, first, &hooks->first_ops);
        return 1;
    }
    if (top->installed) {
        /* A second tracer wrapped our top instance: it still records
           everything once (a third instance is not worth its cost). */
        return 0;
    }
    /* Another tracer wrapped the first instance.  Go above it; from now
       on, what the first instance sees is that tracer's own. */
    install(hooks->domain, top, &hooks->top_ops);
    first->quiet = 1;
    return 1;
}

void
hooks_drop_dead_interpreters(void)
{
    if (!atomic_load_explicit(&owned_blocks, memory_order_relaxed)) {
        return;
    }
    /* Ask CPython with none of our locks held: it takes its own. */
    int64_t ids[MAX_OWNERS];
    int gone[MAX_OWNERS];
    g_mutex_lock(&table_lock);
    for (int i = 0; i < MAX_OWNERS; i++) {
        ids[i] = owners[i].interp != NULL ? owners[i].id : -1;
    }
    g_mutex_unlock(&table_lock);
    for (int i = 0; i < MAX_OWNERS; i++) {
        gone[i] = ids[i] >= 0 && !compat_interp_exists(ids[i]);
    }
    g_mutex_lock(&table_lock);
    for (int i = 0; i < MAX_OWNERS; i++) {
        if (gone[i] && owners[i].interp != NULL && owners[i].id == ids[i]) {
            drop_owner(i);
        }
    }
    g_mutex_unlock(&table_lock);
}

int
hooks_rejoin(void)
{
    if (!is_tracing() || in_tracer ||
        gil_context(compat_tstate_gil_known()) != IN_MAIN) {
        return 0;
    }
    int installed = 0;
    for (size_t i = 0; i < G_N_ELEMENTS(all_hooks); i++) {
        installed += settle_domain(all_hooks[i]);
    }
    return installed;
}

int
hooks_is_enabled(void)
{
    return is_tracing();
}

void
hooks_clear_traces(void)
{
    reset_all();
}

size_t
hooks_untraced_count(void)
{
    return atomic_load_explicit(&untraced_count, memory_order_relaxed);
}

void
hooks_settle(void)
{
    traces_settle(&gil_table);
}

void
hooks_lock_tables(void)
{
    hooks_settle();
    g_mutex_lock(&table_lock);
    sites_lock();
}

void
hooks_unlock_tables(void)
{
    sites_unlock();
    g_mutex_unlock(&table_lock);
}

trace_table *
hooks_gil_table(void)
{
    return &gil_table;
}

trace_table *
hooks_raw_table(void)
{
    return &raw_table;
}

void
hooks_untraced_begin(void)
{
    in_tracer++;
}

void
hooks_untraced_end(void)
{
    in_tracer--;
}

static inline int
may_account_objects(void)
{
    return !in_tracer && is_tracing() &&
           gil_context(compat_tstate_gil_known()) == IN_MAIN;
}

int
hooks_may_account_objects(void)
{
    return may_account_objects();
}

void
hooks_note_object_death(uintptr_t block)
{
    if (may_account_objects()) {
        traces_note_dying(&gil_table, block);
        if (atomic_load_explicit(&last_recorded_block, memory_order_relaxed) ==
            block) {
            atomic_store_explicit(&last_recorded_block, 0,
                                  memory_order_relaxed);
        }
    }
}

int
hooks_object_recycled(uintptr_t block)
{
    /* Most objects were just allocated: one load and compare. */
    return atomic_load_explicit(&last_recorded_block, memory_order_relaxed) !=
               block &&
           may_account_objects();
}

/* ==== blocks reported by extensions (issue 14) ============================
 *
 * numpy's array data (through PyTraceMalloc_Track, see gotpatch.c) and the
 * blocks of any extension using our C API.  They live in their own table,
 * keyed by address: a NEP 49 handler may take array data from
 * PyMem_RawMalloc, so one address can be a RAW block and a reported block
 * at once, as stdlib tracemalloc keeps them in two domains.  Guarded by
 * table_lock (callers may hold no GIL); the sites' raw_* counters; the site
 * is the block's domain and the calling thread's traceback, captured as
 * record_raw_block does.  Nothing here allocates Python objects or calls
 * the allocator chain above us.
 */

static trace_table ext_table; /* table_lock */

trace_table *
hooks_ext_table(void)
{
    return &ext_table;
}

/* table_lock held: the site of the same traceback in `domain`.  A memo,
   since native blocks come in runs from the same lines: the sites lock
   and a hash probe otherwise, at every block.  Stale after sites_reset
   (its callers hold table_lock): the generation. */
typedef struct {
    uint32_t site, domain, in_domain;
    unsigned long generation;
} domain_memo_entry;

static domain_memo_entry domain_memo[64]; /* table_lock */

static uint32_t
site_in_domain(uint32_t site, unsigned int domain)
{
    domain_memo_entry *entry = &domain_memo[(site ^ (domain * 0x9E3779B1u)) %
                                            G_N_ELEMENTS(domain_memo)];
    if (entry->site == site && entry->domain == domain &&
        entry->generation == sites_generation && entry->in_domain != 0) {
        return entry->in_domain;
    }
    sites_lock();
    uint32_t in_domain = sites_with_domain(site, domain);
    sites_unlock();
    if (in_domain != 0) {
        *entry =
            (domain_memo_entry){site, domain, in_domain, sites_generation};
    }
    return in_domain;
}

/* The domain hooks_native_record and hooks_native_put accept (0: none):
   native tracing's, while it is on.  Under table_lock, so that a wrapper
   that saw native tracing on just before it went off cannot record a
   block after hooks_forget_domain emptied the domain (its free would go
   unseen). */
static unsigned int open_native_domain; /* table_lock */

void
hooks_native_open(unsigned int domain)
{
    g_mutex_lock(&table_lock);
    open_native_domain = domain;
    g_mutex_unlock(&table_lock);
}

/* Record (or move) the block at ptr in `domain` on the calling thread's
   traceback: 1 recorded, 0 sampled out (a trace of the block forgotten),
   -1 out of memory (counted untraced), -2 not tracing (or, `native`, the
   domain not open). */
static int
record_reported(unsigned int domain, uintptr_t ptr, size_t size, int native)
{
    if (!is_tracing()) {
        return -2;
    }
    if (sampled_out(size)) {
        /* Sampled mode, not sampled (a block reported by an extension is
           sampled like any other).  A block reported again, resized, is
           forgotten: its old size would stay otherwise. */
        if (!surely_untraced((void *)ptr)) {
            int nested = in_tracer;
            in_tracer = 1;
            g_mutex_lock(&table_lock);
            traces_remove(&ext_table, ptr, NULL, NULL);
            g_mutex_unlock(&table_lock);
            in_tracer = nested;
        }
        return 0;
    }
    int nested = in_tracer;
    in_tracer = 1;
    PyThreadState *tstate = compat_tstate_holding_gil();
    /* With the main GIL, and not inside the tracer (whose GIL paths may be
       using the frame buffers), the cached site, found before the table
       lock is taken as on the RAW path; otherwise under the lock, from the
       thread's own frames. */
    int cached = !nested && tstate != NULL &&
                 compat_tstate_interp(tstate) == main_interp;
    uint32_t site = cached ? frames_capture_site_with_gil(tstate) : 0;
    if (tstate == NULL) {
        tstate = compat_tstate_of_this_thread();
    }
    int status = -2;
    g_mutex_lock(&table_lock);
    if (is_tracing() && (!native || domain == open_native_domain)) {
        if (!cached) {
            site = frames_capture_site(tstate, 0);
        }
        if (site != 0 && domain != 0) {
            site = site_in_domain(site, domain);
        }
        status = 1;
        if (site == 0 || traces_add(&ext_table, ptr, size, site) < 0) {
            count_untraced();
            status = -1;
        }
    }
    g_mutex_unlock(&table_lock);
    in_tracer = nested;
    return status;
}

int
hooks_track_block(unsigned int domain, uintptr_t ptr, size_t size)
{
    int status = record_reported(domain, ptr, size, 0);
    return status > 0 ? 0 : status;
}

int
hooks_native_record(unsigned int domain, uintptr_t ptr, size_t size)
{
    /* Inside the tracer (a library it calls allocating) the table lock may
       be held by this very thread. */
    if (in_tracer) {
        return 0;
    }
    return record_reported(domain, ptr, size, 1) > 0;
}

int
hooks_native_take(unsigned int domain, uintptr_t ptr, hooks_taken *taken)
{
    if (in_tracer || !is_tracing() || surely_untraced((void *)ptr)) {
        return 0;
    }
    in_tracer = 1;
    int found = 0;
    g_mutex_lock(&table_lock);
    /* One probe: removed, then put back in the rare case of a block of
       another domain (an extension's reported block freed before its
       untrack). */
    if (traces_remove(&ext_table, ptr, &taken->size, &taken->site)) {
        if (site_get(taken->site)->domain == domain) {
            found = 1;
            taken->epoch = reset_epoch;
        }
        else if (traces_add(&ext_table, ptr, taken->size, taken->site) < 0) {
            count_untraced();
        }
    }
    g_mutex_unlock(&table_lock);
    in_tracer = 0;
    return found;
}

int
hooks_native_put(uintptr_t ptr, size_t size, const hooks_taken *taken)
{
    if (in_tracer || !is_tracing()) {
        return 0;
    }
    in_tracer = 1;
    int status = 0;
    g_mutex_lock(&table_lock);
    /* After a reset (clear_traces, disable) the site id names nothing. */
    if (is_tracing() && taken->epoch == reset_epoch &&
        site_get(taken->site)->domain == open_native_domain) {
        status = traces_add(&ext_table, ptr, size, taken->site) == 0;
        if (!status) {
            count_untraced();
        }
    }
    g_mutex_unlock(&table_lock);
    in_tracer = 0;
    return status;
}

void
hooks_forget_domain(unsigned int domain)
{
    in_tracer = 1;
    g_mutex_lock(&table_lock);
    if (open_native_domain == domain) {
        open_native_domain = 0;
    }
    /* A removal may shift entries back over the slot being read: walk
       again until a walk finds nothing.  (Not tracing: the table is
       empty.) */
    for (int removed = is_tracing(); removed;) {
        removed = 0;
        u64map *blocks = &ext_table.blocks;
        for (size_t i = 0; blocks->slots != NULL && i <= blocks->mask; i++) {
            u64map_slot *slot = &blocks->slots[i];
            uint32_t site = (uint32_t)slot->value;
            if (slot->key != 0 && slot->value != 0 &&
                site != TRACES_PARKED_SITE &&
                site_get(site)->domain == domain) {
                removed |= traces_remove(&ext_table, (uintptr_t)slot->key,
                                         NULL, NULL);
            }
        }
    }
    g_mutex_unlock(&table_lock);
    in_tracer = 0;
}

int
hooks_untrack_block(unsigned int domain, uintptr_t ptr)
{
    if (!is_tracing()) {
        return -2;
    }
    int removed = 0;
    g_mutex_lock(&table_lock);
    if (is_tracing()) {
        size_t size;
        uint32_t site;
        if (traces_lookup(&ext_table, ptr, &size, &site) &&
            site_get(site)->domain == domain) {
            removed = traces_remove(&ext_table, ptr, NULL, NULL);
        }
        else if (domain == 0) {
            /* stdlib's domain 0 is every CPython allocator: numpy's default
               handler untracks the RAW block it just took, then reports it
               as array data, which must not count twice. */
            removed = remove_locked((void *)ptr, NULL, NULL);
        }
    }
    g_mutex_unlock(&table_lock);
    PyThreadState *tstate = compat_tstate_holding_gil();
    if (!removed && domain == 0 && tstate != NULL &&
        compat_tstate_interp(tstate) == main_interp && is_tracing()) {
        traces_remove(&gil_table, ptr, NULL, NULL);
    }
    return 0;
}
