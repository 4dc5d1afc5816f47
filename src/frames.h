/* frames: from the running Python frames to a site id.
 *
 * Contract
 * - frames_capture_site() returns the site (interned traceback of up to
 *   frames_max_nframe most recent frames) of the calling thread, or the
 *   ("<unknown>", 0) site when the thread runs no Python code.  It returns
 *   0 only when the tracer is out of memory.
 * - With the GIL (use_caches = 1) it keeps, on each code object, a cache
 *   from instruction to site (nframe 1) or frame id (nframe > 1), so the
 *   line table is decoded once per instruction, not once per allocation.
 *   The cache hangs on the code object's co_extra slot and dies with it.
 * - Without the GIL (use_caches = 0) it reads only the thread's own frames
 *   and immutable code data (filename, line table): slower, never unsafe.
 * - Callers hold the sites lock?  No: frames takes it itself around each
 *   intern.  The GIL guards the caches and frames_max_nframe's writes.
 * - frames_drop_caches() detaches every cache (GIL held): after a reset of
 *   the sites or a change of nframe the cached ids are stale.
 */
#ifndef PYTRACEMALLOC_FRAMES_H
#define PYTRACEMALLOC_FRAMES_H

#include "compat.h"

#include <stdint.h>

#define FRAMES_MAX_NFRAME 65535

int frames_init(void);
void frames_set_max_nframe(int nframe);
int frames_max_nframe(void);
uint32_t frames_capture_site(PyThreadState *tstate, int use_caches);
void frames_drop_caches(void);

/* The line that a code unit of a code object belongs to (the line table
   decoded in C); co_firstlineno for unit -1, 0 for a unit with no line. */
int frames_code_line(PyCodeObject *code, int unit);

#endif
