/*
 * api.h: the HTTP side of wapd, as the daemon sees it.
 *
 * An api_server_t serves one listener (admin or tenant) on a socket the daemon has bound, with a pool of
 * libmicrohttpd threads. Both listeners share one api_ctx_t, which the daemon owns and keeps alive until
 * every server is freed.
 */
#ifndef WAPD_API_H
#define WAPD_API_H

#include <stdbool.h>
#include <stddef.h>

#include "../lib/store.h"
#include "../lib/util.h"

typedef enum {
    API_LISTENER_ADMIN,
    API_LISTENER_TENANT,
} api_listener_t;

/* The certificate and key both listeners serve over HTTPS (api/http/tls.c); one per process. */
typedef struct api_tls api_tls_t;

typedef struct {
    store_t *store;          /* borrowed */
    char admin_token_hash[65]; /* SHA-256 (hex) of the admin token: compared in constant time */
    volatile int ready;      /* set once the daemon is ready to serve (answers /readyz) */
    volatile bool log_requests; /* one JSON line per request to stderr; changed live */
    volatile int rate_limit; /* tenant requests per second per token (bucket 2N); 0: off; changed live */
    const char *public_url;  /* base URL of links (nextLink, Location), no trailing '/'; NULL: from Host */
    int connection_limit;    /* open connections per listener */
    int per_address_limit;   /* open connections per listener from one client address */
    int request_timeout_s;   /* a whole request must arrive within this from its connection or last answer */
    int idle_timeout_s;      /* a silent connection is closed after this */
    bool tls;                /* the listeners serve HTTPS: links built from Host say https:// */
    api_tls_t *tls_creds;    /* borrowed: what the listeners present when tls; NULL: plain HTTP */
} api_ctx_t;

typedef struct api_server api_server_t;

/* Starts serving listen_fd (taken: the server closes it) with `threads` worker threads. Returns NULL with a
 * message on stderr when libmicrohttpd refuses. */
api_server_t *api_server_start(api_ctx_t *ctx, api_listener_t listener, int listen_fd, int threads);
/* Stops accepting new connections; requests in flight go on. */
void api_server_quiesce(api_server_t *srv);
/* Requests that have started and not yet completed. */
int api_server_inflight(const api_server_t *srv);
/* Stops the server (closing idle connections) and frees it. NULL is a no-op. */
void api_server_free(api_server_t *srv);

/* Loads the PEM certificate chain and the PEM private key (which must belong to the chain's first
 * certificate) that the listeners of a ctx with tls_creds set present, TLS 1.2 or later. Returns NULL with
 * a message naming the file at fault in msg. At most one exists at a time. */
api_tls_t *api_tls_new(const char *cert_path, const char *key_path, char *msg, size_t msgn);
/* Re-reads both files; a good pair is presented by every connection made from then on, without a restart;
 * a bad one keeps the pair in use. Logs one JSON line either way ("tls certificate reloaded", or an
 * error). Returns 0 when the files' pair is in use. Called by the thread that made tls. */
int api_tls_reload(api_tls_t *tls);
/* After every server presenting it is freed. NULL is a no-op. */
void api_tls_free(api_tls_t *tls);

#endif
