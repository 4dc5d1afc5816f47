/* native_blocks: a test extension that takes blocks of known sizes straight
 * from libc, the way a C library under an extension does (issue 24), so
 * that tests/test_native.py can check that each lands on the Python line
 * that called in, in the native domain, and is forgotten when freed.
 *
 * Every block is named by its address (a Python int).  The functions are
 * also exported plainly (nb_malloc, nb_free) for ctypes. */
#define _GNU_SOURCE
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

/* The block is written to, so that a wrong size would crash under ASan or
   fault on a mapping. */
static void *
touch(void *ptr, size_t size)
{
    if (ptr != NULL && ptr != MAP_FAILED && size > 0) {
        memset(ptr, 0xAB, size);
    }
    return ptr;
}

void *
nb_malloc(size_t size)
{
    return touch(malloc(size), size);
}

void
nb_free(void *ptr)
{
    free(ptr);
}

static void *
take(const char *kind, size_t size)
{
    void *ptr = NULL;
    if (strcmp(kind, "malloc") == 0) {
        ptr = malloc(size);
    }
    else if (strcmp(kind, "calloc") == 0) {
        ptr = calloc(size / 8, 8);
    }
    else if (strcmp(kind, "realloc") == 0) {
        ptr = realloc(NULL, size);
    }
    else if (strcmp(kind, "reallocarray") == 0) {
        ptr = reallocarray(NULL, size / 8, 8);
    }
    else if (strcmp(kind, "posix_memalign") == 0) {
        if (posix_memalign(&ptr, 64, size) != 0) {
            ptr = NULL;
        }
    }
    else if (strcmp(kind, "aligned_alloc") == 0) {
        ptr = aligned_alloc(64, size);
    }
    else if (strcmp(kind, "memalign") == 0) {
        ptr = memalign(128, size);
    }
    else if (strcmp(kind, "valloc") == 0) {
        ptr = valloc(size);
    }
    else if (strcmp(kind, "pvalloc") == 0) {
        ptr = pvalloc(size);
    }
    else if (strcmp(kind, "mmap") == 0) {
        ptr = mmap(NULL, size, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (ptr == MAP_FAILED) {
            ptr = NULL;
        }
    }
    else {
        errno = EINVAL;
        return NULL;
    }
    return touch(ptr, size);
}

/* "O&" converter: a Python int holding an address. */
static int
as_address(PyObject *object, void *out)
{
    void *ptr = PyLong_AsVoidPtr(object);
    if (ptr == NULL && PyErr_Occurred()) {
        return 0;
    }
    *(void **)out = ptr;
    return 1;
}

static PyObject *
nb_alloc(PyObject *self, PyObject *args)
{
    const char *kind;
    Py_ssize_t size;
    if (!PyArg_ParseTuple(args, "sn", &kind, &size)) {
        return NULL;
    }
    void *ptr = take(kind, (size_t)size);
    if (ptr == NULL) {
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    return PyLong_FromVoidPtr(ptr);
}

static PyObject *
nb_release(PyObject *self, PyObject *args)
{
    void *ptr;
    Py_ssize_t size = 0;
    if (!PyArg_ParseTuple(args, "O&|n", as_address, &ptr, &size)) {
        return NULL;
    }
    if (size > 0) {
        if (munmap(ptr, (size_t)size) != 0) {
            return PyErr_SetFromErrno(PyExc_OSError);
        }
    }
    else {
        free(ptr);
    }
    Py_RETURN_NONE;
}

/* realloc(): (new address, whether it moved). */
static PyObject *
nb_resize(PyObject *self, PyObject *args)
{
    void *ptr;
    Py_ssize_t size;
    if (!PyArg_ParseTuple(args, "O&n", as_address, &ptr, &size)) {
        return NULL;
    }
    void *moved = realloc(ptr, (size_t)size);
    if (moved == NULL) {
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    return Py_BuildValue("NO", PyLong_FromVoidPtr(touch(moved, (size_t)size)),
                         moved != ptr ? Py_True : Py_False);
}

/* realloc() to a size no allocator has: fails, and the block is kept. */
static PyObject *
nb_resize_fails(PyObject *self, PyObject *args)
{
    void *ptr;
    if (!PyArg_ParseTuple(args, "O&", as_address, &ptr)) {
        return NULL;
    }
    volatile size_t huge = SIZE_MAX - 4096;
    void *moved = realloc(ptr, huge);
    return PyBool_FromLong(moved == NULL);
}

static PyObject *
nb_unmap_part(PyObject *self, PyObject *args)
{
    char *ptr;
    Py_ssize_t offset, length;
    if (!PyArg_ParseTuple(args, "O&nn", as_address, &ptr, &offset, &length)) {
        return NULL;
    }
    if (munmap(ptr + offset, (size_t)length) != 0) {
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    Py_RETURN_NONE;
}

static PyObject *
nb_remap(PyObject *self, PyObject *args)
{
    void *ptr;
    Py_ssize_t old_size, new_size;
    if (!PyArg_ParseTuple(args, "O&nn", as_address, &ptr, &old_size,
                          &new_size)) {
        return NULL;
    }
    void *moved =
        mremap(ptr, (size_t)old_size, (size_t)new_size, MREMAP_MAYMOVE);
    if (moved == MAP_FAILED) {
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    return PyLong_FromVoidPtr(touch(moved, (size_t)new_size));
}

/* MAP_FIXED over the middle of a mapping: a new mapping replaces those
   pages (returned), the rest of the old one stays. */
static PyObject *
nb_map_over(PyObject *self, PyObject *args)
{
    char *ptr;
    Py_ssize_t offset, length;
    if (!PyArg_ParseTuple(args, "O&nn", as_address, &ptr, &offset, &length)) {
        return NULL;
    }
    void *mapped = mmap(ptr + offset, (size_t)length, PROT_READ | PROT_WRITE,
                        MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
    if (mapped == MAP_FAILED) {
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    return PyLong_FromVoidPtr(mapped);
}

/* munmap by a raw system call: no wrapper sees it (as when libc unmaps
   for itself). */
static PyObject *
nb_unmap_unseen(PyObject *self, PyObject *args)
{
    void *ptr;
    Py_ssize_t length;
    if (!PyArg_ParseTuple(args, "O&n", as_address, &ptr, &length)) {
        return NULL;
    }
    if (syscall(SYS_munmap, ptr, (size_t)length) != 0) {
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    Py_RETURN_NONE;
}

/* An anonymous mapping with `address` as a hint (no MAP_FIXED): the
   kernel takes it when those pages are free. */
static PyObject *
nb_map_at(PyObject *self, PyObject *args)
{
    void *ptr;
    Py_ssize_t length;
    if (!PyArg_ParseTuple(args, "O&n", as_address, &ptr, &length)) {
        return NULL;
    }
    void *mapped = mmap(ptr, (size_t)length, PROT_READ | PROT_WRITE,
                        MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (mapped == MAP_FAILED) {
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    return PyLong_FromVoidPtr(mapped);
}

/* A file mapping is not memory the process allocated: never traced. */
static PyObject *
nb_map_file(PyObject *self, PyObject *args)
{
    int fd;
    Py_ssize_t size;
    if (!PyArg_ParseTuple(args, "in", &fd, &size)) {
        return NULL;
    }
    void *mapped = mmap(NULL, (size_t)size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (mapped == MAP_FAILED) {
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    return PyLong_FromVoidPtr(mapped);
}

typedef struct {
    size_t size;
    void *block;
} thread_job;

static void *
thread_main(void *arg)
{
    thread_job *job = arg;
    job->block = touch(malloc(job->size), job->size);
    return NULL;
}

/* malloc() in a thread that never runs Python code (no frame, no GIL). */
static PyObject *
nb_alloc_in_thread(PyObject *self, PyObject *args)
{
    Py_ssize_t size;
    if (!PyArg_ParseTuple(args, "n", &size)) {
        return NULL;
    }
    thread_job job = {(size_t)size, NULL};
    pthread_t thread;
    int rc;
    Py_BEGIN_ALLOW_THREADS rc =
        pthread_create(&thread, NULL, thread_main, &job);
    if (rc == 0) {
        rc = pthread_join(thread, NULL);
    }
    Py_END_ALLOW_THREADS if (rc != 0 || job.block == NULL)
    {
        errno = rc ? rc : ENOMEM;
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    return PyLong_FromVoidPtr(job.block);
}

/* errno as the caller sees it after each call: a tracer must not change
   it (a successful malloc or free leaves errno alone; a failed one sets
   it). */
static PyObject *
nb_errno_after(PyObject *self, PyObject *Py_UNUSED(args))
{
    /* volatile: the compiler may not elide a malloc/free pair it sees. */
    static void *volatile sink;
    volatile size_t small = 100, huge = SIZE_MAX - 4096;
    errno = 4242;
    sink = malloc(small);
    int after_malloc = errno;
    errno = 4343;
    free(sink);
    int after_free = errno;
    errno = 0;
    sink = malloc(huge);
    int after_failure = errno;
    free(sink);
    return Py_BuildValue("iii", after_malloc, after_free, after_failure);
}

static PyMethodDef methods[] = {
    {"alloc", nb_alloc, METH_VARARGS, "alloc(kind, size) -> address"},
    {"release", nb_release, METH_VARARGS,
     "release(address, size=0): free(), or munmap() of size bytes"},
    {"resize", nb_resize, METH_VARARGS,
     "realloc(address, size) -> (address, moved)"},
    {"resize_fails", nb_resize_fails, METH_VARARGS,
     "a realloc() that fails: True"},
    {"unmap_part", nb_unmap_part, METH_VARARGS,
     "munmap(address + offset, length)"},
    {"remap", nb_remap, METH_VARARGS, "mremap(address, old, new, MAYMOVE)"},
    {"map_over", nb_map_over, METH_VARARGS,
     "mmap(address + offset, length, MAP_FIXED) -> address"},
    {"map_file", nb_map_file, METH_VARARGS, "mmap(fd, size) of a file"},
    {"unmap_unseen", nb_unmap_unseen, METH_VARARGS,
     "munmap(address, length) by a raw system call"},
    {"map_at", nb_map_at, METH_VARARGS,
     "mmap(address hint, length) -> address"},
    {"alloc_in_thread", nb_alloc_in_thread, METH_VARARGS,
     "malloc(size) in a new C thread -> address"},
    {"errno_after", nb_errno_after, METH_NOARGS,
     "errno after malloc, free and a failed malloc"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "native_blocks", NULL, -1, methods,
};

PyMODINIT_FUNC
PyInit_native_blocks(void)
{
    return PyModule_Create(&module);
}
