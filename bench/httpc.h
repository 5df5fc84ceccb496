/*
 * httpc.h: the benchmark tools' HTTP/1.1 client: one keep-alive connection per conn_t, a request written
 * whole and its reply read whole (Content-Length) before the next one.
 *
 * A conn_t belongs to one thread. Its host and port come from httpc_parse_url; fd is -1 while closed, and
 * httpc_request opens (and, once, reopens) it as needed. The reply's body stays at c->body, NUL-terminated,
 * until the next request on the connection; httpc_free releases the buffer and closes the socket.
 */
#ifndef WAPD_BENCH_HTTPC_H
#define WAPD_BENCH_HTTPC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    int fd;
    char host[256];
    char port[16];
    char *buf; /* the reply read last: headers, then body at body */
    size_t cap;
    char *body;
    size_t body_len;
} conn_t;

/* Microseconds of CLOCK_MONOTONIC. */
int64_t httpc_now_us(void);

/* Fills c's host and port from "http://host:port[/...]" and leaves it closed; -1 when the URL has no port. */
int httpc_parse_url(conn_t *c, const char *url);

/* A closed copy of proto (same host and port, no buffer) for another thread. */
conn_t httpc_clone(const conn_t *proto);

void httpc_close(conn_t *c);
void httpc_free(conn_t *c);

/* One request on c (reconnecting once when the kept-alive connection was closed under it), with a bearer
 * token (NULL: none) and a JSON body (NULL: none). Answers the reply's status, its body at c->body; -1 when
 * no reply came. */
int httpc_request(conn_t *c, const char *method, const char *path, const char *token, const char *body);

#endif
