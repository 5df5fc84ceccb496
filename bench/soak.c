/*
 * soak.c: make soak's load, a mixed tenant workload at a fixed rate (or flat out), with the daemon's health
 * read every interval.
 *
 *   soak URL WORLD RATE SECONDS INTERVAL CONNS PID STATE_DIR
 *
 * URL is the tenant listener; WORLD has one line per tenant, "SUB TOKEN IMAGE SIZE IDS_FILE", IDS_FILE
 * holding the ids of the VMs the tenant starts with (one a line, "ID stopped" for one that is stopped); RATE is requests per second over all
 * connections (0: as fast as the daemon answers); CONNS keep-alive connections each run in a thread of
 * their own, connection k for tenant k % tenants. PID and STATE_DIR are the daemon's, for its health.
 *
 * Every connection sends the mix a tenant's portal and scripts do: 65% reads (GET one VM 30, a page of 100
 * VMs 15, the subscription 10, a page of 50 jobs 5, the sizes 5) and 35% writes (stop or start 20, create
 * or delete 15). Each connection owns a share of its tenant's VMs as a queue: a power action takes the VM
 * at the head, the one touched longest ago (so that its last job has long ended), and puts it at the tail;
 * a churn deletes the head while the share is at its size at the start, else creates a VM onto the tail, so
 * the world keeps its size. A 2xx answer counts as ok; 409 (a VM still busy with an earlier job or in
 * another power state than the connection believed) as a conflict, expected now and then; 503 with a
 * Retry-After header (the API's documented "retry later": the database busy or full) as busy; anything
 * else (any other 5xx, a 503 without Retry-After, a 4xx but 409) and a request without an answer as an
 * error (the first errors and busy answers are printed to stderr).
 *
 * Every INTERVAL seconds one row is printed: elapsed seconds, the daemon's RSS (VmRSS of /proc/PID/status),
 * its open fds (/proc/PID/fd), the database's size (wapd.db and its WAL), the interval's requests, their
 * rate, conflicts, errors, busy answers, and the p50 and p99 latency of its answers (from a log histogram
 * with 1% buckets, by the time each answer completed). At the end the rows again as a table, and the line
 *
 *   total <requests> <seconds> <per second> <conflicts> <errors> <p50 ms> <p99 ms> <busy>
 *
 * At the end each tenant's IDS_FILE is written again with its VMs as the run left them (ids and which are
 * stopped), so that a next run
 * (the soak after the peak) starts from the world as it is.
 *
 * Exit status: 0 when there was no error, busy answers were at most BUSY_MAX_PER_MILLE of the requests
 * (a client retries one, but a steady stream of them means the daemon does not keep up), and the daemon
 * lived to the end; 1 otherwise; 2 on bad arguments.
 *
 * Invariants: a connection and its VM queue are one thread's; the counters are atomics written by the
 * workers and read by the main thread, which reports an interval only once its end has passed.
 */
#include <assert.h>
#include <dirent.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "httpc.h"

#define ID_MAX 64
#define TENANTS_MAX 256
#define BUCKETS 2400       /* 1.01^2400 us: far beyond any answer */
#define ERROR_SAMPLES 20   /* errors printed to stderr */
#define BUSY_MAX_PER_MILLE 1 /* busy answers (503 with Retry-After) a run may have, per 1,000 requests */
#define BACKLOG_US 1000000 /* a connection behind its schedule by more starts the schedule again */

typedef struct {
    char sub[ID_MAX], token[256], image[ID_MAX], size[ID_MAX], ids_file[512];
    size_t nids;
    char (*ids)[ID_MAX];
    bool *stopped; /* nids flags: the VM was left stopped */
} tenant_t;

typedef struct {
    atomic_ulong requests, conflicts, errors, busy;
    atomic_ulong hist[BUCKETS];
} interval_t;

typedef struct {
    char id[ID_MAX];
    bool stopped;
} vm_t;

typedef struct {
    int index;
    tenant_t *tenant;
    vm_t *q; /* ring: len entries from head */
    size_t head, len, cap, target;
} worker_t;

typedef struct {
    double elapsed;
    long rss_kb;
    long fds;
    double db_mb;
    unsigned long requests, conflicts, errors, busy;
    double rate, p50, p99;
} row_t;

static conn_t proto;
static tenant_t tenants[TENANTS_MAX];
static size_t ntenants;
static double rate;
static int64_t t_start, t_end, interval_us;
static size_t nintervals;
static interval_t *intervals;
static int conns;
static atomic_int samples;
static atomic_bool stop;

static unsigned
bucket_of(int64_t us)
{
    double b = us < 1 ? 0 : log((double) us) / log(1.01);

    return b >= BUCKETS - 1 ? BUCKETS - 1 : (unsigned) b;
}

/* The q-quantile in ms of a histogram (0 when empty): the upper edge of the bucket that holds it. */
static double
hist_quantile(const unsigned long *h, double q)
{
    unsigned long total = 0, seen = 0, want;
    unsigned b;

    for (b = 0; b < BUCKETS; b++)
        total += h[b];
    if (total == 0)
        return 0;
    want = (unsigned long) ceil(q * (double) total);
    for (b = 0; b < BUCKETS; b++) {
        seen += h[b];
        if (seen >= want && seen > 0)
            break;
    }
    return pow(1.01, (double) b + 1) / 1000.0;
}

/* Whether the reply read last on c has a Retry-After header. */
static bool
has_retry_after(const conn_t *c)
{
    static const char name[] = "\r\nretry-after:";
    const char *p;

    if (c->buf == NULL || c->body == NULL)
        return false;
    for (p = c->buf; p + sizeof(name) - 1 <= c->body; p++)
        if (strncasecmp(p, name, sizeof(name) - 1) == 0)
            return true;
    return false;
}

static void
record(int64_t done_us, int64_t lat_us, int status, bool busy)
{
    size_t i = (size_t) ((done_us - t_start) / interval_us);
    interval_t *iv = &intervals[i < nintervals ? i : nintervals - 1];

    atomic_fetch_add(&iv->requests, 1);
    if (status == 409)
        atomic_fetch_add(&iv->conflicts, 1);
    else if (busy)
        atomic_fetch_add(&iv->busy, 1);
    else if (status < 200 || status > 299)
        atomic_fetch_add(&iv->errors, 1);
    if (status > 0)
        atomic_fetch_add(&iv->hist[bucket_of(lat_us)], 1);
}

static void
q_push(worker_t *w, const char *id, bool stopped)
{
    vm_t *nq;
    size_t k;

    if (w->len == w->cap) {
        nq = malloc(sizeof(vm_t) * (w->cap ? 2 * w->cap : 64));
        if (nq == NULL)
            return;
        for (k = 0; k < w->len; k++)
            nq[k] = w->q[(w->head + k) % w->cap];
        free(w->q);
        w->q = nq;
        w->head = 0;
        w->cap = w->cap ? 2 * w->cap : 64;
    }
    k = (w->head + w->len) % w->cap;
    snprintf(w->q[k].id, ID_MAX, "%s", id);
    w->q[k].stopped = stopped;
    w->len++;
}

static vm_t
q_pop(worker_t *w)
{
    vm_t v = w->q[w->head];

    assert(w->len > 0);
    w->head = (w->head + 1) % w->cap;
    w->len--;
    return v;
}

/* One request of the mix on c; answers its status (-1: no answer). */
static int
one_request(worker_t *w, conn_t *c, unsigned *seed)
{
    tenant_t *t = w->tenant;
    char path[512], body[512];
    unsigned r = (unsigned) rand_r(seed) % 100;
    int status;
    vm_t v;
    json_t *j;

    if (w->len == 0 && r < 85)
        r = 85; /* nothing to read or act on: create */
    if (r < 30) {
        snprintf(path, sizeof(path), "/v1/subscriptions/%s/vms/%s", t->sub,
                 w->q[(w->head + (unsigned) rand_r(seed) % w->len) % w->cap].id);
        return httpc_request(c, "GET", path, t->token, NULL);
    }
    if (r < 45) {
        snprintf(path, sizeof(path), "/v1/subscriptions/%s/vms?limit=100", t->sub);
        return httpc_request(c, "GET", path, t->token, NULL);
    }
    if (r < 55) {
        snprintf(path, sizeof(path), "/v1/subscriptions/%s", t->sub);
        return httpc_request(c, "GET", path, t->token, NULL);
    }
    if (r < 60) {
        snprintf(path, sizeof(path), "/v1/subscriptions/%s/jobs?limit=50", t->sub);
        return httpc_request(c, "GET", path, t->token, NULL);
    }
    if (r < 65) {
        snprintf(path, sizeof(path), "/v1/subscriptions/%s/sizes", t->sub);
        return httpc_request(c, "GET", path, t->token, NULL);
    }
    if (r < 85) {
        v = q_pop(w);
        snprintf(path, sizeof(path), "/v1/subscriptions/%s/vms/%s/%s", t->sub, v.id, v.stopped ? "start" : "stop");
        status = httpc_request(c, "POST", path, t->token, "{}");
        if ((status >= 200 && status <= 299) ||
            (status == 409 && c->body && strstr(c->body, "InvalidPowerState") != NULL))
            v.stopped = !v.stopped;
        q_push(w, v.id, v.stopped);
        return status;
    }
    if (w->len >= w->target && w->len > 0) {
        v = q_pop(w);
        snprintf(path, sizeof(path), "/v1/subscriptions/%s/vms/%s", t->sub, v.id);
        status = httpc_request(c, "DELETE", path, t->token, NULL);
        if (status < 200 || status > 299)
            q_push(w, v.id, v.stopped);
        return status;
    }
    snprintf(path, sizeof(path), "/v1/subscriptions/%s/vms", t->sub);
    snprintf(body, sizeof(body), "{\"name\":\"soak-%d-%u\",\"imageId\":\"%s\",\"size\":\"%s\"}", w->index,
             (unsigned) rand_r(seed), t->image, t->size);
    status = httpc_request(c, "POST", path, t->token, body);
    if (status >= 200 && status <= 299 && (j = json_loadb(c->body, c->body_len, 0, NULL)) != NULL) {
        if (json_string_value(json_object_get(j, "id")))
            q_push(w, json_string_value(json_object_get(j, "id")), false);
        json_decref(j);
    }
    return status;
}

static void *
worker_main(void *arg)
{
    worker_t *w = arg;
    conn_t c = httpc_clone(&proto);
    unsigned seed = (unsigned) (w->index * 7919 + 17);
    int64_t period = rate > 0 ? (int64_t) (1e6 * conns / rate) : 0, next, now, t0;
    bool busy;
    int status;

    next = t_start + (period * w->index) / (conns ? conns : 1);
    while (!atomic_load(&stop)) {
        now = httpc_now_us();
        if (now >= t_end)
            break;
        if (period > 0) {
            if (next > now) {
                usleep((useconds_t) (next - now));
                now = httpc_now_us();
                if (now >= t_end)
                    break;
            } else if (now - next > BACKLOG_US) {
                next = now;
            }
            next += period;
        }
        t0 = httpc_now_us();
        status = one_request(w, &c, &seed);
        now = httpc_now_us();
        busy = status == 503 && has_retry_after(&c);
        record(now, now - t0, status, busy);
        if ((status < 200 || status > 299) && status != 409) {
            if (atomic_fetch_add(&samples, 1) < ERROR_SAMPLES)
                fprintf(stderr, "soak: %s %d: %.300s\n", busy ? "busy" : "error", status,
                        status > 0 && c.body ? c.body : "no answer");
            if (status < 0)
                usleep(10000); /* no answer: don't spin on a dead daemon */
        }
    }
    httpc_free(&c);
    return NULL;
}

static int
load_world(const char *file)
{
    FILE *f = fopen(file, "r"), *g;
    char line[2048], *sp;
    tenant_t *t;
    size_t cap;
    bool stopped;

    if (f == NULL)
        return -1;
    while (ntenants < TENANTS_MAX && fgets(line, sizeof(line), f)) {
        t = &tenants[ntenants];
        if (sscanf(line, "%63s %255s %63s %63s %511s", t->sub, t->token, t->image, t->size, t->ids_file) != 5)
            continue;
        if ((g = fopen(t->ids_file, "r")) == NULL) {
            fclose(f);
            return -1;
        }
        cap = 256;
        t->ids = malloc(cap * ID_MAX);
        t->stopped = malloc(cap * sizeof(bool));
        while (t->ids && t->stopped && fgets(line, sizeof(line), g)) {
            line[strcspn(line, "\r\n")] = '\0';
            stopped = false;
            if ((sp = strchr(line, ' ')) != NULL) {
                *sp = '\0';
                stopped = strcmp(sp + 1, "stopped") == 0;
            }
            if (line[0] == '\0' || strlen(line) >= ID_MAX)
                continue;
            if (t->nids == cap) {
                void *nb = realloc(t->ids, 2 * cap * ID_MAX), *ns = realloc(t->stopped, 2 * cap * sizeof(bool));
                if (nb != NULL)
                    t->ids = nb;
                if (ns != NULL)
                    t->stopped = ns;
                if (nb == NULL || ns == NULL)
                    break;
                cap *= 2;
            }
            t->stopped[t->nids] = stopped;
            memcpy(t->ids[t->nids++], line, strlen(line) + 1);
        }
        fclose(g);
        if (t->ids == NULL || t->stopped == NULL)
            break;
        ntenants++;
    }
    fclose(f);
    return ntenants > 0 ? 0 : -1;
}

/* Writes each tenant's VMs as the run leaves them back to its IDS_FILE, for the next run on the world. */
static int
save_world(const worker_t *workers)
{
    size_t t, k;
    int w, rc = 0;
    FILE *f;

    for (t = 0; t < ntenants; t++) {
        if ((f = fopen(tenants[t].ids_file, "w")) == NULL)
            return -1;
        for (w = 0; w < conns; w++)
            if (workers[w].tenant == &tenants[t])
                for (k = 0; k < workers[w].len; k++) {
                    const vm_t *v = &workers[w].q[(workers[w].head + k) % workers[w].cap];
                    fprintf(f, "%s%s\n", v->id, v->stopped ? " stopped" : "");
                }
        if (fclose(f) != 0)
            rc = -1;
    }
    return rc;
}

static long
proc_rss_kb(long pid)
{
    char path[64], line[256];
    long kb = -1;
    FILE *f;

    snprintf(path, sizeof(path), "/proc/%ld/status", pid);
    if ((f = fopen(path, "r")) == NULL)
        return -1;
    while (fgets(line, sizeof(line), f))
        if (sscanf(line, "VmRSS: %ld", &kb) == 1)
            break;
    fclose(f);
    return kb;
}

static long
proc_fds(long pid)
{
    char path[64];
    struct dirent *e;
    long n = 0;
    DIR *d;

    snprintf(path, sizeof(path), "/proc/%ld/fd", pid);
    if ((d = opendir(path)) == NULL)
        return -1;
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n;
}

static double
db_mb(const char *state)
{
    static const char *const files[] = {"wapd.db", "wapd.db-wal"};
    char path[1024];
    struct stat st;
    double total = 0;
    size_t k;

    for (k = 0; k < sizeof(files) / sizeof(files[0]); k++) {
        snprintf(path, sizeof(path), "%s/%s", state, files[k]);
        if (stat(path, &st) == 0)
            total += (double) st.st_size;
    }
    return total / (1024.0 * 1024.0);
}

static void
print_header(void)
{
    printf("%9s %8s %6s %8s %10s %9s %9s %7s %6s %8s %8s\n", "elapsed_s", "rss_MB", "fds", "db_MB",
           "requests", "req/s", "conflicts", "errors", "busy", "p50_ms", "p99_ms");
}

static void
print_row(const row_t *r)
{
    printf("%9.0f %8.1f %6ld %8.1f %10lu %9.1f %9lu %7lu %6lu %8.2f %8.2f\n", r->elapsed,
           (double) r->rss_kb / 1024.0, r->fds, r->db_mb, r->requests, r->rate, r->conflicts, r->errors,
           r->busy, r->p50, r->p99);
    fflush(stdout);
}

/* The figures of interval i, which ran from start to end (microseconds). */
static void
interval_row(size_t i, int64_t start, int64_t end, long pid, const char *state, row_t *r)
{
    unsigned long h[BUCKETS];
    unsigned b;

    for (b = 0; b < BUCKETS; b++)
        h[b] = atomic_load(&intervals[i].hist[b]);
    r->elapsed = (double) (end - t_start) / 1e6;
    r->rss_kb = proc_rss_kb(pid);
    r->fds = proc_fds(pid);
    r->db_mb = db_mb(state);
    r->requests = atomic_load(&intervals[i].requests);
    r->conflicts = atomic_load(&intervals[i].conflicts);
    r->errors = atomic_load(&intervals[i].errors);
    r->busy = atomic_load(&intervals[i].busy);
    r->rate = end > start ? (double) r->requests * 1e6 / (double) (end - start) : 0;
    r->p50 = hist_quantile(h, 0.50);
    r->p99 = hist_quantile(h, 0.99);
}

int
main(int argc, char **argv)
{
    pthread_t *threads;
    worker_t *workers;
    row_t *rows;
    unsigned long all[BUCKETS] = {0}, requests = 0, conflicts = 0, errors = 0, busy = 0;
    int64_t edge, now;
    double seconds;
    size_t i, k, nt, share, nrows = 0;
    unsigned b;
    long pid;
    bool died = false;
    int w;

    if (argc != 9 || httpc_parse_url(&proto, argv[1]) || load_world(argv[2])) {
        fprintf(stderr, "usage: soak URL WORLD RATE SECONDS INTERVAL CONNS PID STATE_DIR\n");
        return 2;
    }
    rate = strtod(argv[3], NULL);
    seconds = strtod(argv[4], NULL);
    interval_us = (int64_t) (strtod(argv[5], NULL) * 1e6);
    conns = atoi(argv[6]);
    pid = atol(argv[7]);
    if (seconds <= 0 || interval_us <= 0 || conns <= 0 || pid <= 0 || rate < 0) {
        fprintf(stderr, "soak: SECONDS, INTERVAL, CONNS and PID must be positive, RATE at least 0\n");
        return 2;
    }
    nintervals = (size_t) ceil(seconds * 1e6 / (double) interval_us);
    intervals = calloc(nintervals, sizeof(interval_t));
    rows = calloc(nintervals, sizeof(row_t));
    threads = calloc((size_t) conns, sizeof(pthread_t));
    workers = calloc((size_t) conns, sizeof(worker_t));
    if (intervals == NULL || rows == NULL || threads == NULL || workers == NULL)
        return 2;

    /* Each tenant's VMs are shared out among its connections. */
    for (w = 0; w < conns; w++) {
        workers[w].index = w;
        workers[w].tenant = &tenants[(size_t) w % ntenants];
        nt = ((size_t) conns - (size_t) w % ntenants + ntenants - 1) / ntenants; /* its tenant's connections */
        share = (size_t) w / ntenants;
        for (k = share; k < workers[w].tenant->nids; k += nt)
            q_push(&workers[w], workers[w].tenant->ids[k], workers[w].tenant->stopped[k]);
        workers[w].target = workers[w].len;
    }
    t_start = httpc_now_us() + 10000;
    t_end = t_start + (int64_t) (seconds * 1e6);
    for (w = 0; w < conns; w++)
        if (pthread_create(&threads[w], NULL, worker_main, &workers[w]) != 0) {
            fprintf(stderr, "soak: cannot start a thread\n");
            return 2;
        }

    print_header();
    for (i = 0; i < nintervals; i++) {
        edge = t_start + (int64_t) (i + 1) * interval_us;
        if (edge > t_end)
            edge = t_end;
        /* Past the edge by a little, so that the answers completed before it are all counted. */
        while ((now = httpc_now_us()) < edge + 20000)
            usleep((useconds_t) (edge + 20000 - now > 200000 ? 200000 : edge + 20000 - now));
        interval_row(i, t_start + (int64_t) i * interval_us, edge, pid, argv[8], &rows[i]);
        print_row(&rows[i]);
        nrows++;
        if (rows[i].rss_kb < 0) {
            fprintf(stderr, "soak: the daemon (pid %ld) is gone\n", pid);
            died = true;
            atomic_store(&stop, true);
            break;
        }
    }
    for (w = 0; w < conns; w++)
        pthread_join(threads[w], NULL);
    if (save_world(workers)) {
        fprintf(stderr, "soak: cannot write the tenants' VM ids back\n");
        died = true;
    }

    for (i = 0; i < nintervals; i++) {
        requests += atomic_load(&intervals[i].requests);
        conflicts += atomic_load(&intervals[i].conflicts);
        errors += atomic_load(&intervals[i].errors);
        busy += atomic_load(&intervals[i].busy);
        for (b = 0; b < BUCKETS; b++)
            all[b] += atomic_load(&intervals[i].hist[b]);
    }
    printf("\n%zu connections, %zu tenants, rate %s, %.0f s, a row per %.0f s:\n", (size_t) conns, ntenants,
           rate > 0 ? argv[3] : "unlimited", seconds, (double) interval_us / 1e6);
    print_header();
    for (i = 0; i < nrows; i++)
        print_row(&rows[i]);
    if (nrows > 0)
        printf("RSS %.1f -> %.1f MB, fds %ld -> %ld, database %.1f -> %.1f MB\n", (double) rows[0].rss_kb / 1024.0,
               (double) rows[nrows - 1].rss_kb / 1024.0, rows[0].fds, rows[nrows - 1].fds, rows[0].db_mb,
               rows[nrows - 1].db_mb);
    printf("total %lu %.0f %.1f %lu %lu %.2f %.2f %lu\n", requests, seconds, (double) requests / seconds,
           conflicts, errors, hist_quantile(all, 0.50), hist_quantile(all, 0.99), busy);
    for (k = 0; k < (size_t) conns; k++)
        free(workers[k].q);
    for (k = 0; k < ntenants; k++) {
        free(tenants[k].ids);
        free(tenants[k].stopped);
    }
    free(workers);
    free(threads);
    free(rows);
    free(intervals);
    return errors == 0 && busy * 1000 <= requests * BUSY_MAX_PER_MILLE && !died ? 0 : 1;
}
