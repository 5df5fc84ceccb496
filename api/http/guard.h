/*
 * guard.h: the front of a plain-HTTP listener: it accepts each connection itself, reads the head of its
 * first request without consuming it (recv with MSG_PEEK), and either hands the socket to libmicrohttpd
 * (MHD_add_connection) or, when the head is one libmicrohttpd would answer with its own HTML (or not at
 * all), answers it in the API's JSON envelope and closes the connection with a lingering close.
 *
 * The head checker is a pure function (api_guard_check, api/http/guard_head.c) so that the unit tests drive
 * it with a table of heads. Its limits are set well inside what libmicrohttpd takes with the listener's
 * 16 KiB connection memory, so that a head the guard passes is never refused by libmicrohttpd itself. The
 * thread that accepts, peeks, hands off and answers (api_guard_start and the rest) is api/http/guard.c.
 */
#ifndef WAPD_API_HTTP_GUARD_H
#define WAPD_API_HTTP_GUARD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "../../lib/err.h"

/* The largest request head (request line, headers and the blank line) taken: a larger one is 431 (414 when
 * the request line alone is longer). */
#define API_GUARD_HEAD_MAX 8192
/* The most records libmicrohttpd would keep for a head: header lines, query arguments and cookies. */
#define API_GUARD_RECORDS_MAX 100
/* How long a refused connection is drained after its answer before it is closed. */
#define API_GUARD_LINGER_MS 2000
/* The most bytes drained from a refused connection before it is closed. */
#define API_GUARD_LINGER_BYTES (1024 * 1024)
/* The most connections answered 503 for the limits that linger at once; beyond, one is closed unanswered. */
#define API_GUARD_BUSY_LINGERS 256
/* How long a stopping guard lets the connections it holds end before it closes them. */
#define API_GUARD_STOP_GRACE_MS 1000

/* The texts of the framing refusals, shared with the checks made for requests that libmicrohttpd parses
 * (request.c: keep-alive follow-ups and TLS connections). */
#define API_MSG_CODINGS "The only Transfer-Encoding taken is chunked, once."
#define API_MSG_CODING_AND_LENGTH "A request may not have both Transfer-Encoding and Content-Length."
#define API_MSG_LENGTHS_DIFFER "The request has Content-Length headers that differ."
#define API_MSG_BODY_TOO_LARGE "The body is larger than %d bytes."

typedef enum {
    API_GUARD_MORE,   /* no fault so far, but the head is not complete: wait for more bytes */
    API_GUARD_PASS,   /* a complete head that libmicrohttpd may parse */
    API_GUARD_REFUSE, /* refused: the verdict says with what */
} api_guard_result_t;

typedef struct {
    err_code_t code;             /* the refusal's code (its status is err_http_status(code)) */
    const char *target;          /* the header at fault, or NULL */
    char message[ERR_MESSAGE_MAX];
    size_t head_len;             /* PASS: the head's length, its blank line included */
    char request_id[129];        /* the client's X-Request-Id when the head had a usable one, else "" */
} api_guard_verdict_t;

/* Checks the first len bytes a connection sent (ended: the client has closed its sending side, so no more
 * will come). body_max is the largest Content-Length taken (larger: 413). Fills *v on REFUSE and PASS. */
api_guard_result_t api_guard_check(const char *buf, size_t len, bool ended, int64_t body_max,
                                   api_guard_verdict_t *v);

/* Writes the whole answer to a refusal (status line, headers, JSON envelope) into out (at most cap bytes,
 * NUL-terminated). request_id is used when v has none. Returns its length, or -1 when it does not fit. */
int api_guard_answer(const api_guard_verdict_t *v, const char *request_id, char *out, size_t cap);

typedef struct api_guard api_guard_t;

typedef struct {
    int listen_fd;             /* taken: the guard closes it */
    const char *listener;      /* "admin" or "tenant", for the log */
    int connection_limit;      /* connections held by the guard and libmicrohttpd together; <= 0: 4096 */
    int per_address_limit;     /* from one client address, the same way; <= 0: none */
    int64_t deadline_ms;       /* from accept to a whole head */
    int64_t idle_ms;           /* from accept to the first byte, when shorter than deadline_ms; <= 0: none */
    int64_t body_max;
    /* Hands a socket whose head passed to libmicrohttpd; the callee owns fd from then on (it closes it on
     * failure). The connection stays on its address's count until api_guard_addr_del (or a failed
     * hand-off), and held must count it from the call on. accepted_ms is when it was accepted (util_mono_ns() / 1000000), where the request's deadline
     * runs from. Returns 0 or -1. */
    int (*handoff)(void *arg, int fd, const struct sockaddr *addr, socklen_t addrlen, int64_t accepted_ms);
    /* How many connections libmicrohttpd holds now, those handed over and not yet started included. */
    int (*held)(void *arg);
    void *arg;
} api_guard_config_t;

/* Starts the guard's thread on cfg->listen_fd. NULL on failure (the listen socket is then not taken). */
api_guard_t *api_guard_start(const api_guard_config_t *cfg);
/* Stops accepting: whole heads are still handed over, the connections still sending one are shut and
 * drained, for API_GUARD_STOP_GRACE_MS at most; then the thread ends and the listen socket and every
 * connection still held are closed. Safe to call twice; NULL is a no-op. */
void api_guard_stop(api_guard_t *g);
/* Stops (if needed) and frees. NULL is a no-op. */
void api_guard_free(api_guard_t *g);

/* A connection from addr is now held by libmicrohttpd (count it against the per-address limit; not for one
 * the guard handed over, which it counts from its accept) or has ended there. Called from libmicrohttpd's
 * threads. */
void api_guard_addr_add(api_guard_t *g, const struct sockaddr *addr);
void api_guard_addr_del(api_guard_t *g, const struct sockaddr *addr);

/* The per-address counts (guard_addr.c), shared by the guard's thread and libmicrohttpd's. take adds one to
 * addr's count, with limit > 0 only when it stays within it (0, or -1); drop takes one off. */
typedef struct api_guard_addrs api_guard_addrs_t;
api_guard_addrs_t *api_guard_addrs_new(void);
void api_guard_addrs_free(api_guard_addrs_t *t);
int api_guard_addrs_take(api_guard_addrs_t *t, const struct sockaddr *addr, int limit);
void api_guard_addrs_drop(api_guard_addrs_t *t, const struct sockaddr *addr);

/* Connections refused at accept for the limits, heads refused, and connections closed at the deadline,
 * since the start. */
typedef struct {
    uint64_t over_limit;
    uint64_t refused;
    uint64_t expired;
    uint64_t passed;
} api_guard_stats_t;
void api_guard_stats(api_guard_t *g, api_guard_stats_t *out);

#endif
