/*
 * fault.h: the one fault module: where tests make a call fail on purpose.
 *
 * Three classes of injection points, as SQLite's test harness has for allocations and I/O: FAULT_STORE
 * (a store call), FAULT_ALLOC (an allocation) and FAULT_AGENT (an agent call, in the dispatch layer of
 * lib/agent.c, where an injected failure answers AGENT_ERR_TRANSIENT as a flaky host would). A test arms a
 * class with fault_arm(class, n): the nth call of that class from now on fails, once, and the countdown
 * disarms itself. A fault loop arms n = 1, 2, ... and stops at the first run in which fault_fired says no
 * failure was injected: every injectable point of the operation has then failed once.
 *
 * Each injection point asks fault_hit(class) once per call; with nothing armed that is one relaxed atomic
 * load. Everything here is thread-safe: workers and the test thread may arm and hit at once.
 *
 * Also here: the crash points of the job engine. WAPD_FAULT=<kind>:<step>:<before|after> in the
 * environment makes the process abort right before that step of a job of that kind starts, or right after
 * its end is committed: a crash at a step boundary, for the tests that prove resumption.
 */
#ifndef WAPD_FAULT_H
#define WAPD_FAULT_H

#include <stdbool.h>

typedef enum {
    FAULT_STORE,
    FAULT_ALLOC,
    FAULT_AGENT,
    FAULT_NCLASSES,
} fault_class_t;

/* Makes the nth call of the class from now on (1 = the next) fail; 0 disarms. Clears fault_fired. */
void fault_arm(fault_class_t cls, long n);
/* Called by an injection point for each call: true when this call must fail. */
bool fault_hit(fault_class_t cls);
/* True when the countdown armed last reached its call and failed it. */
bool fault_fired(fault_class_t cls);
/* How many calls of the class asked fault_hit since it was last armed (armed or not). */
long fault_calls(fault_class_t cls);

/* Aborts the process when WAPD_FAULT names this kind, step and side (before the step runs, or after its
 * end committed). */
void fault_crash_point(const char *kind, int step, bool after);

#endif
