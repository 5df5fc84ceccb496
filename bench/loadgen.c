/*
 * loadgen.c: the benchmark's write load, VM creates, stops and deletes driven from C.
 *
 *   loadgen create URL TOKEN SUB IMAGE SIZE N C IDS_FILE   N creates from C keep-alive connections; the ids
 *                                                          of the VMs accepted are written to IDS_FILE
 *   loadgen stop   URL TOKEN SUB IDS_FILE C                POST stop for every VM of IDS_FILE
 *   loadgen delete URL TOKEN SUB IDS_FILE C                DELETE every VM of IDS_FILE
 *
 * URL may be several daemons' tenant URLs joined by commas (daemons sharing one PostgreSQL database): the
 * request of index i goes to the (i mod k)-th of the k URLs, so the load is spread round-robin over them,
 * and each thread keeps one keep-alive connection to each.
 *
 * Each mode sends its requests from C threads, one HTTP/1.1 keep-alive connection each (per URL), records
 * every request's latency to its 202, and meanwhile one more connection, to the first URL, polls the
 * subscription's VM list (pages of 1,000) until every VM is where the mode takes it: running (or failed)
 * after create, stopped after stop, gone after delete. The poll is one request per 1,000 VMs every POLL_MS,
 * or every POLL_SHARE-th of the time elapsed when that is longer: small beside the load, and no larger a
 * share of a slow run (several daemons on one database, where each list is read from the database) than
 * of a fast one, while the end is still known within 1/POLL_SHARE of the time. It prints one line:
 *
 *   <mode> <n> <accepted> <done> <failed> <seconds> <per second> <p50 ms> <p99 ms> <accept seconds>
 *   <accepted per second>
 *
 * where seconds run from the first request to the poll that saw the last VM arrive, done counts the VMs
 * that arrived (for create: the create jobs that ended with the VM running), per second is done over
 * seconds, p50/p99 are of the 202s, and accept seconds run from the first request to the last answer
 * (accepted per second: the 202s over those seconds). The subscription must hold only the VMs the tool
 * drives (the bench gives it one of its own). Exit status 0 when every VM arrived, 1 otherwise.
 *
 * The HTTP client is httpc.c's. Invariants: a connection is used by one thread only; a reply is read whole
 * (Content-Length) before the next request on its connection; the ids array is written only before the
 * threads start (stop, delete) or each slot by the one thread that took its index (create).
 */
#include <assert.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "httpc.h"

#define POLL_MS 20
#define POLL_SHARE 50
#define DEADLINE_MS (300 * 1000)
#define ID_MAX 64
#define URL_MAX 16

typedef enum { MODE_CREATE, MODE_STOP, MODE_DELETE } load_mode_t;

typedef struct {
    load_mode_t mode;
    const char *token, *sub, *image, *size;
    conn_t proto[URL_MAX];   /* host and port of each URL, which every thread's connections copy */
    size_t nurl;
    size_t n;
    char (*ids)[ID_MAX];     /* n slots; "" for a create not accepted */
    double *lat_ms;          /* n slots; < 0 when not accepted */
    atomic_size_t next;      /* the next index to take */
    atomic_size_t accepted;
    _Atomic int64_t last_us; /* when the last answer came (the latest a thread saw) */
} load_t;

/* The request of index i of the load: its method, path and body (NULL: none) into the buffers. */
static const char *
load_request(load_t *l, size_t i, char *path, size_t pathn, char *body, size_t bodyn)
{
    switch (l->mode) {
    case MODE_CREATE:
        snprintf(path, pathn, "/v1/subscriptions/%s/vms", l->sub);
        snprintf(body, bodyn, "{\"name\":\"load%zu\",\"imageId\":\"%s\",\"size\":\"%s\"}", i, l->image,
                 l->size);
        return "POST";
    case MODE_STOP:
        snprintf(path, pathn, "/v1/subscriptions/%s/vms/%s/stop", l->sub, l->ids[i]);
        snprintf(body, bodyn, "{}");
        return "POST";
    case MODE_DELETE:
        snprintf(path, pathn, "/v1/subscriptions/%s/vms/%s", l->sub, l->ids[i]);
        body[0] = '\0';
        return "DELETE";
    }
    return NULL;
}

static void *
worker(void *arg)
{
    load_t *l = arg;
    conn_t conns[URL_MAX], *c;
    char path[512], body[512];
    const char *method;
    json_t *j;
    int64_t t0, t, seen;
    size_t i, k;
    int status;

    for (k = 0; k < l->nurl; k++)
        conns[k] = httpc_clone(&l->proto[k]);
    while ((i = atomic_fetch_add(&l->next, 1)) < l->n) {
        if (l->mode != MODE_CREATE && l->ids[i][0] == '\0')
            continue;
        c = &conns[i % l->nurl];
        method = load_request(l, i, path, sizeof(path), body, sizeof(body));
        t0 = httpc_now_us();
        status = httpc_request(c, method, path, l->token, body[0] ? body : NULL);
        t = httpc_now_us();
        seen = atomic_load(&l->last_us);
        while (t > seen && !atomic_compare_exchange_weak(&l->last_us, &seen, t))
            ;
        if (status != 202) {
            fprintf(stderr, "loadgen: %s %s:%s%s: %d %.200s\n", method, c->host, c->port, path, status,
                    status > 0 ? c->body : "");
            continue;
        }
        l->lat_ms[i] = (double) (t - t0) / 1000.0;
        atomic_fetch_add(&l->accepted, 1);
        if (l->mode == MODE_CREATE) {
            j = json_loadb(c->body, c->body_len, 0, NULL);
            snprintf(l->ids[i], ID_MAX, "%s", j ? json_string_value(json_object_get(j, "id")) ?: "" : "");
            json_decref(j);
        }
    }
    for (k = 0; k < l->nurl; k++)
        httpc_free(&conns[k]);
    return NULL;
}

/* Fills l->proto from URL[,URL...]; -1 when there is none, too many, or one without a port. */
static int
parse_urls(load_t *l, const char *urls)
{
    char one[512];
    const char *p = urls, *comma;
    size_t len;

    l->nurl = 0;
    while (*p) {
        comma = strchr(p, ',');
        len = comma ? (size_t) (comma - p) : strlen(p);
        if (len == 0 || len >= sizeof(one) || l->nurl == URL_MAX)
            return -1;
        memcpy(one, p, len);
        one[len] = '\0';
        if (httpc_parse_url(&l->proto[l->nurl++], one))
            return -1;
        p += len + (comma ? 1 : 0);
        if (comma && *p == '\0')
            return -1;
    }
    return l->nurl > 0 ? 0 : -1;
}

/* Counts the subscription's VMs: all of them, those in power state `power` (NULL: none counted) and those
 * whose provisioning failed. -1 when a page could not be read. */
static int
census(conn_t *c, const load_t *l, const char *power, size_t *all, size_t *in_state, size_t *failed)
{
    char path[1024];
    const char *next, *p;
    json_t *page, *vm;
    size_t k;
    int status;

    assert(c != NULL && l != NULL && all != NULL && in_state != NULL && failed != NULL);
    *all = *in_state = *failed = 0;
    snprintf(path, sizeof(path), "/v1/subscriptions/%s/vms?limit=1000", l->sub);
    for (;;) {
        status = httpc_request(c, "GET", path, l->token, NULL);
        if (status != 200 || (page = json_loadb(c->body, c->body_len, 0, NULL)) == NULL)
            return -1;
        json_array_foreach(json_object_get(page, "value"), k, vm) {
            (*all)++;
            p = json_string_value(json_object_get(vm, "provisioningState"));
            if (p && strcmp(p, "failed") == 0)
                (*failed)++;
            else if (power && (p = json_string_value(json_object_get(vm, "powerState"))) &&
                     strcmp(p, power) == 0)
                (*in_state)++;
        }
        next = json_string_value(json_object_get(page, "nextLink"));
        if (next == NULL) {
            json_decref(page);
            return 0;
        }
        /* nextLink is a URL: keep its path and query. */
        if ((p = strstr(next, "://")) != NULL)
            next = strchr(p + 3, '/') ?: next;
        snprintf(path, sizeof(path), "%s", next);
        json_decref(page);
    }
}

static int
cmp_double(const void *a, const void *b)
{
    double x = *(const double *) a, y = *(const double *) b;

    return x < y ? -1 : x > y;
}

/* The q-quantile of the accepted requests' latencies (0 when none). */
static double
quantile(const load_t *l, double q)
{
    double *v = malloc(sizeof(double) * (l->n ? l->n : 1)), r = 0;
    size_t i, m = 0;

    if (v == NULL)
        return 0;
    for (i = 0; i < l->n; i++)
        if (l->lat_ms[i] >= 0)
            v[m++] = l->lat_ms[i];
    if (m > 0) {
        qsort(v, m, sizeof(double), cmp_double);
        r = v[(size_t) (q * (double) (m - 1) + 0.5)];
    }
    free(v);
    return r;
}

static int
read_ids(load_t *l, const char *file)
{
    FILE *f = fopen(file, "r");
    char line[256];
    size_t cap = 1024;

    if (f == NULL)
        return -1;
    l->n = 0;
    l->ids = malloc(cap * ID_MAX);
    while (l->ids && fgets(line, sizeof(line), f)) {
        line[strcspn(line, "\r\n")] = '\0';
        if (line[0] == '\0' || strlen(line) >= ID_MAX)
            continue;
        if (l->n == cap) {
            void *nb = realloc(l->ids, 2 * cap * ID_MAX);
            if (nb == NULL)
                break;
            l->ids = nb;
            cap *= 2;
        }
        memcpy(l->ids[l->n++], line, strlen(line) + 1);
    }
    fclose(f);
    return l->ids ? 0 : -1;
}

static int
write_ids(const load_t *l, const char *file)
{
    FILE *f = fopen(file, "w");
    size_t i;

    if (f == NULL)
        return -1;
    for (i = 0; i < l->n; i++)
        if (l->ids[i][0])
            fprintf(f, "%s\n", l->ids[i]);
    return fclose(f);
}

static void
usage(void)
{
    fprintf(stderr, "usage: loadgen create URL[,URL...] TOKEN SUB IMAGE SIZE N C IDS_FILE\n"
                    "       loadgen stop|delete URL[,URL...] TOKEN SUB IDS_FILE C\n");
}

/* Polls until every VM the load drove has arrived (or the deadline); answers how many did. */
static size_t
wait_arrival(load_t *l, pthread_t *threads, size_t nthreads, int64_t t0, int64_t *t_end)
{
    conn_t poll = httpc_clone(&l->proto[0]);
    const char *power = l->mode == MODE_CREATE ? "running" : l->mode == MODE_STOP ? "stopped" : NULL;
    size_t all = 0, in_state = 0, failed = 0, arrived = 0, expect, k;
    int64_t pause_us;
    bool joined = false;

    for (;;) {
        if (!joined && atomic_load(&l->next) >= l->n) {
            for (k = 0; k < nthreads; k++)
                pthread_join(threads[k], NULL);
            joined = true;
        }
        if (census(&poll, l, power, &all, &in_state, &failed) == 0) {
            arrived = l->mode == MODE_DELETE ? (all <= l->n ? l->n - all : 0) : in_state + failed;
            expect = joined ? atomic_load(&l->accepted) : l->n;
            if (joined && arrived >= expect) {
                *t_end = httpc_now_us();
                break;
            }
        }
        if (httpc_now_us() - t0 > (int64_t) DEADLINE_MS * 1000) {
            *t_end = httpc_now_us();
            break;
        }
        pause_us = (httpc_now_us() - t0) / POLL_SHARE;
        usleep((useconds_t) (pause_us > POLL_MS * 1000 ? pause_us : POLL_MS * 1000));
    }
    if (!joined)
        for (k = 0; k < nthreads; k++)
            pthread_join(threads[k], NULL);
    httpc_free(&poll);
    return l->mode == MODE_CREATE ? in_state : arrived;
}

int
main(int argc, char **argv)
{
    load_t l = {0};
    pthread_t *threads = NULL;
    size_t nthreads, k, done, failed = 0;
    int64_t t0, t_end = 0;
    const char *ids_file;
    double secs, accept_secs;
    int rc = 2;

    if (argc < 2) {
        usage();
        return 2;
    }
    if (strcmp(argv[1], "create") == 0 && argc == 10) {
        l.mode = MODE_CREATE;
        l.image = argv[5];
        l.size = argv[6];
        l.n = strtoull(argv[7], NULL, 10);
        nthreads = strtoull(argv[8], NULL, 10);
        ids_file = argv[9];
        l.ids = calloc(l.n ? l.n : 1, ID_MAX);
    } else if ((strcmp(argv[1], "stop") == 0 || strcmp(argv[1], "delete") == 0) && argc == 7) {
        l.mode = strcmp(argv[1], "stop") == 0 ? MODE_STOP : MODE_DELETE;
        ids_file = argv[5];
        nthreads = strtoull(argv[6], NULL, 10);
        if (read_ids(&l, ids_file)) {
            fprintf(stderr, "loadgen: cannot read %s\n", ids_file);
            return 2;
        }
    } else {
        usage();
        return 2;
    }
    l.token = argv[3];
    l.sub = argv[4];
    if (parse_urls(&l, argv[2]) || nthreads == 0 || l.ids == NULL) {
        usage();
        goto out;
    }
    l.lat_ms = malloc(sizeof(double) * (l.n ? l.n : 1));
    threads = calloc(nthreads, sizeof(pthread_t));
    if (l.lat_ms == NULL || threads == NULL)
        goto out;
    for (k = 0; k < l.n; k++)
        l.lat_ms[k] = -1;
    atomic_init(&l.next, 0);
    atomic_init(&l.accepted, 0);
    t0 = httpc_now_us();
    atomic_init(&l.last_us, t0);
    for (k = 0; k < nthreads; k++)
        if (pthread_create(&threads[k], NULL, worker, &l) != 0) {
            fprintf(stderr, "loadgen: cannot start a thread\n");
            return 2;
        }
    done = wait_arrival(&l, threads, nthreads, t0, &t_end);
    if (l.mode == MODE_CREATE) {
        /* The failed creates: accepted, not running. */
        failed = atomic_load(&l.accepted) - (done < atomic_load(&l.accepted) ? done : atomic_load(&l.accepted));
        if (write_ids(&l, ids_file)) {
            fprintf(stderr, "loadgen: cannot write %s\n", ids_file);
            goto out;
        }
    }
    secs = (double) (t_end - t0) / 1e6;
    accept_secs = (double) (atomic_load(&l.last_us) - t0) / 1e6;
    printf("%s %zu %zu %zu %zu %.3f %.1f %.2f %.2f %.3f %.1f\n", argv[1], l.n, atomic_load(&l.accepted), done,
           failed, secs, secs > 0 ? (double) done / secs : 0.0, quantile(&l, 0.50), quantile(&l, 0.99),
           accept_secs, accept_secs > 0 ? (double) atomic_load(&l.accepted) / accept_secs : 0.0);
    rc = done == l.n ? 0 : 1;
out:
    free(threads);
    free(l.lat_ms);
    free(l.ids);
    return rc;
}
