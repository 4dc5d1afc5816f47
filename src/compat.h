/* compat: every piece of CPython internals pytracemalloc reads, in one place,
 * keyed on PY_VERSION_HEX.
 *
 * Contract
 * - Include this header first in a translation unit that needs it: it asks
 *   Python.h for the internal API (Py_BUILD_CORE).
 * - The engine is built only for the interpreters it knows (CPython 3.11 to
 *   3.15 with the GIL): setup.py builds src/unsupported/module.c instead
 *   elsewhere, and this header refuses to compile there.
 * - Frame access functions read only the calling thread's own frame stack,
 *   never allocate, never raise, and are safe without the GIL.
 * - Nothing here allocates or calls into the allocator chain: the hooks
 *   use all of it.
 */
#ifndef PYTRACEMALLOC_COMPAT_H
#define PYTRACEMALLOC_COMPAT_H

#ifndef Py_BUILD_CORE
#  define Py_BUILD_CORE 1
#endif
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#if defined(Py_GIL_DISABLED)
#  error "free-threaded CPython: setup.py builds src/unsupported/module.c"
#elif PY_VERSION_HEX < 0x030B0000 || PY_VERSION_HEX >= 0x03100000
#  error "CPython 3.11 to 3.15 only: setup.py builds src/unsupported/module.c"
#endif

/* CPython's internal headers are not written for -Wextra -Werror. */
#  pragma GCC diagnostic push
#  pragma GCC diagnostic ignored "-Wunused-parameter"
#  pragma GCC diagnostic ignored "-Wsign-compare"
#  pragma GCC diagnostic ignored "-Wint-to-pointer-cast"
#  pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#  include "internal/pycore_code.h"
#  include "internal/pycore_frame.h"
#  if PY_VERSION_HEX >= 0x030E0000
/* 3.14 moved the frame accessors (_PyFrame_GetCode, _PyFrame_IsIncomplete,
   _PyInterpreterFrame_LASTI) out of pycore_frame.h into
   pycore_interpframe.h, the struct into pycore_interpframe_structs.h. */
#    include "internal/pycore_interpframe.h"
#  endif
#  include "internal/pycore_object.h"
#  if PY_VERSION_HEX >= 0x030C0000
#    include "internal/pycore_interp.h"
#  endif
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

/* The thread's most recent frame, complete or not, or NULL. */
static inline compat_frame *
compat_top_frame(PyThreadState *tstate)
{
#  if PY_VERSION_HEX >= 0x030D0000
    return tstate->current_frame;
#  else
    return tstate->cframe->current_frame;
#  endif
}

/* The most recent complete Python frame of a thread, or NULL. */
static inline compat_frame *
compat_current_frame(PyThreadState *tstate)
{
    return compat_first_complete(compat_top_frame(tstate));
}

static inline compat_frame *
compat_previous_frame(compat_frame *frame)
{
    return compat_first_complete(frame->previous);
}

/* The frame's instruction pointer, as stored (the last instruction run
   before 3.13, the next one from 3.13 on): with the code object, it tells
   which code unit the frame is at, without the arithmetic of LASTI. */
static inline const void *
compat_frame_instr(compat_frame *frame)
{
#  if PY_VERSION_HEX >= 0x030D0000
    return frame->instr_ptr;
#  else
    return frame->prev_instr;
#  endif
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

/* The code's qualified name (co_qualname, a field since 3.11: bpo-44530),
   read as is: a str that lives as long as the code. */
static inline PyObject *
compat_code_qualname(PyCodeObject *code)
{
    return code->co_qualname;
}

/* Whether an instruction pointer (compat_frame_instr) points into the
   code object's bytecode, the unit before its first included (where 3.11
   puts a frame that has run nothing yet). */
static inline int
compat_code_holds_instr(PyCodeObject *code, const void *instr)
{
    const _Py_CODEUNIT *first = _PyCode_CODE(code);
    const _Py_CODEUNIT *unit = instr;
    return unit >= first - 1 && unit < first + Py_SIZE(code);
}

#  if PY_VERSION_HEX >= 0x030C0000
#    define compat_request_code_extra_index PyUnstable_Eval_RequestCodeExtraIndex
#  else
#    define compat_request_code_extra_index _PyEval_RequestCodeExtraIndex
#  endif

/* The layout of co_extra (private to Objects/codeobject.c in 3.11,
   _PyCodeObjectExtra later; the same from 3.6 to 3.15). */
typedef struct {
    Py_ssize_t ce_size;
    void *ce_extras[1];
} compat_code_extra;

/* Read a code object's extra slot without a function call: this is on the
   path of every allocation.  NULL when the slot was never set. */
static inline void *
compat_code_get_extra(PyCodeObject *code, Py_ssize_t index)
{
    compat_code_extra *extra = (compat_code_extra *)code->co_extra;
    if (extra == NULL || index >= extra->ce_size) {
        return NULL;
    }
    return extra->ce_extras[index];
}

/* Set a code object's extra slot, as PyUnstable_Code_SetExtra does, but
   from inside an allocator hook: the co_extra array, when it must be
   created or grown, comes from `below` (the allocator the hook wraps, which
   ends where code_dealloc's PyMem_Free ends), never from the top of the
   allocator chain, which may be another tracer holding its lock while it
   called us.  Never raises; the previous value of the slot is overwritten
   without calling its free function (the caller owns it).  Returns 0, or
   -1 when memory is missing. */
static inline int
compat_code_set_extra_below(PyCodeObject *code, Py_ssize_t index, void *value,
                            const PyMemAllocatorEx *below)
{
    compat_code_extra *extra = (compat_code_extra *)code->co_extra;
    if (extra == NULL || index >= extra->ce_size) {
        if (value == NULL) {
            return 0;
        }
        Py_ssize_t old_size = extra == NULL ? 0 : extra->ce_size;
        size_t bytes = sizeof(compat_code_extra) + (size_t)index * sizeof(void *);
        extra = below->realloc(below->ctx, extra, bytes);
        if (extra == NULL) {
            return -1;
        }
        for (Py_ssize_t i = old_size; i <= index; i++) {
            extra->ce_extras[i] = NULL;
        }
        extra->ce_size = index + 1;
        code->co_extra = extra;
    }
    extra->ce_extras[index] = value;
    return 0;
}

/* Where the engine hangs its per-code cache.  Through 3.13, on the code
   object's co_extra slot, whose destructor tells when the code dies.  3.14
   refuses to share a function between interpreters when its code carries
   co_extra (_PyCode_CheckNoInternalState: "only basic code objects are
   supported"; concurrent.interpreters' call() and InterpreterPoolExecutor
   share functions), so from 3.14 on the cache lives in the engine's own
   map, and a code watcher (PyCode_AddWatcher, 3.12+) tells when a code
   object of the main interpreter dies. */
#  if PY_VERSION_HEX >= 0x030E0000
#    define COMPAT_CODE_CACHE_IN_CO_EXTRA 0
static void (*compat_code_destroyed)(PyCodeObject *code);

static __attribute__((unused)) int
compat_code_event(PyCodeEvent event, PyCodeObject *code)
{
    if (event == PY_CODE_EVENT_DESTROY && compat_code_destroyed != NULL) {
        compat_code_destroyed(code);
    }
    return 0;
}
#  else
#    define COMPAT_CODE_CACHE_IN_CO_EXTRA 1
#  endif

/* Have destroyed(code) called, with the GIL, before each code object of
   the calling interpreter is deallocated: from 3.14 on only (before, the
   co_extra destructor does it).  Once, at init.  0, or -1 with an
   exception set. */
static __attribute__((unused)) int
compat_watch_code_deaths(void (*destroyed)(PyCodeObject *code))
{
#  if PY_VERSION_HEX >= 0x030E0000
    compat_code_destroyed = destroyed;
    return PyCode_AddWatcher(compat_code_event) < 0 ? -1 : 0;
#  else
    (void)destroyed;
    return 0;
#  endif
}

/* --- interpreters -------------------------------------------------------- */

static inline PyInterpreterState *
compat_tstate_interp(PyThreadState *tstate)
{
    return tstate->interp;
}

/* Whether threads of `interp` run under the main interpreter's GIL: always
   before 3.12; from 3.12 on, an interpreter created with its own GIL
   ("isolated") runs in parallel with the main one. */
static inline int
compat_interp_shares_main_gil(PyInterpreterState *interp,
                              PyInterpreterState *main_interp)
{
#  if PY_VERSION_HEX >= 0x030C0000
    return interp == main_interp || interp->ceval.gil == main_interp->ceval.gil;
#  else
    (void)interp;
    (void)main_interp;
    return 1;
#  endif
}

/* An interpreter's id: read from the struct, no call (never reused, unlike
   the struct's address). */
static inline int64_t
compat_interp_id(PyInterpreterState *interp)
{
    return interp->id;
}

/* Whether the interpreter of that id still exists.  Not for a hook: it
   takes the runtime's interpreter-list lock and may set (and here clears)
   an exception; call it with the main GIL, no lock of ours held, no
   exception pending. */
static inline int
compat_interp_exists(int64_t id)
{
    PyInterpreterState *found = _PyInterpreterState_LookUpID(id);
    if (found == NULL) {
        PyErr_Clear();
    }
    return found != NULL;
}

/* Whether a MEM/OBJ allocator call made where no thread state is current
   (interpreter start-up and finalization) holds the main GIL: before 3.12
   there is one GIL, which those calls require; from 3.12 on nothing says
   which GIL, if any, such a caller holds. */
static inline int
compat_null_tstate_holds_main_gil(void)
{
    return PY_VERSION_HEX < 0x030C0000;
}

/* --- objects ------------------------------------------------------------- */

/* Where the memory block holding obj starts: the GC header and, on 3.11+,
   the managed-dict/weakref pre-header come before the object. */
static inline void *
compat_object_block(PyObject *obj)
{
    return (char *)obj - _PyType_PreHeaderSize(Py_TYPE(obj));
}

#endif
