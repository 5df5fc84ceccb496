/*
 * guard.c: the front of a plain-HTTP listener (see guard.h): the thread that accepts its connections. The
 * first request head of every new connection is read here first, with recv(MSG_PEEK), and checked
 * (api_guard_check, guard_head.c, says why libmicrohttpd cannot be left to do it): nothing is consumed, and a
 * head that passes reaches libmicrohttpd intact through MHD_add_connection. Keep-alive follow-up requests are
 * parsed by libmicrohttpd alone (the connection is no longer the guard's); TLS listeners have no guard.
 *
 * One thread per listener runs an epoll set: the listen socket level-triggered, each connection
 * edge-triggered (a peeked head stays in the socket, so a level-triggered registration would report it
 * readable again at once; edge-triggered, the next report is for bytes that are new). The limits are applied
 * at accept: a connection beyond the connection limit (those the guard holds plus those libmicrohttpd holds
 * or has been handed) or the per-address limit is answered 503 and closed the lingering way below. A handed
 * connection stays on its address's count until libmicrohttpd says it has ended, so that no burst slips
 * between the two. A connection that has sent nothing idle_ms after its accept, or whose head is not complete
 * deadline_ms after it, is closed, however often it sends. A head that trickles in is checked again only when
 * a line of it has ended (or it has doubled). A refused head gets its answer, then its sending side is shut
 * and what the client still sends is read and dropped for up to API_GUARD_LINGER_MS (or
 * API_GUARD_LINGER_BYTES), so that closing the socket with unread bytes does not reset the connection before
 * the client has read the answer. A stop ends the heads still arriving the same way, without an answer.
 */
#include "guard.h"

#include "../../lib/util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

typedef enum { GC_HEAD, GC_LINGER } gc_state_t;

typedef struct gconn {
    struct gconn *prev, *next; /* in its state's list, oldest first (so deadlines ascend) */
    int fd;
    gc_state_t state;
    int64_t deadline_ms;
    int64_t accepted_ms;
    struct sockaddr_storage addr;
    socklen_t addrlen;
    char *out;        /* GC_LINGER: the answer not yet sent */
    size_t out_len, out_off;
    size_t drained;
    size_t seen;      /* GC_HEAD: bytes already looked through for the end of a line */
    size_t checked;   /* GC_HEAD: bytes there were at the last check */
    bool heard;       /* GC_HEAD: a byte has arrived (the idle deadline no longer applies) */
    bool counted;     /* in held and its address's count (false: answered over the limit) */
} gconn_t;

typedef struct {
    gconn_t *head, *tail;
} glist_t;

struct api_guard {
    api_guard_config_t cfg;
    int ep;
    int wake; /* eventfd: stop */
    pthread_t thread;
    bool running;
    bool listening; /* the listen socket is in the epoll set */
    bool stopping;  /* accepting has stopped; the thread ends once its connections have, or at stop_ms */
    int64_t stop_ms;
    int64_t resume_accept_ms; /* after EMFILE: accepting pauses until then */
    glist_t heads, lingers;
    int held; /* connections the guard holds */
    int unheld; /* connections answered over the limits, lingering */
    pthread_mutex_t lock; /* the stats */
    api_guard_addrs_t *addrs;
    api_guard_stats_t stats;
    int unlogged;        /* connections closed at the deadline since the last log line */
    int64_t last_log_ms;
    int refusals_unlogged; /* heads refused since the last refusal log line */
    int64_t last_refusal_log_ms;
    char peek[API_GUARD_HEAD_MAX]; /* the guard thread's: what a head_step sees */
};

static int64_t
now_ms(void)
{
    return util_mono_ns() / 1000000;
}

static void
glist_push(glist_t *l, gconn_t *c)
{
    c->next = NULL;
    c->prev = l->tail;
    if (l->tail)
        l->tail->next = c;
    else
        l->head = c;
    l->tail = c;
}

static void
glist_remove(glist_t *l, gconn_t *c)
{
    if (c->prev)
        c->prev->next = c->next;
    else
        l->head = c->next;
    if (c->next)
        c->next->prev = c->prev;
    else
        l->tail = c->prev;
    c->prev = c->next = NULL;
}

void
api_guard_addr_add(api_guard_t *g, const struct sockaddr *addr)
{
    if (g != NULL)
        api_guard_addrs_take(g->addrs, addr, 0);
}

void
api_guard_addr_del(api_guard_t *g, const struct sockaddr *addr)
{
    if (g != NULL)
        api_guard_addrs_drop(g->addrs, addr);
}

void
api_guard_stats(api_guard_t *g, api_guard_stats_t *out)
{
    pthread_mutex_lock(&g->lock);
    *out = g->stats;
    pthread_mutex_unlock(&g->lock);
}

static void
count(api_guard_t *g, uint64_t *stat)
{
    pthread_mutex_lock(&g->lock);
    (*stat)++;
    pthread_mutex_unlock(&g->lock);
}

/* Forgets c (its list, its epoll entry) and frees it; the socket and the counts are the caller's. */
static void
gconn_detach(api_guard_t *g, gconn_t *c)
{
    glist_remove(c->state == GC_HEAD ? &g->heads : &g->lingers, c);
    epoll_ctl(g->ep, EPOLL_CTL_DEL, c->fd, NULL);
    if (c->counted)
        g->held--;
    else
        g->unheld--;
    free(c->out);
    free(c);
}

/* Ends c: closes its socket and takes it off its address's count. */
static void
gconn_end(api_guard_t *g, gconn_t *c)
{
    close(c->fd);
    if (c->counted)
        api_guard_addr_del(g, (struct sockaddr *) &c->addr);
    gconn_detach(g, c);
}

/* Puts c into l by its deadline, looking from the tail (where it nearly always belongs). */
static void
glist_insert(glist_t *l, gconn_t *c)
{
    gconn_t *after = l->tail;

    while (after != NULL && after->deadline_ms > c->deadline_ms)
        after = after->prev;
    c->prev = after;
    c->next = after ? after->next : l->head;
    if (c->next)
        c->next->prev = c;
    else
        l->tail = c;
    if (after)
        after->next = c;
    else
        l->head = c;
}

#define LOG_EVERY_MS 10000

/* Logs a refused head: the first of each LOG_EVERY_MS in full, the rest as a count with the next line. */
static void
log_refusal(api_guard_t *g, int status, const char *request_id)
{
    json_t *line;
    char now[UTIL_TIME_LEN + 1];
    char *text;
    int64_t mono = now_ms();

    if (mono - g->last_refusal_log_ms < LOG_EVERY_MS) {
        g->refusals_unlogged++;
        return;
    }
    util_time_format(util_now_ms(), now);
    line = json_pack("{s:s, s:s, s:s, s:s, s:s, s:i, s:i}", "ts", now, "level", "info", "msg",
                     "request refused before parsing", "listener", g->cfg.listener, "requestId", request_id,
                     "status", status, "refusedSinceLastLine", g->refusals_unlogged);
    g->refusals_unlogged = 0;
    g->last_refusal_log_ms = mono;
    text = line ? json_dumps(line, JSON_COMPACT) : NULL;
    json_decref(line);
    if (text)
        fprintf(stderr, "%s\n", text);
    free(text);
}

/* GC_LINGER: sends what is left of the answer; once sent, shuts the sending side and drains. Returns true
 * when c has ended. */
static bool
linger_step(api_guard_t *g, gconn_t *c, bool hangup)
{
    char scratch[4096];
    ssize_t n;

    while (c->out_off < c->out_len) {
        n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return false; /* EPOLLOUT will say when */
        if (n <= 0) {
            gconn_end(g, c);
            return true;
        }
        c->out_off += (size_t) n;
        if (c->out_off == c->out_len)
            shutdown(c->fd, SHUT_WR);
    }
    for (;;) {
        n = recv(c->fd, scratch, sizeof(scratch), MSG_DONTWAIT);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) && !hangup)
            return false;
        if (n <= 0 || (c->drained += (size_t) n) > API_GUARD_LINGER_BYTES) {
            gconn_end(g, c);
            return true;
        }
    }
}

/* Answers c (in GC_HEAD, or new: not yet in a list or the epoll set) with v, then lingers. */
static void
answer(api_guard_t *g, gconn_t *c, const api_guard_verdict_t *v, bool is_new)
{
    char id[UTIL_UUID_LEN + 1];
    char buf[1024];
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, .data.ptr = c};
    int n;

    util_uuid(id);
    n = api_guard_answer(v, id, buf, sizeof(buf));
    if (!is_new) {
        count(g, &g->stats.refused);
        log_refusal(g, err_http_status(v->code), v->request_id[0] ? v->request_id : id);
        glist_remove(&g->heads, c);
    }
    c->state = GC_LINGER;
    c->deadline_ms = now_ms() + API_GUARD_LINGER_MS;
    glist_push(&g->lingers, c);
    if (n < 0 || (c->out = malloc((size_t) n)) == NULL ||
        epoll_ctl(g->ep, is_new ? EPOLL_CTL_ADD : EPOLL_CTL_MOD, c->fd, &ev) != 0) {
        gconn_end(g, c);
        return;
    }
    memcpy(c->out, buf, (size_t) n);
    c->out_len = (size_t) n;
    linger_step(g, c, false);
}

/* A connection beyond the limits gets a 503 (best effort: a full send buffer or a lingering crowd ends it at
 * once) rather than a reset. */
static void
answer_busy(api_guard_t *g, int fd)
{
    static const api_guard_verdict_t busy = {
        .code = ERR_UNAVAILABLE, .message = "The server has too many connections; try again later."};
    gconn_t *c;

    if (g->unheld >= API_GUARD_BUSY_LINGERS || (c = calloc(1, sizeof(*c))) == NULL) {
        close(fd);
        return;
    }
    c->fd = fd;
    g->unheld++;
    answer(g, c, &busy, true);
}

/* GC_HEAD: looks at what has arrived. */
static void
head_step(api_guard_t *g, gconn_t *c, bool hangup)
{
    char *buf = g->peek;
    api_guard_verdict_t v;
    ssize_t n;
    int fd;
    struct sockaddr_storage addr;
    socklen_t addrlen;
    int64_t accepted;

    do
        n = recv(c->fd, buf, API_GUARD_HEAD_MAX, MSG_PEEK | MSG_DONTWAIT);
    while (n < 0 && errno == EINTR);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) && !hangup)
        return;
    if (n <= 0) { /* gone before it sent anything */
        gconn_end(g, c);
        return;
    }
    if (!c->heard) { /* the first bytes: from here the request deadline applies */
        c->heard = true;
        if (c->deadline_ms != c->accepted_ms + g->cfg.deadline_ms) {
            glist_remove(&g->heads, c);
            c->deadline_ms = c->accepted_ms + g->cfg.deadline_ms;
            glist_insert(&g->heads, c);
        }
    }
    /* A head that trickles in is checked again only when a line has ended, when it has doubled since the
     * last check (a fault inside a line is still seen early), at its limit, or when the client has stopped
     * sending: checking it costs in proportion to its lines, not to its bytes squared. */
    if (!hangup && n < API_GUARD_HEAD_MAX && c->checked > 0 && (size_t) n < 2 * c->checked &&
        ((size_t) n <= c->seen || memchr(buf + c->seen, '\n', (size_t) n - c->seen) == NULL)) {
        if ((size_t) n > c->seen)
            c->seen = (size_t) n;
        return;
    }
    c->seen = c->checked = (size_t) n;
    switch (api_guard_check(buf, (size_t) n, hangup, g->cfg.body_max, &v)) {
    case API_GUARD_MORE:
        return;
    case API_GUARD_REFUSE:
        answer(g, c, &v, false);
        return;
    case API_GUARD_PASS:
        break;
    }
    fd = c->fd;
    addr = c->addr;
    addrlen = c->addrlen;
    accepted = c->accepted_ms;
    /* The address's count stays: libmicrohttpd's end notification takes it off (api_guard_addr_del); the
     * connection limit counts it with what the guard's owner holds (cfg.held) from here. */
    gconn_detach(g, c);
    count(g, &g->stats.passed);
    if (g->cfg.handoff(g->cfg.arg, fd, (struct sockaddr *) &addr, addrlen, accepted) != 0)
        api_guard_addr_del(g, (struct sockaddr *) &addr);
}

static void
accept_some(api_guard_t *g)
{
    struct sockaddr_storage addr;
    socklen_t addrlen;
    struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP | EPOLLET};
    gconn_t *c;
    int fd, i, limit = g->cfg.connection_limit > 0 ? g->cfg.connection_limit : 4096, taken, past;

    for (i = 0; i < 64; i++) {
        addrlen = sizeof(addr);
        fd = accept4(g->cfg.listen_fd, (struct sockaddr *) &addr, &addrlen, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
                /* Out of descriptors: pause accepting briefly instead of spinning on the ready listener. */
                epoll_ctl(g->ep, EPOLL_CTL_DEL, g->cfg.listen_fd, NULL);
                g->listening = false;
                g->resume_accept_ms = now_ms() + 100;
            }
            return;
        }
        past = g->cfg.held(g->cfg.arg);
        taken = g->held + past < limit
                    ? api_guard_addrs_take(g->addrs, (struct sockaddr *) &addr, g->cfg.per_address_limit)
                    : -1;
        if (taken != 0) {
            count(g, &g->stats.over_limit);
            answer_busy(g, fd);
            continue;
        }
        if ((c = calloc(1, sizeof(*c))) == NULL) {
            api_guard_addr_del(g, (struct sockaddr *) &addr);
            close(fd);
            continue;
        }
        c->fd = fd;
        c->addr = addr;
        c->addrlen = addrlen;
        c->counted = true;
        c->state = GC_HEAD;
        c->accepted_ms = now_ms();
        /* Silent, it is held for the idle timeout at most; once it has sent, for the request timeout. */
        c->deadline_ms = c->accepted_ms + (g->cfg.idle_ms > 0 && g->cfg.idle_ms < g->cfg.deadline_ms
                                               ? g->cfg.idle_ms
                                               : g->cfg.deadline_ms);
        glist_insert(&g->heads, c);
        g->held++;
        ev.data.ptr = c;
        if (epoll_ctl(g->ep, EPOLL_CTL_ADD, fd, &ev) != 0)
            gconn_end(g, c);
    }
}

/* Ends every connection past its deadline; returns the milliseconds to the next one (-1: none). */
static int
expire(api_guard_t *g)
{
    int64_t now = now_ms(), next = -1;
    gconn_t *c;

    while ((c = g->heads.head) != NULL && c->deadline_ms <= now) {
        count(g, &g->stats.expired);
        g->unlogged++;
        gconn_end(g, c);
    }
    if (g->unlogged > 0 && now - g->last_log_ms >= LOG_EVERY_MS) { /* as conns.c logs its own */
        fprintf(stderr,
                "{\"level\":\"warn\",\"msg\":\"connections closed at the request deadline\","
                "\"listener\":\"%s\",\"connections\":%d,\"deadlineSeconds\":%lld}\n",
                g->cfg.listener, g->unlogged, (long long) (g->cfg.deadline_ms / 1000));
        g->unlogged = 0;
        g->last_log_ms = now;
    }
    if (g->refusals_unlogged > 0 && now - g->last_refusal_log_ms >= LOG_EVERY_MS) {
        fprintf(stderr,
                "{\"level\":\"info\",\"msg\":\"requests refused before parsing\",\"listener\":\"%s\","
                "\"refused\":%d}\n",
                g->cfg.listener, g->refusals_unlogged);
        g->refusals_unlogged = 0;
        g->last_refusal_log_ms = now;
    }
    while ((c = g->lingers.head) != NULL && c->deadline_ms <= now)
        gconn_end(g, c);
    if (g->heads.head)
        next = g->heads.head->deadline_ms;
    if (g->lingers.head && (next < 0 || g->lingers.head->deadline_ms < next))
        next = g->lingers.head->deadline_ms;
    if (!g->stopping && !g->listening && (next < 0 || g->resume_accept_ms < next))
        next = g->resume_accept_ms;
    if (g->stopping && (next < 0 || g->stop_ms < next))
        next = g->stop_ms;
    if (g->unlogged > 0 && (next < 0 || g->last_log_ms + LOG_EVERY_MS < next))
        next = g->last_log_ms + LOG_EVERY_MS;
    if (g->refusals_unlogged > 0 && (next < 0 || g->last_refusal_log_ms + LOG_EVERY_MS < next))
        next = g->last_refusal_log_ms + LOG_EVERY_MS;
    if (next < 0)
        return -1;
    return next <= now ? 0 : (int) (next - now + 1);
}

/* Stops accepting. A head already whole is still handed over (libmicrohttpd takes connections until it
 * stops) or answered; one still arriving has the sending side shut and is drained, so that its client sees
 * the connection end rather than a reset. The thread ends within API_GUARD_STOP_GRACE_MS. */
static void
begin_stop(api_guard_t *g)
{
    uint64_t one;
    gconn_t *c, *next;

    g->stopping = true;
    g->stop_ms = now_ms() + API_GUARD_STOP_GRACE_MS;
    if (read(g->wake, &one, sizeof(one)) < 0) /* consumed: it would wake the thread again at once */
        one = 0;
    if (g->listening)
        epoll_ctl(g->ep, EPOLL_CTL_DEL, g->cfg.listen_fd, NULL);
    g->listening = false;
    for (c = g->heads.head; c != NULL; c = next) {
        next = c->next;
        c->checked = 0;
        head_step(g, c, false);
    }
    while ((c = g->heads.head) != NULL) {
        glist_remove(&g->heads, c);
        c->state = GC_LINGER;
        c->deadline_ms = g->stop_ms;
        glist_push(&g->lingers, c);
        shutdown(c->fd, SHUT_WR);
        linger_step(g, c, false);
    }
}

static void *
guard_main(void *arg)
{
    api_guard_t *g = arg;
    struct epoll_event evs[64];
    struct epoll_event lev = {.events = EPOLLIN, .data.ptr = NULL};
    int i, n, timeout;
    bool stop = false;
    gconn_t *c;

    for (;;) {
        if (stop && !g->stopping)
            begin_stop(g);
        if (g->stopping && ((g->heads.head == NULL && g->lingers.head == NULL) || now_ms() >= g->stop_ms))
            return NULL;
        timeout = expire(g);
        if (!g->stopping && !g->listening && now_ms() >= g->resume_accept_ms &&
            epoll_ctl(g->ep, EPOLL_CTL_ADD, g->cfg.listen_fd, &lev) == 0)
            g->listening = true;
        n = epoll_wait(g->ep, evs, 64, timeout);
        for (i = 0; i < n; i++) {
            if (evs[i].data.ptr == &g->wake) {
                stop = true; /* after this batch: its events may be for connections the stop ends */
                continue;
            }
            if (evs[i].data.ptr == NULL) {
                accept_some(g);
                continue;
            }
            c = evs[i].data.ptr;
            if (c->state == GC_HEAD)
                head_step(g, c, (evs[i].events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) != 0);
            else
                linger_step(g, c, (evs[i].events & (EPOLLHUP | EPOLLERR)) != 0);
        }
    }
}

api_guard_t *
api_guard_start(const api_guard_config_t *cfg)
{
    api_guard_t *g = calloc(1, sizeof(*g));
    struct epoll_event wev = {.events = EPOLLIN};
    struct epoll_event lev = {.events = EPOLLIN, .data.ptr = NULL};

    if (g == NULL)
        return NULL;
    g->cfg = *cfg;
    g->ep = epoll_create1(EPOLL_CLOEXEC);
    g->wake = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    g->addrs = api_guard_addrs_new();
    pthread_mutex_init(&g->lock, NULL);
    wev.data.ptr = &g->wake;
    if (g->addrs == NULL || g->ep < 0 || g->wake < 0 || epoll_ctl(g->ep, EPOLL_CTL_ADD, g->wake, &wev) != 0 ||
        fcntl(cfg->listen_fd, F_SETFL, fcntl(cfg->listen_fd, F_GETFL) | O_NONBLOCK) != 0 ||
        epoll_ctl(g->ep, EPOLL_CTL_ADD, cfg->listen_fd, &lev) != 0)
        goto fail;
    g->listening = true;
    g->last_log_ms = now_ms() - LOG_EVERY_MS;
    g->last_refusal_log_ms = g->last_log_ms;
    if (pthread_create(&g->thread, NULL, guard_main, g) != 0)
        goto fail;
    g->running = true;
    return g;
fail:
    if (g->ep >= 0)
        close(g->ep);
    if (g->wake >= 0)
        close(g->wake);
    api_guard_addrs_free(g->addrs);
    pthread_mutex_destroy(&g->lock);
    free(g);
    return NULL;
}

void
api_guard_stop(api_guard_t *g)
{
    uint64_t one = 1;

    if (g == NULL || !g->running)
        return;
    if (write(g->wake, &one, sizeof(one)) < 0)
        fprintf(stderr, "{\"level\":\"error\",\"msg\":\"the %s listener's front could not be woken\"}\n",
                g->cfg.listener);
    pthread_join(g->thread, NULL);
    g->running = false;
    while (g->heads.head)
        gconn_end(g, g->heads.head);
    while (g->lingers.head)
        gconn_end(g, g->lingers.head);
    close(g->cfg.listen_fd);
    g->cfg.listen_fd = -1;
}

void
api_guard_free(api_guard_t *g)
{
    if (g == NULL)
        return;
    api_guard_stop(g);
    api_guard_addrs_free(g->addrs);
    close(g->ep);
    close(g->wake);
    pthread_mutex_destroy(&g->lock);
    free(g);
}
