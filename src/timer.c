#include "timer.h"

#include <time.h>

/* All guarded by the GIL. */
int timer_armed;
int timer_countdown;
static double timer_delay;
static double timer_deadline;
static PyObject *timer_func;
static PyObject *timer_args;
static PyObject *timer_kwargs;
/* Bumped by every start and stop, so that a callback scheduled by a timer
   that was replaced or stopped meanwhile does not run or re-arm. */
static unsigned long timer_generation;
static int timer_scheduled;

static double
monotonic_seconds(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)now.tv_sec + (double)now.tv_nsec * 1e-9;
}

static void
arm(void)
{
    timer_deadline = monotonic_seconds() + timer_delay;
    timer_countdown = TIMER_POLL_EVERY;
    timer_armed = 1;
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

void
timer_poll(void)
{
    timer_countdown = TIMER_POLL_EVERY;
    if (monotonic_seconds() < timer_deadline || timer_scheduled) {
        return;
    }
    timer_armed = 0;
    void *generation = (void *)(uintptr_t)timer_generation;
    if (Py_AddPendingCall(run_callback, generation) == 0) {
        timer_scheduled = 1;
    }
    else {
        /* The queue is full: try again at a later allocation. */
        timer_armed = 1;
    }
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
    if (!(delay >= 0.0)) {
        PyErr_SetString(PyExc_ValueError, "delay must be a positive number");
        return -1;
    }
    if (!PyCallable_Check(func)) {
        PyErr_SetString(PyExc_TypeError, "func must be callable");
        return -1;
    }
    if (args == NULL) {
        args = PyTuple_New(0);
        if (args == NULL) {
            return -1;
        }
    }
    else if (!PyTuple_Check(args)) {
        args = PySequence_Tuple(args);
        if (args == NULL) {
            return -1;
        }
    }
    else {
        Py_INCREF(args);
    }
    if (kwargs == Py_None) {
        kwargs = NULL;
    }
    if (kwargs != NULL && !PyDict_Check(kwargs)) {
        Py_DECREF(args);
        PyErr_SetString(PyExc_TypeError, "kwargs must be a dict or None");
        return -1;
    }
    release_callback();
    timer_generation++;
    Py_INCREF(func);
    Py_XINCREF(kwargs);
    timer_func = func;
    timer_args = args;
    timer_kwargs = kwargs;
    timer_delay = delay;
    arm();
    return 0;
}

void
timer_stop(void)
{
    timer_armed = 0;
    timer_generation++;
    release_callback();
}

