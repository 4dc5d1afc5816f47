/* frames: from the running Python frames to a site id.
 *
 * Contract
 * - frames_capture_site() returns the site (interned traceback of up to
 *   frames_max_nframe most recent frames) of the calling thread, or the
 *   ("<unknown>", 0) site when the thread runs no Python code.  It returns
 *   0 only when the tracer is out of memory.
 * - With the main interpreter's GIL, for a thread running in the main
 *   interpreter (use_caches = 1), it keeps, on each code object, a cache
 *   from instruction to site (nframe 1) or frame id (nframe > 1), so the
 *   line table is decoded once per instruction, not once per allocation.
 *   A memo (frames_memo: instruction -> id; an instruction points into
 *   one code object's bytecode) answers before the cache and the
 *   completeness test: with nframe 1 by instruction (site ids, inline in
 *   frames_capture_site_with_gil), with nframe > 1 by frame address (frame
 *   ids, for the frames of a deep stack).  With nframe > 1
 *   the previous traceback is recognized while it is read, and recent
 *   tracebacks find their site by hash, confirmed against the site's own
 *   frames, without the sites lock.  Both memos are the main GIL's, and
 *   are emptied with the caches (frames_drop_caches) and, for a code
 *   object's entries, when it dies.
 *   Through 3.13 the cache hangs on the code object's co_extra slot and
 *   dies with it; the slot is set without any call into CPython (hooks.h:
 *   the co_extra array comes from the allocator set by
 *   frames_set_extra_allocator()).  From 3.14 on, where co_extra would
 *   stop the code's functions from being shared between interpreters, it
 *   lives in a map of ours (code address -> cache, the main GIL's), and a
 *   code watcher frees it when the code dies.  Caches live on
 *   main-interpreter code objects only: the co_extra index and its free
 *   function, or the watcher, are registered in the main interpreter
 *   alone.
 * - Otherwise (use_caches = 0: no GIL, or another interpreter's GIL) it
 *   reads only the thread's own frames and immutable code data (filename,
 *   line table), and its frame buffer is guarded by the hooks' table lock:
 *   slower, never unsafe.
 * - Callers need not hold the sites lock: frames takes it around each
 *   intern.  The main interpreter's GIL guards the caches and
 *   frames_max_nframe's writes.
 * - frames_drop_caches() detaches every cache (main GIL held): after a reset of
 *   the sites or a change of nframe the cached ids are stale.
 */
#ifndef PYTRACEMALLOC_FRAMES_H
#define PYTRACEMALLOC_FRAMES_H

#include "compat.h"

#include <stdint.h>

#define FRAMES_MAX_NFRAME 65535

/* The memo (frames.c: frames_memo, the main GIL): an instruction pointer
   seen lately and its id; see frames.c for when an entry is valid. */
typedef struct {
    const void *instr;
    uint32_t id;
} frames_memo_entry;

#define FRAMES_MEMO_BITS 10
extern frames_memo_entry frames_memo[1u << FRAMES_MEMO_BITS];

/* nframe 1: the entry of an instruction (code units are 2 bytes apart). */
static inline frames_memo_entry *
frames_memo_of_instr(const void *instr)
{
    return &frames_memo[((uintptr_t)instr >> 1) &
                        ((1u << FRAMES_MEMO_BITS) - 1)];
}

extern int frames_nframe;

int frames_init(void);
/* The allocator that co_extra arrays come from (the MEM allocator the
   hooks wrap); the pointer stays valid for the process's life. */
void frames_set_extra_allocator(const PyMemAllocatorEx *below);
void frames_set_max_nframe(int nframe);
int frames_max_nframe(void);
uint32_t frames_capture_site(PyThreadState *tstate, int use_caches);
void frames_drop_caches(void);
/* Number of code objects carrying a cache now. */
size_t frames_cache_count(void);

/* The line that a code unit of a code object belongs to (the line table
   decoded in C); co_firstlineno for unit -1, 0 for a unit with no line. */
int frames_code_line(PyCodeObject *code, int unit);

/* The site of the running code, GIL held: the common case (nframe 1, the
   instruction seen before) is a few loads, inline; anything else goes to
   frames_capture_site().  Same contract as frames_capture_site(). */
static inline uint32_t
frames_capture_site_with_gil(PyThreadState *tstate)
{
    if (frames_nframe == 1 && tstate != NULL) {
        compat_frame *frame = compat_top_frame(tstate);
        if (frame != NULL) {
            const void *instr = compat_frame_instr(frame);
            frames_memo_entry *entry = frames_memo_of_instr(instr);
            if (entry->instr == instr) {
                return entry->id;
            }
        }
    }
    return frames_capture_site(tstate, 1);
}

#endif
