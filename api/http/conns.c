/*
 * conns.c: the request deadline of one listener's connections (see conns.h).
 *
 * A doubly linked list of the open connections behind one mutex: adding, removing and changing state are
 * O(1); a sweep walks the list (a few thousand entries, a few times a second). Times are the caller's, in
 * milliseconds of a monotonic clock, so that the tests drive them.
 *
 * Between requests a connection is idle: the deadline does not run, and libmicrohttpd's idle timeout (a
 * silence) is what ends it. The kernel counts the bytes a TCP connection has received (TCP_INFO's
 * tcpi_bytes_received); the count is taken when a connection goes idle, and the first sweep that finds it
 * grown starts the deadline (so a request's deadline starts at most one sweep period after its first byte).
 * A socket whose count cannot be read (not TCP, or a kernel without it) has the deadline from its accept
 * or last answer, as if its next request began there.
 */
#include "conns.h"

#include "../../lib/util.h"

#include <linux/tcp.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stddef.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>

struct api_conn {
    api_conn_t *prev, *next;
    int fd;
    bool busy;        /* its whole request has arrived; not yet answered */
    bool closed;      /* close_fn was called for it */
    bool idle;        /* between requests: no byte of the next one seen since rx_mark */
    bool tcp;         /* the kernel counts its bytes received */
    int64_t rx_mark;  /* bytes received when it went idle */
    int64_t since_ms; /* its request's deadline runs from (when not idle and not busy) */
};

/* Bytes the kernel has received on socket fd since its connection began; -1 when it cannot say. */
static int64_t
bytes_received(int fd)
{
    struct tcp_info ti;
    socklen_t len = sizeof(ti);

    if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) != 0 ||
        len < offsetof(struct tcp_info, tcpi_bytes_received) + sizeof(ti.tcpi_bytes_received))
        return -1;
    return (int64_t) ti.tcpi_bytes_received;
}

/* c has answered (or was just accepted) at now_ms, when the kernel had received rx bytes on it. Lock held. */
static void
went_idle(api_conn_t *c, int64_t rx, int64_t now_ms)
{
    c->busy = false;
    c->since_ms = now_ms;
    c->tcp = rx >= 0;
    c->idle = rx >= 0;
    c->rx_mark = rx;
}

struct api_conns {
    pthread_mutex_t lock;
    api_conn_t *head;
    int count;
    int64_t deadline_ms;
    uint64_t expired;
    /* the sweeper */
    pthread_t thread;
    bool running;
    bool stopping;
    pthread_cond_t wake;
    const char *listener;
    int period_ms;
};

api_conns_t *
api_conns_new(int64_t deadline_ms)
{
    api_conns_t *t = calloc(1, sizeof(*t));

    if (t == NULL)
        return NULL;
    pthread_mutex_init(&t->lock, NULL);
    pthread_cond_init(&t->wake, NULL);
    t->deadline_ms = deadline_ms;
    return t;
}

void
api_conns_free(api_conns_t *t)
{
    api_conn_t *c, *next;

    if (t == NULL)
        return;
    if (t->running) {
        pthread_mutex_lock(&t->lock);
        t->stopping = true;
        pthread_cond_signal(&t->wake);
        pthread_mutex_unlock(&t->lock);
        pthread_join(t->thread, NULL);
    }
    for (c = t->head; c != NULL; c = next) {
        next = c->next;
        free(c);
    }
    pthread_cond_destroy(&t->wake);
    pthread_mutex_destroy(&t->lock);
    free(t);
}

api_conn_t *
api_conns_add(api_conns_t *t, int fd, int64_t now_ms)
{
    api_conn_t *c = calloc(1, sizeof(*c));
    int64_t rx;

    if (c == NULL)
        return NULL;
    c->fd = fd;
    rx = bytes_received(fd);
    went_idle(c, rx < 0 ? -1 : 0, now_ms); /* idle until its first byte… */
    if (rx > 0)
        c->idle = false; /* …which came already: the deadline runs from now */
    pthread_mutex_lock(&t->lock);
    c->next = t->head;
    if (t->head)
        t->head->prev = c;
    t->head = c;
    t->count++;
    pthread_mutex_unlock(&t->lock);
    return c;
}

/* Reads and drops what the client sent that was never read (at most DRAIN_MAX bytes, without waiting):
 * a socket closed with unread bytes is reset, and the reset can destroy the answer the client has not read
 * yet. */
#define DRAIN_MAX (64 * 1024)

static void
drain(int fd)
{
    char buf[4096];
    size_t total = 0;
    ssize_t n;

    while (total < DRAIN_MAX && (n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT)) > 0)
        total += (size_t) n;
}

void
api_conns_remove(api_conns_t *t, api_conn_t *c)
{
    if (c == NULL)
        return;
    if (c->tcp)
        drain(c->fd); /* libmicrohttpd closes the socket right after (its write side is shut already) */
    pthread_mutex_lock(&t->lock);
    if (c->prev)
        c->prev->next = c->next;
    else
        t->head = c->next;
    if (c->next)
        c->next->prev = c->prev;
    t->count--;
    pthread_mutex_unlock(&t->lock);
    free(c);
}

void
api_conns_received(api_conns_t *t, api_conn_t *c)
{
    if (c == NULL)
        return;
    pthread_mutex_lock(&t->lock);
    c->busy = true;
    pthread_mutex_unlock(&t->lock);
}

void
api_conns_answered(api_conns_t *t, api_conn_t *c, int64_t now_ms)
{
    int64_t rx;

    if (c == NULL)
        return;
    rx = c->tcp ? bytes_received(c->fd) : -1;
    pthread_mutex_lock(&t->lock);
    went_idle(c, rx, now_ms);
    pthread_mutex_unlock(&t->lock);
}

int
api_conns_sweep(api_conns_t *t, int64_t now_ms, api_conns_close_fn close_fn, void *arg)
{
    api_conn_t *c;
    int n = 0;

    pthread_mutex_lock(&t->lock);
    for (c = t->head; c != NULL; c = c->next) {
        if (c->busy || c->closed)
            continue;
        if (c->idle) {
            if (bytes_received(c->fd) > c->rx_mark) { /* its next request has begun: the deadline runs */
                c->idle = false;
                c->since_ms = now_ms;
            }
            continue;
        }
        if (now_ms - c->since_ms <= t->deadline_ms)
            continue;
        c->closed = true;
        close_fn(c->fd, arg);
        n++;
    }
    t->expired += (uint64_t) n;
    pthread_mutex_unlock(&t->lock);
    return n;
}

int
api_conns_count(api_conns_t *t)
{
    int n;

    pthread_mutex_lock(&t->lock);
    n = t->count;
    pthread_mutex_unlock(&t->lock);
    return n;
}

uint64_t
api_conns_expired(api_conns_t *t)
{
    uint64_t n;

    pthread_mutex_lock(&t->lock);
    n = t->expired;
    pthread_mutex_unlock(&t->lock);
    return n;
}

static void
close_socket(int fd, void *arg)
{
    (void) arg;
    /* The fd stays libmicrohttpd's: it sees the socket end, closes it and tells us (api_conns_remove). */
    shutdown(fd, SHUT_RDWR);
}

#define LOG_EVERY_MS 10000

static void *
sweeper(void *arg)
{
    api_conns_t *t = arg;
    struct timespec until;
    int64_t last_log = util_mono_ns() / 1000000;
    int unlogged = 0;

    pthread_mutex_lock(&t->lock);
    while (!t->stopping) {
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += (long) t->period_ms * 1000000L;
        until.tv_sec += until.tv_nsec / 1000000000L;
        until.tv_nsec %= 1000000000L;
        pthread_cond_timedwait(&t->wake, &t->lock, &until);
        if (t->stopping)
            break;
        pthread_mutex_unlock(&t->lock);
        {
            int64_t now = util_mono_ns() / 1000000;

            unlogged += api_conns_sweep(t, now, close_socket, NULL);
            if (unlogged > 0 && now - last_log >= LOG_EVERY_MS) {
                fprintf(stderr,
                        "{\"level\":\"warn\",\"msg\":\"connections closed at the request deadline\","
                        "\"listener\":\"%s\",\"connections\":%d,\"deadlineSeconds\":%lld}\n",
                        t->listener, unlogged, (long long) (t->deadline_ms / 1000));
                unlogged = 0;
                last_log = now;
            }
        }
        pthread_mutex_lock(&t->lock);
    }
    pthread_mutex_unlock(&t->lock);
    return NULL;
}

int
api_conns_start_sweeper(api_conns_t *t, const char *listener, int period_ms)
{
    t->listener = listener;
    t->period_ms = period_ms > 0 ? period_ms : 250;
    if (pthread_create(&t->thread, NULL, sweeper, t) != 0)
        return -1;
    t->running = true;
    return 0;
}
