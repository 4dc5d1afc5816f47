/* pytracemalloc's C API: let pytracemalloc see the buffers of your
 * extension, as PyTraceMalloc_Track/Untrack do for stdlib tracemalloc.
 *
 * No linking against pytracemalloc: the functions are reached through a
 * capsule.  Import it once, with the GIL, at module init:
 *
 *     static const PyTracemalloc_CAPI *tracer;
 *     ...
 *     tracer = PyTracemalloc_ImportCAPI();   // NULL: pytracemalloc absent
 *     if (tracer == NULL) PyErr_Clear();
 *
 * then, from any thread, with or without the GIL, tracing on or off:
 *
 *     void *buffer = malloc(size);
 *     if (tracer) tracer->track(MY_DOMAIN, (uintptr_t)buffer, size);
 *     ...
 *     if (tracer) tracer->untrack(MY_DOMAIN, (uintptr_t)buffer);
 *     free(buffer);
 *
 * track() records the block on the calling thread's Python traceback in
 * `domain` (any value but 0 for your own blocks: DomainFilter(True,
 * domain) keeps them); tracking an address again moves it.  untrack()
 * forgets it.  Both return 0, or -2 when pytracemalloc is not tracing
 * (nothing done); track() returns -1 when the tracer is out of memory (the
 * block is counted by get_untraced_count()).  Neither raises, allocates a
 * Python object, nor calls the Python allocators.  They do not report to
 * stdlib tracemalloc: call PyTraceMalloc_Track for that (pytracemalloc
 * sees those calls too, see README.rst).
 *
 * The struct only grows: fields are appended, `version` counts them.
 */
#ifndef PYTRACEMALLOC_CAPI_H
#define PYTRACEMALLOC_CAPI_H

#include <Python.h>
#include <stddef.h>
#include <stdint.h>

#define PYTRACEMALLOC_CAPI_NAME "pytracemalloc._tracemalloc._C_API"
#define PYTRACEMALLOC_CAPI_VERSION 1
/* numpy's domain for array data (NPY_TRACE_DOMAIN). */
#define PYTRACEMALLOC_NUMPY_DOMAIN 389047

typedef struct {
    unsigned int version; /* PYTRACEMALLOC_CAPI_VERSION of the engine */
    int (*track)(unsigned int domain, uintptr_t ptr, size_t size);
    int (*untrack)(unsigned int domain, uintptr_t ptr);
} PyTracemalloc_CAPI;

/* The API, or NULL with an exception set (ImportError when pytracemalloc
   is not installed).  GIL held. */
static inline const PyTracemalloc_CAPI *
PyTracemalloc_ImportCAPI(void)
{
    return (const PyTracemalloc_CAPI *)PyCapsule_Import(
        PYTRACEMALLOC_CAPI_NAME, 0);
}

#endif
