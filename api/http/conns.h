/*
 * conns.h: the request deadline of one listener's connections (api/http/conns.c).
 *
 * libmicrohttpd closes a connection only after a silence of the idle timeout, so a client that sends one
 * header line every few seconds would hold its connection for ever. Each connection is tracked here from its
 * accept. Between requests (from its accept, and from the end of each answer on a keep-alive connection) it
 * is idle: only the idle timeout applies. The first byte of a request (seen by a sweep, from the kernel's
 * count of bytes received) makes it "waiting", and it is "busy" from the moment its whole request (headers
 * and body) has arrived until its answer is sent. A sweep closes (through close_fn, shutdown(2) on the socket
 * in the daemon) every connection that has been waiting longer than the deadline, however often it sent:
 * libmicrohttpd then sees the socket end and frees the connection as for any client that went away. A
 * connection is closed once. A socket whose received bytes the kernel does not count (not TCP) waits from
 * its accept or last answer instead. When a connection ends, what its client sent that was never read is
 * read and dropped before libmicrohttpd closes the socket, so that the close is not a reset that would
 * destroy an answer still on its way.
 *
 * Every function takes the table's lock, so the listener's threads and the sweeper share one table.
 */
#ifndef WAPD_API_HTTP_CONNS_H
#define WAPD_API_HTTP_CONNS_H

#include <stdbool.h>
#include <stdint.h>

typedef struct api_conns api_conns_t;
typedef struct api_conn api_conn_t;
typedef void (*api_conns_close_fn)(int fd, void *arg);

/* A table whose connections have deadline_ms from the first byte of a request to deliver all of it.
 * NULL when memory runs out. */
api_conns_t *api_conns_new(int64_t deadline_ms);
/* Stops the sweeper (if started) and frees the table and any connection still in it. NULL is a no-op. */
void api_conns_free(api_conns_t *t);

/* A connection accepted at now_ms on socket fd: idle until its first byte (waiting from now when that
 * came already). NULL when memory runs out (the connection is then not tracked). */
api_conn_t *api_conns_add(api_conns_t *t, int fd, int64_t now_ms);
/* The connection has ended (closed by either side), its socket still open: reads and drops what the client
 * sent that was never read (up to 64 KiB, without waiting), then forgets and frees it. NULL is a no-op. */
void api_conns_remove(api_conns_t *t, api_conn_t *c);
/* Its whole request has arrived: no deadline until its answer is sent. NULL is a no-op. */
void api_conns_received(api_conns_t *t, api_conn_t *c);
/* Its answer was sent at now_ms: idle until the next request's first byte. NULL is a no-op. */
void api_conns_answered(api_conns_t *t, api_conn_t *c, int64_t now_ms);

/* Starts the deadline at now_ms for every idle connection that has received a byte since it went idle, and
 * calls close_fn (under the table's lock, so the fd is still the connection's) for every connection waiting
 * since more than the deadline before now_ms and not yet closed; returns how many it closed. */
int api_conns_sweep(api_conns_t *t, int64_t now_ms, api_conns_close_fn close_fn, void *arg);
/* Connections in the table (closed ones included until removed). */
int api_conns_count(api_conns_t *t);
/* Connections closed at the deadline since the table was made. */
uint64_t api_conns_expired(api_conns_t *t);

/* Starts a thread that sweeps every period_ms with shutdown(fd, SHUT_RDWR), logging (one JSON line on
 * stderr, at most every 10 s) how many connections of `listener` it closed. Returns 0, or -1. */
int api_conns_start_sweeper(api_conns_t *t, const char *listener, int period_ms);

#endif
