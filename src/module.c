/* module: the Python face of the engine, pytracemalloc._tracemalloc.
 *
 * Contract
 * - The only file that raises Python exceptions: engine functions return
 *   0/-1 and this file turns -1 into MemoryError/ValueError.
 * - Read-outs copy the statistics under the locks (readout.c), then build
 *   Python objects with tracing suspended for this thread, so the tracer's
 *   own objects never appear in its statistics.
 * - Functions prefixed with _test_ exist for the test suite: they allocate
 *   and free blocks of a known size, in a chosen domain, at the caller's
 *   line, and inject out-of-memory failures into the tracer.
 */
#include "compat.h"

#include <errno.h>
#include <pthread.h>

#include "frames.h"
#include "freelists.h"
#include "gotpatch.h"
#include "hooks.h"
#include "pytracemalloc_capi.h"
#include "rawmem.h"
#include "readout.h"
#include "sites.h"
#include "timer.h"

static PyObject *
decode_filename(const readout *r, uint32_t filename_id, PyObject **cache)
{
    if (cache[filename_id] == NULL) {
        size_t length;
        const char *utf8 = readout_filename(r, filename_id, &length);
        cache[filename_id] =
            PyUnicode_DecodeUTF8(utf8, (Py_ssize_t)length, "replace");
    }
    return cache[filename_id];
}

static PyObject **
new_filename_cache(const readout *r)
{
    PyObject **cache = PyMem_RawCalloc(r->n_filenames, sizeof(PyObject *));
    if (cache == NULL) {
        PyErr_NoMemory();
    }
    return cache;
}

static void
free_filename_cache(const readout *r, PyObject **cache)
{
    if (cache == NULL) {
        return;
    }
    for (uint32_t i = 0; i < r->n_filenames; i++) {
        Py_XDECREF(cache[i]);
    }
    PyMem_RawFree(cache);
}

/* (filename, lineno) of a frame id. */
static PyObject *
frame_tuple(const readout *r, uint32_t frame_id, PyObject **cache)
{
    tm_frame frame = r->frames[frame_id];
    PyObject *filename = decode_filename(r, frame.filename_id, cache);
    if (filename == NULL) {
        return NULL;
    }
    return Py_BuildValue("(Oi)", filename, frame.lineno);
}

/* ---- enable / disable -----------------------------------------------------
 */

static PyObject *
tm_enable(PyObject *Py_UNUSED(module), PyObject *args, PyObject *kwargs)
{
    static char *keywords[] = {"nframe", NULL};
    int nframe = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "|i:enable", keywords,
                                     &nframe)) {
        return NULL;
    }
    if (PyTuple_GET_SIZE(args) == 0 &&
        (kwargs == NULL || PyDict_GET_SIZE(kwargs) == 0)) {
        /* enable() with no argument: as in 0.9.1, nothing changes while
           tracing (PYTRACEMALLOC=25 keeps its 25 frames). */
        nframe = hooks_is_enabled() ? frames_max_nframe() : 1;
    }
    if (nframe < 1 || nframe > FRAMES_MAX_NFRAME) {
        PyErr_Format(PyExc_ValueError,
                     "the number of frames must be in range [1; %d]",
                     FRAMES_MAX_NFRAME);
        return NULL;
    }
    if (hooks_enable(nframe) < 0) {
        return PyErr_NoMemory();
    }
    freelists_start();
    /* See the blocks that extensions report to tracemalloc (numpy's
       array data), from the modules loaded now and those loaded later. */
    gotpatch_install();
    Py_RETURN_NONE;
}

static PyObject *
tm_disable(PyObject *Py_UNUSED(module), PyObject *Py_UNUSED(args))
{
    freelists_stop();
    hooks_disable();
    Py_RETURN_NONE;
}

static PyObject *
tm_is_enabled(PyObject *Py_UNUSED(module), PyObject *Py_UNUSED(args))
{
    return PyBool_FromLong(hooks_is_enabled());
}

static PyObject *
tm_get_traceback_limit(PyObject *Py_UNUSED(module), PyObject *Py_UNUSED(args))
{
    return PyLong_FromLong(frames_max_nframe());
}

static PyObject *
tm_clear_traces(PyObject *Py_UNUSED(module), PyObject *Py_UNUSED(args))
{
    hooks_clear_traces();
    Py_RETURN_NONE;
}

/* Before every read-out: put our hooks back where another tracer cut them
   out, and drop the blocks of interpreters gone since.  Returns how many
   allocator domains were re-joined. */
static int
rejoin_and_tidy(void)
{
    int rejoined = hooks_rejoin();
    if (hooks_is_enabled()) {
        freelists_rejoin();
    }
    hooks_drop_dead_interpreters();
    return rejoined;
}

static PyObject *
tm_is_main_interpreter(PyObject *Py_UNUSED(module), PyObject *Py_UNUSED(args))
{
    return PyBool_FromLong(PyInterpreterState_Get() ==
                           PyInterpreterState_Main());
}

static PyObject *
tm_rejoin(PyObject *Py_UNUSED(module), PyObject *Py_UNUSED(args))
{
    return PyLong_FromLong(rejoin_and_tidy());
}

static PyObject *
tm_get_traced_memory(PyObject *Py_UNUSED(module), PyObject *Py_UNUSED(args))
{
    if (!hooks_is_enabled()) {
        return Py_BuildValue("(ii)", 0, 0);
    }
    rejoin_and_tidy();
    size_t current = traces_current();
    size_t peak = traces_peak();
    return Py_BuildValue("(nn)", (Py_ssize_t)current, (Py_ssize_t)peak);
}

static PyObject *
tm_reset_peak(PyObject *Py_UNUSED(module), PyObject *Py_UNUSED(args))
{
    hooks_lock_tables();
    traces_reset_peak();
    hooks_unlock_tables();
    Py_RETURN_NONE;
}

static PyObject *
tm_get_tracemalloc_memory(PyObject *Py_UNUSED(module),
                          PyObject *Py_UNUSED(args))
{
    return PyLong_FromSize_t(rawmem_used());
}

static PyObject *
tm_get_untraced_count(PyObject *Py_UNUSED(module), PyObject *Py_UNUSED(args))
{
    return PyLong_FromSize_t(hooks_untraced_count());
}

static PyObject *
tm_get_free_list_mode(PyObject *Py_UNUSED(module), PyObject *Py_UNUSED(args))
{
    return PyUnicode_FromString(freelists_mode());
}

static PyObject *
tm_get_traced_blocks(PyObject *Py_UNUSED(module), PyObject *Py_UNUSED(args))
{
    hooks_lock_tables();
    size_t count = traces_count(hooks_gil_table()) +
                   traces_count(hooks_raw_table()) +
                   traces_count(hooks_ext_table());
    hooks_unlock_tables();
    return PyLong_FromSize_t(count);
}

/* ---- read-outs ------------------------------------------------------------
 */

/* {filename: {lineno: (size, count)}} by the most recent frame. */
static PyObject *
build_stats(const readout *r)
{
    PyObject *result = NULL;
    PyObject **names = NULL;
    size_t *line_size = calloc(r->n_frames, sizeof(size_t));
    size_t *line_count = calloc(r->n_frames, sizeof(size_t));
    if (line_size == NULL || line_count == NULL) {
        PyErr_NoMemory();
        goto error;
    }
    for (uint32_t i = 0; i < r->n_sites; i++) {
        uint32_t frame_id = r->frame_ids[r->sites[i].first_frame];
        line_size[frame_id] += r->sites[i].size;
        line_count[frame_id] += r->sites[i].count;
    }
    names = new_filename_cache(r);
    result = PyDict_New();
    if (names == NULL || result == NULL) {
        goto error;
    }
    for (uint32_t frame_id = 1; frame_id < r->n_frames; frame_id++) {
        if (line_count[frame_id] == 0) {
            continue;
        }
        tm_frame frame = r->frames[frame_id];
        PyObject *filename = decode_filename(r, frame.filename_id, names);
        if (filename == NULL) {
            goto error;
        }
        PyObject *lines = PyDict_GetItemWithError(result, filename);
        if (lines == NULL) {
            if (PyErr_Occurred()) {
                goto error;
            }
            lines = PyDict_New();
            if (lines == NULL || PyDict_SetItem(result, filename, lines) < 0) {
                Py_XDECREF(lines);
                goto error;
            }
            Py_DECREF(lines);
        }
        PyObject *lineno = PyLong_FromLong(frame.lineno);
        PyObject *value =
            Py_BuildValue("(nn)", (Py_ssize_t)line_size[frame_id],
                          (Py_ssize_t)line_count[frame_id]);
        int status = (lineno == NULL || value == NULL)
                         ? -1
                         : PyDict_SetItem(lines, lineno, value);
        Py_XDECREF(lineno);
        Py_XDECREF(value);
        if (status < 0) {
            goto error;
        }
    }
    free(line_size);
    free(line_count);
    free_filename_cache(r, names);
    return result;

error:
    free(line_size);
    free(line_count);
    free_filename_cache(r, names);
    Py_XDECREF(result);
    return NULL;
}

/* [(size, count, ((filename, lineno), ...)[, domain]), ...], frames most
   recent first. */
static PyObject *
build_sites_of(const readout *r, int with_domain)
{
    PyObject **names = new_filename_cache(r);
    PyObject *frames = NULL;
    PyObject *result = NULL;
    if (names == NULL) {
        return NULL;
    }
    /* One tuple per frame id, shared by every traceback that has it. */
    frames = PyList_New(r->n_frames);
    result = PyList_New(r->n_sites);
    if (frames == NULL || result == NULL) {
        goto error;
    }
    for (uint32_t i = 0; i < r->n_sites; i++) {
        const readout_site *site = &r->sites[i];
        PyObject *traceback = PyTuple_New(site->nframe);
        if (traceback == NULL) {
            goto error;
        }
        PyList_SET_ITEM(result, i, NULL);
        for (uint32_t k = 0; k < site->nframe; k++) {
            uint32_t frame_id = r->frame_ids[site->first_frame + k];
            PyObject *frame = PyList_GET_ITEM(frames, frame_id);
            if (frame == NULL) {
                frame = frame_tuple(r, frame_id, names);
                if (frame == NULL) {
                    Py_DECREF(traceback);
                    goto error;
                }
                PyList_SET_ITEM(frames, frame_id, frame);
            }
            Py_INCREF(frame);
            PyTuple_SET_ITEM(traceback, k, frame);
        }
        PyObject *entry =
            with_domain
                ? Py_BuildValue("(nnNI)", (Py_ssize_t)site->size,
                                (Py_ssize_t)site->count, traceback,
                                (unsigned int)site->domain)
                : Py_BuildValue("(nnN)", (Py_ssize_t)site->size,
                                (Py_ssize_t)site->count, traceback);
        if (entry == NULL) {
            goto error;
        }
        PyList_SET_ITEM(result, i, entry);
    }
    Py_DECREF(frames);
    free_filename_cache(r, names);
    return result;

error:
    Py_XDECREF(frames);
    Py_XDECREF(result);
    free_filename_cache(r, names);
    return NULL;
}

static PyObject *
build_sites(const readout *r)
{
    return build_sites_of(r, 0);
}

static PyObject *
build_domain_sites(const readout *r)
{
    return build_sites_of(r, 1);
}

static PyObject *
read_out(PyObject *(*build)(const readout *), int with_tracebacks)
{
    readout copy;
    rejoin_and_tidy();
    if (readout_take(&copy, with_tracebacks) < 0) {
        return PyErr_NoMemory();
    }
    hooks_untraced_begin();
    PyObject *result = build(&copy);
    hooks_untraced_end();
    readout_free(&copy);
    return result;
}

static PyObject *
tm_get_stats(PyObject *Py_UNUSED(module), PyObject *Py_UNUSED(args))
{
    return read_out(build_stats, 0);
}

static PyObject *
tm_get_sites(PyObject *Py_UNUSED(module), PyObject *args)
{
    int with_domain = 0;
    if (!PyArg_ParseTuple(args, "|p:_get_sites", &with_domain)) {
        return NULL;
    }
    return read_out(with_domain ? build_domain_sites : build_sites, 1);
}

/* The objects (extension modules) whose PyTraceMalloc_Track/Untrack calls
   reach us. */
static PyObject *
tm_get_reporters(PyObject *Py_UNUSED(module), PyObject *Py_UNUSED(args))
{
    size_t needed = gotpatch_names(NULL, 0);
    char *names = malloc(needed ? needed : 1);
    if (names == NULL) {
        return PyErr_NoMemory();
    }
    size_t got = gotpatch_names(names, needed);
    if (got > needed) {
        got = 0; /* an object loaded meanwhile: report none rather than
                    a cut list */
    }
    PyObject *result = PyList_New(0);
    for (size_t at = 0; result != NULL && at < got;) {
        size_t length = strlen(names + at);
        PyObject *name =
            PyUnicode_DecodeFSDefaultAndSize(names + at, (Py_ssize_t)length);
        if (name == NULL || PyList_Append(result, name) < 0) {
            Py_XDECREF(name);
            Py_CLEAR(result);
            break;
        }
        Py_DECREF(name);
        at += length + 1;
    }
    free(names);
    return result;
}

/* The trace of the block holding obj: (size, filename, lineno), or with
   whole_traceback its frames; None when the block is not traced. */
static PyObject *
object_trace(PyObject *obj, int whole_traceback)
{
    if (!hooks_is_enabled()) {
        Py_RETURN_NONE;
    }
    readout copy;
    int found = readout_block((uintptr_t)compat_object_block(obj), &copy);
    if (found < 0) {
        return PyErr_NoMemory();
    }
    if (found == 0) {
        Py_RETURN_NONE;
    }
    PyObject *result = NULL;
    hooks_untraced_begin();
    PyObject **names = new_filename_cache(&copy);
    const readout_site *site = &copy.sites[0];
    if (names != NULL && whole_traceback) {
        result = PyTuple_New(site->nframe);
        for (uint32_t k = 0; result != NULL && k < site->nframe; k++) {
            PyObject *frame = frame_tuple(
                &copy, copy.frame_ids[site->first_frame + k], names);
            if (frame == NULL) {
                Py_CLEAR(result);
                break;
            }
            PyTuple_SET_ITEM(result, k, frame);
        }
    }
    else if (names != NULL) {
        tm_frame frame = copy.frames[copy.frame_ids[site->first_frame]];
        PyObject *filename = decode_filename(&copy, frame.filename_id, names);
        if (filename != NULL) {
            result = Py_BuildValue("(nOi)", (Py_ssize_t)site->size, filename,
                                   frame.lineno);
        }
    }
    free_filename_cache(&copy, names);
    hooks_untraced_end();
    readout_free(&copy);
    return result;
}

static PyObject *
tm_get_object_trace(PyObject *Py_UNUSED(module), PyObject *obj)
{
    return object_trace(obj, 0);
}

static PyObject *
tm_get_object_traceback(PyObject *Py_UNUSED(module), PyObject *obj)
{
    return object_trace(obj, 1);
}

/* ---- timer
 * ------------------------------------------------------------------ */

static PyObject *
tm_start_timer(PyObject *Py_UNUSED(module), PyObject *args, PyObject *kwargs)
{
    static char *keywords[] = {"delay", "func", "args", "kwargs", NULL};
    double delay;
    PyObject *func;
    PyObject *func_args = NULL;
    PyObject *func_kwargs = NULL;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "dO|OO:start_timer",
                                     keywords, &delay, &func, &func_args,
                                     &func_kwargs)) {
        return NULL;
    }
    if (timer_start(delay, func, func_args, func_kwargs) < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyObject *
tm_stop_timer(PyObject *Py_UNUSED(module), PyObject *Py_UNUSED(args))
{
    timer_stop();
    Py_RETURN_NONE;
}

/* ---- test helpers
 * ------------------------------------------------------------- */

static int
parse_domain(int value, PyMemAllocatorDomain *domain)
{
    if (value != PYMEM_DOMAIN_RAW && value != PYMEM_DOMAIN_MEM &&
        value != PYMEM_DOMAIN_OBJ) {
        PyErr_SetString(PyExc_ValueError, "unknown allocator domain");
        return -1;
    }
    *domain = (PyMemAllocatorDomain)value;
    return 0;
}

static void *
domain_malloc(PyMemAllocatorDomain domain, size_t size)
{
    switch (domain) {
    case PYMEM_DOMAIN_RAW:
        return PyMem_RawMalloc(size);
    case PYMEM_DOMAIN_MEM:
        return PyMem_Malloc(size);
    default:
        return PyObject_Malloc(size);
    }
}

static void *
domain_calloc(PyMemAllocatorDomain domain, size_t nelem, size_t elsize)
{
    switch (domain) {
    case PYMEM_DOMAIN_RAW:
        return PyMem_RawCalloc(nelem, elsize);
    case PYMEM_DOMAIN_MEM:
        return PyMem_Calloc(nelem, elsize);
    default:
        return PyObject_Calloc(nelem, elsize);
    }
}

static void *
domain_realloc(PyMemAllocatorDomain domain, void *ptr, size_t size)
{
    switch (domain) {
    case PYMEM_DOMAIN_RAW:
        return PyMem_RawRealloc(ptr, size);
    case PYMEM_DOMAIN_MEM:
        return PyMem_Realloc(ptr, size);
    default:
        return PyObject_Realloc(ptr, size);
    }
}

static void
domain_free(PyMemAllocatorDomain domain, void *ptr)
{
    switch (domain) {
    case PYMEM_DOMAIN_RAW:
        PyMem_RawFree(ptr);
        break;
    case PYMEM_DOMAIN_MEM:
        PyMem_Free(ptr);
        break;
    default:
        PyObject_Free(ptr);
    }
}

/* Test blocks are named by a handle, the lowest free one: while fewer than
   257 blocks live it is a small int, which CPython keeps preallocated, so a
   test helper's line allocates nothing but the block itself.  Guarded by
   the GIL. */
#define TEST_HANDLES 8192
static void *test_blocks[TEST_HANDLES];

static PyObject *
new_handle(void *ptr)
{
    if (ptr == NULL) {
        return PyErr_NoMemory();
    }
    for (int handle = 0; handle < TEST_HANDLES; handle++) {
        if (test_blocks[handle] == NULL) {
            test_blocks[handle] = ptr;
            return PyLong_FromLong(handle);
        }
    }
    PyErr_SetString(PyExc_RuntimeError, "too many live test blocks");
    return NULL;
}

static int
parse_handle(int handle)
{
    if (handle < 0 || handle >= TEST_HANDLES || test_blocks[handle] == NULL) {
        PyErr_SetString(PyExc_ValueError, "not a live test block");
        return -1;
    }
    return 0;
}

static PyObject *
tm_test_malloc(PyObject *Py_UNUSED(module), PyObject *args)
{
    int value;
    Py_ssize_t size;
    PyMemAllocatorDomain domain;
    if (!PyArg_ParseTuple(args, "in:_test_malloc", &value, &size) ||
        parse_domain(value, &domain) < 0) {
        return NULL;
    }
    return new_handle(domain_malloc(domain, (size_t)size));
}

static PyObject *
tm_test_calloc(PyObject *Py_UNUSED(module), PyObject *args)
{
    int value;
    Py_ssize_t nelem, elsize;
    PyMemAllocatorDomain domain;
    if (!PyArg_ParseTuple(args, "inn:_test_calloc", &value, &nelem, &elsize) ||
        parse_domain(value, &domain) < 0) {
        return NULL;
    }
    return new_handle(domain_calloc(domain, (size_t)nelem, (size_t)elsize));
}

static PyObject *
tm_test_realloc(PyObject *Py_UNUSED(module), PyObject *args)
{
    int value, handle;
    Py_ssize_t size;
    PyMemAllocatorDomain domain;
    if (!PyArg_ParseTuple(args, "iin:_test_realloc", &value, &handle, &size) ||
        parse_domain(value, &domain) < 0 || parse_handle(handle) < 0) {
        return NULL;
    }
    void *ptr = domain_realloc(domain, test_blocks[handle], (size_t)size);
    if (ptr == NULL) {
        return PyErr_NoMemory();
    }
    test_blocks[handle] = ptr;
    return PyLong_FromLong(handle);
}

static PyObject *
tm_test_free(PyObject *Py_UNUSED(module), PyObject *args)
{
    int value, handle;
    PyMemAllocatorDomain domain;
    if (!PyArg_ParseTuple(args, "ii:_test_free", &value, &handle) ||
        parse_domain(value, &domain) < 0 || parse_handle(handle) < 0) {
        return NULL;
    }
    domain_free(domain, test_blocks[handle]);
    test_blocks[handle] = NULL;
    Py_RETURN_NONE;
}

typedef struct {
    size_t size;
    void *ptr;
} c_thread_request;

static void *
allocate_in_c_thread(void *arg)
{
    c_thread_request *request = arg;
    request->ptr = PyMem_RawMalloc(request->size);
    return NULL;
}

/* Allocate from a C thread that never ran Python code: the block has no
   Python frame. */
static PyObject *
tm_test_malloc_in_c_thread(PyObject *Py_UNUSED(module), PyObject *arg)
{
    c_thread_request request = {PyLong_AsSize_t(arg), NULL};
    if (request.size == (size_t)-1 && PyErr_Occurred()) {
        return NULL;
    }
    pthread_t thread;
    int status;
    Py_BEGIN_ALLOW_THREADS status =
        pthread_create(&thread, NULL, allocate_in_c_thread, &request);
    if (status == 0) {
        pthread_join(thread, NULL);
    }
    Py_END_ALLOW_THREADS if (status != 0)
    {
        errno = status;
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    return new_handle(request.ptr);
}

/* The engine's line for a code unit, to check its line table decoder
   against CPython's. */
static PyObject *
tm_test_code_line(PyObject *Py_UNUSED(module), PyObject *args)
{
    PyObject *code;
    int unit;
    if (!PyArg_ParseTuple(args, "O!i:_test_code_line", &PyCode_Type, &code,
                          &unit)) {
        return NULL;
    }
    if (unit < -1 || unit >= compat_code_units((PyCodeObject *)code)) {
        PyErr_SetString(PyExc_ValueError, "no such code unit");
        return NULL;
    }
    return PyLong_FromLong(frames_code_line((PyCodeObject *)code, unit));
}

static PyObject *
tm_test_cache_count(PyObject *Py_UNUSED(module), PyObject *Py_UNUSED(args))
{
    return PyLong_FromSize_t(frames_cache_count());
}

static PyObject *
tm_test_fail_after(PyObject *Py_UNUSED(module), PyObject *arg)
{
    long count = PyLong_AsLong(arg);
    if (count == -1 && PyErr_Occurred()) {
        return NULL;
    }
    rawmem_fail_after(count < 0 ? -1 : count);
    Py_RETURN_NONE;
}

static PyMethodDef module_methods[] = {
    {"enable", (PyCFunction)(void (*)(void))tm_enable,
     METH_VARARGS | METH_KEYWORDS,
     "enable(nframe=1)\n--\n\nStart tracing, keeping up to nframe frames a "
     "traceback; while tracing, set the depth for new allocations (without "
     "an argument, keep it)."},
    {"disable", tm_disable, METH_NOARGS,
     "Stop tracing, forget every trace and stop the timer."},
    {"is_enabled", tm_is_enabled, METH_NOARGS, "True while tracing."},
    {"get_traceback_limit", tm_get_traceback_limit, METH_NOARGS,
     "Maximum number of frames stored in a traceback."},
    {"clear_traces", tm_clear_traces, METH_NOARGS,
     "Forget every trace; tracing goes on."},
    {"get_traced_memory", tm_get_traced_memory, METH_NOARGS,
     "(current, peak) size in bytes of the traced blocks."},
    {"reset_peak", tm_reset_peak, METH_NOARGS,
     "Set the peak to the current traced size."},
    {"get_tracemalloc_memory", tm_get_tracemalloc_memory, METH_NOARGS,
     "Bytes used by the tracer's own tables."},
    {"get_untraced_count", tm_get_untraced_count, METH_NOARGS,
     "Allocations the tracer failed to record (out of memory) since "
     "enable()."},
    {"get_free_list_mode", tm_get_free_list_mode, METH_NOARGS,
     "How blocks recycled by CPython's free lists are accounted: 'hooks' "
     "(patched interpreter, exact), 'disabled' (built --without-freelists, "
     "exact) or 'untracked' (stock interpreter: a recycled block stays on "
     "the line that first allocated it)."},
    {"_get_traced_blocks", tm_get_traced_blocks, METH_NOARGS,
     "Number of live traced blocks."},
    {"_get_stats", tm_get_stats, METH_NOARGS,
     "{filename: {lineno: (size, count)}} by the most recent frame."},
    {"_get_sites", tm_get_sites, METH_VARARGS,
     "_get_sites(with_domain=False)\n--\n\n[(size, count, ((filename, "
     "lineno), ...)), ...], most recent frame first; with_domain: "
     "(size, count, frames, domain)."},
    {"_get_reporters", tm_get_reporters, METH_NOARGS,
     "Paths of the loaded objects whose PyTraceMalloc_Track/Untrack calls "
     "pytracemalloc sees."},
    {"_get_object_trace", tm_get_object_trace, METH_O,
     "(size, filename, lineno) of the block holding obj, or None."},
    {"_get_object_traceback", tm_get_object_traceback, METH_O,
     "((filename, lineno), ...) of the block holding obj, most recent "
     "first, or None."},
    {"start_timer", (PyCFunction)(void (*)(void))tm_start_timer,
     METH_VARARGS | METH_KEYWORDS,
     "start_timer(delay, func, args=(), kwargs=None)\n--\n\nCall "
     "func(*args, **kwargs) at the first traced allocation or free at least "
     "delay seconds after the timer was started or the last call ended."},
    {"stop_timer", tm_stop_timer, METH_NOARGS, "Stop the timer."},
    {"_is_main_interpreter", tm_is_main_interpreter, METH_NOARGS,
     "Whether the caller runs in the main interpreter, whose start-up and "
     "exit drive tracing."},
    {"_rejoin", tm_rejoin, METH_NOARGS,
     "Put the hooks back on top of allocator chains that no longer reach "
     "them; return how many."},
    {"_test_malloc", tm_test_malloc, METH_VARARGS, NULL},
    {"_test_calloc", tm_test_calloc, METH_VARARGS, NULL},
    {"_test_realloc", tm_test_realloc, METH_VARARGS, NULL},
    {"_test_free", tm_test_free, METH_VARARGS, NULL},
    {"_test_fail_after", tm_test_fail_after, METH_O, NULL},
    {"_test_code_line", tm_test_code_line, METH_VARARGS, NULL},
    {"_test_cache_count", tm_test_cache_count, METH_NOARGS, NULL},
    {"_test_malloc_in_c_thread", tm_test_malloc_in_c_thread, METH_O, NULL},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef engine_module = {
    PyModuleDef_HEAD_INIT,
    "pytracemalloc._tracemalloc",
    "The tracing engine of pytracemalloc.",
    -1,
    module_methods,
    NULL,
    NULL,
    NULL,
    NULL,
};

PyMODINIT_FUNC
PyInit__tracemalloc(void)
{
    static int initialized;
    if (!compat_interp_shares_main_gil(PyInterpreterState_Get(),
                                       PyInterpreterState_Main())) {
        /* Its functions read tables that the main GIL guards. */
        PyErr_SetString(PyExc_ImportError,
                        "pytracemalloc cannot be imported in an interpreter "
                        "with its own GIL: it traces that interpreter from the "
                        "main one");
        return NULL;
    }
    if (!initialized) {
        /* The engine's state is the process's: its frame caches and the
           table guarded by a GIL belong to the main interpreter, which
           must load it first (hooks.h). */
        if (PyInterpreterState_Get() != PyInterpreterState_Main()) {
            PyErr_SetString(PyExc_ImportError,
                            "pytracemalloc: import it in the main interpreter "
                            "first (it traces every interpreter from there)");
            return NULL;
        }
        if (hooks_init() < 0 || freelists_init() < 0) {
            PyErr_SetString(PyExc_ImportError,
                            "pytracemalloc: cannot initialize the tracer");
            return NULL;
        }
        initialized = 1;
    }
    PyObject *module = PyModule_Create(&engine_module);
    if (module == NULL) {
        return NULL;
    }
    static const PyTracemalloc_CAPI capi = {
        PYTRACEMALLOC_CAPI_VERSION, hooks_track_block, hooks_untrack_block};
    PyObject *capsule =
        PyCapsule_New((void *)&capi, PYTRACEMALLOC_CAPI_NAME, NULL);
    if (capsule == NULL || PyModule_AddObject(module, "_C_API", capsule) < 0) {
        Py_XDECREF(capsule);
        Py_DECREF(module);
        return NULL;
    }
    if (PyModule_AddIntConstant(module, "MAX_NFRAME", FRAMES_MAX_NFRAME) < 0 ||
        PyModule_AddIntConstant(module, "NUMPY_DOMAIN",
                                PYTRACEMALLOC_NUMPY_DOMAIN) < 0 ||
        PyModule_AddIntConstant(module, "GOT_PATCHING",
                                gotpatch_supported()) < 0 ||
        PyModule_AddIntConstant(module, "DOMAIN_RAW", PYMEM_DOMAIN_RAW) < 0 ||
        PyModule_AddIntConstant(module, "DOMAIN_MEM", PYMEM_DOMAIN_MEM) < 0 ||
        PyModule_AddIntConstant(module, "DOMAIN_OBJ", PYMEM_DOMAIN_OBJ) < 0) {
        Py_DECREF(module);
        return NULL;
    }
    return module;
}
