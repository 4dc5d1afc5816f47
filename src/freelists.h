/* freelists: exact accounting of blocks that CPython recycles through its
 * free lists, where the interpreter lets us see them.
 *
 * Contract
 * - freelists_mode() names how free-listed blocks are accounted, decided
 *   at import time from what the interpreter offers, never from its
 *   version number:
 *     "hooks"      the interpreter carries patches/python3.11-free-list-
 *                  hooks.patch (PyFreeList_SetHooks found by dlsym): a block
 *                  kept in a free list leaves the statistics, a reused one
 *                  moves to the line that reuses it;
 *     "reftracer"  CPython 3.13+: PyRefTracer reports every object's creation
 *                  and destruction, so recycled objects move as with
 *                  "hooks" (raw-memory free lists, such as dict keys,
 *                  excepted);
 *     "disabled"   the interpreter was built --without-freelists: nothing
 *                  is recycled for floats, tuples, lists, dicts, async
 *                  generators and contexts, so the hooks see everything;
 *     "untracked"  a stock interpreter: a recycled block stays on the line
 *                  that first allocated it.
 * - freelists_start()/freelists_stop() (main GIL held, called by module.c
 *   after enabling and before disabling the hooks) install and remove the
 *   interpreter's hooks.
 * - The callbacks run with some interpreter's GIL held; they touch the
 *   MEM/OBJ table only in the main interpreter (hooks.h), and obey the
 *   hooks' rule: no call into the allocator chain above us.
 */
#ifndef PYTRACEMALLOC_FREELISTS_H
#define PYTRACEMALLOC_FREELISTS_H

#include "compat.h"

int freelists_init(void);
const char *freelists_mode(void);
void freelists_start(void);
void freelists_stop(void);
/* While installed (main GIL held): take back the interpreter's tracer slot
   when another tool emptied it. */
void freelists_rejoin(void);

#endif
