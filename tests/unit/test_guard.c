/*
 * Unit tests of the listener's front (api/http/guard.c and guard_head.c): the head checker as a pure
 * function (a table of heads and what each gets; every prefix of a good head waits for more and then passes
 * whole), the answer it writes, and the guard's thread on a real listen socket with a recording hand-off: a
 * good head is handed over untouched, a bad one answered in the envelope and closed, the limits applied at
 * accept and a head that never completes closed at the deadline.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <poll.h>
#include <pthread.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "../../api/http/guard.h"
#include "../../lib/util.h"

#define BODY_MAX (1024 * 1024)

typedef struct {
    const char *head;
    int status;         /* 0: passes */
    const char *code;   /* the refusal's code */
    const char *target; /* the refusal's target, or NULL */
} case_t;

static const case_t CASES[] = {
    {"GET / HTTP/1.1\r\nHost: x\r\n\r\n", 0, NULL, NULL},
    {"GET /v1/x?a=1&b=2 HTTP/1.0\r\n\r\n", 0, NULL, NULL},
    {"OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n", 0, NULL, NULL},
    {"\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n", 0, NULL, NULL},                 /* a leading empty line */
    {"GET / HTTP/1.1\nHost: x\n\n", 0, NULL, NULL},                           /* bare line feeds */
    {"POST /x HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n", 0, NULL, NULL},
    {"POST /x HTTP/1.1\r\nContent-Length:  1048576 \r\n\r\n", 0, NULL, NULL},
    {"POST /x HTTP/1.1\r\nTransfer-Encoding: Chunked\r\n\r\n", 0, NULL, NULL},
    {"GET / HTTP/1.1\r\nX-Empty:\r\nX-Text: caf\xc3\xa9\t!\r\n\r\n", 0, NULL, NULL},
    /* the request line */
    {"GET\r\nHost: x\r\n\r\n", 400, "InvalidRequest", NULL},
    {"GET /\r\nHost: x\r\n\r\n", 400, "InvalidRequest", NULL},
    {"GET / HTTP/1.1 extra\r\n\r\n", 400, "InvalidRequest", NULL},
    {"GET  / HTTP/1.1\r\n\r\n", 400, "InvalidRequest", NULL},
    {"GET x HTTP/1.1\r\n\r\n", 400, "InvalidRequest", NULL},
    {"GET http://a/ HTTP/1.1\r\n\r\n", 400, "InvalidRequest", NULL},
    {"G(T / HTTP/1.1\r\n\r\n", 400, "InvalidRequest", NULL},
    {"GET /a\x01 HTTP/1.1\r\n\r\n", 400, "InvalidRequest", NULL},
    {"GET /\xc3\xa9 HTTP/1.1\r\n\r\n", 400, "InvalidRequest", NULL},
    {"GET / http/1.1\r\n\r\n", 400, "InvalidRequest", NULL},
    {"GET / HTTP/1\r\n\r\n", 400, "InvalidRequest", NULL},
    {"GET / HTTP/1.10\r\n\r\n", 400, "InvalidRequest", NULL},
    {"GET / HTTP/1.1\rHost: x\r\n\r\n", 400, "InvalidRequest", NULL},       /* a lone carriage return */
    {"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 400, "InvalidRequest", NULL}, /* TLS on plain HTTP */
    {"GET / HTTP/2.0\r\n\r\n", 505, "HttpVersionNotSupported", NULL},
    {"GET / HTTP/1.3\r\n\r\n", 505, "HttpVersionNotSupported", NULL},
    {"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 505, "HttpVersionNotSupported", NULL},
    {"GET / HTTP/0.9\r\n\r\n", 505, "HttpVersionNotSupported", NULL},
    /* header lines */
    {"GET / HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n", 400, "InvalidRequest", NULL},
    {"GET / HTTP/1.1\r\nHost : x\r\n\r\n", 400, "InvalidRequest", NULL},
    {"GET / HTTP/1.1\r\n: x\r\n\r\n", 400, "InvalidRequest", NULL},
    {"GET / HTTP/1.1\r\nNo colon here\r\n\r\n", 400, "InvalidRequest", NULL},
    {"GET / HTTP/1.1\r\nX-A: a\x7f\r\n\r\n", 400, "InvalidRequest", NULL},
    /* framing */
    {"POST /x HTTP/1.1\r\nContent-Length: abc\r\n\r\n", 400, "InvalidRequest", "Content-Length"},
    {"POST /x HTTP/1.1\r\nContent-Length: -1\r\n\r\n", 400, "InvalidRequest", "Content-Length"},
    {"POST /x HTTP/1.1\r\nContent-Length: 2, 2\r\n\r\n", 400, "InvalidRequest", "Content-Length"},
    {"POST /x HTTP/1.1\r\nContent-Length:\r\n\r\n", 400, "InvalidRequest", "Content-Length"},
    {"POST /x HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n", 400, "InvalidRequest",
     "Content-Length"},
    {"POST /x HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 05\r\n\r\n", 400, "InvalidRequest",
     "Content-Length"},
    {"POST /x HTTP/1.1\r\nContent-Length: 1048577\r\n\r\n", 413, "PayloadTooLarge", NULL},
    {"POST /x HTTP/1.1\r\nContent-Length: 99999999999999999999999\r\n\r\n", 413, "PayloadTooLarge", NULL},
    {"POST /x HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", 501, "NotImplemented", "Transfer-Encoding"},
    {"POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", 501,
     "NotImplemented", "Transfer-Encoding"},
    {"POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n", 400, "InvalidRequest",
     "Content-Length"},
};

static const char *
code_of(const api_guard_verdict_t *v)
{
    return err_code_name(v->code);
}

static void
the_table_of_heads_gets_what_each_should(void **state)
{
    api_guard_verdict_t v;
    size_t i, len;
    const char *end;

    (void) state;
    for (i = 0; i < sizeof(CASES) / sizeof(CASES[0]); i++) {
        const case_t *c = &CASES[i];

        len = strlen(c->head);
        if (c->status == 0) {
            if (api_guard_check(c->head, len, false, BODY_MAX, &v) != API_GUARD_PASS)
                fail_msg("case %zu (%.40s) was refused: %s", i, c->head, v.message);
            end = strstr(c->head, "\r\n\r\n"); /* the head's end: after its blank line */
            end = end ? end + 4 : strstr(c->head, "\n\n") + 2;
            assert_int_equal(v.head_len, (size_t) (end - c->head));
        } else {
            if (api_guard_check(c->head, len, false, BODY_MAX, &v) != API_GUARD_REFUSE)
                fail_msg("case %zu (%.40s) was not refused", i, c->head);
            if (err_http_status(v.code) != c->status || strcmp(code_of(&v), c->code) != 0)
                fail_msg("case %zu (%.40s): %d %s, not %d %s", i, c->head, err_http_status(v.code),
                         code_of(&v), c->status, c->code);
            if (c->target == NULL)
                assert_null(v.target);
            else
                assert_string_equal(v.target, c->target);
            assert_true(v.message[0] != '\0');
        }
    }
}

static void
every_prefix_of_a_good_head_waits_and_ended_early_is_400(void **state)
{
    static const char head[] = "POST /v1/x?a=1 HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n"
                               "Transfer-Encoding-Not: x\r\n\r\n{}";
    api_guard_verdict_t v;
    size_t n, whole = strlen(head) - 2;

    (void) state;
    for (n = 0; n < whole; n++) {
        assert_int_equal(api_guard_check(head, n, false, BODY_MAX, &v), API_GUARD_MORE);
        if (n > 0) {
            assert_int_equal(api_guard_check(head, n, true, BODY_MAX, &v), API_GUARD_REFUSE);
            assert_int_equal(err_http_status(v.code), 400);
        }
    }
    for (n = whole; n <= strlen(head); n++) {
        assert_int_equal(api_guard_check(head, n, false, BODY_MAX, &v), API_GUARD_PASS);
        assert_int_equal(v.head_len, whole);
    }
}

static void
a_fault_is_seen_before_the_head_ends(void **state)
{
    api_guard_verdict_t v;

    (void) state;
    /* Bytes that cannot start a request line are refused at once, not after the head's limit. */
    assert_int_equal(api_guard_check("\x16\x03", 2, false, BODY_MAX, &v), API_GUARD_REFUSE);
    assert_int_equal(api_guard_check("GET /x HTTP/2", 13, false, BODY_MAX, &v), API_GUARD_MORE);
    assert_int_equal(api_guard_check("GET /x HTTQ", 11, false, BODY_MAX, &v), API_GUARD_REFUSE);
    assert_int_equal(api_guard_check("GET / HTTP/1.1\r\n X", 18, false, BODY_MAX, &v), API_GUARD_REFUSE);
    assert_int_equal(api_guard_check("GET / HTTP/1.1\r\nA B", 19, false, BODY_MAX, &v), API_GUARD_REFUSE);
    /* A NUL byte in a header value (the table's heads are C strings). */
    assert_int_equal(api_guard_check("GET / HTTP/1.1\r\nX-A: a\0b\r\n\r\n", 27, false, BODY_MAX, &v),
                     API_GUARD_REFUSE);
    assert_int_equal(err_http_status(v.code), 400);
}

static char *
repeat(const char *prefix, char c, size_t total, const char *suffix)
{
    char *s = malloc(total + 1);
    size_t p = strlen(prefix), q = strlen(suffix);

    assert_non_null(s);
    memcpy(s, prefix, p);
    memset(s + p, c, total - p - q);
    memcpy(s + total - q, suffix, q);
    s[total] = '\0';
    return s;
}

static void
the_head_and_record_limits(void **state)
{
    api_guard_verdict_t v;
    char *s;
    char buf[API_GUARD_HEAD_MAX + 64];
    size_t n;
    int i;

    (void) state;
    /* A head of exactly the limit passes; one byte more is 431; a request line that long is 414. */
    s = repeat("GET / HTTP/1.1\r\nX-Pad: ", 'p', API_GUARD_HEAD_MAX, "\r\n\r\n");
    assert_int_equal(api_guard_check(s, API_GUARD_HEAD_MAX, false, BODY_MAX, &v), API_GUARD_PASS);
    free(s);
    s = repeat("GET / HTTP/1.1\r\nX-Pad: ", 'p', API_GUARD_HEAD_MAX + 1, "\r\n\r\n");
    assert_int_equal(api_guard_check(s, API_GUARD_HEAD_MAX + 1, false, BODY_MAX, &v), API_GUARD_REFUSE);
    assert_int_equal(err_http_status(v.code), 431);
    assert_string_equal(code_of(&v), "RequestHeaderFieldsTooLarge");
    free(s);
    s = repeat("GET /", 'a', API_GUARD_HEAD_MAX, "");
    assert_int_equal(api_guard_check(s, API_GUARD_HEAD_MAX, false, BODY_MAX, &v), API_GUARD_REFUSE);
    assert_int_equal(err_http_status(v.code), 414);
    free(s);
    /* Records: headers, query arguments and cookies together, at most API_GUARD_RECORDS_MAX. */
    for (i = API_GUARD_RECORDS_MAX; i <= API_GUARD_RECORDS_MAX + 1; i++) {
        int k;

        n = (size_t) snprintf(buf, sizeof(buf), "GET /?q=1&r=2 HTTP/1.1\r\nCookie: a=1; b=2\r\n");
        for (k = 5; k < i; k++) /* two query arguments, the Cookie header and its two cookies: 5 */
            n += (size_t) snprintf(buf + n, sizeof(buf) - n, "X-%d: v\r\n", k);
        n += (size_t) snprintf(buf + n, sizeof(buf) - n, "\r\n");
        assert_int_equal(api_guard_check(buf, n, false, BODY_MAX, &v),
                         i <= API_GUARD_RECORDS_MAX ? API_GUARD_PASS : API_GUARD_REFUSE);
        if (i > API_GUARD_RECORDS_MAX)
            assert_int_equal(err_http_status(v.code), 431);
    }
}

static void
the_answer_is_the_envelope_with_the_clients_request_id(void **state)
{
    api_guard_verdict_t v;
    char out[1024];
    int n;

    (void) state;
    assert_int_equal(api_guard_check("GET / HTTP/1.1\r\nX-Request-Id: my-id.1\r\nTransfer-Encoding: gzip\r\n\r\n",
                                     67, false, BODY_MAX, &v),
                     API_GUARD_REFUSE);
    n = api_guard_answer(&v, "generated", out, sizeof(out));
    assert_true(n > 0);
    assert_int_equal(strncmp(out, "HTTP/1.1 501 Not Implemented\r\n", 30), 0);
    assert_non_null(strstr(out, "\r\nContent-Type: application/json\r\n"));
    assert_non_null(strstr(out, "\r\nConnection: close\r\n"));
    assert_non_null(strstr(out, "\r\nX-Request-Id: my-id.1\r\n"));
    assert_non_null(strstr(out, "\r\n\r\n{\"error\":{\"code\":\"NotImplemented\",\"message\":\"" API_MSG_CODINGS
                                "\",\"target\":\"Transfer-Encoding\"}}"));
    /* Without one (or with one that is not usable), the id given. */
    assert_int_equal(api_guard_check("GET / HTTP/1.3\r\nX-Request-Id: bad id\r\n\r\n", 41, false, BODY_MAX, &v),
                     API_GUARD_REFUSE);
    n = api_guard_answer(&v, "generated", out, sizeof(out));
    assert_true(n > 0);
    assert_non_null(strstr(out, "\r\nX-Request-Id: generated\r\n"));
    assert_non_null(strstr(out, "\"target\":null"));
    /* An id after the line at fault is found all the same. */
    assert_int_equal(api_guard_check("GET / HTTP/1.3\r\nHost: x\r\nx-request-id: late-1 \r\n\r\n", 50, false,
                                     BODY_MAX, &v),
                     API_GUARD_REFUSE);
    assert_string_equal(v.request_id, "late-1");
    assert_int_equal(api_guard_answer(&v, "generated", out, 40), -1);
}

/* ---- the thread, on a real listen socket ---- */

typedef struct {
    pthread_mutex_t lock;
    int fds[8];
    int64_t accepted_ms[8];
    int n;
} handed_t;

static int
record_handoff(void *arg, int fd, const struct sockaddr *addr, socklen_t addrlen, int64_t accepted_ms)
{
    handed_t *h = arg;

    (void) addr;
    (void) addrlen;

    pthread_mutex_lock(&h->lock);
    if (h->n < 8) {
        h->accepted_ms[h->n] = accepted_ms;
        h->fds[h->n++] = fd;
    }
    else
        close(fd);
    pthread_mutex_unlock(&h->lock);
    return 0;
}

static int
none_held(void *arg)
{
    (void) arg;
    return 0;
}

static int
listen_any(int *port)
{
    struct sockaddr_in a = {.sin_family = AF_INET};
    socklen_t n = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_true(fd >= 0);
    assert_int_equal(bind(fd, (struct sockaddr *) &a, sizeof(a)), 0);
    assert_int_equal(listen(fd, 64), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *) &a, &n), 0);
    *port = ntohs(a.sin_port);
    return fd;
}

static int
connect_to(int port)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t) port)};
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *) &a, sizeof(a)), 0);
    return fd;
}

/* Reads until the peer closes (or 10 s pass: a generous deadline only a broken guard reaches). Returns the
 * bytes read, NUL-terminated, in buf; -1 when the deadline passed first. */
static int
read_to_close(int fd, char *buf, size_t cap)
{
    size_t n = 0;
    struct pollfd p = {.fd = fd, .events = POLLIN};
    ssize_t r;

    for (;;) {
        if (poll(&p, 1, 10000) != 1)
            return -1;
        r = recv(fd, buf + n, cap - 1 - n, 0);
        if (r <= 0)
            break;
        n += (size_t) r;
    }
    buf[n] = '\0';
    return (int) n;
}

static int
handed_count(handed_t *h)
{
    int n;

    pthread_mutex_lock(&h->lock);
    n = h->n;
    pthread_mutex_unlock(&h->lock);
    return n;
}

static void
wait_handed(handed_t *h, int want)
{
    int i;

    for (i = 0; i < 1000 && handed_count(h) < want; i++)
        usleep(10000);
    assert_int_equal(handed_count(h), want);
}

static void
the_thread_hands_over_answers_limits_and_expires(void **state)
{
    static const char good[] = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
    int64_t t0 = (int64_t) (util_mono_ns() / 1000000);
    handed_t h = {.n = 0};
    api_guard_config_t cfg = {.listener = "test", .connection_limit = 100, .per_address_limit = 3,
                              .deadline_ms = 300, .body_max = BODY_MAX, .handoff = record_handoff,
                              .held = none_held, .arg = &h};
    api_guard_stats_t st;
    api_guard_t *g;
    char buf[2048];
    int port, a, b, c, d, e, i;

    (void) state;
    pthread_mutex_init(&h.lock, NULL);
    cfg.listen_fd = listen_any(&port);
    g = api_guard_start(&cfg);
    assert_non_null(g);

    /* A good head, sent in two pieces, is handed over with nothing consumed. */
    a = connect_to(port);
    assert_int_equal(send(a, good, 10, 0), 10);
    usleep(50000);
    assert_int_equal(handed_count(&h), 0);
    assert_int_equal(send(a, good + 10, strlen(good) - 10, 0), (ssize_t) (strlen(good) - 10));
    wait_handed(&h, 1);
    /* Its accept time goes with it: the request's deadline runs from there. */
    assert_true(h.accepted_ms[0] >= t0 && h.accepted_ms[0] <= (int64_t) (util_mono_ns() / 1000000));
    assert_int_equal(recv(h.fds[0], buf, sizeof(buf), 0), (ssize_t) strlen(good));
    assert_memory_equal(buf, good, strlen(good));

    /* A bad head is answered and closed, though the client goes on sending after it. */
    b = connect_to(port);
    assert_int_equal(send(b, "GET / HTTP/1.3\r\n\r\nmore bytes", 28, 0), 28);
    assert_true(read_to_close(b, buf, sizeof(buf)) > 0);
    assert_int_equal(strncmp(buf, "HTTP/1.1 505 ", 13), 0);
    assert_non_null(strstr(buf, "\"code\":\"HttpVersionNotSupported\""));
    close(b);

    /* The per-address limit (3): the handed connection stays on its address's count until libmicrohttpd
     * says it has ended, so two more wait here; the next is answered 503 and closed. */
    api_guard_addr_add(g, NULL); /* not this address: changes nothing below */
    c = connect_to(port);
    d = connect_to(port);
    e = connect_to(port);
    assert_true(read_to_close(e, buf, sizeof(buf)) > 0);
    assert_int_equal(strncmp(buf, "HTTP/1.1 503 ", 13), 0);
    close(e);
    api_guard_addr_del(g, NULL);

    /* The two waiting heads, one that never completes and one silent, are closed at the deadline (300 ms). */
    assert_int_equal(send(c, "GET /x HTTP/1.1\r\nX-A: 1\r\n", 25, 0), 25);
    for (i = 0; i < 2; i++) {
        int fd = i == 0 ? c : d;

        assert_true(read_to_close(fd, buf, sizeof(buf)) >= 0);
        assert_int_equal(buf[0], '\0');
    }
    close(c);
    close(d);
    api_guard_stats(g, &st);
    assert_int_equal(st.passed, 1);
    assert_int_equal(st.refused, 1);
    assert_int_equal(st.over_limit, 1);
    assert_int_equal(st.expired, 2);

    /* Once the limit's connections have ended, the address is taken again. */
    b = connect_to(port);
    assert_int_equal(send(b, good, strlen(good), 0), (ssize_t) strlen(good));
    wait_handed(&h, 2);
    close(b);

    api_guard_free(g);
    close(a);
    for (i = 0; i < h.n; i++)
        close(h.fds[i]);
    pthread_mutex_destroy(&h.lock);
}

static int
handed_held(void *arg)
{
    return handed_count(arg);
}

/* A burst of 12 connections from one address, each sending a whole head at once and staying open: no more
 * than the limit are handed over (a handed connection counts until its end is reported, and toward the
 * connection limit through held), and every other one is answered 503 in the envelope and closed. Each
 * connection is sent once the one before has been handed over or answered, so that hand-offs and accepts
 * interleave as they do under load. */
static void
burst(int connection_limit, int per_address_limit, int want)
{
    static const char good[] = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
    handed_t h = {.n = 0};
    api_guard_config_t cfg = {.listener = "test", .connection_limit = connection_limit,
                              .per_address_limit = per_address_limit, .deadline_ms = 30000,
                              .body_max = BODY_MAX, .handoff = record_handoff, .held = handed_held, .arg = &h};
    api_guard_stats_t st;
    api_guard_t *g;
    char buf[2048];
    struct pollfd p = {.events = POLLIN};
    int port, fds[12], i, k, before, answered = 0;
    bool handed[12];

    pthread_mutex_init(&h.lock, NULL);
    cfg.listen_fd = listen_any(&port);
    g = api_guard_start(&cfg);
    assert_non_null(g);
    for (i = 0; i < 12; i++) {
        before = handed_count(&h);
        fds[i] = connect_to(port);
        (void) send(fds[i], good, strlen(good), MSG_NOSIGNAL);
        p.fd = fds[i];
        for (k = 0; k < 1000 && handed_count(&h) == before && poll(&p, 1, 10) == 0; k++)
            ;
        handed[i] = handed_count(&h) > before;
    }
    for (i = 0; i < 12; i++) {
        if (handed[i])
            continue;
        assert_true(read_to_close(fds[i], buf, sizeof(buf)) > 0);
        assert_int_equal(strncmp(buf, "HTTP/1.1 503 ", 13), 0);
        assert_non_null(strstr(buf, "\r\nRetry-After: "));
        assert_non_null(strstr(buf, "\r\nConnection: close\r\n"));
        assert_non_null(strstr(buf, "\r\n\r\n{\"error\":{\"code\":\"ServiceUnavailable\",\"message\":"));
        answered++;
    }
    /* Every connection has been accepted and dealt with: the count handed over is final. */
    assert_int_equal(handed_count(&h), want);
    assert_int_equal(answered, 12 - want);
    api_guard_stats(g, &st);
    assert_int_equal(st.over_limit, (uint64_t) (12 - want));
    assert_int_equal(st.passed, (uint64_t) want);
    api_guard_free(g);
    for (i = 0; i < 12; i++)
        close(fds[i]);
    for (i = 0; i < h.n; i++)
        close(h.fds[i]);
    pthread_mutex_destroy(&h.lock);
}

static void
a_burst_past_the_limits_gets_503s_and_no_more_than_the_limit_is_served(void **state)
{
    (void) state;
    burst(100, 2, 2); /* --per-address-limit 2 */
    burst(3, 0, 3);   /* --connection-limit 3 */
}

/* A connection that sends nothing is closed at the idle timeout; one that has sent a byte gets the request
 * timeout, and its head may trickle in a byte at a time. */
static void
a_silent_connection_gets_the_idle_timeout_a_talking_one_the_request_timeout(void **state)
{
    static const char good[] = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
    handed_t h = {.n = 0};
    api_guard_config_t cfg = {.listener = "test", .connection_limit = 100, .deadline_ms = 60000,
                              .idle_ms = 200, .body_max = BODY_MAX, .handoff = record_handoff,
                              .held = none_held, .arg = &h};
    api_guard_stats_t st;
    struct pollfd p = {.events = POLLIN};
    api_guard_t *g;
    char buf[2048];
    int port, silent, talking;
    size_t i;

    (void) state;
    pthread_mutex_init(&h.lock, NULL);
    cfg.listen_fd = listen_any(&port);
    g = api_guard_start(&cfg);
    assert_non_null(g);
    talking = connect_to(port);
    assert_int_equal(send(talking, good, 1, 0), 1);
    silent = connect_to(port);
    assert_int_equal(read_to_close(silent, buf, sizeof(buf)), 0);
    close(silent);
    /* The talking one, accepted first, is still open (its deadline is a minute away). */
    p.fd = talking;
    assert_int_equal(poll(&p, 1, 0), 0);
    for (i = 1; i < strlen(good); i++) {
        assert_int_equal(send(talking, good + i, 1, 0), 1);
        usleep(1000);
    }
    wait_handed(&h, 1);
    assert_int_equal(recv(h.fds[0], buf, sizeof(buf), 0), (ssize_t) strlen(good));
    assert_memory_equal(buf, good, strlen(good));
    api_guard_stats(g, &st);
    assert_int_equal(st.expired, 1);
    api_guard_free(g);
    close(talking);
    close(h.fds[0]);
    pthread_mutex_destroy(&h.lock);
}

/* At a stop, a head still arriving is ended with the sending side shut after what it sent was read, so that
 * its client sees the end of the connection, not a reset. */
static void
a_stop_ends_a_head_still_arriving_without_a_reset(void **state)
{
    static const char good[] = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
    handed_t h = {.n = 0};
    api_guard_config_t cfg = {.listener = "test", .connection_limit = 100, .deadline_ms = 60000,
                              .body_max = BODY_MAX, .handoff = record_handoff, .held = none_held, .arg = &h};
    api_guard_t *g;
    char buf[256];
    int port, arriving, whole;

    (void) state;
    pthread_mutex_init(&h.lock, NULL);
    cfg.listen_fd = listen_any(&port);
    g = api_guard_start(&cfg);
    assert_non_null(g);
    arriving = connect_to(port);
    assert_int_equal(send(arriving, "GET /x HTTP/1.1\r\nX-A: 1\r\n", 25, 0), 25);
    whole = connect_to(port); /* accepted after the first: once it is handed over, both are the guard's */
    assert_int_equal(send(whole, good, strlen(good), 0), (ssize_t) strlen(good));
    wait_handed(&h, 1);
    api_guard_stop(g);
    errno = 0;
    assert_int_equal(recv(arriving, buf, sizeof(buf), 0), 0);
    assert_int_equal(errno, 0);
    api_guard_free(g);
    close(arriving);
    close(whole);
    close(h.fds[0]);
    pthread_mutex_destroy(&h.lock);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(the_table_of_heads_gets_what_each_should),
        cmocka_unit_test(every_prefix_of_a_good_head_waits_and_ended_early_is_400),
        cmocka_unit_test(a_fault_is_seen_before_the_head_ends),
        cmocka_unit_test(the_head_and_record_limits),
        cmocka_unit_test(the_answer_is_the_envelope_with_the_clients_request_id),
        cmocka_unit_test(the_thread_hands_over_answers_limits_and_expires),
        cmocka_unit_test(a_burst_past_the_limits_gets_503s_and_no_more_than_the_limit_is_served),
        cmocka_unit_test(a_silent_connection_gets_the_idle_timeout_a_talking_one_the_request_timeout),
        cmocka_unit_test(a_stop_ends_a_head_still_arriving_without_a_reset),
    };

    return cmocka_run_group_tests_name("guard", tests, NULL, NULL);
}
