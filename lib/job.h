/*
 * job.h: job records.
 *
 * Every long-running change answers 202 with a job. A job has a kind ("plan.update"), a resource, the
 * subscription it belongs to (null for admin-only jobs), named steps and a status
 * (queued, running, succeeded, failed, canceled). This module creates and finishes job records in the caller's
 * transaction, so a job's outcome commits together with the change it made.
 */
#ifndef WAPD_JOB_H
#define WAPD_JOB_H

#include <jansson.h>

#include "err.h"
#include "store.h"

/* A new queued job record (not yet stored) with the given step names (NULL-terminated). resource_id and
 * subscription_id are borrowed; subscription_id may be NULL. */
json_t *job_record_new(const char *kind, const char *resource_id, const char *subscription_id,
                       const char *const *steps);
/* Marks every step and the job succeeded, with progress 100 and start and end times, and stores it. */
int job_store_succeeded(store_t *st, json_t *job, err_t *err);

#endif
