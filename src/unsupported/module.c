/* The engine's stand-in on interpreters it does not support, chosen by
 * setup.py (the only place that decides which interpreters are supported):
 * importing it raises ImportError saying why, so `import pytracemalloc`
 * fails with one clear message instead of a build error or a crash.
 *
 * PYTRACEMALLOC_UNSUPPORTED_REASON is defined by setup.py.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#ifndef PYTRACEMALLOC_UNSUPPORTED_REASON
#  define PYTRACEMALLOC_UNSUPPORTED_REASON \
    "pytracemalloc does not support this interpreter"
#endif

PyMODINIT_FUNC
PyInit__tracemalloc(void)
{
    PyErr_SetString(PyExc_ImportError, PYTRACEMALLOC_UNSUPPORTED_REASON);
    return NULL;
}
