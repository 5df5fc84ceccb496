/*
 * fault.h: the one fault module: where tests make a call fail on purpose.
 *
 * Three classes of injection points, as a database engine's test harness has for allocations and I/O:
 * FAULT_STORE (a store call, in the store's neutral layer), FAULT_ALLOC (an allocation: util_malloc and
 * util_realloc, which jansson allocates through once util_alloc_install has run) and FAULT_AGENT
 * (an agent call, in the dispatch layer of lib/agent/agent.c, where an injected failure answers
 * AGENT_ERR_TRANSIENT as a flaky host would, or AGENT_ERR_PERMANENT when armed so). A test arms a class
 * with fault_arm(class, n): the nth call of that class from now on fails, once, and the countdown disarms
 * itself. A fault loop arms n = 1, 2, ... and stops at the first run in which fault_fired says no failure
 * was injected: every injectable point of the operation has then failed once.
 *
 * Scope: an armed class counts the calls of every thread, or with FAULT_IN_STEPS only the calls made
 * while a job step runs (the job runner brackets each step with fault_step_enter/fault_step_leave), so
 * that a test polling the store from its own thread, or the runner's bookkeeping, does not move the
 * countdown.
 *
 * Cost: until a test arms a class for the first time, fault_hit is one relaxed atomic load and a branch;
 * afterwards (in tests only) every hit counts the call with an atomic add. Everything here is
 * thread-safe: workers and the test thread may arm and hit at once.
 *
 * Also here: the crash points of the job engine. WAPD_FAULT=<kind>:<step>:<before|after> in the
 * environment makes the process abort right before that step of a job of that kind starts, or right after
 * its end is committed: a crash at a step boundary, for the tests that prove resumption.
 */
#ifndef WAPD_FAULT_H
#define WAPD_FAULT_H

#include <stdatomic.h>
#include <stdbool.h>

typedef enum {
    FAULT_STORE,
    FAULT_ALLOC,
    FAULT_AGENT,
    FAULT_NCLASSES,
} fault_class_t;

/* How an armed fault fails and which calls it counts (flags, or-ed). */
enum {
    FAULT_PERMANENT = 1 << 0, /* the failure is one a retry will not cure (the agent answers
                               * AGENT_ERR_PERMANENT); without it the failure is transient */
    FAULT_IN_STEPS = 1 << 1,  /* count only calls made while a job step runs */
};

/* Makes the nth call of the class from now on (1 = the next) fail, transient, counting every thread's
 * calls; 0 disarms. Clears fault_fired and fault_calls. */
void fault_arm(fault_class_t cls, long n);
/* The same with FAULT_* flags. */
void fault_arm_flags(fault_class_t cls, long n, unsigned flags);
/* True when the class was last armed with FAULT_PERMANENT (what an injection point answers). */
bool fault_permanent(fault_class_t cls);
/* True when the countdown armed last reached its call and failed it. */
bool fault_fired(fault_class_t cls);
/* How many calls of the class counted since it was last armed (armed or not). */
long fault_calls(fault_class_t cls);

/* The job runner: the calling thread starts or ends running a job step. */
void fault_step_enter(void);
void fault_step_leave(void);

/* Set once a test first arms a class; read by fault_hit's fast path. */
extern atomic_bool fault__used;
/* fault_hit's slow path. */
bool fault__hit(fault_class_t cls);

/* Called by an injection point for each call: true when this call must fail. */
static inline bool
fault_hit(fault_class_t cls)
{
    return atomic_load_explicit(&fault__used, memory_order_relaxed) && fault__hit(cls);
}

/* Aborts the process when WAPD_FAULT names this kind, step and side (before the step runs, or after its
 * end committed). */
void fault_crash_point(const char *kind, int step, bool after);

#endif
