/* timer: the allocation-driven timer of pytracemalloc 0.9.1.
 *
 * Contract
 * - timer_start() arms a timer: at the first traced event (allocation or
 *   free of the MEM/OBJ domains) at least `delay` seconds after it was
 *   armed, the callback is scheduled as a pending call, so
 *   func(*args, **kwargs) runs in the main thread between two bytecodes.
 *   The timer is disarmed while the callback runs and re-armed after it,
 *   so it never runs twice at once.  An exception from the callback is
 *   printed on stderr; the timer goes on.  A second timer_start()
 *   replaces the first.  Arming does not need tracing: the timer simply
 *   waits for traced events.
 * - The hooks call timer_tick() on every traced event.  It loads one flag
 *   and branches: a helper thread sets the flag shortly before the
 *   deadline, and only then do events read the clock, so the first event
 *   at or after the deadline fires it.
 * - timer_start/timer_stop run with the GIL; timer_tick with the GIL, in a
 *   hook.  timer_start returns 0 or -1 with an exception set.
 */
#ifndef PYTRACEMALLOC_TIMER_H
#define PYTRACEMALLOC_TIMER_H

#include "compat.h"

#include <stdatomic.h>

/* Nonzero from a little before the deadline until the callback is
   scheduled (or the timer is stopped). */
extern atomic_int timer_due;

void timer_poll(void);

static inline void
timer_tick(void)
{
    if (__builtin_expect(
            atomic_load_explicit(&timer_due, memory_order_relaxed), 0)) {
        timer_poll();
    }
}

int timer_start(double delay, PyObject *func, PyObject *args,
                PyObject *kwargs);
void timer_stop(void);

#endif
