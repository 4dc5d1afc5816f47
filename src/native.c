#include "hooks.h" /* first: Python.h sets the C library's feature macros */
#include "native.h"

#include <errno.h>
#include <glib.h>
#include <malloc.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "rawmem.h"

static atomic_int native_on; /* written with the main GIL */

/* This thread holds region_lock: a wrapper entered now (a signal handler)
   passes through. */
static _Thread_local int in_native __attribute__((tls_model("initial-exec")));

static inline int
recording(void)
{
    return atomic_load_explicit(&native_on, memory_order_relaxed) &&
           !in_native;
}

/* Our bookkeeping must not change errno: code that checks it after a
   successful call (or reads it after a failed one) sees libc's value. */
static void
record(void *ptr, size_t size)
{
    int saved_errno = errno;
    hooks_native_record(NATIVE_DOMAIN, (uintptr_t)ptr, size);
    errno = saved_errno;
}

static int
take(void *ptr, hooks_taken *taken)
{
    int saved_errno = errno;
    int found = hooks_native_take(NATIVE_DOMAIN, (uintptr_t)ptr, taken);
    errno = saved_errno;
    return found;
}

static void
put_back(void *ptr, const hooks_taken *taken)
{
    int saved_errno = errno;
    hooks_native_put((uintptr_t)ptr, taken->size, taken);
    errno = saved_errno;
}

/* ---- the heap --------------------------------------------------------- */

static void *
native_malloc(size_t size)
{
    void *ptr = malloc(size);
    if (ptr != NULL && recording()) {
        record(ptr, size);
    }
    return ptr;
}

static void *
native_calloc(size_t nelem, size_t elsize)
{
    void *ptr = calloc(nelem, elsize);
    if (ptr != NULL && recording()) {
        record(ptr, nelem * elsize); /* calloc checked the product */
    }
    return ptr;
}

static void
native_free(void *ptr)
{
    if (ptr != NULL && recording()) {
        hooks_taken taken;
        take(ptr, &taken);
    }
    free(ptr);
}

/* realloc and reallocarray: the old trace goes before the call (after it,
   another thread may already have been given the old address), and comes
   back if the call fails, leaving the old block in place. */
static void
after_resize(void *old, void *ptr, size_t size, int had, hooks_taken *taken)
{
    if (ptr != NULL) {
        record(ptr, size);
    }
    else if (had && size != 0) {
        put_back(old, taken);
    }
}

static void *
native_realloc(void *old, size_t size)
{
    if (!recording()) {
        return realloc(old, size);
    }
    hooks_taken taken;
    int had = old != NULL && take(old, &taken);
    void *ptr = realloc(old, size);
    after_resize(old, ptr, size, had, &taken);
    return ptr;
}

static void *
native_reallocarray(void *old, size_t nelem, size_t elsize)
{
    if (!recording()) {
        return reallocarray(old, nelem, elsize);
    }
    hooks_taken taken;
    int had = old != NULL && take(old, &taken);
    void *ptr = reallocarray(old, nelem, elsize);
    /* Where the product overflows, the call failed and ptr is NULL. */
    after_resize(old, ptr, ptr != NULL ? nelem * elsize : 1, had, &taken);
    return ptr;
}

static int
native_posix_memalign(void **out, size_t alignment, size_t size)
{
    int status = posix_memalign(out, alignment, size);
    if (status == 0 && *out != NULL && recording()) {
        record(*out, size);
    }
    return status;
}

static void *
native_aligned_alloc(size_t alignment, size_t size)
{
    void *ptr = aligned_alloc(alignment, size);
    if (ptr != NULL && recording()) {
        record(ptr, size);
    }
    return ptr;
}

static void *
native_memalign(size_t alignment, size_t size)
{
    void *ptr = memalign(alignment, size);
    if (ptr != NULL && recording()) {
        record(ptr, size);
    }
    return ptr;
}

static void *
native_valloc(size_t size)
{
    void *ptr = valloc(size);
    if (ptr != NULL && recording()) {
        record(ptr, size);
    }
    return ptr;
}

static size_t
page_size(void)
{
    static size_t cached;
    if (cached == 0) {
        cached = (size_t)sysconf(_SC_PAGESIZE);
    }
    return cached;
}

static size_t
round_to_pages(size_t size)
{
    size_t page = page_size();
    return size > SIZE_MAX - (page - 1) ? size
                                        : (size + page - 1) & ~(page - 1);
}

static void *
native_pvalloc(size_t size)
{
    void *ptr = pvalloc(size);
    if (ptr != NULL && recording()) {
        /* pvalloc hands out whole pages: that is the block. */
        record(ptr, size == 0 ? page_size() : round_to_pages(size));
    }
    return ptr;
}

/* ---- anonymous mappings ---------------------------------------------------
 * region_lock guards `regions`: the traced mappings, sorted by start and
 * never overlapping.  A mapping is one trace keyed by its start; unmapping
 * a part of it takes that trace and puts back what is left, each piece on
 * the site of the mapping (a piece starting inside it is keyed by its own
 * start).  Mappings are few (libc maps its own big blocks without going
 * through these entries), so a sorted array does.
 */
typedef struct {
    uintptr_t start, end;
} region;

static GMutex region_lock;
static region *regions; /* rawmem */
static size_t n_regions, regions_capacity;

/* The first region ending after `address`. */
static size_t
first_ending_after(uintptr_t address)
{
    size_t low = 0, high = n_regions;
    while (low < high) {
        size_t mid = low + (high - low) / 2;
        if (regions[mid].end <= address) {
            low = mid + 1;
        }
        else {
            high = mid;
        }
    }
    return low;
}

/* region_lock held; 0, or -1 when the index cannot grow. */
static int
insert_region(uintptr_t start, uintptr_t end)
{
    if (n_regions == regions_capacity) {
        size_t capacity = regions_capacity ? 2 * regions_capacity : 64;
        region *grown = rawmem_malloc(capacity * sizeof(region));
        if (grown == NULL) {
            return -1;
        }
        if (n_regions > 0) {
            memcpy(grown, regions, n_regions * sizeof(region));
        }
        rawmem_free(regions, regions_capacity * sizeof(region));
        regions = grown;
        regions_capacity = capacity;
    }
    size_t at = first_ending_after(start);
    memmove(&regions[at + 1], &regions[at], (n_regions - at) * sizeof(region));
    regions[at].start = start;
    regions[at].end = end;
    n_regions++;
    return 0;
}

/* region_lock held: forget the traced pages in [start, end).  Returns
   whether any was traced. */
static int
forget_range(uintptr_t start, uintptr_t end)
{
    int found = 0;
    size_t i = first_ending_after(start);
    while (i < n_regions && regions[i].start < end) {
        region old = regions[i];
        memmove(&regions[i], &regions[i + 1],
                (n_regions - i - 1) * sizeof(region));
        n_regions--;
        found = 1;
        hooks_taken taken;
        if (!take((void *)old.start, &taken)) {
            continue; /* a reset forgot it already */
        }
        if (old.start < start) {
            put_back(
                (void *)old.start,
                &(hooks_taken){start - old.start, taken.site, taken.epoch});
            if (insert_region(old.start, start) == 0) {
                i++;
            }
        }
        if (old.end > end) {
            put_back((void *)end,
                     &(hooks_taken){old.end - end, taken.site, taken.epoch});
            if (insert_region(end, old.end) == 0) {
                i++;
            }
        }
    }
    return found;
}

static void
lock_regions(void)
{
    in_native = 1;
    g_mutex_lock(&region_lock);
}

static void
unlock_regions(void)
{
    g_mutex_unlock(&region_lock);
    in_native = 0;
}

/* A mapping was made at [ptr, ptr + length): traced when anonymous.  It
   replaced whatever traced pages were there: a MAP_FIXED one over ours,
   or any one over pages unmapped where we did not see it (by libc itself,
   or before a clear_traces() forgot the trace). */
static void
mapped(void *ptr, size_t length, int anonymous)
{
    int saved_errno = errno;
    uintptr_t start = (uintptr_t)ptr;
    uintptr_t end = start + round_to_pages(length);
    lock_regions();
    forget_range(start, end);
    if (anonymous &&
        hooks_native_record(NATIVE_DOMAIN, start, end - start) == 1 &&
        insert_region(start, end) < 0) {
        hooks_taken taken;
        take(ptr, &taken); /* an untracked trace could never be unmapped */
    }
    unlock_regions();
    errno = saved_errno;
}

static void *
native_mmap(void *addr, size_t length, int prot, int flags, int fd,
            off_t offset)
{
    void *ptr = mmap(addr, length, prot, flags, fd, offset);
    if (ptr != MAP_FAILED && recording()) {
        mapped(ptr, length, (flags & MAP_ANONYMOUS) != 0);
    }
    return ptr;
}

static int
native_munmap(void *addr, size_t length)
{
    int status = munmap(addr, length);
    if (status == 0 && recording()) {
        /* After the call: a failed munmap unmapped nothing.  A mapping made
           meanwhile by another thread at these pages cannot be: they were
           still mapped until the call returned. */
        int saved_errno = errno;
        uintptr_t start = (uintptr_t)addr;
        lock_regions();
        forget_range(start, start + round_to_pages(length));
        unlock_regions();
        errno = saved_errno;
    }
    return status;
}

static int
dont_unmap(int flags)
{
#ifdef MREMAP_DONTUNMAP
    return (flags & MREMAP_DONTUNMAP) != 0;
#else
    (void)flags;
    return 0;
#endif
}

static void *
native_mremap(void *old, size_t old_length, size_t length, int flags, ...)
{
    void *new_address = NULL;
    if (flags & MREMAP_FIXED) {
        va_list args;
        va_start(args, flags);
        new_address = va_arg(args, void *);
        va_end(args);
    }
    void *ptr = mremap(old, old_length, length, flags, new_address);
    if (ptr != MAP_FAILED && recording()) {
        /* The new mapping is a native block at the current line when the
           old one was; the old pages are gone (unless MREMAP_DONTUNMAP, in
           which case they stay mapped, empty, and stay its own). */
        int saved_errno = errno;
        uintptr_t start = (uintptr_t)old;
        lock_regions();
        int traced = 0;
        if (!dont_unmap(flags) || ptr == old) {
            traced = forget_range(start, start + round_to_pages(old_length));
        }
        else {
            size_t i = first_ending_after(start);
            traced = i < n_regions && regions[i].start < start + old_length;
        }
        if (flags & MREMAP_FIXED) {
            uintptr_t target = (uintptr_t)ptr;
            traced |= forget_range(target, target + round_to_pages(length));
        }
        unlock_regions();
        if (traced) {
            mapped(ptr, length, 1);
        }
        errno = saved_errno;
    }
    return ptr;
}

/* ---- the table gotpatch installs ------------------------------------ */

const native_target native_targets[] = {
    {"malloc", (void *)native_malloc},
    {"calloc", (void *)native_calloc},
    {"realloc", (void *)native_realloc},
    {"reallocarray", (void *)native_reallocarray},
    {"free", (void *)native_free},
    {"posix_memalign", (void *)native_posix_memalign},
    {"aligned_alloc", (void *)native_aligned_alloc},
    {"memalign", (void *)native_memalign},
    {"valloc", (void *)native_valloc},
    {"pvalloc", (void *)native_pvalloc},
    {"mmap", (void *)native_mmap},
    {"mmap64", (void *)native_mmap},
    {"mremap", (void *)native_mremap},
    {"munmap", (void *)native_munmap},
};
const size_t native_n_targets = G_N_ELEMENTS(native_targets);

void
native_set_enabled(int on)
{
    if (!on) {
        lock_regions();
        atomic_store(&native_on, 0);
        n_regions = 0;
        unlock_regions();
        return;
    }
    atomic_store(&native_on, 1);
}

int
native_is_enabled(void)
{
    return atomic_load(&native_on);
}

/* A fork while another thread edits the index must not leave the child's
   lock taken: the forking thread holds it across the fork. */
int
native_init(void)
{
    return pthread_atfork(lock_regions, unlock_regions, unlock_regions) == 0
               ? 0
               : -1;
}
