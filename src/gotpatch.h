/* gotpatch: see the blocks that extension modules report to stdlib
 * tracemalloc (numpy's array data, domain 389047).
 *
 * Contract
 * - gotpatch_install() (GIL held, idempotent) points the GOT entries of
 *   PyTraceMalloc_Track and PyTraceMalloc_Untrack, in every loaded object
 *   that imports them, at our wrappers, and the GOT entry of dlopen in the
 *   object that imports extension modules (libpython or the executable),
 *   so that extension modules loaded later are patched as they load.
 * - The wrappers call CPython's own functions first (stdlib tracemalloc
 *   keeps seeing every block), then hooks_track_block/hooks_untrack_block.
 *   They answer -2 ("not tracing") only when neither tracer traces, since
 *   numpy skips the Track of a realloc when Untrack says -2.
 * - Patches stay for the life of the process: while not tracing a wrapper
 *   costs one extra call and one atomic load.
 * - The allocation entries of native tracing (gotpatch_set_native) are
 *   the exception: they go back when it stops.
 * - Supported on ELF x86-64 and AArch64 (glibc's dl_iterate_phdr);
 *   elsewhere gotpatch_install() does nothing and gotpatch_supported() is
 *   0.  No memory from the Python allocators; no exception.
 */
#ifndef PYTRACEMALLOC_GOTPATCH_H
#define PYTRACEMALLOC_GOTPATCH_H

#include <stddef.h>

int gotpatch_supported(void);
/* Returns the number of objects whose reports we see, -1 on failure. */
int gotpatch_install(void);
/* Native tracing (native.h) on: point the allocation functions and dlopen
   of every loaded object but the interpreter, libc, the loader, the vDSO
   and us at native.c's wrappers, and of every object loaded later (their
   dlopen is wrapped too, searching the caller's run path as dlopen would).
   Off: the wrappers pass through, and every entry still pointing at one
   gets back the value it had.  GIL held; 0, or -1 (unsupported here, or
   out of memory). */
int gotpatch_set_native(int on);
/* Copy into `names` (NUL-separated, at most `capacity` bytes) the paths of
   the objects whose reports we see; returns the bytes needed. */
size_t gotpatch_names(char *names, size_t capacity);

#endif
