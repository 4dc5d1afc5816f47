#include "hooks.h"

#include <glib.h>
#include <pthread.h>
#include <stdatomic.h>

#include "frames.h"
#include "freelists.h"
#include "sampling.h"
#include "sites.h"
#include "timer.h"

/* Nothing to build where the engine refuses to import (module.c says
   why). */
#if COMPAT_SUPPORTED

typedef struct {
    PyMemAllocatorEx wrapped; /* the allocator we call through to */
    int installed;            /* our hook is somewhere in the chain */
} domain_hook;

/* Written with the GIL by enable/disable; read by the hooks. */
static domain_hook hook_raw;
static domain_hook hook_mem;
static domain_hook hook_obj;

/* Whether hooks record.  Written with the GIL and the raw lock held; read
   by every hook without a lock (a hook that sees a stale value re-checks
   under its lock: the RAW path; or holds the GIL: the others). */
static atomic_int tracing;

/* The reentrancy guard: set while this thread runs tracer code or the
   allocator we wrap.  initial-exec: one instruction to read, no call. */
static _Thread_local int in_tracer __attribute__((tls_model("initial-exec")));

static trace_table gil_table; /* the GIL */
static trace_table raw_table; /* raw_lock */
static GMutex raw_lock;
/* Bumped (under raw_lock) by every reset: a RAW realloc that removed a
   block before calling the allocator puts it back only when no reset
   happened meanwhile, since its site id would be stale. */
static unsigned long reset_epoch;

static atomic_size_t untraced_count;

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

/* Sampled mode (issue 17): whether a new block is left out.  In exact mode
   one predictable branch; in sampled mode an unsampled block costs the
   countdown's compare and subtraction (sampling.h). */
static inline int
sampled_out(size_t size)
{
    return sampling_bytes() != 0 && sampling_skip(size);
}

/* ---- MEM and OBJ domains: called with the GIL --------------------------- */

/* See hooks_last_recorded_block().  The GIL. */
static uintptr_t last_recorded_block;

static void
record_with_gil(void *ptr, size_t size)
{
    last_recorded_block = (uintptr_t)ptr;
    uint32_t site = frames_capture_site_with_gil(compat_tstate_gil_known());
    if (site == 0 || traces_add(&gil_table, (uintptr_t)ptr, size, site) < 0) {
        count_untraced();
    }
    timer_tick();
}

/* malloc (zeroed = 0) or calloc through the wrapped allocator, recording
   the block with `record` (the GIL or the RAW path).  Inlined into the
   four hooks below with constant arguments. */
static inline void *
traced_allocation(domain_hook *hook, size_t nelem, size_t elsize, int zeroed,
                  void (*record)(void *ptr, size_t size))
{
    PyMemAllocatorEx *wrapped = &hook->wrapped;
    if (in_tracer) {
        return zeroed ? wrapped->calloc(wrapped->ctx, nelem, elsize)
                      : wrapped->malloc(wrapped->ctx, elsize);
    }
    in_tracer = 1;
    void *ptr = zeroed ? wrapped->calloc(wrapped->ctx, nelem, elsize)
                       : wrapped->malloc(wrapped->ctx, elsize);
    if (ptr != NULL && is_tracing() && !sampled_out(nelem * elsize)) {
        record(ptr, nelem * elsize);
    }
    in_tracer = 0;
    return ptr;
}

static void *
gil_malloc(void *ctx, size_t size)
{
    return traced_allocation(ctx, 1, size, 0, record_with_gil);
}

static void *
gil_calloc(void *ctx, size_t nelem, size_t elsize)
{
    return traced_allocation(ctx, nelem, elsize, 1, record_with_gil);
}

static void *
gil_realloc(void *ctx, void *old_ptr, size_t size)
{
    domain_hook *hook = ctx;
    if (in_tracer) {
        return hook->wrapped.realloc(hook->wrapped.ctx, old_ptr, size);
    }
    in_tracer = 1;
    void *ptr = hook->wrapped.realloc(hook->wrapped.ctx, old_ptr, size);
    if (ptr != NULL && is_tracing()) {
        /* The block now belongs to the line that resized it, as in stdlib
           tracemalloc.  On failure the old block is untouched. */
        if (old_ptr != NULL) {
            traces_remove(&gil_table, (uintptr_t)old_ptr, NULL, NULL);
        }
        if (!sampled_out(size)) {
            record_with_gil(ptr, size);
        }
    }
    in_tracer = 0;
    return ptr;
}

static void
gil_free(void *ctx, void *ptr)
{
    domain_hook *hook = ctx;
    if (in_tracer || ptr == NULL) {
        hook->wrapped.free(hook->wrapped.ctx, ptr);
        return;
    }
    in_tracer = 1;
    if (is_tracing()) {
        traces_remove(&gil_table, (uintptr_t)ptr, NULL, NULL);
    }
    hook->wrapped.free(hook->wrapped.ctx, ptr);
    in_tracer = 0;
}

/* ---- RAW domain: maybe without the GIL ---------------------------------- */

/* Record a RAW block; takes the raw lock. */
static void
record_raw(void *ptr, size_t size)
{
    PyThreadState *tstate = compat_tstate_holding_gil();
    int with_gil = tstate != NULL;
    if (!with_gil) {
        tstate = compat_tstate_of_this_thread();
    }
    g_mutex_lock(&raw_lock);
    if (is_tracing()) {
        uint32_t site = frames_capture_site(tstate, with_gil);
        if (site == 0 ||
            traces_add(&raw_table, (uintptr_t)ptr, size, site) < 0) {
            count_untraced();
        }
    }
    g_mutex_unlock(&raw_lock);
}

static void *
raw_malloc(void *ctx, size_t size)
{
    return traced_allocation(ctx, 1, size, 0, record_raw);
}

static void *
raw_calloc(void *ctx, size_t nelem, size_t elsize)
{
    return traced_allocation(ctx, nelem, elsize, 1, record_raw);
}

static void *
raw_realloc(void *ctx, void *old_ptr, size_t size)
{
    domain_hook *hook = ctx;
    if (in_tracer || !is_tracing()) {
        return hook->wrapped.realloc(hook->wrapped.ctx, old_ptr, size);
    }
    in_tracer = 1;
    /* Remove the old block before the allocator frees it: once freed, its
       address may be handed to another thread and traced again. */
    int was_traced = 0;
    size_t old_size = 0;
    uint32_t old_site = 0;
    unsigned long epoch = 0;
    if (old_ptr != NULL) {
        g_mutex_lock(&raw_lock);
        was_traced = traces_remove(&raw_table, (uintptr_t)old_ptr, &old_size,
                                   &old_site);
        epoch = reset_epoch;
        g_mutex_unlock(&raw_lock);
    }
    void *ptr = hook->wrapped.realloc(hook->wrapped.ctx, old_ptr, size);
    if (ptr != NULL) {
        if (!sampled_out(size)) {
            record_raw(ptr, size);
        }
    }
    else if (was_traced) {
        g_mutex_lock(&raw_lock);
        if (is_tracing() && epoch == reset_epoch &&
            traces_add(&raw_table, (uintptr_t)old_ptr, old_size, old_site) <
                0) {
            count_untraced();
        }
        g_mutex_unlock(&raw_lock);
    }
    in_tracer = 0;
    return ptr;
}

static void
raw_free(void *ctx, void *ptr)
{
    domain_hook *hook = ctx;
    if (in_tracer || ptr == NULL || !is_tracing()) {
        hook->wrapped.free(hook->wrapped.ctx, ptr);
        return;
    }
    in_tracer = 1;
    g_mutex_lock(&raw_lock);
    traces_remove(&raw_table, (uintptr_t)ptr, NULL, NULL);
    g_mutex_unlock(&raw_lock);
    hook->wrapped.free(hook->wrapped.ctx, ptr);
    in_tracer = 0;
}

/* ---- installation ---------------------------------------------------------
 */

static void
before_fork(void)
{
    g_mutex_lock(&raw_lock);
    sites_lock();
}

static void
after_fork_in_parent(void)
{
    sites_unlock();
    g_mutex_unlock(&raw_lock);
}

static void
after_fork_in_child(void)
{
    /* Only this thread survives: the locks it took in before_fork are
       released; tables stay as they were, so tracing goes on. */
    sites_unlock();
    g_mutex_unlock(&raw_lock);
}

int
hooks_init(void)
{
    g_mutex_init(&raw_lock);
    if (sites_init() < 0 || traces_init(&gil_table, 0) < 0 ||
        traces_init(&raw_table, 1) < 0 || frames_init() < 0 ||
        freelists_init() < 0) {
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
    g_mutex_lock(&raw_lock);
    sites_lock();
    traces_reset(&gil_table);
    traces_reset(&raw_table);
    sites_reset();
    reset_epoch++;
    traces_reset_peak();
    sites_unlock();
    g_mutex_unlock(&raw_lock);
}

int
hooks_enable(int nframe)
{
    static const PyMemAllocatorEx raw_hooks = {
        &hook_raw, raw_malloc, raw_calloc, raw_realloc, raw_free};
    static const PyMemAllocatorEx mem_hooks = {
        &hook_mem, gil_malloc, gil_calloc, gil_realloc, gil_free};
    static const PyMemAllocatorEx obj_hooks = {
        &hook_obj, gil_malloc, gil_calloc, gil_realloc, gil_free};

    g_mutex_lock(&raw_lock);
    frames_set_max_nframe(nframe);
    g_mutex_unlock(&raw_lock);
    if (is_tracing()) {
        return 0;
    }
    install(PYMEM_DOMAIN_RAW, &hook_raw, &raw_hooks);
    install(PYMEM_DOMAIN_MEM, &hook_mem, &mem_hooks);
    install(PYMEM_DOMAIN_OBJ, &hook_obj, &obj_hooks);
    freelists_start();
    atomic_store(&untraced_count, 0);
    g_mutex_lock(&raw_lock);
    traces_reset_peak();
    atomic_store(&tracing, 1);
    g_mutex_unlock(&raw_lock);
    return 0;
}

void
hooks_disable(void)
{
    timer_stop();
    if (!is_tracing()) {
        return;
    }
    g_mutex_lock(&raw_lock);
    atomic_store(&tracing, 0);
    g_mutex_unlock(&raw_lock);
    freelists_stop();
    uninstall(PYMEM_DOMAIN_OBJ, &hook_obj);
    uninstall(PYMEM_DOMAIN_MEM, &hook_mem);
    uninstall(PYMEM_DOMAIN_RAW, &hook_raw);
    reset_all();
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
hooks_lock_tables(void)
{
    g_mutex_lock(&raw_lock);
    sites_lock();
}

void
hooks_unlock_tables(void)
{
    sites_unlock();
    g_mutex_unlock(&raw_lock);
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

uintptr_t
hooks_last_recorded_block(void)
{
    return last_recorded_block;
}

int
hooks_in_tracer(void)
{
    return in_tracer;
}

#endif /* COMPAT_SUPPORTED */
