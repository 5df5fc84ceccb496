/*
 * hooks.h: automation hooks, and the sender that delivers events to them.
 *
 * A hook {id, url, events, secret, active, description} receives, as `POST url`, every event whose type
 * its events list selects ("*": every type; "vm.*": every type under vm., see events.h) from its creation
 * on. Each (hook, event) pair is a delivery,
 * queued in the event's own transaction (lib/events.c), so a delivery exists exactly when its event does.
 *
 * The sender is one thread driving libcurl's multi interface: bounded concurrency overall and per hook (a
 * hook that hangs or fails uses only its own share), connect and total timeouts, TLS verification on.
 * Each request carries X-Wapd-Event (the type), X-Wapd-Delivery (the attempt's id) and X-Wapd-Signature
 * ("sha256=" and the hex HMAC-SHA256 of the body with the hook's secret). A 2xx ends the delivery;
 * anything else, or no answer in time, is retried with exponential backoff and jitter (the first retry
 * within 2 s, then at most 60 s apart) until the delivery is max_age old, when it is marked failed. Every
 * attempt is logged. Deliveries live in the store, so they survive restarts: a delivery in flight when
 * the process dies is sent again (at least once; receivers de-duplicate by the event's id).
 *
 * Of the daemons sharing one database only the leader's sender looks for due deliveries and starts them
 * (store_is_leader); the others' stay idle, so each attempt is made by one daemon (an event committed
 * through another daemon is found at the leader's next look, within a second). A daemon that becomes
 * the leader is woken (hooks_sender_wake) and takes up every pending delivery at once, one that was in
 * flight on a leader that died included (sent again: at least once).
 */
#ifndef WAPD_HOOKS_H
#define WAPD_HOOKS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "err.h"
#include "store.h"

/* A hook create, filled by the api edge from a body it has shape-checked; every pointer is borrowed for
 * the call. events is an array of nevents filters (a type, "*", or "prefix.*"); description NULL: none. */
typedef struct {
    const char *url;
    const char *const *events;
    size_t nevents;
    const char *secret;
    bool active;
    const char *description;
} hooks_req_t;

/* A hook PATCH: only what was given. url and secret NULL: not given (the api edge refuses null for
 * them); events only with has_events; active only with has_active. description may be given as null,
 * which clears it: has_description with description NULL. */
typedef struct {
    const char *url;
    bool has_events;
    const char *const *events;
    size_t nevents;
    const char *secret;
    bool has_active;
    bool active;
    bool has_description;
    const char *description;
} hooks_patch_t;

/* CRUD. These check what the api edge's tables cannot (the URL's scheme, at least one event, valid
 * filters: 400 naming events[i]) and build the record from the struct. Records returned are the API's
 * view: never the secret. */
json_t *hooks_create(store_t *st, const hooks_req_t *req, err_t *err);
/* Applies a PATCH in a transaction of its own (nested in the caller's when one is open). */
json_t *hooks_update(store_t *st, const char *id, const hooks_patch_t *patch, int64_t expect_rev,
                     err_t *err);
int hooks_delete(store_t *st, const char *id, int64_t expect_rev, err_t *err);
/* The API's view of a stored hook (a new record without the secret). */
json_t *hooks_view(store_t *st, const json_t *rec, err_t *err);
/* The hook's attempts, oldest first (404 when there is no such hook). */
json_t *hooks_deliveries(store_t *st, const char *id, int64_t after, int limit, int64_t *next,
                         err_t *err);
/* Queues the event of attempt attempt_id for the hook again, due now. */
int hooks_redeliver(store_t *st, const char *id, const char *attempt_id, err_t *err);

typedef struct {
    int max_in_flight;       /* requests at once, all hooks (0: 512, room for 64 stuck hooks) */
    int per_hook;            /* requests at once to one hook (0: 8) */
    int64_t max_age_ms;      /* retried until a delivery is this old (0: 24 h) */
    long connect_timeout_ms; /* 0: 5000 */
    long timeout_ms;         /* the whole request (0: 10000) */
    const char *ca_file;     /* borrowed: CA bundle https receivers are verified against; NULL: the system's */
} hooks_options_t;

/* Starts and stops the sender thread. stop lets go of requests in flight; they stay pending. */
int hooks_sender_start(store_t *st, const hooks_options_t *opts, err_t *err);
void hooks_sender_stop(void);
/* Makes the sender look for due deliveries now (a daemon that has just become the leader: the sender
 * scans and sends only while store_is_leader). No-op when not started. */
void hooks_sender_wake(void);
/* Counters since start, for /metrics: attempts that succeeded, that failed, deliveries given up. */
void hooks_sender_stats(uint64_t *succeeded, uint64_t *failed, uint64_t *given_up);

/* Internal, for tests: the wait before retrying after failed attempt n (1-based), with jitter. */
int64_t hooks__backoff_ms(int64_t attempt);

#endif
