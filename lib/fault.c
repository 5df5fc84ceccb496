/*
 * fault.c: countdowns of the injection point classes, and the job engine's crash points (see fault.h).
 *
 * Invariants: a class's countdown is > 0 only while armed; it is decremented by exactly one counted call
 * per hit, under the class's atomic compare-and-swap, so among concurrent callers exactly one sees the
 * armed call fail. fired is set by that call and cleared by fault_arm. fault__used goes from false to true
 * once, on the first arm, and never back: until then no call is counted. A thread's step depth is 0 or 1
 * (steps do not nest).
 */
#include "fault.h"

#include <assert.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct {
    atomic_long countdown; /* the calls left until the failing one; 0: disarmed */
    atomic_long calls;
    atomic_bool fired;
    atomic_uint flags; /* FAULT_* of the last arm */
} classes[FAULT_NCLASSES];

atomic_bool fault__used;

/* Depth of job steps the calling thread runs (0 or 1). */
static _Thread_local int in_step;

void
fault_arm_flags(fault_class_t cls, long n, unsigned flags)
{
    assert(cls >= 0 && cls < FAULT_NCLASSES && n >= 0);
    assert((flags & ~(unsigned) (FAULT_PERMANENT | FAULT_IN_STEPS)) == 0);
    atomic_store(&fault__used, true);
    atomic_store(&classes[cls].countdown, 0);
    atomic_store(&classes[cls].fired, false);
    atomic_store(&classes[cls].calls, 0);
    atomic_store(&classes[cls].flags, flags);
    atomic_store(&classes[cls].countdown, n);
}

void
fault_arm(fault_class_t cls, long n)
{
    fault_arm_flags(cls, n, 0);
}

bool
fault__hit(fault_class_t cls)
{
    long left;

    assert(cls >= 0 && cls < FAULT_NCLASSES);
    if ((atomic_load(&classes[cls].flags) & FAULT_IN_STEPS) && in_step == 0)
        return false;
    atomic_fetch_add(&classes[cls].calls, 1);
    left = atomic_load_explicit(&classes[cls].countdown, memory_order_relaxed);
    while (left > 0) {
        if (atomic_compare_exchange_weak(&classes[cls].countdown, &left, left - 1)) {
            if (left - 1 > 0)
                return false;
            atomic_store(&classes[cls].fired, true);
            return true;
        }
    }
    return false;
}

bool
fault_permanent(fault_class_t cls)
{
    assert(cls >= 0 && cls < FAULT_NCLASSES);
    return (atomic_load(&classes[cls].flags) & FAULT_PERMANENT) != 0;
}

bool
fault_fired(fault_class_t cls)
{
    assert(cls >= 0 && cls < FAULT_NCLASSES);
    return atomic_load(&classes[cls].fired);
}

long
fault_calls(fault_class_t cls)
{
    assert(cls >= 0 && cls < FAULT_NCLASSES);
    return atomic_load(&classes[cls].calls);
}

void
fault_step_enter(void)
{
    assert(in_step == 0);
    in_step++;
}

void
fault_step_leave(void)
{
    assert(in_step == 1);
    in_step--;
}

/* ---- crash points ---- */

static struct {
    char kind[64];
    int step;
    bool after;
    bool armed;
} crash;
static pthread_once_t crash_once = PTHREAD_ONCE_INIT;

static void
crash_init(void)
{
    const char *e = getenv("WAPD_FAULT");
    char when[16];

    if (e && sscanf(e, "%63[^:]:%d:%15s", crash.kind, &crash.step, when) == 3) {
        crash.after = strcmp(when, "after") == 0;
        crash.armed = true;
    }
}

void
fault_crash_point(const char *kind, int step, bool after)
{
    assert(kind != NULL);
    pthread_once(&crash_once, crash_init);
    if (crash.armed && crash.step == step && crash.after == after && strcmp(crash.kind, kind) == 0) {
        fprintf(stderr, "{\"level\":\"warn\",\"msg\":\"fault point reached: aborting\","
                        "\"kind\":\"%s\",\"step\":%d,\"when\":\"%s\"}\n",
                kind, step, after ? "after" : "before");
        abort();
    }
}
