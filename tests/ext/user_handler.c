/* A NEP 49 allocation handler for the tests: plain libc, never the Python
 * allocators, counting its calls so a test can tell it was used. */
#define PY_SSIZE_T_CLEAN
#define NPY_NO_DEPRECATED_API NPY_1_22_API_VERSION
#include <Python.h>
#include <numpy/arrayobject.h>
#include <stdatomic.h>
#include <stdlib.h>

static atomic_size_t calls;

static void *
user_malloc(void *ctx, size_t size)
{
    (void)ctx;
    atomic_fetch_add(&calls, 1);
    return malloc(size);
}

static void *
user_calloc(void *ctx, size_t nelem, size_t elsize)
{
    (void)ctx;
    atomic_fetch_add(&calls, 1);
    return calloc(nelem, elsize);
}

static void *
user_realloc(void *ctx, void *ptr, size_t size)
{
    (void)ctx;
    atomic_fetch_add(&calls, 1);
    return realloc(ptr, size);
}

static void
user_free(void *ctx, void *ptr, size_t size)
{
    (void)ctx;
    (void)size;
    free(ptr);
}

static PyDataMem_Handler handler = {
    "pytracemalloc_test_handler",
    1,
    {NULL, user_malloc, user_calloc, user_realloc, user_free},
};

/* install() -> the previous handler (a capsule), for restore(). */
static PyObject *
install(PyObject *Py_UNUSED(module), PyObject *Py_UNUSED(args))
{
    PyObject *capsule = PyCapsule_New(&handler, "mem_handler", NULL);
    if (capsule == NULL) {
        return NULL;
    }
    PyObject *old = PyDataMem_SetHandler(capsule);
    Py_DECREF(capsule);
    return old;
}

static PyObject *
restore(PyObject *Py_UNUSED(module), PyObject *old)
{
    PyObject *previous = PyDataMem_SetHandler(old);
    if (previous == NULL) {
        return NULL;
    }
    Py_DECREF(previous);
    Py_RETURN_NONE;
}

static PyObject *
get_calls(PyObject *Py_UNUSED(module), PyObject *Py_UNUSED(args))
{
    return PyLong_FromSize_t(atomic_load(&calls));
}

static PyMethodDef methods[] = {
    {"install", install, METH_NOARGS, NULL},
    {"restore", restore, METH_O, NULL},
    {"calls", get_calls, METH_NOARGS, NULL},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT, "user_handler", NULL, -1, methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC
PyInit_user_handler(void)
{
    import_array();
    return PyModule_Create(&module_def);
}
