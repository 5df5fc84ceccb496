/*
 * http_internal.h: what the two parts of the http agent share; not for other modules.
 *
 * The http driver (kind "http") speaks the wapd-agent protocol to a wapd-agent process on the host.
 * It is two files, one concern each:
 * - http_conn.c: the transport: libcurl set up once per process, a small pool of easy handles per
 * host (each keeps its connection alive, so calls reuse connections), one request with its headers,
 *   timeouts and TLS settings, and the mapping of what came back (or did not) to an agent_status_t;
 * - http.c: the driver: the uri grammar, open, reconfigure, close, each slot as one request, the
 * table.
 *
 * Locking (the thread rule of lib/agent.h): one mutex per host (agent_http_t.lock) guards the uri,
 * the token, the CA file and the idle handles. It is held only to copy the settings and to take or
 * return a handle, never across a transfer, so a slow or hung call never stalls the host's other
 * calls. A handle taken from the pool belongs to one call until it is returned.
 */
#ifndef WAPD_AGENT_HTTP_INTERNAL_H
#define WAPD_AGENT_HTTP_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>

#include <curl/curl.h>
#include <jansson.h>

#include "../agent.h"

/* Idle handles kept per host: about as many as calls a host sees at once (job workers, a sync). */
#define HTTP_POOL_MAX 8
/* The longest connect: a host that does not accept within it is unreachable. */
#define HTTP_CONNECT_TIMEOUT_MS 3000
/* The largest answer read (an inventory of a few thousand VMs). */
#define HTTP_ANSWER_MAX (16 * 1024 * 1024)

typedef struct {
    pthread_mutex_t lock;
    char *base;    /* "http://host:port", no trailing slash */
    char *token;   /* the bearer token, or NULL */
    char *ca_file; /* the CA bundle for https, or NULL: the system's */
    CURL *idle[HTTP_POOL_MAX];
    int nidle;
} agent_http_t;

/* One request. The method and the path ("/v1/vms/…", escaped) are borrowed; body (borrowed, or
 * NULL: no body) is sent as JSON. A write (any method but GET) carries call->op_id as its
 * Operation-Id (or its digest, when the header's syntax does not allow it). Answers 0 with *answer
 * (new; the answer's JSON, or NULL when it had no body) for a 2xx but 202, and otherwise -1 with
 * err set: AGENT_PENDING for a 202 (with call->progress filled, when the call has one), the status
 * of the wire table for another HTTP status, AGENT_ERR_UNREACHABLE when no request reached the
 * agent, AGENT_ERR_TIMEOUT when the call's time ran out after it did. */
int agent_http__request(agent_http_t *h, const agent_call_t *call, const char *method,
                        const char *path, const json_t *body, json_t **answer, agent_err_t *err);
/* Frees every idle handle of h (and closes their connections); takes h->lock, not held. */
void agent_http__pool_drain(agent_http_t *h);
/* Fails the call for want of memory (transient: nothing reached the agent). Returns -1. */
int agent_http__fail_oom(agent_err_t *err);
/* Sets up libcurl once per process (any thread, any number of times). Returns 0, or -1 when it
 * fails. */
int agent_http__global_init(void);

#endif
