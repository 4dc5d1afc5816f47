#include "timer.h"

#include <glib.h>
#include <pthread.h>
#include <signal.h>
#include <time.h>

/* The helper thread raises the flag this long before the deadline (an
   eighth of the delay at most), so that a helper woken late by a busy
   scheduler still raises it before the deadline.  Meanwhile each traced
   event reads the coarse clock (a few ns; the precise one can cost 80 ns
   in a VM), and the precise one only in the last ticks before the
   deadline. */
#define TIMER_MAX_MARGIN_US (200 * G_TIME_SPAN_MILLISECOND)
/* Delays are clamped to this (about 31 years): no overflow in microseconds.
 */
#define TIMER_MAX_DELAY_US ((gint64)1000000000 * G_TIME_SPAN_SECOND)

atomic_int timer_due;

/* Guarded by the GIL. */
static gint64 timer_delay_us;
static gint64 timer_deadline_us; /* g_get_monotonic_time() clock */
static PyObject *timer_func;
static PyObject *timer_args;
static PyObject *timer_kwargs;
/* Bumped by every start and stop, so that a callback scheduled by a timer
   that was replaced or stopped meanwhile does not run or re-arm. */
static unsigned long timer_generation;
static int timer_scheduled;
static int atfork_registered;
/* How far CLOCK_MONOTONIC_COARSE may lag CLOCK_MONOTONIC: two of its ticks
   (it is the monotonic clock as of the last tick).  0: no coarse clock. */
static gint64 coarse_lag_us = -1;

/* The helper thread's state, guarded by helper_lock.  The helper never
   touches Python: it waits for helper_wake_at, then raises timer_due.
   Nobody holds helper_lock for more than a few stores, and the hooks never
   take it. */
static GMutex helper_lock;
static GCond helper_wakeup;
static int helper_pending; /* a deadline the helper must announce */
static gint64 helper_wake_at;
static int helper_running;
/* Set by timer_stop(): no timer, no thread (a thread left behind would
   show in every fork() and in the process's thread count). */
static int helper_exit;

static void *
helper_main(void *Py_UNUSED(unused))
{
    g_mutex_lock(&helper_lock);
    for (;;) {
        if (!helper_pending && helper_exit) {
            helper_running = 0;
            helper_exit = 0;
            break;
        }
        if (!helper_pending) {
            g_cond_wait(&helper_wakeup, &helper_lock);
        }
        else if (g_get_monotonic_time() < helper_wake_at) {
            g_cond_wait_until(&helper_wakeup, &helper_lock, helper_wake_at);
        }
        else {
            helper_pending = 0;
            atomic_store_explicit(&timer_due, 1, memory_order_relaxed);
        }
    }
    g_mutex_unlock(&helper_lock);
    return NULL;
}

static void
before_fork(void)
{
    g_mutex_lock(&helper_lock);
}

static void
after_fork_in_parent(void)
{
    g_mutex_unlock(&helper_lock);
}

static void
after_fork_in_child(void)
{
    /* The helper did not survive the fork: until the next arm() starts a
       new one, the events themselves watch the clock. */
    helper_running = 0;
    helper_exit = 0;
    if (helper_pending) {
        helper_pending = 0;
        atomic_store_explicit(&timer_due, 1, memory_order_relaxed);
    }
    g_mutex_unlock(&helper_lock);
}

/* With helper_lock held.  0 or -1 (no thread: the caller falls back to
   watching the clock at every event). */
static int
start_helper(void)
{
    if (helper_running) {
        return 0;
    }
    pthread_attr_t attr;
    if (pthread_attr_init(&attr) != 0) {
        return -1;
    }
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    /* Signals go to the threads that run Python, never to the helper. */
    sigset_t all, previous;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &previous);
    pthread_t thread;
    int status = pthread_create(&thread, &attr, helper_main, NULL);
    pthread_sigmask(SIG_SETMASK, &previous, NULL);
    pthread_attr_destroy(&attr);
    if (status != 0) {
        return -1;
    }
    helper_running = 1;
    return 0;
}

static void
init_coarse_clock(void)
{
    coarse_lag_us = 0;
#ifdef CLOCK_MONOTONIC_COARSE
    struct timespec resolution;
    if (clock_getres(CLOCK_MONOTONIC_COARSE, &resolution) == 0 &&
        resolution.tv_sec == 0) {
        coarse_lag_us = 2 * (resolution.tv_nsec / 1000 + 1);
    }
#endif
}

/* Whether the deadline is surely still ahead, by the coarse clock. */
static int
surely_before_deadline(void)
{
#ifdef CLOCK_MONOTONIC_COARSE
    struct timespec now;
    if (coarse_lag_us > 0 &&
        clock_gettime(CLOCK_MONOTONIC_COARSE, &now) == 0) {
        gint64 now_us = (gint64)now.tv_sec * G_TIME_SPAN_SECOND +
                        now.tv_nsec / 1000;
        return now_us + coarse_lag_us < timer_deadline_us;
    }
#endif
    return 0;
}

/* The GIL; never from a hook. */
static void
arm(void)
{
    if (coarse_lag_us < 0) {
        init_coarse_clock();
    }
    if (!atfork_registered) {
        if (pthread_atfork(before_fork, after_fork_in_parent,
                           after_fork_in_child) == 0) {
            atfork_registered = 1;
        }
    }
    gint64 margin = timer_delay_us / 8;
    if (margin > TIMER_MAX_MARGIN_US) {
        margin = TIMER_MAX_MARGIN_US;
    }
    timer_deadline_us = g_get_monotonic_time() + timer_delay_us;
    g_mutex_lock(&helper_lock);
    atomic_store_explicit(&timer_due, 0, memory_order_relaxed);
    helper_exit = 0;
    if (atfork_registered && start_helper() == 0) {
        helper_wake_at = timer_deadline_us - margin;
        helper_pending = 1;
        g_cond_signal(&helper_wakeup);
    }
    else {
        /* No helper: exact still, but every event reads the clock. */
        helper_pending = 0;
        atomic_store_explicit(&timer_due, 1, memory_order_relaxed);
    }
    g_mutex_unlock(&helper_lock);
}

static void
disarm(int helper_exits)
{
    g_mutex_lock(&helper_lock);
    helper_pending = 0;
    atomic_store_explicit(&timer_due, 0, memory_order_relaxed);
    if (helper_exits && helper_running) {
        helper_exit = 1;
        g_cond_signal(&helper_wakeup);
    }
    g_mutex_unlock(&helper_lock);
}

/* Pending call: runs in the main thread with the GIL, between bytecodes. */
static int
run_callback(void *scheduled_generation)
{
    timer_scheduled = 0;
    if ((unsigned long)(uintptr_t)scheduled_generation != timer_generation ||
        timer_func == NULL) {
        return 0;
    }
    unsigned long generation = timer_generation;
    PyObject *func = timer_func;
    PyObject *args = timer_args;
    PyObject *kwargs = timer_kwargs;
    Py_INCREF(func);
    Py_INCREF(args);
    Py_XINCREF(kwargs);
    PyObject *result = PyObject_Call(func, args, kwargs);
    if (result == NULL) {
        /* Report and go on: a failing periodic task must not kill the
           program it watches. */
        PyErr_WriteUnraisable(func);
    }
    Py_XDECREF(result);
    Py_DECREF(func);
    Py_DECREF(args);
    Py_XDECREF(kwargs);
    if (generation == timer_generation) {
        arm();
    }
    return 0;
}

/* In a hook, with the GIL, once timer_due is raised: no lock, no Python
   allocation. */
void
timer_poll(void)
{
    if (timer_func == NULL) {
        atomic_store_explicit(&timer_due, 0, memory_order_relaxed);
        return;
    }
    if (timer_scheduled) {
        /* The call of a replaced timer is still queued: the flag stays up
           and the first event after it ran fires this one. */
        return;
    }
    if (surely_before_deadline() ||
        g_get_monotonic_time() < timer_deadline_us) {
        return;
    }
    void *generation = (void *)(uintptr_t)timer_generation;
    if (Py_AddPendingCall(run_callback, generation) == 0) {
        timer_scheduled = 1;
        atomic_store_explicit(&timer_due, 0, memory_order_relaxed);
    }
    /* else the queue is full: the flag stays up, the next event retries. */
}

static void
release_callback(void)
{
    Py_CLEAR(timer_func);
    Py_CLEAR(timer_args);
    Py_CLEAR(timer_kwargs);
}

int
timer_start(double delay, PyObject *func, PyObject *args, PyObject *kwargs)
{
    /* The checks and messages of 0.9.1; a fractional delay is allowed. */
    if (!(delay > 0.0)) {
        PyErr_SetString(PyExc_ValueError, "delay must be greater than 0");
        return -1;
    }
    if (!PyCallable_Check(func)) {
        PyErr_Format(PyExc_TypeError,
                     "callback must be a callable object, not %s",
                     Py_TYPE(func)->tp_name);
        return -1;
    }
    if (args == Py_None) {
        args = NULL;
    }
    if (args != NULL && !PyTuple_Check(args)) {
        PyErr_SetString(PyExc_TypeError, "argument list must be a tuple");
        return -1;
    }
    if (kwargs == Py_None) {
        kwargs = NULL;
    }
    if (kwargs != NULL && !PyDict_Check(kwargs)) {
        PyErr_SetString(PyExc_TypeError, "keyword list must be a dictionary");
        return -1;
    }
    if (args == NULL) {
        args = PyTuple_New(0);
        if (args == NULL) {
            return -1;
        }
    }
    else {
        Py_INCREF(args);
    }
    /* Disarmed first: dropping the old callback frees memory, and those
       events must not fire it. */
    disarm(0);
    timer_generation++;
    release_callback();
    Py_INCREF(func);
    Py_XINCREF(kwargs);
    timer_func = func;
    timer_args = args;
    timer_kwargs = kwargs;
    double delay_us = delay * (double)G_TIME_SPAN_SECOND;
    timer_delay_us = delay_us < (double)TIMER_MAX_DELAY_US
                         ? (gint64)delay_us
                         : TIMER_MAX_DELAY_US;
    arm();
    return 0;
}

void
timer_stop(void)
{
    disarm(1);
    timer_generation++;
    release_callback();
}

