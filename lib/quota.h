/*
 * quota.h: a subscription's quotas, as its plan sets them, and their reservation.
 *
 * Usage counters live with the subscription and change in the same transaction as the resources they
 * count: reserving checks every limit and adds in one statement, so concurrent requests can never overshoot.
 * Quotas count every VM that exists whatever its power state (a VM whose creation failed counts no more),
 * its cores, memory and storage, and networks.
 */
#ifndef WAPD_QUOTA_H
#define WAPD_QUOTA_H

#include <jansson.h>

#include "err.h"
#include "store.h"

enum { QUOTA_VMS, QUOTA_CORES, QUOTA_MEMORY, QUOTA_STORAGE, QUOTA_VMROLES, QUOTA_NETWORKS };

/* Reserves (delta > 0) or releases (delta < 0) usage of subscription sid against the limits of plan (its
 * plan, borrowed, as the caller holds it): 409 QuotaExceeded naming the first quota that would grow past its
 * limit. Reads neither the subscription nor the plan. */
int quota_reserve(store_t *st, const char *sid, const json_t *plan, const int64_t delta[STORE_QUOTAS],
                  err_t *err);
/* As quota_reserve, for callers that hold no plan: reads the subscription and its plan first. */
int quota_adjust(store_t *st, const char *sid, const int64_t delta[STORE_QUOTAS], err_t *err);
/* Applies delta with no limit (releases, and growth that already happened): 404 when there is no such
 * subscription. */
int quota_apply(store_t *st, const char *sid, const int64_t delta[STORE_QUOTAS], err_t *err);
/* The subscription's usage as an object {vms, cores, …}. */
json_t *quota_usage(store_t *st, const char *sid, err_t *err);
/* Recomputes usage from the resources and corrects the counters, in the caller's transaction: the keys
 * that differed as {key: {before, after}} (a new reference; {} when none did), or NULL with err. Counts
 * what the subscription's records hold (VMs that count, snapshots and images counted, roles, networks):
 * a difference a running job reserved and has not yet written into its records is not seen, so callers
 * that must not undo it check first that no job of the subscription is under way. */
json_t *quota_correct(store_t *st, const char *sid, err_t *err);
/* quota_correct in a transaction of its own, answering {"corrected": {key: {before,
 * after}}} with the keys that differed. */
json_t *quota_reconcile(store_t *st, const char *sid, err_t *err);

#endif
