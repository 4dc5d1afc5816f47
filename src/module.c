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
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "frames.h"
#include "freelists.h"
#include "gotpatch.h"
#include "hooks.h"
#include "native.h"
#include "pprof.h"
#include "pytracemalloc_capi.h"
#include "rawmem.h"
#include "readout.h"
#include "sampling.h"
#include "sites.h"
#include "snapfile.h"
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

/* The largest N: an exponential distance of mean N must fit in 63 bits
   with room to spare. */
#define MAX_SAMPLE_BYTES ((size_t)1 << 48)

/* sample_bytes: None (exact mode) or N >= 1; 0 stored for None. */
static int
parse_sample_bytes(PyObject *value, size_t *mean_bytes)
{
    if (value == NULL || value == Py_None) {
        *mean_bytes = 0;
        return 0;
    }
    if (PyBool_Check(value) || !PyLong_Check(value)) {
        PyErr_Format(PyExc_TypeError,
                     "sample_bytes must be None or an int, not %.100s",
                     Py_TYPE(value)->tp_name);
        return -1;
    }
    int overflow = 0;
    long long n = PyLong_AsLongLongAndOverflow(value, &overflow);
    if (n == -1 && PyErr_Occurred()) {
        return -1;
    }
    if (overflow != 0 || n < 1 || (unsigned long long)n > MAX_SAMPLE_BYTES) {
        PyErr_Format(PyExc_ValueError,
                     "sample_bytes must be None (exact mode) or a number of "
                     "bytes in range [1; %zu]",
                     MAX_SAMPLE_BYTES);
        return -1;
    }
    *mean_bytes = (size_t)n;
    return 0;
}

static PyObject *
sample_bytes_object(size_t mean_bytes)
{
    if (mean_bytes == 0) {
        Py_RETURN_NONE;
    }
    return PyLong_FromSize_t(mean_bytes);
}

/* Native tracing on or off while tracing; off again at disable().  Asked
   for again while on (`again`), the entries are patched anew: another tool
   that patches them too (memray) hands them back to libc, not to us, when
   it stops. */
static int
set_native(int on, int again)
{
    if (on == native_is_enabled() && !(on && again)) {
        return 0;
    }
    if (on) {
        hooks_native_open(NATIVE_DOMAIN);
    }
    if (gotpatch_set_native(on) < 0) {
        PyErr_NoMemory();
        return -1;
    }
    if (!on) {
        /* Their frees go unseen from now on. */
        hooks_forget_domain(NATIVE_DOMAIN);
    }
    return 0;
}

static PyObject *
tm_is_native_traced(PyObject *Py_UNUSED(module), PyObject *Py_UNUSED(args))
{
    return PyBool_FromLong(hooks_is_enabled() && native_is_enabled());
}

static PyObject *
tm_enable(PyObject *Py_UNUSED(module), PyObject *args, PyObject *kwargs)
{
    static char *keywords[] = {"nframe", "sample_bytes", "native", NULL};
    int nframe = 0;
    PyObject *sample = NULL; /* not given: keep the mode while tracing */
    PyObject *native = NULL; /* not given: keep it while tracing, else off */
    size_t mean_bytes;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "|i$OO:enable", keywords,
                                     &nframe, &sample, &native)) {
        return NULL;
    }
    int want_native = native_is_enabled();
    if (native != NULL) {
        if (!PyBool_Check(native)) {
            PyErr_Format(PyExc_TypeError, "native must be a bool, not %s",
                         Py_TYPE(native)->tp_name);
            return NULL;
        }
        want_native = native == Py_True;
    }
    if (want_native && !gotpatch_supported()) {
        PyErr_SetString(PyExc_ValueError,
                        "native=True needs an ELF system with dl_iterate_phdr "
                        "(Linux x86-64 or AArch64): not this one");
        return NULL;
    }
    if (sample == NULL && hooks_is_enabled()) {
        mean_bytes = sampling_bytes();
    }
    else if (parse_sample_bytes(sample, &mean_bytes) < 0) {
        return NULL;
    }
    if (PyTuple_GET_SIZE(args) == 0 &&
        (kwargs == NULL ||
         PyDict_GetItemString(kwargs, "nframe") == NULL)) {
        /* enable() with no depth: as in 0.9.1, the depth does not change
           while tracing (PYTRACEMALLOC=25 keeps its 25 frames). */
        nframe = hooks_is_enabled() ? frames_max_nframe() : 1;
    }
    if (nframe < 1 || nframe > FRAMES_MAX_NFRAME) {
        PyErr_Format(PyExc_ValueError,
                     "the number of frames must be in range [1; %d]",
                     FRAMES_MAX_NFRAME);
        return NULL;
    }
    if (hooks_is_enabled()) {
        if (mean_bytes != sampling_bytes()) {
            /* Exact and sampled blocks cannot share the tables: their
               weights differ. */
            PyObject *running = sample_bytes_object(sampling_bytes());
            PyObject *asked = sample_bytes_object(mean_bytes);
            if (running != NULL && asked != NULL) {
                PyErr_Format(PyExc_RuntimeError,
                             "already tracing with sample_bytes=%R, not %R: "
                             "call disable() first to switch modes",
                             running, asked);
            }
            Py_XDECREF(running);
            Py_XDECREF(asked);
            return NULL;
        }
    }
    else {
        /* Nothing is traced now, so no block has weights of the old N. */
        hooks_lock_tables();
        sampling_set_bytes(mean_bytes);
        hooks_unlock_tables();
    }
    if (hooks_enable(nframe) < 0) {
        return PyErr_NoMemory();
    }
    freelists_start();
    /* See the blocks that extensions report to tracemalloc (numpy's
       array data), from the modules loaded now and those loaded later. */
    gotpatch_install();
    if (set_native(want_native, native == Py_True) < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyObject *
tm_get_sample_bytes(PyObject *Py_UNUSED(module), PyObject *Py_UNUSED(args))
{
    if (!hooks_is_enabled()) {
        Py_RETURN_NONE;
    }
    return sample_bytes_object(sampling_bytes());
}

static PyObject *
tm_set_sample_seed(PyObject *Py_UNUSED(module), PyObject *arg)
{
    unsigned long long seed = PyLong_AsUnsignedLongLongMask(arg);
    if (seed == (unsigned long long)-1 && PyErr_Occurred()) {
        return NULL;
    }
    sampling_set_seed(seed);
    Py_RETURN_NONE;
}

/* The sampler alone, on a list of block sizes, with the tracer off: the
   estimated (total size, block count) of the sampled ones.  The same code
   decides and weighs as in the hooks. */
static PyObject *
tm_test_sample_sizes(PyObject *Py_UNUSED(module), PyObject *args)
{
    PyObject *sizes;
    PyObject *sample;
    size_t mean_bytes;
    if (!PyArg_ParseTuple(args, "O!O:_test_sample_sizes", &PyList_Type,
                          &sizes, &sample) ||
        parse_sample_bytes(sample, &mean_bytes) < 0) {
        return NULL;
    }
    if (hooks_is_enabled() || mean_bytes == 0) {
        PyErr_SetString(PyExc_RuntimeError,
                        "needs the tracer off and sample_bytes set");
        return NULL;
    }
    size_t saved = sampling_bytes();
    sampling_set_bytes(mean_bytes); /* restarts from the shared seed */
    unsigned long long total_size = 0, total_count = 0, sampled = 0;
    Py_ssize_t n = PyList_GET_SIZE(sizes);
    for (Py_ssize_t i = 0; i < n; i++) {
        size_t size = PyLong_AsSize_t(PyList_GET_ITEM(sizes, i));
        if (size == (size_t)-1 && PyErr_Occurred()) {
            sampling_set_bytes(saved);
            return NULL;
        }
        if (!sampling_skip(size)) {
            size_t weighted_size, weighted_count;
            double variance;
            sampling_weigh(size, &weighted_size, &weighted_count, &variance);
            total_size += weighted_size;
            total_count += weighted_count;
            sampled++;
        }
    }
    sampling_set_bytes(saved);
    return Py_BuildValue("(KdK)", total_size,
                         (double)total_count / (double)SAMPLING_COUNT_ONE,
                         sampled);
}

static PyObject *
tm_disable(PyObject *Py_UNUSED(module), PyObject *Py_UNUSED(args))
{
    freelists_stop();
    set_native(0, 0); /* cannot fail when turning off */
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

/* _call_untraced(callable, *args): call it with this thread's allocations
   passed through untraced, then re-join.  For another tracer's start
   (stdlib's tracemalloc.start): what it allocates for itself there is its
   own, and once it wrapped our hooks we go above it (hooks_rejoin). */
static PyObject *
tm_call_untraced(PyObject *Py_UNUSED(module), PyObject *args)
{
    Py_ssize_t nargs = PyTuple_GET_SIZE(args);
    if (nargs < 1 || !PyCallable_Check(PyTuple_GET_ITEM(args, 0))) {
        PyErr_SetString(PyExc_TypeError,
                        "_call_untraced() takes a callable and its arguments");
        return NULL;
    }
    PyObject *rest = PyTuple_GetSlice(args, 1, nargs);
    if (rest == NULL) {
        return NULL;
    }
    hooks_untraced_begin();
    PyObject *result = PyObject_Call(PyTuple_GET_ITEM(args, 0), rest, NULL);
    hooks_untraced_end();
    Py_DECREF(rest);
    rejoin_and_tidy();
    return result;
}

static PyObject *
tm_get_traced_memory(PyObject *Py_UNUSED(module), PyObject *Py_UNUSED(args))
{
    if (!hooks_is_enabled()) {
        return Py_BuildValue("(ii)", 0, 0);
    }
    rejoin_and_tidy();
    hooks_settle();
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
    /* By line: the functions of one line add up on its first frame. */
    for (uint32_t i = 0; i < r->n_sites; i++) {
        uint32_t frame_id =
            r->frames[r->frame_ids[r->sites[i].first_frame]].line_id;
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

enum { SITES_PLAIN, SITES_WITH_DOMAIN, SITES_OF_SNAPSHOT };

/* The function name of a frame id: "" (no_name) when it has none. */
static PyObject *
function_name(const readout *r, uint32_t frame_id, PyObject **names,
              PyObject *no_name)
{
    uint32_t function_id = r->frames[frame_id].function_id;
    return function_id != 0 ? decode_filename(r, function_id, names)
                            : no_name;
}

/* A new reference to the tuple of a site's function names, most recent
   first; a one-frame site's is shared through single (a list by frame
   id).  Str only: untracked by the cyclic collector, as its traceback. */
static PyObject *
site_functions(const readout *r, const readout_site *site, PyObject **names,
               PyObject *no_name, PyObject *single)
{
    if (site->nframe == 1) {
        uint32_t frame_id = r->frame_ids[site->first_frame];
        PyObject *shared = PyList_GET_ITEM(single, frame_id);
        if (shared == NULL) {
            PyObject *name = function_name(r, frame_id, names, no_name);
            shared = name != NULL ? PyTuple_Pack(1, name) : NULL;
            if (shared == NULL) {
                return NULL;
            }
            PyObject_GC_UnTrack(shared);
            PyList_SET_ITEM(single, frame_id, shared);
        }
        return Py_NewRef(shared);
    }
    PyObject *functions = PyTuple_New(site->nframe);
    if (functions == NULL) {
        return NULL;
    }
    for (uint32_t k = 0; k < site->nframe; k++) {
        PyObject *name = function_name(
            r, r->frame_ids[site->first_frame + k], names, no_name);
        if (name == NULL) {
            Py_DECREF(functions);
            return NULL;
        }
        PyTuple_SET_ITEM(functions, k, Py_NewRef(name));
    }
    PyObject_GC_UnTrack(functions);
    return functions;
}

/* [(size, count, ((filename, lineno), ...)[, domain]), ...], frames most
   recent first (layout SITES_PLAIN or SITES_WITH_DOMAIN); or a snapshot's
   own layout, [(frames, size, count, domain), ...] (SITES_OF_SNAPSHOT).
   The tuples hold only str and int, so they cannot be part of a cycle:
   they are left out of the cyclic collector from the start (CPython would
   untrack them at their first collection), so that a read-out of 10,000
   sites does not bring the next full collection closer. */
static PyObject *
build_sites_of(const readout *r, int layout)
{
    PyObject **names = new_filename_cache(r);
    PyObject *frames = NULL;
    PyObject *single_functions = NULL;
    PyObject *no_name = NULL;
    PyObject *result = NULL;
    if (names == NULL) {
        return NULL;
    }
    /* One tuple per frame id, shared by every traceback that has it; for
       a snapshot, also the 1-tuple of its function's name, shared by the
       one-frame tracebacks (nframe 1: every site). */
    frames = PyList_New(r->n_frames);
    result = PyList_New(r->n_sites);
    if (frames == NULL || result == NULL) {
        goto error;
    }
    if (layout == SITES_OF_SNAPSHOT) {
        single_functions = PyList_New(r->n_frames);
        no_name = PyUnicode_FromStringAndSize(NULL, 0);
        if (single_functions == NULL || no_name == NULL) {
            goto error;
        }
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
                PyObject_GC_UnTrack(frame);
                PyList_SET_ITEM(frames, frame_id, frame);
            }
            Py_INCREF(frame);
            PyTuple_SET_ITEM(traceback, k, frame);
        }
        PyObject_GC_UnTrack(traceback);
        PyObject *functions = NULL;
        if (layout == SITES_OF_SNAPSHOT) {
            functions = site_functions(r, site, names, no_name,
                                       single_functions);
            if (functions == NULL) {
                Py_DECREF(traceback);
                goto error;
            }
        }
        PyObject *entry =
            layout == SITES_OF_SNAPSHOT
                ? Py_BuildValue("(NnnIN)", traceback, (Py_ssize_t)site->size,
                                (Py_ssize_t)site->count,
                                (unsigned int)site->domain, functions)
            : layout == SITES_WITH_DOMAIN
                ? Py_BuildValue("(nnNI)", (Py_ssize_t)site->size,
                                (Py_ssize_t)site->count, traceback,
                                (unsigned int)site->domain)
                : Py_BuildValue("(nnN)", (Py_ssize_t)site->size,
                                (Py_ssize_t)site->count, traceback);
        if (entry == NULL) {
            goto error;
        }
        PyObject_GC_UnTrack(entry);
        PyList_SET_ITEM(result, i, entry);
    }
    Py_DECREF(frames);
    Py_XDECREF(single_functions);
    Py_XDECREF(no_name);
    free_filename_cache(r, names);
    return result;

error:
    Py_XDECREF(frames);
    Py_XDECREF(single_functions);
    Py_XDECREF(no_name);
    Py_XDECREF(result);
    free_filename_cache(r, names);
    return NULL;
}

static PyObject *
build_sites(const readout *r)
{
    return build_sites_of(r, SITES_PLAIN);
}

static PyObject *
build_domain_sites(const readout *r)
{
    return build_sites_of(r, SITES_WITH_DOMAIN);
}

static PyObject *
build_snapshot_sites(const readout *r)
{
    return build_sites_of(r, SITES_OF_SNAPSHOT);
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

/* {(filename, lineno): function name} of every line whose first frame has
   a name: O(frames), sites alive or not (a frame's name never changes). */
static PyObject *
build_line_functions(const readout *r)
{
    PyObject **names = new_filename_cache(r);
    PyObject *result = names != NULL ? PyDict_New() : NULL;
    if (result == NULL) {
        goto error;
    }
    for (uint32_t frame_id = 1; frame_id < r->n_frames; frame_id++) {
        tm_frame frame = r->frames[frame_id];
        if (frame.line_id != frame_id || frame.function_id == 0) {
            continue;
        }
        PyObject *key = frame_tuple(r, frame_id, names);
        PyObject *name = decode_filename(r, frame.function_id, names);
        int status = (key == NULL || name == NULL)
                         ? -1
                         : PyDict_SetItem(result, key, name);
        Py_XDECREF(key);
        if (status < 0) {
            goto error;
        }
    }
    free_filename_cache(r, names);
    return result;

error:
    free_filename_cache(r, names);
    Py_XDECREF(result);
    return NULL;
}

static PyObject *
tm_get_line_functions(PyObject *Py_UNUSED(module), PyObject *Py_UNUSED(args))
{
    return read_out(build_line_functions, 0);
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

static PyObject *
tm_get_snapshot_sites(PyObject *Py_UNUSED(module), PyObject *Py_UNUSED(args))
{
    return read_out(build_snapshot_sites, 1);
}

/* ---- the live statistics, encoded in C --------------------------------
 *
 * What the endpoint serves (a pprof profile, a snapshot file's tables),
 * from a readout with no Python object per site: a scrape at 10,000 lines
 * costs a few milliseconds rather than the ~100 of building a Snapshot and
 * encoding it in Python (bench/scrape.py).  The sites of pytracemalloc's
 * own code are left out, as Snapshot.create() does. */

/* A copy of the live statistics less the sites of pytracemalloc's own
   code, whose files start with `prefix` (own_size: their bytes). */
typedef struct {
    const char *prefix;
    Py_ssize_t prefix_length;
    readout copy;
    size_t own_size;
} live_copy;

static int
take_live(live_copy *live)
{
    rejoin_and_tidy();
    if (readout_take(&live->copy, 1) < 0) {
        PyErr_NoMemory();
        return -1;
    }
    readout_drop_files(&live->copy, live->prefix,
                       (size_t)live->prefix_length, &live->own_size);
    return 0;
}

/* with_sites (for the tests): the result and the sites it encoded, in
   the layout of _get_snapshot_sites(), as the pair (result, sites); the
   reference encoders in Python then get the very same statistics. */
static PyObject *
with_encoded_sites(PyObject *result, const readout *copy, int with_sites)
{
    if (result == NULL || !with_sites) {
        return result;
    }
    hooks_untraced_begin();
    PyObject *sites = build_snapshot_sites(copy);
    PyObject *pair = sites != NULL ? PyTuple_Pack(2, result, sites) : NULL;
    hooks_untraced_end();
    Py_DECREF(result);
    Py_XDECREF(sites);
    return pair;
}

/* _live_pprof(own_prefix, time_nanos, period, domain_name[, with_sites]):
   the uncompressed profile.proto of the live statistics;
   domain_name(domain) is the label of a domain other than 0. */
static PyObject *
tm_live_pprof(PyObject *Py_UNUSED(module), PyObject *args)
{
    live_copy live;
    long long time_nanos, period;
    PyObject *domain_name;
    int with_sites = 0;
    if (!PyArg_ParseTuple(args, "y#LLO|p:_live_pprof", &live.prefix,
                          &live.prefix_length, &time_nanos, &period,
                          &domain_name, &with_sites) ||
        take_live(&live) < 0) {
        return NULL;
    }
    readout *copy = &live.copy;
    PyObject *result = NULL;
    PyObject *names = NULL;
    pprof_domain_name *labels = NULL;
    size_t n_labels = 0;
    bytebuf out = {0};
    hooks_untraced_begin();
    /* The few domains of the sites, named by pytracemalloc.domains. */
    names = PyList_New(0);
    labels = malloc((copy->n_sites ? copy->n_sites : 1) * sizeof(*labels));
    if (names == NULL || labels == NULL) {
        if (labels == NULL) {
            PyErr_NoMemory();
        }
        goto done;
    }
    for (uint32_t i = 0; i < copy->n_sites; i++) {
        uint32_t domain = copy->sites[i].domain;
        size_t k = 0;
        while (k < n_labels && labels[k].domain != domain) {
            k++;
        }
        if (domain == 0 || k < n_labels) {
            continue;
        }
        PyObject *name = PyObject_CallFunction(domain_name, "I", domain);
        if (name == NULL || PyList_Append(names, name) < 0) {
            Py_XDECREF(name);
            goto done;
        }
        Py_DECREF(name);
        Py_ssize_t length;
        const char *text =
            PyUnicode_Check(name) ? PyUnicode_AsUTF8AndSize(name, &length)
                                  : NULL;
        if (text == NULL) {
            if (!PyErr_Occurred()) {
                PyErr_SetString(PyExc_TypeError,
                                "domain_name() must return a str");
            }
            goto done;
        }
        labels[n_labels++] = (pprof_domain_name){domain, text, (size_t)length};
    }
    pprof_options options = {.time_nanos = time_nanos,
                             .period = period,
                             .domain_names = labels,
                             .n_domain_names = n_labels};
    if (pprof_encode(copy, &options, &out) < 0) {
        PyErr_NoMemory();
        goto done;
    }
    result = with_encoded_sites(
        PyBytes_FromStringAndSize(out.data, (Py_ssize_t)out.length), copy,
        with_sites);

done:
    hooks_untraced_end();
    bytebuf_free(&out);
    free(labels);
    Py_XDECREF(names);
    readout_free(copy);
    return result;
}

/* _live_snapshot_tables(own_prefix, sampled[, with_sites]): (version,
   own_size, tables),
   tables the JSON text of a snapshot file's tables (src/snapfile.h) and
   own_size the bytes of the sites left out. */
static PyObject *
tm_live_snapshot_tables(PyObject *Py_UNUSED(module), PyObject *args)
{
    live_copy live;
    int sampled;
    int with_sites = 0;
    if (!PyArg_ParseTuple(args, "y#p|p:_live_snapshot_tables", &live.prefix,
                          &live.prefix_length, &sampled, &with_sites) ||
        take_live(&live) < 0) {
        return NULL;
    }
    readout *copy = &live.copy;
    PyObject *result = NULL;
    bytebuf out = {0};
    int version = snapfile_version(copy, sampled);
    if (snapfile_encode_tables(copy, version, &out) < 0) {
        PyErr_NoMemory();
    }
    else {
        hooks_untraced_begin();
        result = Py_BuildValue("(iny#)", version, (Py_ssize_t)live.own_size,
                               out.data, (Py_ssize_t)out.length);
        hooks_untraced_end();
        result = with_encoded_sites(result, copy, with_sites);
    }
    bytebuf_free(&out);
    readout_free(copy);
    return result;
}

/* {(filename, lineno): variance of the size estimate} by the most recent
   frame, for the lines with a non-zero variance (sampled mode); and the
   total's variance under the key None.  Blocks of different sites are
   sampled independently, so variances add up. */
static PyObject *
build_line_variances(const readout *r)
{
    PyObject *result = NULL;
    PyObject **names = NULL;
    double total = 0.0;
    double *variance = calloc(r->n_frames ? r->n_frames : 1, sizeof(double));
    if (variance == NULL) {
        PyErr_NoMemory();
        goto error;
    }
    for (uint32_t i = 0; i < r->n_sites; i++) {
        uint32_t frame_id =
            r->frames[r->frame_ids[r->sites[i].first_frame]].line_id;
        variance[frame_id] += r->sites[i].variance;
        total += r->sites[i].variance;
    }
    names = new_filename_cache(r);
    result = PyDict_New();
    if (names == NULL || result == NULL) {
        goto error;
    }
    for (uint32_t frame_id = 1; frame_id < r->n_frames; frame_id++) {
        if (variance[frame_id] <= 0.0) {
            continue;
        }
        PyObject *key = frame_tuple(r, frame_id, names);
        PyObject *value = PyFloat_FromDouble(variance[frame_id]);
        int status = (key == NULL || value == NULL)
                         ? -1
                         : PyDict_SetItem(result, key, value);
        Py_XDECREF(key);
        Py_XDECREF(value);
        if (status < 0) {
            goto error;
        }
    }
    PyObject *value = PyFloat_FromDouble(total);
    if (value == NULL || PyDict_SetItem(result, Py_None, value) < 0) {
        Py_XDECREF(value);
        goto error;
    }
    Py_DECREF(value);
    free(variance);
    free_filename_cache(r, names);
    return result;

error:
    free(variance);
    free_filename_cache(r, names);
    Py_XDECREF(result);
    return NULL;
}

static PyObject *
tm_get_line_variances(PyObject *Py_UNUSED(module), PyObject *Py_UNUSED(args))
{
    return read_out(build_line_variances, 0);
}

/* ---- grouping snapshot sites ----------------------------------------------
 *
 * Snapshot.statistics() and compare_to() group a snapshot's sites, a list
 * of (frames, size, count, domain) with frames most recent first, by a
 * stdlib key (every domain on the same key, as stdlib).
 * Done here rather than in Python, and with as few new objects as possible:
 * every object a read-out makes is a traced allocation, and with millions
 * of live blocks each one costs a cache miss in the block table.
 *
 * The fast path takes sites as the engine and the file reader make them:
 * exact tuples of (str, int) frames, sizes and counts that fit in 63 bits.
 * For anything else it answers None and the caller groups in Python (same
 * result, slower).  Because frames hold only str and int, hashing and
 * comparing them never runs Python code, so borrowed references to the
 * sites stay valid throughout.
 */

enum {
    GROUP_TRACEBACK,
    GROUP_LINENO,
    GROUP_FILENAME,
    GROUP_CUMULATIVE_LINENO,
    GROUP_CUMULATIVE_FILENAME,
};

typedef struct {
    PyObject *object; /* what is grouped on (borrowed from the sites) */
    PyObject *key;    /* the raw key, frames oldest first (owned) */
    Py_hash_t hash;
    long long size;
    long long count;
    Py_ssize_t last_row; /* the site that last added to it */
    /* The function names of the group's biggest named site (borrowed
       from it; NULL: no site of the group has names) and which: the whole
       traceback (-1), or one frame's. */
    PyObject *functions;
    Py_ssize_t function_index;
    long long functions_size;
} site_group;

typedef struct {
    site_group *groups;
    Py_ssize_t n, capacity;
    Py_ssize_t *slots; /* group index + 1, 0 for an empty slot */
    size_t mask;
} site_groups;

static void
site_groups_clear(site_groups *g)
{
    for (Py_ssize_t i = 0; i < g->n; i++) {
        Py_XDECREF(g->groups[i].key);
    }
    free(g->groups);
    free(g->slots);
}

static int
site_groups_grow(site_groups *g)
{
    Py_ssize_t capacity = g->capacity ? 2 * g->capacity : 1024;
    site_group *groups = realloc(g->groups, capacity * sizeof(site_group));
    if (groups == NULL) {
        return -1;
    }
    g->groups = groups;
    /* Slots: twice the groups, a power of two. */
    size_t n_slots = 2 * (size_t)capacity;
    Py_ssize_t *slots = calloc(n_slots, sizeof(Py_ssize_t));
    if (slots == NULL) {
        return -1;
    }
    free(g->slots);
    g->slots = slots;
    g->mask = n_slots - 1;
    g->capacity = capacity;
    for (Py_ssize_t i = 0; i < g->n; i++) {
        size_t slot = (size_t)g->groups[i].hash & g->mask;
        while (g->slots[slot] != 0) {
            slot = (slot + 1) & g->mask;
        }
        g->slots[slot] = i + 1;
    }
    return 0;
}

/* Add a site's size and count to the group of `object`: 1, 0 when the
   fast path gives up (a sum overflows), -1 with an exception. */
static int
site_groups_add(site_groups *g, PyObject *object, long long size,
                long long count, Py_ssize_t row, site_group **hit)
{
    Py_hash_t hash = PyObject_Hash(object);
    if (hash == -1) {
        return -1;
    }
    if (g->n == g->capacity && site_groups_grow(g) < 0) {
        PyErr_NoMemory();
        return -1;
    }
    size_t slot = (size_t)hash & g->mask;
    for (; g->slots[slot] != 0; slot = (slot + 1) & g->mask) {
        site_group *group = &g->groups[g->slots[slot] - 1];
        if (group->hash != hash) {
            continue;
        }
        int equal =
            group->object == object
                ? 1
                : PyObject_RichCompareBool(group->object, object, Py_EQ);
        if (equal < 0) {
            return -1;
        }
        if (!equal) {
            continue;
        }
        if (group->last_row == row) {
            return 1; /* each distinct frame (file) once per traceback */
        }
        if (__builtin_add_overflow(group->size, size, &group->size) ||
            __builtin_add_overflow(group->count, count, &group->count)) {
            return 0;
        }
        group->last_row = row;
        *hit = group;
        return 1;
    }
    g->groups[g->n] = (site_group){object, NULL, hash, size, count, row,
                                   NULL, -1, -1};
    *hit = &g->groups[g->n];
    g->slots[slot] = ++g->n;
    return 1;
}

static int
valid_frames(PyObject *frames)
{
    if (!PyTuple_CheckExact(frames) || PyTuple_GET_SIZE(frames) == 0) {
        return 0;
    }
    for (Py_ssize_t k = 0; k < PyTuple_GET_SIZE(frames); k++) {
        PyObject *frame = PyTuple_GET_ITEM(frames, k);
        if (!PyTuple_CheckExact(frame) || PyTuple_GET_SIZE(frame) != 2 ||
            !PyUnicode_CheckExact(PyTuple_GET_ITEM(frame, 0)) ||
            !PyLong_CheckExact(PyTuple_GET_ITEM(frame, 1))) {
            return 0;
        }
    }
    return 1;
}

/* A size or count: >= 0, else -1 (not an exact int, negative, too big). */
static long long
valid_amount(PyObject *value)
{
    if (!PyLong_CheckExact(value)) {
        return -1;
    }
    int overflow = 0;
    long long amount = PyLong_AsLongLongAndOverflow(value, &overflow);
    if (overflow || amount < 0) {
        return -1;
    }
    return amount;
}

/* The raw key (frames oldest first) of a group, made from the frames of
   a site that belongs to it.  A one-frame traceback is its own key (in
   the one-frame modes), which spares a tuple per line. */
static PyObject *
group_key(int mode, PyObject *frames, PyObject *object)
{
    Py_ssize_t n = PyTuple_GET_SIZE(frames);
    switch (mode) {
    case GROUP_TRACEBACK: {
        if (n == 1) {
            return Py_NewRef(frames);
        }
        PyObject *key = PyTuple_New(n);
        if (key == NULL) {
            return NULL;
        }
        for (Py_ssize_t k = 0; k < n; k++) {
            PyObject *frame = PyTuple_GET_ITEM(frames, n - 1 - k);
            PyTuple_SET_ITEM(key, k, Py_NewRef(frame));
        }
        return key;
    }
    case GROUP_LINENO:
    case GROUP_CUMULATIVE_LINENO:
        if (n == 1) {
            return Py_NewRef(frames);
        }
        return PyTuple_Pack(1, object);
    default:
        return Py_BuildValue("((Oi))", object, 0);
    }
}

/* 1 when every site was grouped, 0 when the fast path gives up, -1 with an
   exception. */
static int
group_sites(site_groups *g, PyObject *sites, int mode)
{
    Py_ssize_t n = PySequence_Fast_GET_SIZE(sites);
    PyObject **items = PySequence_Fast_ITEMS(sites);
    int cumulative =
        mode == GROUP_CUMULATIVE_LINENO || mode == GROUP_CUMULATIVE_FILENAME;
    for (Py_ssize_t row = 0; row < n; row++) {
        PyObject *site = items[row];
        /* (frames, size, count[, domain[, functions]]): as stdlib,
           every domain groups on the same key, and so does every
           function of a line. */
        if (!PyTuple_CheckExact(site) || PyTuple_GET_SIZE(site) < 3 ||
            PyTuple_GET_SIZE(site) > 5) {
            return 0;
        }
        PyObject *frames = PyTuple_GET_ITEM(site, 0);
        long long size = valid_amount(PyTuple_GET_ITEM(site, 1));
        long long count = valid_amount(PyTuple_GET_ITEM(site, 2));
        if (size < 0 || count < 0 || !valid_frames(frames)) {
            return 0;
        }
        /* The names (one per frame), which the by-line and by-traceback
           keys pass on to their tracebacks; anything but None or a
           tuple of the frames' length is left to the Python path. */
        PyObject *functions = PyTuple_GET_SIZE(site) == 5
                                  ? PyTuple_GET_ITEM(site, 4)
                                  : Py_None;
        if (functions == Py_None || mode == GROUP_FILENAME ||
            mode == GROUP_CUMULATIVE_FILENAME) {
            functions = NULL;
        }
        else if (!PyTuple_CheckExact(functions) ||
                 PyTuple_GET_SIZE(functions) != PyTuple_GET_SIZE(frames)) {
            return 0;
        }
        Py_ssize_t nframe = cumulative ? PyTuple_GET_SIZE(frames) : 1;
        for (Py_ssize_t k = 0; k < nframe; k++) {
            PyObject *frame = PyTuple_GET_ITEM(frames, k);
            PyObject *object = mode == GROUP_TRACEBACK ? frames
                               : (mode == GROUP_LINENO ||
                                  mode == GROUP_CUMULATIVE_LINENO)
                                   ? frame
                                   : PyTuple_GET_ITEM(frame, 0);
            Py_ssize_t before = g->n;
            site_group *hit = NULL;
            int status = site_groups_add(g, object, size, count, row, &hit);
            if (status <= 0) {
                return status;
            }
            /* The key's names are its biggest named site's. */
            if (functions != NULL && hit != NULL &&
                size > hit->functions_size) {
                hit->functions = functions;
                hit->function_index = mode == GROUP_TRACEBACK ? -1 : k;
                hit->functions_size = size;
            }
            if (g->n > before) {
                site_group *group = &g->groups[before];
                group->key = group_key(mode, frames, object);
                if (group->key == NULL) {
                    return -1;
                }
            }
        }
    }
    return 1;
}

/* Group `sites` (a list) by `mode`: 1; 0 when the fast path does not
   apply, with *none a new reference to None (the caller's answer then);
   -1 with an exception. */
static int
group_site_list(PyObject *sites, int mode, site_groups *g, PyObject **none)
{
    if (mode < GROUP_TRACEBACK || mode > GROUP_CUMULATIVE_FILENAME) {
        PyErr_SetString(PyExc_ValueError, "unknown grouping mode");
        return -1;
    }
    int status = PyList_CheckExact(sites) ? group_sites(g, sites, mode) : 0;
    if (status == 0) {
        *none = Py_NewRef(Py_None);
    }
    return status;
}

/* _group_sites(sites, mode) -> [(size, count, raw key), ...] in order of
   first appearance, or None. */
static PyObject *
tm_group_sites(PyObject *Py_UNUSED(module), PyObject *args)
{
    site_groups g = {0};
    PyObject *result = NULL;
    PyObject *sites;
    int mode;
    if (!PyArg_ParseTuple(args, "Oi:_group_sites", &sites, &mode)) {
        return NULL;
    }
    int status = group_site_list(sites, mode, &g, &result);
    if (status <= 0) {
        goto done;
    }
    result = PyList_New(g.n);
    if (result == NULL) {
        goto error;
    }
    for (Py_ssize_t i = 0; i < g.n; i++) {
        PyObject *row = Py_BuildValue("(LLO)", g.groups[i].size,
                                      g.groups[i].count, g.groups[i].key);
        if (row == NULL) {
            goto error;
        }
        PyList_SET_ITEM(result, i, row);
    }
    goto done;
error:
    Py_CLEAR(result);
done:
    site_groups_clear(&g);
    return result;
}

/* Raw keys in ascending order: tuples of (str, int) frames, compared as
   Python compares them, with the common cases (the same filename object,
   line numbers that fit in a long) done here. */
static int
compare_keys(PyObject *x, PyObject *y)
{
    Py_ssize_t nx = PyTuple_GET_SIZE(x);
    Py_ssize_t ny = PyTuple_GET_SIZE(y);
    for (Py_ssize_t k = 0; k < nx && k < ny; k++) {
        PyObject *a = PyTuple_GET_ITEM(x, k);
        PyObject *b = PyTuple_GET_ITEM(y, k);
        if (a == b) {
            continue;
        }
        PyObject *name_a = PyTuple_GET_ITEM(a, 0);
        PyObject *name_b = PyTuple_GET_ITEM(b, 0);
        if (name_a != name_b) {
            int order = PyUnicode_Compare(name_a, name_b);
            if (order != 0) {
                return order;
            }
        }
        int overflow_a = 0, overflow_b = 0;
        long line_a =
            PyLong_AsLongAndOverflow(PyTuple_GET_ITEM(a, 1), &overflow_a);
        long line_b =
            PyLong_AsLongAndOverflow(PyTuple_GET_ITEM(b, 1), &overflow_b);
        if (overflow_a || overflow_b) {
            PyObject *la = PyTuple_GET_ITEM(a, 1);
            PyObject *lb = PyTuple_GET_ITEM(b, 1);
            if (PyObject_RichCompareBool(la, lb, Py_EQ) == 1) {
                continue;
            }
            return PyObject_RichCompareBool(la, lb, Py_LT) == 1 ? -1 : 1;
        }
        if (line_a != line_b) {
            return line_a < line_b ? -1 : 1;
        }
    }
    return nx < ny ? -1 : nx > ny ? 1 : 0;
}

/* stdlib's order, descending: size, count, then the raw key. */
static int
compare_groups(const void *a, const void *b)
{
    const site_group *x = *(site_group *const *)a;
    const site_group *y = *(site_group *const *)b;
    if (x->size != y->size) {
        return x->size < y->size ? 1 : -1;
    }
    if (x->count != y->count) {
        return x->count < y->count ? 1 : -1;
    }
    return -compare_keys(x->key, y->key);
}

/* What building statistics needs, made once per call: attribute names,
   and ints shared by equal sizes and counts (lines often hold the same
   number of blocks of the same size: one int object, one allocation). */
#define INT_CACHE_SIZE 1024
enum {
    NAME_FRAMES,
    NAME_TOTAL_NFRAME,
    NAME_TRACEBACK,
    NAME_SIZE,
    NAME_COUNT,
    NAME_FUNCTIONS,
    N_NAMES
};

typedef struct {
    PyTypeObject *statistic_type;
    PyTypeObject *traceback_type;
    PyObject *no_args;
    PyObject *names[N_NAMES];
    long long cached_value[INT_CACHE_SIZE];
    PyObject *cached_int[INT_CACHE_SIZE];
} statistic_maker;

static int
statistic_maker_init(statistic_maker *m, PyObject *statistic_type,
                     PyObject *traceback_type)
{
    static const char *const names[N_NAMES] = {
        "_frames", "_total_nframe", "traceback", "size", "count",
        "_functions"};
    memset(m, 0, sizeof(*m));
    m->statistic_type = (PyTypeObject *)statistic_type;
    m->traceback_type = (PyTypeObject *)traceback_type;
    m->no_args = PyTuple_New(0);
    if (m->no_args == NULL) {
        return -1;
    }
    for (int i = 0; i < N_NAMES; i++) {
        m->names[i] = PyUnicode_InternFromString(names[i]);
        if (m->names[i] == NULL) {
            return -1;
        }
    }
    return 0;
}

static void
statistic_maker_clear(statistic_maker *m)
{
    Py_XDECREF(m->no_args);
    for (int i = 0; i < N_NAMES; i++) {
        Py_XDECREF(m->names[i]);
    }
    for (int i = 0; i < INT_CACHE_SIZE; i++) {
        Py_XDECREF(m->cached_int[i]);
    }
}

/* A new reference to an int of that value. */
static PyObject *
statistic_maker_int(statistic_maker *m, long long value)
{
    size_t slot = (size_t)(((uint64_t)value * UINT64_C(0x9E3779B97F4A7C15)) >>
                           54) &
                  (INT_CACHE_SIZE - 1);
    if (m->cached_int[slot] != NULL && m->cached_value[slot] == value) {
        return Py_NewRef(m->cached_int[slot]);
    }
    PyObject *number = PyLong_FromLongLong(value);
    if (number != NULL) {
        Py_XSETREF(m->cached_int[slot], Py_NewRef(number));
        m->cached_value[slot] = value;
    }
    return number;
}

/* Set an attribute, stealing the reference to value. */
static int
set_attribute(PyObject *object, PyObject *name, PyObject *value)
{
    int status = value == NULL ? -1 : PyObject_SetAttr(object, name, value);
    Py_XDECREF(value);
    return status;
}

/* A Statistic(Traceback of raw key, size, count), filled in as
   snapshot._statistics does in Python. */
/* A new reference to a group's names, oldest first as its key: its
   site's whole tuple reversed, or the 1-tuple of one frame's name. */
static PyObject *
group_functions(const site_group *group)
{
    PyObject *functions = group->functions;
    Py_ssize_t n = PyTuple_GET_SIZE(functions);
    if (n == 1) {
        return Py_NewRef(functions);
    }
    if (group->function_index >= 0) {
        return PyTuple_Pack(1,
                            PyTuple_GET_ITEM(functions, group->function_index));
    }
    PyObject *reversed = PyTuple_New(n);
    if (reversed == NULL) {
        return NULL;
    }
    for (Py_ssize_t k = 0; k < n; k++) {
        PyTuple_SET_ITEM(reversed, k,
                         Py_NewRef(PyTuple_GET_ITEM(functions, n - 1 - k)));
    }
    return reversed;
}

static PyObject *
new_statistic(statistic_maker *m, const site_group *group)
{
    PyObject *traceback =
        m->traceback_type->tp_new(m->traceback_type, m->no_args, NULL);
    if (traceback == NULL ||
        set_attribute(traceback, m->names[NAME_FRAMES],
                      Py_NewRef(group->key)) < 0 ||
        set_attribute(traceback, m->names[NAME_TOTAL_NFRAME],
                      Py_NewRef(Py_None)) < 0 ||
        (group->functions != NULL &&
         set_attribute(traceback, m->names[NAME_FUNCTIONS],
                       group_functions(group)) < 0)) {
        Py_XDECREF(traceback);
        return NULL;
    }
    PyObject *statistic =
        m->statistic_type->tp_new(m->statistic_type, m->no_args, NULL);
    if (statistic == NULL) {
        Py_DECREF(traceback);
        return NULL;
    }
    if (set_attribute(statistic, m->names[NAME_TRACEBACK], traceback) < 0 ||
        set_attribute(statistic, m->names[NAME_SIZE],
                      statistic_maker_int(m, group->size)) < 0 ||
        set_attribute(statistic, m->names[NAME_COUNT],
                      statistic_maker_int(m, group->count)) < 0) {
        Py_DECREF(statistic);
        return NULL;
    }
    return statistic;
}

/* _statistics(sites, mode, Statistic, Traceback) -> [Statistic, ...]
   sorted as stdlib's Snapshot.statistics(), or None. */
static PyObject *
tm_statistics(PyObject *Py_UNUSED(module), PyObject *args)
{
    site_groups g = {0};
    PyObject *statistic_type = NULL;
    PyObject *traceback_type = NULL;
    PyObject *result = NULL;
    site_group **order = NULL;
    statistic_maker *maker = NULL;
    PyObject *sites;
    int mode;
    if (!PyArg_ParseTuple(args, "OiO!O!:_statistics", &sites, &mode,
                          &PyType_Type, &statistic_type, &PyType_Type,
                          &traceback_type)) {
        return NULL;
    }
    int status = group_site_list(sites, mode, &g, &result);
    if (status <= 0) {
        goto done;
    }
    order = malloc((g.n ? g.n : 1) * sizeof(site_group *));
    maker = malloc(sizeof(statistic_maker));
    if (order == NULL || maker == NULL) {
        PyErr_NoMemory();
        goto error;
    }
    if (statistic_maker_init(maker, statistic_type, traceback_type) < 0) {
        goto error;
    }
    result = PyList_New(g.n);
    if (result == NULL) {
        goto error;
    }
    for (Py_ssize_t i = 0; i < g.n; i++) {
        order[i] = &g.groups[i];
    }
    qsort(order, g.n, sizeof(site_group *), compare_groups);
    for (Py_ssize_t i = 0; i < g.n; i++) {
        PyObject *statistic = new_statistic(maker, order[i]);
        if (statistic == NULL) {
            goto error;
        }
        PyList_SET_ITEM(result, i, statistic);
    }
    goto done;
error:
    Py_CLEAR(result);
done:
    if (maker != NULL) {
        statistic_maker_clear(maker);
        free(maker);
    }
    free(order);
    site_groups_clear(&g);
    return result;
}

enum { OBJECT_TRACE, OBJECT_TRACEBACK, OBJECT_NAMED_TRACEBACK };

/* The trace of the block holding obj: (size, filename, lineno)
   (OBJECT_TRACE), its frames (OBJECT_TRACEBACK), or (frames, function
   names) (OBJECT_NAMED_TRACEBACK); None when the block is not traced. */
static PyObject *
object_trace(PyObject *obj, int what)
{
    int whole_traceback = what != OBJECT_TRACE;
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
    if (result != NULL && what == OBJECT_NAMED_TRACEBACK) {
        PyObject *no_name = PyUnicode_FromStringAndSize(NULL, 0);
        PyObject *functions =
            no_name != NULL ? PyTuple_New(site->nframe) : NULL;
        for (uint32_t k = 0; functions != NULL && k < site->nframe; k++) {
            PyObject *name = function_name(
                &copy, copy.frame_ids[site->first_frame + k], names, no_name);
            if (name == NULL) {
                Py_CLEAR(functions);
                break;
            }
            PyTuple_SET_ITEM(functions, k, Py_NewRef(name));
        }
        Py_XDECREF(no_name);
        if (functions == NULL) {
            Py_CLEAR(result);
        }
        else {
            /* "N" takes both references, the traceback's included. */
            result = Py_BuildValue("(NN)", result, functions);
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
    return object_trace(obj, OBJECT_TRACE);
}

static PyObject *
tm_get_object_traceback(PyObject *Py_UNUSED(module), PyObject *obj)
{
    return object_trace(obj, OBJECT_TRACEBACK);
}

static PyObject *
tm_get_object_named_traceback(PyObject *Py_UNUSED(module), PyObject *obj)
{
    return object_trace(obj, OBJECT_NAMED_TRACEBACK);
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

/* RAW blocks made and freed n times without the GIL, errno set to a
   sentinel before each call: how many calls changed it.  Run from several
   threads at once, the hooks' table lock is contended, and a lock that
   waits may leave EAGAIN in errno (hooks.c). */
static PyObject *
tm_test_errno_changes(PyObject *Py_UNUSED(module), PyObject *arg)
{
    Py_ssize_t n = PyLong_AsSsize_t(arg);
    if (n == -1 && PyErr_Occurred()) {
        return NULL;
    }
    Py_ssize_t changed = 0;
    Py_BEGIN_ALLOW_THREADS for (Py_ssize_t i = 0; i < n; i++)
    {
        errno = 4242;
        void *block = PyMem_RawMalloc(64 + (size_t)(i & 255));
        changed += errno != 4242;
        errno = 4242;
        PyMem_RawFree(block);
        changed += errno != 4242;
    }
    Py_END_ALLOW_THREADS return PyLong_FromSsize_t(changed);
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
     "enable(nframe=1, *, sample_bytes=None, native=False)\n--\n\nStart "
     "tracing, keeping up to nframe frames a traceback; while tracing, set "
     "the depth for new allocations (without an argument, keep it).  "
     "sample_bytes=N samples one allocated byte in N on average (Poisson "
     "sampling by bytes) and makes every figure an unbiased estimate; None "
     "traces every block exactly; not given while tracing, the mode stays.  "
     "Switching modes needs disable() first.  native=True also traces the "
     "blocks extension modules and their libraries take from libc (malloc, "
     "mmap...), in NATIVE_DOMAIN; False forgets them; not given while "
     "tracing, it stays (ValueError where GOT patching is unsupported)."},
    {"get_sample_bytes", tm_get_sample_bytes, METH_NOARGS,
     "N, the mean number of bytes between two samples, while tracing in "
     "sampled mode; None in exact mode or when not tracing."},
    {"_set_sample_seed", tm_set_sample_seed, METH_O,
     "Seed the sampler's random generators (reproducible samples for "
     "tests): this thread restarts now, the others at their next sample."},
    {"_test_sample_sizes", tm_test_sample_sizes, METH_VARARGS, NULL},
    {"disable", tm_disable, METH_NOARGS,
     "Stop tracing, forget every trace and stop the timer."},
    {"is_enabled", tm_is_enabled, METH_NOARGS, "True while tracing."},
    {"is_native_traced", tm_is_native_traced, METH_NOARGS,
     "True while tracing with native=True (blocks taken from libc by "
     "extensions and their libraries, in NATIVE_DOMAIN)."},
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
    {"_get_line_functions", tm_get_line_functions, METH_NOARGS,
     "{(filename, lineno): qualified name of the line's function} (the\n"
     "first function seen on that line, where two share one)."},
    {"_get_sites", tm_get_sites, METH_VARARGS,
     "_get_sites(with_domain=False)\n--\n\n[(size, count, ((filename, "
     "lineno), ...)), ...], most recent frame first; with_domain: "
     "(size, count, frames, domain)."},
    {"_get_reporters", tm_get_reporters, METH_NOARGS,
     "Paths of the loaded objects whose PyTraceMalloc_Track/Untrack calls "
     "pytracemalloc sees."},
    {"_get_line_variances", tm_get_line_variances, METH_NOARGS,
     "{(filename, lineno): variance of the line's size estimate, None: "
     "the total's}, by the most recent frame (sampled mode; the standard "
     "error is its square root)."},
    {"_group_sites", tm_group_sites, METH_VARARGS,
     "_group_sites(sites, mode)\n--\n\n[(size, count, raw key), ...] of "
     "snapshot sites grouped by mode (0 traceback, 1 lineno, 2 filename, "
     "3 and 4 cumulative lineno and filename), or None when the sites need "
     "the general (Python) path."},
    {"_statistics", tm_statistics, METH_VARARGS,
     "_statistics(sites, mode, Statistic, Traceback)\n--\n\nThe sorted "
     "statistics of snapshot sites grouped as _group_sites does, or None."},
    {"_live_pprof", tm_live_pprof, METH_VARARGS,
     "_live_pprof(own_prefix, time_nanos, period, domain_name): the live "
     "statistics as an uncompressed pprof profile."},
    {"_live_snapshot_tables", tm_live_snapshot_tables, METH_VARARGS,
     "_live_snapshot_tables(own_prefix, sampled): (version, own_size, "
     "tables) of a snapshot file of the live statistics."},
    {"_get_snapshot_sites", tm_get_snapshot_sites, METH_NOARGS,
     "[(((filename, lineno), ...), size, count, domain), ...]: "
     "_get_sites(True) in the layout of a snapshot's sites."},
    {"_get_object_trace", tm_get_object_trace, METH_O,
     "(size, filename, lineno) of the block holding obj, or None."},
    {"_get_object_traceback", tm_get_object_traceback, METH_O,
     "((filename, lineno), ...) of the block holding obj, most recent "
     "first, or None."},
    {"_get_object_named_traceback", tm_get_object_named_traceback, METH_O,
     "(((filename, lineno), ...), (function, ...)) of the block holding "
     "obj, most recent first (\"\" where a frame has no name), or None."},
    {"start_timer", (PyCFunction)(void (*)(void))tm_start_timer,
     METH_VARARGS | METH_KEYWORDS,
     "start_timer(delay, func, args=(), kwargs=None)\n--\n\nCall "
     "func(*args, **kwargs) at the first traced allocation or free at least "
     "delay seconds after the timer was started or the last call ended."},
    {"stop_timer", tm_stop_timer, METH_NOARGS, "Stop the timer."},
    {"_is_main_interpreter", tm_is_main_interpreter, METH_NOARGS,
     "Whether the caller runs in the main interpreter, whose start-up and "
     "exit drive tracing."},
    {"_call_untraced", tm_call_untraced, METH_VARARGS,
     "_call_untraced(callable, *args): call it untraced, then re-join the "
     "allocator chains (for another tracer's start)."},
    {"_rejoin", tm_rejoin, METH_NOARGS,
     "Put the hooks back on top of allocator chains that no longer reach "
     "them; return how many."},
    {"_test_malloc", tm_test_malloc, METH_VARARGS, NULL},
    {"_test_errno_changes", tm_test_errno_changes, METH_O, NULL},
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
        if (hooks_init() < 0 || freelists_init() < 0 || native_init() < 0) {
            PyErr_SetString(PyExc_ImportError,
                            "pytracemalloc: cannot initialize the tracer");
            return NULL;
        }
        /* A different sample in every process, unless a test seeds. */
        struct timespec now;
        clock_gettime(CLOCK_REALTIME, &now);
        sampling_set_seed((uint64_t)now.tv_nsec ^
                          ((uint64_t)now.tv_sec << 30) ^
                          ((uint64_t)getpid() << 16));
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
        PyModule_AddIntConstant(module, "NATIVE_DOMAIN", NATIVE_DOMAIN) < 0 ||
        PyModule_AddIntConstant(module, "GOT_PATCHING",
                                gotpatch_supported()) < 0 ||
        PyModule_AddIntConstant(module, "DOMAIN_RAW", PYMEM_DOMAIN_RAW) < 0 ||
        PyModule_AddIntConstant(module, "DOMAIN_MEM", PYMEM_DOMAIN_MEM) < 0 ||
        PyModule_AddIntConstant(module, "DOMAIN_OBJ", PYMEM_DOMAIN_OBJ) < 0) {
        Py_DECREF(module);
        return NULL;
    }
    /* The bound of enable()'s sample_bytes, so that the parsers of
       PYTRACEMALLOC_SAMPLE_BYTES and of the tools' options refuse a value
       before tracing starts. */
    PyObject *max_sample = PyLong_FromSize_t(MAX_SAMPLE_BYTES);
    if (max_sample == NULL ||
        PyModule_AddObjectRef(module, "MAX_SAMPLE_BYTES", max_sample) < 0) {
        Py_XDECREF(max_sample);
        Py_DECREF(module);
        return NULL;
    }
    Py_DECREF(max_sample);
    return module;
}
