/*
 * queue.h: the job engine's in-memory queue of jobs to look at, with the set of jobs someone holds (a worker
 * running it, or a cancel deciding on it); not for other modules. pool.c owns the only queue and calls it
 * under its lock; the queue itself takes no lock.
 *
 * A job is in the queue at most once, with its earliest due time; the jobs due are taken in order of due
 * time (first put first among equals); a held job is never taken, and one put while it is held waits,
 * with its earliest due time, until it is released. Put, take, hold and release cost O(log n) in the
 * number of queued jobs (a binary heap by due time and a hash table of ids).
 */
#ifndef WAPD_JOB_QUEUE_H
#define WAPD_JOB_QUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../util.h"

typedef struct job_queue job_queue_t;

/* Who holds a job. */
typedef enum {
    JOB_QUEUE_FREE,   /* no one */
    JOB_QUEUE_WORKER, /* a worker runs it */
    JOB_QUEUE_OTHER,  /* requests changing the job's row (a cancel) */
} job_queue_holder_t;

/* A new, empty queue, or NULL when out of memory. */
job_queue_t *job__queue_new(void);
/* Frees q and every entry; NULL is a no-op. */
void job__queue_free(job_queue_t *q);
/* Queues id (borrowed) due at due_ms; a job already queued keeps the earlier of its two due times. 0, or -1
 * when out of memory (the job then waits in the database for the next start). */
int job__queue_put(job_queue_t *q, const char *id, int64_t due_ms);
/* Takes the queued job due first, when it is due by now_ms: it leaves the queue, held by a worker since
 * now_ms, its id in out. False when none is due; *next_due is then the earliest due time (INT64_MAX:
 * nothing queued that is not held). */
bool job__queue_take(job_queue_t *q, int64_t now_ms, char out[UTIL_UUID_LEN + 1], int64_t *next_due);
/* Holds id for a request (JOB_QUEUE_OTHER), queued or not: no worker takes it until every request's hold
 * has ended (job__queue_unhold). Several requests may hold a job at once; false when a worker holds it. */
bool job__queue_hold(job_queue_t *q, const char *id);
/* Ends one request's hold. A put made while the job was held queues it once no one holds it, at its
 * earliest due time. */
void job__queue_unhold(job_queue_t *q, const char *id);
/* Ends the hold of the worker that took id, as job__queue_unhold does a request's. */
void job__queue_release(job_queue_t *q, const char *id);
/* True when id is queued (held or not): put and not taken since. */
bool job__queue_queued(const job_queue_t *q, const char *id);
/* Who holds id, and since when (*since_ms, for a worker; may be NULL). */
job_queue_holder_t job__queue_holder(const job_queue_t *q, const char *id, int64_t *since_ms);
/* The earliest due time of a job that could be taken (INT64_MAX: none). */
int64_t job__queue_next_due(const job_queue_t *q);
/* Jobs queued (held ones waiting for their release included). */
size_t job__queue_len(const job_queue_t *q);

#endif
