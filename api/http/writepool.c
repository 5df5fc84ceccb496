/*
 * writepool.c: the threads that run write requests, so that a listener's threads never wait for a commit.
 *
 * A write's answer leaves only after its transaction is durable, and with group commit that is the end of a
 * batch that other writers share: a listener thread that ran the write itself would wait idle for it, and
 * with it every other connection it serves. Instead the listener suspends the connection
 * (MHD_suspend_connection) and hands the request here; a pool thread runs the pipeline, marks the request
 * done and resumes the connection, and libmicrohttpd calls the listener back, which sends the answer.
 *
 * Invariants: a request is in the queue at most once and is touched by its pool thread only until it is
 * marked done (after that its listener thread may free it); the queue is FIFO under the lock; stopping runs
 * everything already queued and joins the threads, so no connection is left suspended; a request submitted
 * once stopping has begun is refused and the caller runs it itself; the pool is freed only after its
 * listener has stopped, so a late submit never finds it gone.
 */
#include "../internal.h"

#include <assert.h>
#include <pthread.h>
#include <stdlib.h>

#define WRITEPOOL_MAX 256

struct api_writepool {
    pthread_mutex_t lock;
    pthread_cond_t cv;
    api_req_t *head, *tail;
    bool stopping;
    int nthreads;
    pthread_t threads[WRITEPOOL_MAX];
};

static void *
pool_main(void *arg)
{
    api_writepool_t *p = arg;
    struct MHD_Connection *conn;
    api_req_t *r;

    for (;;) {
        pthread_mutex_lock(&p->lock);
        while (p->head == NULL && !p->stopping)
            pthread_cond_wait(&p->cv, &p->lock);
        r = p->head;
        if (r == NULL) { /* stopping, and nothing is left */
            pthread_mutex_unlock(&p->lock);
            return NULL;
        }
        p->head = r->pool_next;
        if (p->head == NULL)
            p->tail = NULL;
        pthread_mutex_unlock(&p->lock);

        r->pool_next = NULL;
        api_pipeline_run(r, &api_route_table);
        conn = r->conn;
        /* From here the listener may answer and free r. */
        __atomic_store_n(&r->pool_done, true, __ATOMIC_RELEASE);
        MHD_resume_connection(conn);
    }
}

api_writepool_t *
api_writepool_start(int threads)
{
    api_writepool_t *p = calloc(1, sizeof(*p));
    int i;

    assert(threads > 0);
    if (p == NULL)
        return NULL;
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->cv, NULL);
    for (i = 0; i < threads && i < WRITEPOOL_MAX; i++) {
        if (pthread_create(&p->threads[i], NULL, pool_main, p) != 0)
            break;
        p->nthreads++;
    }
    if (p->nthreads == 0) {
        api_writepool_free(p);
        return NULL;
    }
    return p;
}

int
api_writepool_submit(api_writepool_t *p, api_req_t *r)
{
    assert(r != NULL && r->conn != NULL && r->pool_next == NULL);
    if (p == NULL)
        return -1;
    pthread_mutex_lock(&p->lock);
    if (p->stopping) {
        pthread_mutex_unlock(&p->lock);
        return -1;
    }
    r->pool_done = false;
    /* Suspended under the lock: no pool thread can resume it before this. */
    MHD_suspend_connection(r->conn);
    if (p->tail)
        p->tail->pool_next = r;
    else
        p->head = r;
    p->tail = r;
    pthread_cond_signal(&p->cv);
    pthread_mutex_unlock(&p->lock);
    return 0;
}

void
api_writepool_stop(api_writepool_t *p)
{
    int i;

    if (p == NULL)
        return;
    pthread_mutex_lock(&p->lock);
    p->stopping = true;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->lock);
    for (i = 0; i < p->nthreads; i++)
        pthread_join(p->threads[i], NULL);
    p->nthreads = 0;
    assert(p->head == NULL);
}

void
api_writepool_free(api_writepool_t *p)
{
    if (p == NULL)
        return;
    api_writepool_stop(p);
    pthread_cond_destroy(&p->cv);
    pthread_mutex_destroy(&p->lock);
    free(p);
}
