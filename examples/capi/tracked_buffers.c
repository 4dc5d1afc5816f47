/* tracked_buffers: an extension whose buffers pytracemalloc sees, through
 * its C API (pytracemalloc/include/pytracemalloc_capi.h; README.rst,
 * "Extensions").  It works without pytracemalloc too: then nothing is
 * reported.
 *
 *     import pytracemalloc, tracked_buffers
 *     pytracemalloc.enable()
 *     handle = tracked_buffers.alloc(10**6)     # seen on this line
 *     tracked_buffers.free(handle)
 *
 * Build: python examples/capi/setup.py build_ext --inplace
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <pthread.h>
#include <stdlib.h>

#include "pytracemalloc_capi.h"

/* Our blocks' domain: any number but 0 and numpy's 389047. */
#define BUFFERS_DOMAIN 4242
/* The domain of the blocks reported the stdlib way, with
   PyTraceMalloc_Track (which pytracemalloc sees too). */
#define STDLIB_WAY_DOMAIN 4243

static const PyTracemalloc_CAPI *tracer;

static void *
tracked_malloc(size_t size)
{
    void *buffer = malloc(size ? size : 1);
    if (buffer != NULL && tracer != NULL) {
        tracer->track(BUFFERS_DOMAIN, (uintptr_t)buffer, size);
    }
    return buffer;
}

static void
tracked_free(void *buffer)
{
    if (tracer != NULL) {
        tracer->untrack(BUFFERS_DOMAIN, (uintptr_t)buffer);
    }
    free(buffer);
}

/* alloc(size) -> handle (the address, as an int). */
static PyObject *
buffers_alloc(PyObject *Py_UNUSED(module), PyObject *arg)
{
    size_t size = PyLong_AsSize_t(arg);
    if (size == (size_t)-1 && PyErr_Occurred()) {
        return NULL;
    }
    void *buffer = tracked_malloc(size);
    if (buffer == NULL) {
        return PyErr_NoMemory();
    }
    return PyLong_FromVoidPtr(buffer);
}

static PyObject *
buffers_free(PyObject *Py_UNUSED(module), PyObject *arg)
{
    void *buffer = PyLong_AsVoidPtr(arg);
    if (buffer == NULL && PyErr_Occurred()) {
        return NULL;
    }
    tracked_free(buffer);
    Py_RETURN_NONE;
}

/* alloc_stdlib_way(size) -> handle: reported with CPython's
   PyTraceMalloc_Track, for stdlib tracemalloc; pytracemalloc sees it
   without any change to this code. */
static PyObject *
buffers_alloc_stdlib_way(PyObject *Py_UNUSED(module), PyObject *arg)
{
    size_t size = PyLong_AsSize_t(arg);
    if (size == (size_t)-1 && PyErr_Occurred()) {
        return NULL;
    }
    void *buffer = malloc(size ? size : 1);
    if (buffer == NULL) {
        return PyErr_NoMemory();
    }
    PyTraceMalloc_Track(STDLIB_WAY_DOMAIN, (uintptr_t)buffer, size);
    return PyLong_FromVoidPtr(buffer);
}

static PyObject *
buffers_free_stdlib_way(PyObject *Py_UNUSED(module), PyObject *arg)
{
    void *buffer = PyLong_AsVoidPtr(arg);
    if (buffer == NULL && PyErr_Occurred()) {
        return NULL;
    }
    PyTraceMalloc_Untrack(STDLIB_WAY_DOMAIN, (uintptr_t)buffer);
    free(buffer);
    Py_RETURN_NONE;
}

typedef struct {
    size_t size;
    void *buffer;
} thread_job;

static void *
allocate_in_thread(void *arg)
{
    thread_job *job = arg;
    job->buffer = tracked_malloc(job->size);
    return NULL;
}

/* alloc_without_gil(size) -> handle: allocated and reported by a C thread
   that never holds the GIL. */
static PyObject *
buffers_alloc_without_gil(PyObject *Py_UNUSED(module), PyObject *arg)
{
    thread_job job = {PyLong_AsSize_t(arg), NULL};
    if (job.size == (size_t)-1 && PyErr_Occurred()) {
        return NULL;
    }
    pthread_t thread;
    int status;
    Py_BEGIN_ALLOW_THREADS
    status = pthread_create(&thread, NULL, allocate_in_thread, &job);
    if (status == 0) {
        pthread_join(thread, NULL);
    }
    Py_END_ALLOW_THREADS
    if (status != 0 || job.buffer == NULL) {
        return PyErr_NoMemory();
    }
    return PyLong_FromVoidPtr(job.buffer);
}

/* The C API's answer for one track/untrack pair, for the tests: 0 while
   tracing, -2 when not. */
static PyObject *
buffers_probe(PyObject *Py_UNUSED(module), PyObject *Py_UNUSED(args))
{
    if (tracer == NULL) {
        Py_RETURN_NONE;
    }
    char byte;
    int tracked = tracer->track(BUFFERS_DOMAIN, (uintptr_t)&byte, 1);
    int untracked = tracer->untrack(BUFFERS_DOMAIN, (uintptr_t)&byte);
    return Py_BuildValue("(ii)", tracked, untracked);
}

static PyMethodDef buffers_methods[] = {
    {"alloc", buffers_alloc, METH_O, "alloc(size) -> handle"},
    {"free", buffers_free, METH_O, "free(handle)"},
    {"alloc_without_gil", buffers_alloc_without_gil, METH_O,
     "alloc_without_gil(size) -> handle, from a C thread"},
    {"probe", buffers_probe, METH_NOARGS, NULL},
    {"alloc_stdlib_way", buffers_alloc_stdlib_way, METH_O,
     "alloc_stdlib_way(size) -> handle, reported with PyTraceMalloc_Track"},
    {"free_stdlib_way", buffers_free_stdlib_way, METH_O, NULL},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef buffers_module = {
    PyModuleDef_HEAD_INIT, "tracked_buffers", NULL, -1, buffers_methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC
PyInit_tracked_buffers(void)
{
    tracer = PyTracemalloc_ImportCAPI();
    if (tracer == NULL) {
        PyErr_Clear(); /* pytracemalloc is optional */
    }
    PyObject *module = PyModule_Create(&buffers_module);
    if (module != NULL &&
        (PyModule_AddIntConstant(module, "DOMAIN", BUFFERS_DOMAIN) < 0 ||
         PyModule_AddIntConstant(module, "STDLIB_WAY_DOMAIN",
                                 STDLIB_WAY_DOMAIN) < 0)) {
        Py_CLEAR(module);
    }
    return module;
}
