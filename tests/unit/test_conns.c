/*
 * Unit tests of the request deadline (api/http/conns.c): which connections a sweep closes, driven with
 * explicit times and a recording close function, and the sweeper thread on real sockets (socketpair), whose
 * shutdown the other end sees as the end of the stream. Sockets whose received bytes the kernel counts
 * (TCP, on loopback here) are idle between requests: no deadline until the next request's first byte, and
 * a connection removed with bytes it never read is closed without a reset. (Fake descriptors and
 * socketpairs have no such count: their deadline runs from the accept or the answer.)
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
#include <poll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "../../api/http/conns.h"
#include "../../lib/util.h"

#define DEADLINE 30000 /* ms */
#define T0 1000000     /* any start */

typedef struct {
    int fds[16];
    int n;
} closed_t;

static void
record_close(int fd, void *arg)
{
    closed_t *c = arg;

    if (c->n < 16)
        c->fds[c->n] = fd;
    c->n++;
}

static int
sweep(api_conns_t *t, int64_t now, closed_t *c)
{
    memset(c, 0, sizeof(*c));
    return api_conns_sweep(t, now, record_close, c);
}

static void
a_waiting_connection_is_closed_just_past_the_deadline_and_once(void **state)
{
    api_conns_t *t = api_conns_new(DEADLINE);
    api_conn_t *c;
    closed_t got;

    (void) state;
    assert_non_null(t);
    c = api_conns_add(t, 7, T0);
    assert_non_null(c);
    assert_int_equal(api_conns_count(t), 1);
    assert_int_equal(sweep(t, T0 + DEADLINE - 1, &got), 0);
    assert_int_equal(sweep(t, T0 + DEADLINE, &got), 0); /* the whole deadline is the client's */
    assert_int_equal(sweep(t, T0 + DEADLINE + 1, &got), 1);
    assert_int_equal(got.fds[0], 7);
    /* closed once: libmicrohttpd removes it when it sees the socket end */
    assert_int_equal(sweep(t, T0 + 10 * DEADLINE, &got), 0);
    assert_int_equal(api_conns_expired(t), 1);
    assert_int_equal(api_conns_count(t), 1);
    api_conns_remove(t, c);
    assert_int_equal(api_conns_count(t), 0);
    api_conns_free(t);
}

static void
a_connection_with_its_whole_request_has_no_deadline_until_answered(void **state)
{
    api_conns_t *t = api_conns_new(DEADLINE);
    api_conn_t *c;
    closed_t got;

    (void) state;
    c = api_conns_add(t, 5, T0);
    api_conns_received(t, c); /* a long write in the pool, or a slow reader of its answer */
    assert_int_equal(sweep(t, T0 + 100 * DEADLINE, &got), 0);
    /* answered: the next request on the keep-alive connection has the deadline from the answer */
    api_conns_answered(t, c, T0 + 100 * DEADLINE);
    assert_int_equal(sweep(t, T0 + 101 * DEADLINE, &got), 0);
    assert_int_equal(sweep(t, T0 + 101 * DEADLINE + 1, &got), 1);
    assert_int_equal(got.fds[0], 5);
    api_conns_remove(t, c);
    api_conns_free(t);
}

static void
only_the_connections_past_their_deadline_are_closed(void **state)
{
    api_conns_t *t = api_conns_new(DEADLINE);
    api_conn_t *old, *young, *busy, *answered;
    closed_t got;

    (void) state;
    old = api_conns_add(t, 10, T0);
    young = api_conns_add(t, 11, T0 + DEADLINE / 2);
    busy = api_conns_add(t, 12, T0);
    answered = api_conns_add(t, 13, T0);
    api_conns_received(t, busy);
    api_conns_received(t, answered);
    api_conns_answered(t, answered, T0 + DEADLINE / 2);
    assert_int_equal(sweep(t, T0 + DEADLINE + 1, &got), 1);
    assert_int_equal(got.fds[0], 10);
    assert_int_equal(sweep(t, T0 + DEADLINE + DEADLINE / 2 + 1, &got), 2);
    assert_true((got.fds[0] == 11 && got.fds[1] == 13) || (got.fds[0] == 13 && got.fds[1] == 11));
    assert_int_equal(api_conns_expired(t), 3);
    /* removed in any order, from the middle of the list too */
    api_conns_remove(t, young);
    api_conns_remove(t, old);
    assert_int_equal(api_conns_count(t), 2);
    assert_int_equal(sweep(t, T0 + 1000 * DEADLINE, &got), 0);
    api_conns_remove(t, answered);
    api_conns_remove(t, busy);
    assert_int_equal(api_conns_count(t), 0);
    /* a table freed with connections still in it frees them */
    api_conns_add(t, 14, T0);
    api_conns_free(t);
}

static void
an_untracked_connection_is_a_no_op(void **state)
{
    api_conns_t *t = api_conns_new(DEADLINE);
    closed_t got;

    (void) state;
    api_conns_received(t, NULL);
    api_conns_answered(t, NULL, T0);
    api_conns_remove(t, NULL);
    assert_int_equal(api_conns_count(t), 0);
    assert_int_equal(sweep(t, T0, &got), 0);
    api_conns_free(t);
    api_conns_free(NULL);
}

/* Whether fd reads the end of the stream within timeout_ms. */
static int
sees_eof(int fd, int timeout_ms)
{
    int64_t until = util_mono_ns() / 1000000 + timeout_ms;
    char b;
    struct timespec pause = {0, 5000000};

    while (util_mono_ns() / 1000000 < until) {
        ssize_t n = recv(fd, &b, 1, MSG_DONTWAIT);

        if (n == 0)
            return 1;
        nanosleep(&pause, NULL);
    }
    return 0;
}

static void
the_sweeper_shuts_down_the_sockets_past_the_deadline(void **state)
{
    api_conns_t *t = api_conns_new(200);
    int late[2], busy[2];
    api_conn_t *cl, *cb;
    int64_t now = util_mono_ns() / 1000000;

    (void) state;
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, late), 0);
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, busy), 0);
    cl = api_conns_add(t, late[0], now);
    cb = api_conns_add(t, busy[0], now);
    api_conns_received(t, cb);
    assert_int_equal(api_conns_start_sweeper(t, "test", 10), 0);
    /* sending does not help: only a whole request stops the clock */
    assert_int_equal(send(late[1], "x", 1, 0), 1);
    assert_true(sees_eof(late[1], 10000));
    assert_false(sees_eof(busy[1], 400));
    assert_int_equal(api_conns_expired(t), 1);
    api_conns_remove(t, cl);
    api_conns_remove(t, cb);
    api_conns_free(t); /* stops the sweeper */
    close(late[0]);
    close(late[1]);
    close(busy[0]);
    close(busy[1]);
}

/* A TCP connection on loopback: *server is the accepted end, *client the other; with client_rcv > 0 the
 * client's receive buffer and the server's send buffer (SO_SNDBUFFORCE when allowed) are set. */
static void
tcp_pair_bufs(int *server, int *client, int client_rcv, int server_snd)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    int l = socket(AF_INET, SOCK_STREAM, 0);

    assert_true(l >= 0);
    assert_int_equal(bind(l, (struct sockaddr *) &a, sizeof(a)), 0);
    assert_int_equal(listen(l, 1), 0);
    assert_int_equal(getsockname(l, (struct sockaddr *) &a, &len), 0);
    *client = socket(AF_INET, SOCK_STREAM, 0);
    if (client_rcv > 0)
        assert_int_equal(setsockopt(*client, SOL_SOCKET, SO_RCVBUF, &client_rcv, sizeof(client_rcv)), 0);
    assert_int_equal(connect(*client, (struct sockaddr *) &a, sizeof(a)), 0);
    *server = accept(l, NULL, NULL);
    assert_true(*server >= 0);
    if (server_snd > 0 && setsockopt(*server, SOL_SOCKET, SO_SNDBUFFORCE, &server_snd, sizeof(server_snd)))
        assert_int_equal(setsockopt(*server, SOL_SOCKET, SO_SNDBUF, &server_snd, sizeof(server_snd)), 0);
    close(l);
}

static void
tcp_pair(int *server, int *client)
{
    tcp_pair_bufs(server, client, 0, 0);
}

/* Sends one byte from client and waits (up to 10 s) until server has it to read. */
static void
send_byte(int client, int server)
{
    struct pollfd p = {.fd = server, .events = POLLIN};

    assert_int_equal(send(client, "G", 1, 0), 1);
    assert_int_equal(poll(&p, 1, 10000), 1);
}

static void
an_idle_connection_has_no_deadline_until_its_request_begins(void **state)
{
    api_conns_t *t = api_conns_new(DEADLINE);
    api_conn_t *c;
    closed_t got;
    int sv, cl;

    (void) state;
    tcp_pair(&sv, &cl);
    c = api_conns_add(t, sv, T0);
    /* Accepted and silent: the idle timeout's (libmicrohttpd's), not the deadline's. */
    assert_int_equal(sweep(t, T0 + 10 * DEADLINE, &got), 0);
    /* The first byte: the deadline runs from the sweep that sees it. */
    send_byte(cl, sv);
    assert_int_equal(sweep(t, T0 + 20 * DEADLINE, &got), 0);
    assert_int_equal(sweep(t, T0 + 21 * DEADLINE, &got), 0);
    assert_int_equal(sweep(t, T0 + 21 * DEADLINE + 1, &got), 1);
    assert_int_equal(got.fds[0], sv);
    api_conns_remove(t, c); /* reads what was left unread: the byte */
    /* Whole, answered: idle again, however long the gap before the next request… */
    c = api_conns_add(t, sv, T0);
    api_conns_received(t, c);
    api_conns_answered(t, c, T0 + DEADLINE);
    assert_int_equal(sweep(t, T0 + 50 * DEADLINE, &got), 0);
    /* …and its next request has the whole deadline from its first byte, not from the answer. */
    send_byte(cl, sv);
    assert_int_equal(sweep(t, T0 + 60 * DEADLINE, &got), 0);
    assert_int_equal(sweep(t, T0 + 61 * DEADLINE, &got), 0);
    assert_int_equal(sweep(t, T0 + 61 * DEADLINE + 1, &got), 1);
    api_conns_remove(t, c);
    api_conns_free(t);
    close(sv);
    close(cl);
}

/* A connection accepted with its first bytes already in has the deadline from its accept. */
static void
bytes_before_the_accept_start_the_deadline(void **state)
{
    api_conns_t *t = api_conns_new(DEADLINE);
    api_conn_t *c;
    closed_t got;
    int sv, cl;

    (void) state;
    tcp_pair(&sv, &cl);
    send_byte(cl, sv);
    c = api_conns_add(t, sv, T0);
    assert_int_equal(sweep(t, T0 + DEADLINE, &got), 0);
    assert_int_equal(sweep(t, T0 + DEADLINE + 1, &got), 1);
    api_conns_remove(t, c);
    api_conns_free(t);
    close(sv);
    close(cl);
}

/* The daemon stops (or ends a connection) while the client has sent more than was read (its next request)
 * and has not read the whole answer yet (the answer waits in the server's send queue, the client's window
 * being small): the answer sent, the write side shut, the connection removed, the socket closed. Closed
 * with unread bytes the socket would be reset and the answer's unsent part dropped; the client reads the
 * whole answer and then the end of the stream. */
static void
a_connection_removed_with_unread_bytes_closes_without_a_reset(void **state)
{
    api_conns_t *t = api_conns_new(DEADLINE);
    enum { ANSWER = 128 * 1024 };
    char *answer = malloc(ANSWER), *back = malloc(ANSWER), next[8192];
    size_t got = 0;
    api_conn_t *c;
    ssize_t n;
    int sv, cl, small = 4096, big = 1024 * 1024;

    (void) state;
    assert_non_null(answer);
    assert_non_null(back);
    tcp_pair_bufs(&sv, &cl, small, big);
    c = api_conns_add(t, sv, T0);
    memset(next, 'x', sizeof(next));
    assert_int_equal(send(cl, next, sizeof(next), 0), (ssize_t) sizeof(next));
    send_byte(cl, sv); /* all of it is in, unread */
    memset(answer, 'a', ANSWER);
    assert_int_equal(send(sv, answer, ANSWER, 0), ANSWER);
    assert_int_equal(shutdown(sv, SHUT_WR), 0);
    api_conns_remove(t, c);
    assert_int_equal(close(sv), 0);
    while (got < ANSWER && (n = recv(cl, back + got, ANSWER - got, 0)) > 0)
        got += (size_t) n;
    assert_int_equal(got, ANSWER);
    assert_memory_equal(back, answer, ANSWER);
    assert_int_equal(recv(cl, next, sizeof(next), 0), 0); /* the end of the stream, not ECONNRESET */
    api_conns_free(t);
    close(cl);
    free(answer);
    free(back);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_waiting_connection_is_closed_just_past_the_deadline_and_once),
        cmocka_unit_test(a_connection_with_its_whole_request_has_no_deadline_until_answered),
        cmocka_unit_test(only_the_connections_past_their_deadline_are_closed),
        cmocka_unit_test(an_untracked_connection_is_a_no_op),
        cmocka_unit_test(the_sweeper_shuts_down_the_sockets_past_the_deadline),
        cmocka_unit_test(an_idle_connection_has_no_deadline_until_its_request_begins),
        cmocka_unit_test(bytes_before_the_accept_start_the_deadline),
        cmocka_unit_test(a_connection_removed_with_unread_bytes_closes_without_a_reset),
    };

    return cmocka_run_group_tests_name("conns", tests, NULL, NULL);
}
