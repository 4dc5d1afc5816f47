/* compat: every piece of CPython internals pytracemalloc reads, in one place,
 * keyed on PY_VERSION_HEX.
 *
 * Contract
 * - Include this header first in a translation unit that needs it: it asks
 *   Python.h for the internal API (Py_BUILD_CORE).
 * - COMPAT_SUPPORTED is 1 on the interpreters the engine knows (CPython
 *   3.11 to 3.15 with the GIL); elsewhere it is 0, COMPAT_UNSUPPORTED_REASON
 *   says why, and the module refuses to import.
 * - Frame access functions read only the calling thread's own frame stack,
 *   never allocate, never raise, and are safe without the GIL.
 */
#ifndef PYTRACEMALLOC_COMPAT_H
#define PYTRACEMALLOC_COMPAT_H

#ifndef Py_BUILD_CORE
#  define Py_BUILD_CORE 1
#endif
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#if defined(Py_GIL_DISABLED)
#  define COMPAT_SUPPORTED 0
#  define COMPAT_UNSUPPORTED_REASON \
    "pytracemalloc does not support free-threaded CPython (--disable-gil): " \
    "its MEM and OBJ hooks rely on the GIL to guard the trace tables"
#elif PY_VERSION_HEX < 0x030B0000 || PY_VERSION_HEX >= 0x03100000
#  define COMPAT_SUPPORTED 0
#  define COMPAT_UNSUPPORTED_REASON \
    "pytracemalloc supports CPython 3.11 to 3.15 only"
#else
#  define COMPAT_SUPPORTED 1
#endif

#if COMPAT_SUPPORTED
/* CPython's internal headers are not written for -Wextra -Werror. */
#  pragma GCC diagnostic push
#  pragma GCC diagnostic ignored "-Wunused-parameter"
#  pragma GCC diagnostic ignored "-Wsign-compare"
#  pragma GCC diagnostic ignored "-Wint-to-pointer-cast"
#  pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#  include "internal/pycore_code.h"
#  include "internal/pycore_frame.h"
#  include "internal/pycore_object.h"
#  pragma GCC diagnostic pop

typedef _PyInterpreterFrame compat_frame;

/* --- thread state ------------------------------------------------------ */

/* The calling thread's thread state when it holds the GIL, else NULL. */
static inline PyThreadState *
compat_tstate_holding_gil(void)
{
#  if PY_VERSION_HEX >= 0x030D0000
    return PyThreadState_GetUnchecked();
#  elif PY_VERSION_HEX >= 0x030C0000
    return _PyThreadState_UncheckedGet();
#  else
    /* 3.11: the "current" thread state is the GIL holder's, whichever
       thread asks, so compare it with this thread's own. */
    PyThreadState *current = _PyThreadState_UncheckedGet();
    if (current != NULL && current == PyGILState_GetThisThreadState()) {
        return current;
    }
    return NULL;
#  endif
}

/* The thread state of a caller known to hold the GIL (MEM and OBJ hooks):
   one read, no check. */
static inline PyThreadState *
compat_tstate_gil_known(void)
{
#  if PY_VERSION_HEX >= 0x030D0000
    return PyThreadState_GetUnchecked();
#  elif PY_VERSION_HEX >= 0x030C0000
    return _PyThreadState_UncheckedGet();
#  else
    /* 3.11: an atomic load of the runtime's GIL holder, inlined. */
    return _PyThreadState_GET();
#  endif
}

/* The calling thread's own thread state, GIL or not (NULL for a C thread
   that never ran Python). */
static inline PyThreadState *
compat_tstate_of_this_thread(void)
{
    return PyGILState_GetThisThreadState();
}

/* --- frames -------------------------------------------------------------- */

static inline PyCodeObject *
compat_frame_code(compat_frame *frame)
{
#  if PY_VERSION_HEX >= 0x030D0000
    return _PyFrame_GetCode(frame);
#  else
    return frame->f_code;
#  endif
}

/* Whether the frame has started running its code: frames being set up and
   the interpreter's own shim frames are skipped, as stdlib tracemalloc
   does. */
static inline int
compat_frame_is_complete(compat_frame *frame)
{
#  if PY_VERSION_HEX >= 0x030E0000
    if (frame->owner >= FRAME_OWNED_BY_INTERPRETER) {
        return 0;
    }
    if (!PyCode_Check(PyStackRef_AsPyObjectBorrow(frame->f_executable))) {
        return 0;
    }
#  elif PY_VERSION_HEX >= 0x030D0000
    /* 3.13: the executable of a frame may be something else than code. */
    if (frame->f_executable == NULL || !PyCode_Check(frame->f_executable)) {
        return 0;
    }
#  endif
    return !_PyFrame_IsIncomplete(frame);
}

static inline compat_frame *
compat_first_complete(compat_frame *frame)
{
    while (frame != NULL && !compat_frame_is_complete(frame)) {
        frame = frame->previous;
    }
    return frame;
}

/* The most recent complete Python frame of a thread, or NULL. */
static inline compat_frame *
compat_current_frame(PyThreadState *tstate)
{
#  if PY_VERSION_HEX >= 0x030D0000
    return compat_first_complete(tstate->current_frame);
#  else
    return compat_first_complete(tstate->cframe->current_frame);
#  endif
}

static inline compat_frame *
compat_previous_frame(compat_frame *frame)
{
    return compat_first_complete(frame->previous);
}

/* Index of the code unit the frame is executing (stdlib's "lasti"); -1 for
   a frame that has not executed any instruction yet. */
static inline int
compat_frame_lasti(compat_frame *frame)
{
    return _PyInterpreterFrame_LASTI(frame);
}

/* --- code objects -------------------------------------------------------- */

static inline Py_ssize_t
compat_code_units(PyCodeObject *code)
{
    return Py_SIZE(code);
}

#  if PY_VERSION_HEX >= 0x030C0000
#    define compat_request_code_extra_index PyUnstable_Eval_RequestCodeExtraIndex
#    define compat_code_set_extra PyUnstable_Code_SetExtra
#  else
#    define compat_request_code_extra_index _PyEval_RequestCodeExtraIndex
#    define compat_code_set_extra _PyCode_SetExtra
#  endif

/* Read a code object's extra slot without a function call: this is on the
   path of every allocation.  NULL when the slot was never set. */
/* The layout of co_extra (private to Objects/codeobject.c in 3.11, the
   same from 3.6 to 3.15). */
typedef struct {
    Py_ssize_t ce_size;
    void *ce_extras[1];
} compat_code_extra;

static inline void *
compat_code_get_extra(PyCodeObject *code, Py_ssize_t index)
{
    compat_code_extra *extra = (compat_code_extra *)code->co_extra;
    if (extra == NULL || index >= extra->ce_size) {
        return NULL;
    }
    return extra->ce_extras[index];
}

/* --- objects ------------------------------------------------------------- */

/* Where the memory block holding obj starts: the GC header and, on 3.11+,
   the managed-dict/weakref pre-header come before the object. */
static inline void *
compat_object_block(PyObject *obj)
{
    return (char *)obj - _PyType_PreHeaderSize(Py_TYPE(obj));
}

#endif /* COMPAT_SUPPORTED */
#endif
