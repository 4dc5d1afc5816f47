/* timer: the allocation-driven timer of pytracemalloc 0.9.1.
 *
 * Contract
 * - timer_start() arms a timer: at the first allocation (MEM/OBJ domain,
 *   main interpreter) at least `delay` seconds after it was armed, the
 *   callback is scheduled as a pending call, so func(*args, **kwargs) runs
 *   in the main thread between two bytecodes.  The timer is disarmed while
 *   the callback runs and re-armed after it, so it never runs twice at
 *   once.  An exception from the callback is printed on stderr; the timer
 *   goes on.  A second timer_start() replaces the first.
 * - The allocator hooks call timer_tick() on every MEM/OBJ allocation; it
 *   is a decrement and a test, the clock is read every TIMER_POLL_EVERY
 *   allocations only.
 * - Everything here is guarded by the GIL.  timer_start returns 0 or -1
 *   with an exception set.
 */
#ifndef PYTRACEMALLOC_TIMER_H
#define PYTRACEMALLOC_TIMER_H

#include "compat.h"

#define TIMER_POLL_EVERY 64

extern int timer_armed;
extern int timer_countdown;

void timer_poll(void);

static inline void
timer_tick(void)
{
    if (timer_armed && --timer_countdown <= 0) {
        timer_poll();
    }
}

int timer_start(double delay, PyObject *func, PyObject *args,
                PyObject *kwargs);
void timer_stop(void);

#endif
