#include "freelists.h"

#include <dlfcn.h>
#include <errno.h>

#include "frames.h"
#include "hooks.h"
#include "sampling.h"
#include "traces.h"

/* The API added by patches/python3.11-free-list-hooks.patch.  Our own
   layout: the patch is ours. */
typedef struct {
    void *ctx;
    void (*keep)(void *ctx, void *block);
    void (*reuse)(void *ctx, void *block);
} free_list_hooks;
typedef void (*set_hooks_function)(const free_list_hooks *hooks);

/* Set once at import. */
static set_hooks_function set_free_list_hooks;

/* Sampled mode (issue 17): most blocks are not in the table, so look
   before capturing a site for a reused block. */
static inline int
worth_moving(uintptr_t block)
{
    return sampling_bytes() == 0 || (sampling_filter_may_hold(block) &&
                                     traces_holds(hooks_gil_table(), block));
}

static void
keep_block(void *Py_UNUSED(ctx), void *block)
{
    if (!hooks_may_account_objects()) {
        return;
    }
    traces_park(hooks_gil_table(), (uintptr_t)block);
}

/* A block a free list handed out again (GIL held, objects accountable):
   it moves to the line creating its object. */
static void
move_to_current_line(uintptr_t block)
{
    hooks_untraced_begin();
    int saved_errno = errno; /* the sites lock may leave EAGAIN (hooks.c) */
    uint32_t site = frames_capture_site_with_gil(compat_tstate_gil_known());
    if (site != 0) {
        traces_move(hooks_gil_table(), block, site);
    }
    errno = saved_errno;
    hooks_untraced_end();
}

static void
reuse_block(void *Py_UNUSED(ctx), void *block)
{
    if (hooks_may_account_objects() && worth_moving((uintptr_t)block)) {
        move_to_current_line((uintptr_t)block);
    }
}

#if PY_VERSION_HEX >= 0x030D0000
/* PyRefTracer (3.13+): told of every object's creation and destruction.
   A created object whose block was not just allocated came from a free
   list: it moves to the creating line.  A destroyed object's block is
   parked: if the allocator frees it next, nothing changes; if a free list
   keeps it, it stays out of the statistics until it is created again.
   The tracer slot is shared (stdlib tracemalloc uses it too): the tracer
   that was installed before ours is called from ours. */
static PyRefTracer previous_tracer; /* GIL */
static void *previous_tracer_data;  /* GIL */
static int ref_tracer_installed;    /* GIL */

/* An object was created in `block`; 0, so that the tracer ends on a tail
   call.  Out of line: the common event returns before it. */
static __attribute__((noinline)) int
account_creation(uintptr_t block)
{
    if (hooks_object_recycled(block) && worth_moving(block)) {
        move_to_current_line(block);
    }
    return 0;
}

static __attribute__((noinline)) int
account_death(uintptr_t block)
{
    hooks_note_object_death(block);
    return 0;
}

/* One event, no tracer chained: no register to save, every call a tail
   call (it runs for every object created and destroyed). */
static inline int
account_reference(PyObject *obj, PyRefTracerEvent event)
{
    uintptr_t block = (uintptr_t)compat_object_block(obj);
    /* Sampled mode: the table surely does not hold most blocks (the
       filter of sampling.h), and then an object's birth or death changes
       nothing, not even the last recorded block's note (a block just
       recorded is in the table): one inline test, no call. */
    if (sampling_bytes() != 0 && !sampling_filter_may_hold(block)) {
        return 0;
    }
    return event == PyRefTracer_DESTROY ? account_death(block)
                                        : account_creation(block);
}

static __attribute__((noinline)) int
trace_reference_chained(PyObject *obj, PyRefTracerEvent event)
{
    (void)account_reference(obj, event);
    return previous_tracer(obj, event, previous_tracer_data);
}

static int
trace_reference(PyObject *obj, PyRefTracerEvent event, void *data)
{
    (void)data;
    if (previous_tracer != NULL) {
        return trace_reference_chained(obj, event);
    }
    return account_reference(obj, event);
}

static int
ref_tracer_is_ours(void)
{
    void *data;
    return PyRefTracer_GetTracer(&data) == trace_reference;
}
#endif

int
freelists_init(void)
{
    set_free_list_hooks =
        (set_hooks_function)dlsym(RTLD_DEFAULT, "PyFreeList_SetHooks");
    return 0;
}

const char *
freelists_mode(void)
{
    if (set_free_list_hooks != NULL) {
        return "hooks";
    }
#if PY_VERSION_HEX >= 0x030D0000
    if (!ref_tracer_installed || ref_tracer_is_ours()) {
        return "reftracer";
    }
    /* Another tool replaced our reference tracer since enable(). */
    return "untracked";
#endif
#if PY_VERSION_HEX < 0x030D0000 && !defined(WITH_FREELISTS)
    /* pyconfig.h of a 3.11/3.12 interpreter built --without-freelists */
    return "disabled";
#else
    return "untracked";
#endif
}

void
freelists_start(void)
{
    if (set_free_list_hooks != NULL) {
        static const free_list_hooks ours = {NULL, keep_block, reuse_block};
        set_free_list_hooks(&ours);
    }
#if PY_VERSION_HEX >= 0x030D0000
    if (!ref_tracer_installed) {
        previous_tracer = PyRefTracer_GetTracer(&previous_tracer_data);
        if (PyRefTracer_SetTracer(trace_reference, NULL) == 0) {
            ref_tracer_installed = 1;
        }
        else {
            PyErr_Clear();
        }
    }
#endif
}

void
freelists_rejoin(void)
{
#if PY_VERSION_HEX >= 0x030D0000
    /* stdlib tracemalloc's stop() clears the reference tracer, ours
       included when it had replaced ours: take the empty slot back. */
    void *data;
    if (ref_tracer_installed && PyRefTracer_GetTracer(&data) == NULL) {
        previous_tracer = NULL;
        previous_tracer_data = NULL;
        (void)PyRefTracer_SetTracer(trace_reference, NULL);
    }
#endif
}

void
freelists_stop(void)
{
    if (set_free_list_hooks != NULL) {
        set_free_list_hooks(NULL);
    }
#if PY_VERSION_HEX >= 0x030D0000
    if (ref_tracer_installed) {
        /* Put back the tracer we chained to, unless another tool installed
           its own since: then leave it be. */
        if (ref_tracer_is_ours()) {
            (void)PyRefTracer_SetTracer(previous_tracer, previous_tracer_data);
        }
        previous_tracer = NULL;
        previous_tracer_data = NULL;
        ref_tracer_installed = 0;
    }
#endif
}

