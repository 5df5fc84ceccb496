/*
 * record.c: hooks as records (see ../hooks.h): create, update and delete, the delivery log, redelivery.
 *
 * Invariants: a stored hook has an absolute http or https url and at least one event filter, each a known
 * type, "*", or a "prefix.*" of known types (events_filter_valid); it is built here from the request's
 * struct, field by field. Its secret never leaves this module except to the sender: every record answered
 * is hooks_view's, without it. A redelivery wakes the sender only once the transaction that queued it has
 * committed.
 */
#include "../hooks.h"
#include "hooks_internal.h"

#include <assert.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <curl/curl.h>

#include "../catalog.h"
#include "../events.h"
#include "../util.h"

/* 400 on url unless it is an absolute http or https URL with a host. */
static int
check_url(const char *url, err_t *err)
{
    CURLU *u = curl_url();
    char *scheme = NULL, *host = NULL;
    int rc = 0;

    if (u == NULL)
        return err_set(err, ERR_INTERNAL, NULL, "Out of memory.");
    if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
        (strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0))
        rc = err_set(err, ERR_INVALID_REQUEST, "url", "url must be an absolute http or https URL.");
    curl_free(scheme);
    curl_free(host);
    curl_url_cleanup(u);
    return rc;
}

/* 400 on events unless it names at least one filter, and each is a known type, "*", or a prefix of known
 * types ending in ".*" (the error names events[i]). */
static int
check_events(const char *const *events, size_t n, err_t *err)
{
    char target[32];
    size_t i;

    if (n == 0)
        return err_set(err, ERR_INVALID_REQUEST, "events",
                       "events must name at least one event type, or \"*\" for every type.");
    for (i = 0; i < n; i++) {
        assert(events[i] != NULL);
        if (!events_filter_valid(events[i])) {
            snprintf(target, sizeof(target), "events[%zu]", i);
            return err_set(err, ERR_INVALID_REQUEST, target,
                           "events[%zu] is not an event type, \"*\", or a prefix of types ending in "
                           "\".*\": %.64s.",
                           i, events[i]);
        }
    }
    return 0;
}

/* The events as the record keeps them (a JSON array), or NULL when out of memory. */
static json_t *
events_array(const char *const *events, size_t n)
{
    json_t *a = json_array();
    size_t i;

    for (i = 0; a != NULL && i < n; i++) {
        if (json_array_append_new(a, json_string(events[i]))) {
            json_decref(a);
            a = NULL;
        }
    }
    return a;
}

json_t *
hooks_view(store_t *st, const json_t *rec, err_t *err)
{
    json_t *v = json_deep_copy(rec);

    (void) st;
    if (v == NULL) {
        err_set(err, ERR_INTERNAL, NULL, "Out of memory.");
        return NULL;
    }
    json_object_del(v, "secret"); /* write-only */
    return v;
}

json_t *
hooks_create(store_t *st, const hooks_req_t *req, err_t *err)
{
    char id[UTIL_UUID_LEN + 1], now[UTIL_TIME_LEN + 1];
    json_t *rec, *view = NULL;

    assert(st != NULL && req != NULL && req->url != NULL && req->secret != NULL);
    assert(req->nevents == 0 || req->events != NULL);
    if (check_url(req->url, err) || check_events(req->events, req->nevents, err))
        return NULL;
    util_uuid(id);
    util_time_format(util_now_ms(), now);
    rec = json_pack("{s:s, s:s, s:o, s:s, s:b, s:s?, s:s, s:s}", "id", id, "url", req->url, "events",
                    events_array(req->events, req->nevents), "secret", req->secret, "active",
                    req->active, "description", req->description, "createdAt", now, "updatedAt",
                    now);
    if (rec == NULL) {
        err_set(err, ERR_INTERNAL, NULL, "Out of memory.");
        return NULL;
    }
    if (store_rec_insert(st, &store_kind_hook, rec, err) == 0)
        view = hooks_view(st, rec, err);
    json_decref(rec);
    return view;
}

/* Checks the fields patch gives and writes them into rec; updatedAt is set. */
static int
apply_patch(json_t *rec, const hooks_patch_t *patch, err_t *err)
{
    json_t *events = NULL;

    if ((patch->url != NULL && check_url(patch->url, err)) ||
        (patch->has_events && check_events(patch->events, patch->nevents, err)))
        return -1;
    if (patch->has_events && (events = events_array(patch->events, patch->nevents)) == NULL)
        return err_set(err, ERR_INTERNAL, NULL, "Out of memory.");
    if (patch->url != NULL)
        json_object_set_new(rec, "url", json_string(patch->url));
    if (events != NULL)
        json_object_set_new(rec, "events", events);
    if (patch->secret != NULL)
        json_object_set_new(rec, "secret", json_string(patch->secret));
    if (patch->has_active)
        json_object_set_new(rec, "active", json_boolean(patch->active));
    if (patch->has_description)
        json_object_set_new(rec, "description", patch->description != NULL
                                                    ? json_string(patch->description)
                                                    : json_null());
    catalog_record_touch(rec);
    return 0;
}

json_t *
hooks_update(store_t *st, const char *id, const hooks_patch_t *patch, int64_t expect_rev,
             err_t *err)
{
    int64_t rev = 0;
    json_t *rec, *view = NULL;

    assert(st != NULL && id != NULL && patch != NULL);
    assert(!patch->has_events || patch->nevents == 0 || patch->events != NULL);
    if (store_tx_begin(st, err))
        return NULL;
    rec = store_rec_get(st, &store_kind_hook, id, &rev, err);
    if (rec == NULL)
        goto out;
    if (expect_rev > 0 && rev != expect_rev) {
        err_set(err, ERR_PRECONDITION_FAILED, NULL,
                "The hook has changed since the ETag in If-Match was read.");
        goto out;
    }
    if (apply_patch(rec, patch, err) ||
        store_rec_update(st, &store_kind_hook, id, rec, expect_rev, err) ||
        store_tx_commit(st, err))
        goto out;
    view = hooks_view(st, rec, err);
    json_decref(rec);
    return view;
out:
    store_tx_rollback(st);
    json_decref(rec);
    return NULL;
}

int
hooks_delete(store_t *st, const char *id, int64_t expect_rev, err_t *err)
{
    assert(st != NULL && id != NULL);
    /* Its deliveries and their log go with it. */
    return store_rec_delete(st, &store_kind_hook, id, expect_rev, err);
}

json_t *
hooks_deliveries(store_t *st, const char *id, int64_t after, int limit, int64_t *next, err_t *err)
{
    json_t *hook = store_rec_get_shared(st, &store_kind_hook, id, NULL, err);

    if (hook == NULL)
        return NULL;
    json_decref(hook);
    return store_delivery_attempts(st, id, after, limit, next, err);
}

int
hooks_redeliver(store_t *st, const char *id, const char *attempt_id, err_t *err)
{
    json_t *hook = store_rec_get_shared(st, &store_kind_hook, id, NULL, err);

    assert(st != NULL && id != NULL && attempt_id != NULL);
    if (hook == NULL)
        return -1;
    json_decref(hook);
    if (store_delivery_requeue(st, id, attempt_id, util_now_ms(), err))
        return -1;
    return store_tx_on_commit(st, hooks__wake, NULL, err);
}
