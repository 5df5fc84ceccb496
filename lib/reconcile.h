/*
 * reconcile.h: the periodic check that the counters wapd keeps (each subscription's quota usage, each
 * host's allocation) agree with the records they count, and their correction when they drift.
 *
 * A round looks at every subscription and every host, each in a transaction of its own, so it never holds
 * the database long. It does not fight work under way: a subscription with a job queued or running, and a
 * host that such a job could be reserving on, are left for a later round, because a job's reservation is
 * part of the truth before its records show it (a resize reserves the difference before the VM has its
 * new size). Every drift corrected is logged as one JSON line on stderr (what, id, before, after) and
 * counted (reconcile_stats, shown in /metrics).
 */
#ifndef WAPD_RECONCILE_H
#define WAPD_RECONCILE_H

#include <stdint.h>

#include "err.h"
#include "store.h"

typedef struct {
    uint64_t runs;          /* rounds that ended (a round the store cut short included) */
    uint64_t subscriptions; /* subscriptions whose usage drifted and was corrected */
    uint64_t hosts;         /* hosts whose allocation drifted and was corrected */
    int64_t last_run_ms;    /* when the last round ended; 0: none yet */
} reconcile_stats_t;

/* One round. Answers how many drifts it corrected, or -1 with err when the store failed (what the round
 * corrected before stays corrected). Called from one thread at a time (the daemon's main loop). */
int reconcile_run(store_t *st, err_t *err);

/* The counters since the process started; any thread. */
void reconcile_stats(reconcile_stats_t *out);

#endif
