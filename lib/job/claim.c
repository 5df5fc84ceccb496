/*
 * claim.c: this daemon's job leases, the engine's side of store_job_lease_* (see store.h): several daemons
 * on one database run each job once at a time, and the jobs of a daemon that died are taken over.
 *
 * Every daemon process has an instance id (job_engine_instance), a fresh UUID made once per process; it
 * names the owner of the leases the process takes. A worker takes a job's lease before it runs the job
 * (pool.c): 1, it runs it; 0, another daemon holds it (runs it, or keeps it queued for a retry), and the
 * worker drops the job. The lease is kept while the job stays queued here (waiting for a retry or a poll)
 * and given back when it leaves this daemon's queue (it ended, or someone else changed it) and, for every
 * lease still held, when the engine stops cleanly, so that another daemon takes those jobs up at once.
 *
 * One thread of the engine renews every lease of this daemon every JOB_LEASE_MS / 3, and every
 * JOB_SCAN_MS looks for jobs queued or running that no live lease covers (their daemon died, stopped, or
 * never took them up) and queues them here; a worker that then takes the lease runs them. A daemon killed
 * mid-job stops renewing: its leases expire within JOB_LEASE_MS of its last renewal and the next scan of
 * another daemon finds them, so its jobs resume elsewhere within JOB_LEASE_MS + JOB_SCAN_MS (20 s) plus
 * the step's own time.
 *
 * Invariants: a lease call is one statement outside every transaction (a cancel's, made inside its
 * request's transaction, runs beside it: store.h) and is never made under the pool's lock; `held` names the jobs whose lease this daemon took and has
 * not given back (under cl.lock, which is held for nothing else); with a store of one process (SQLite)
 * the engine takes no lease and starts no lease thread (pool.c, record.c): its pool is the lease, and it
 * behaves and costs as it always did.
 *
 * A lease is checked again at every step boundary after the first (runner.c): a daemon that stalled past
 * JOB_LEASE_MS (paused, cut off from the database) and finds the job leased to another lets it go without
 * committing; one that finds no row (the other gave it back) takes it again. Within one step two daemons
 * may then both call the host, which every step's idempotence and the job row's revision check (one
 * commit wins) make safe.
 */
#include "job_internal.h"

#include <assert.h>
#include <pthread.h>
#include <stdio.h>
#include <time.h>

/* At most this many jobs queued per scan; the next scan finds the rest. */
#define SCAN_LIMIT 500
/* A take the store failed: the job is looked at again after this long. */
#define TAKE_RETRY_MS 1000

static struct {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    store_t *st;
    bool running, stopping;
    pthread_t thread;
    json_t *held; /* {job id: true}: the leases this daemon holds */
} cl = {.lock = PTHREAD_MUTEX_INITIALIZER};

static pthread_once_t instance_once = PTHREAD_ONCE_INIT;
static char instance[UTIL_UUID_LEN + 1];

static void
make_instance(void)
{
    util_uuid(instance);
}

const char *
job_engine_instance(void)
{
    pthread_once(&instance_once, make_instance);
    return instance;
}

/* Notes (true) or forgets (false) that this daemon holds id's lease. */
static void
note_held(const char *id, bool held)
{
    pthread_mutex_lock(&cl.lock);
    if (cl.held == NULL)
        cl.held = json_object();
    if (held)
        json_object_set_new(cl.held, id, json_true());
    else
        json_object_del(cl.held, id);
    pthread_mutex_unlock(&cl.lock);
}

int
job__lease_take(store_t *st, const char *id, err_t *err)
{
    int64_t now = util_now_ms();
    int rc;

    assert(st != NULL && id != NULL);
    rc = store_job_lease_take(st, id, job_engine_instance(), now, now + JOB_LEASE_MS, err);
    if (rc >= 0)
        note_held(id, rc == 1);
    return rc;
}

/* Gives id's lease back in the store. Not given back, it expires: another daemon takes the job up after
 * JOB_LEASE_MS. */
static void
give(store_t *st, const char *id)
{
    err_t err = {0};

    if (store_job_lease_give(st, id, job_engine_instance(), &err))
        fprintf(stderr, "{\"level\":\"warn\",\"msg\":\"job lease not given back\",\"job\":\"%s\","
                        "\"error\":\"%s\"}\n",
                id, err.message);
}

void
job__lease_give(store_t *st, const char *id)
{
    assert(st != NULL && id != NULL);
    note_held(id, false);
    give(st, id);
}

/* Renews every lease of this daemon. */
static void
renew(store_t *st, int64_t now)
{
    err_t err = {0};

    if (store_job_leases_renew(st, job_engine_instance(), now + JOB_LEASE_MS, &err) < 0)
        fprintf(stderr, "{\"level\":\"warn\",\"msg\":\"job leases not renewed\",\"error\":\"%s\"}\n",
                err.message);
}

/* Queues here the jobs no live lease covers. */
static void
scan(store_t *st, int64_t now)
{
    err_t err = {0};
    json_t *ids = store_jobs_unleased(st, now, SCAN_LIMIT, &err), *id;
    size_t i;

    if (ids == NULL) {
        fprintf(stderr, "{\"level\":\"warn\",\"msg\":\"unleased jobs not read\",\"error\":\"%s\"}\n",
                err.message);
        return;
    }
    json_array_foreach(ids, i, id)
        job__enqueue(json_string_value(id), 0);
    json_decref(ids);
}

static void *
lease_main(void *arg)
{
    store_t *st = arg;
    int64_t now, next_renew = 0, next_scan = 0, until;
    struct timespec ts;

    pthread_mutex_lock(&cl.lock);
    while (!cl.stopping) {
        now = util_now_ms();
        if (now >= next_renew || now >= next_scan) {
            pthread_mutex_unlock(&cl.lock);
            if (now >= next_renew) {
                renew(st, now);
                next_renew = now + JOB_LEASE_MS / 3;
            }
            if (now >= next_scan) {
                scan(st, now);
                next_scan = now + JOB_SCAN_MS;
            }
            pthread_mutex_lock(&cl.lock);
            continue;
        }
        until = next_renew < next_scan ? next_renew : next_scan;
        ts.tv_sec = (time_t) (until / 1000);
        ts.tv_nsec = (long) (until % 1000) * 1000000L;
        pthread_cond_timedwait(&cl.cond, &cl.lock, &ts);
    }
    pthread_mutex_unlock(&cl.lock);
    return NULL;
}

int
job__leases_start(store_t *st, err_t *err)
{
    pthread_condattr_t attr;

    assert(st != NULL);
    pthread_mutex_lock(&cl.lock);
    assert(!cl.running);
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_REALTIME);
    pthread_cond_init(&cl.cond, &attr);
    pthread_condattr_destroy(&attr);
    cl.st = st;
    cl.stopping = false;
    cl.running = pthread_create(&cl.thread, NULL, lease_main, st) == 0;
    if (!cl.running)
        pthread_cond_destroy(&cl.cond);
    pthread_mutex_unlock(&cl.lock);
    if (!cl.running)
        return err_set(err, ERR_INTERNAL, NULL, "The job lease thread could not be started.");
    return 0;
}

void
job__leases_stop(void)
{
    json_t *held, *v;
    const char *id;
    store_t *st;

    pthread_mutex_lock(&cl.lock);
    if (!cl.running) { /* leases a cancel took with no engine running expire by themselves */
        json_decref(cl.held);
        cl.held = NULL;
        pthread_mutex_unlock(&cl.lock);
        return;
    }
    cl.stopping = true;
    pthread_cond_broadcast(&cl.cond);
    pthread_mutex_unlock(&cl.lock);
    pthread_join(cl.thread, NULL);
    pthread_mutex_lock(&cl.lock);
    cl.running = false;
    pthread_cond_destroy(&cl.cond);
    st = cl.st;
    cl.st = NULL;
    held = cl.held;
    cl.held = NULL;
    pthread_mutex_unlock(&cl.lock);
    /* Every job still queued here goes back to the database: another daemon takes it up at once. */
    json_object_foreach(held, id, v)
        give(st, id);
    json_decref(held);
}
