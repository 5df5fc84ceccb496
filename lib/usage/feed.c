/*
 * feed.c: what the usage close (usage.c) wrote, as the collectors read it: the WAP feed and its lastID
 * acknowledgement, the native records' pages and their acknowledgement, a subscription's totals, and the
 * purge the acknowledgements allow (see usage.h).
 *
 * The acknowledged positions (the native ack's, the WAP lastID's) only grow and never pass what the store
 * has handed out.
 */
#include "../usage.h"

#include <assert.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../jget.h"
#include "../util.h"

#define WAP_ACKED "usage.wapAckedId"       /* the highest EventId a lastID acknowledged */
#define NATIVE_ACKED "usage.ackedPosition" /* the highest position the native ack acknowledged */

json_t *
usage_wap(store_t *st, const char *last_id, int batch, err_t *err)
{
    int64_t id = 0, acked = 0, issued_pos, issued_id;
    int rc;

    assert(st != NULL && batch > 0);
    if (last_id && last_id[0] && util_parse_int64(last_id, false, &id)) {
        err_set(err, ERR_INVALID_REQUEST, "lastID", "lastID must be a whole EventId, or empty.");
        return NULL;
    }
    if (id > 0) {
        /* lastID acknowledges every record up to it, once it is known to be one handed out. */
        if (store_usage_issued(st, &issued_pos, &issued_id, err))
            return NULL;
        if (id > issued_id) {
            err_set(err, ERR_INVALID_REQUEST, "lastID",
                    "lastID is above the highest EventId issued; give the last EventId received.");
            return NULL;
        }
        rc = store_meta_get(st, WAP_ACKED, &acked, err);
        if (rc < 0)
            return NULL;
        if ((rc == 1 || id > acked) && store_meta_set(st, WAP_ACKED, id, err))
            return NULL;
    }
    return store_wap_usage_after(st, id, batch, err);
}

int
usage_ack(store_t *st, int64_t pos, err_t *err)
{
    int64_t acked = 0, issued_pos, issued_id;
    int rc;

    assert(st != NULL);
    if (store_usage_issued(st, &issued_pos, &issued_id, err))
        return -1;
    if (pos < 0 || pos > issued_pos)
        return err_set(err, ERR_INVALID_REQUEST, "cursor",
                       "cursor is beyond every record handed out; give a nextCursor as received.");
    rc = store_meta_get(st, NATIVE_ACKED, &acked, err);
    if (rc < 0)
        return -1;
    if ((rc == 1 || pos > acked) && store_meta_set(st, NATIVE_ACKED, pos, err))
        return -1;
    return 0;
}

json_t *
usage_page(store_t *st, int64_t after, int limit, int64_t *next, err_t *err)
{
    return store_usage_records(st, NULL, after, INT64_MIN, INT64_MAX, limit, next, err);
}

json_t *
usage_totals(store_t *st, const char *sid, int64_t from_ms, int64_t to_ms, err_t *err)
{
    json_t *meters = json_object(), *by_res = json_object(), *page, *r, *resources, *k;
    int64_t after = 0, last = 0;
    const char *key;
    char from[UTIL_TIME_LEN + 1], to[UTIL_TIME_LEN + 1];
    size_t i;

    assert(st != NULL);
    do {
        page = store_usage_records(st, sid, after, from_ms, to_ms, 1000, &last, err);
        if (page == NULL) {
            json_decref(meters);
            json_decref(by_res);
            return NULL;
        }
        json_array_foreach(page, i, r) {
            double q = json_real_value(json_object_get(r, "quantity"));
            json_object_set_new(meters, jget_str(r, "meter"),
                                json_real(json_real_value(json_object_get(meters, jget_str(r, "meter"))) +
                                          q));
            k = json_object_get(by_res, jget_str(r, "resourceId"));
            if (k == NULL) {
                k = json_object();
                json_object_set_new(by_res, jget_str(r, "resourceId"), k);
            }
            json_object_set_new(k, jget_str(r, "meter"),
                                json_real(json_real_value(json_object_get(k, jget_str(r, "meter"))) + q));
        }
        i = json_array_size(page);
        json_decref(page);
        after = last;
    } while (i == 1000);
    resources = json_array();
    json_object_foreach(by_res, key, k) {
        const char *m;
        json_t *q;
        json_object_foreach(k, m, q)
            json_array_append_new(resources,
                                  json_pack("{s:s, s:s, s:O, s:s}", "resourceId", key, "meter", m,
                                            "quantity", q, "unit",
                                            strncmp(m, "storage.", 8) == 0 ? "GB-hours"
                                                                           : "hours"));
    }
    json_decref(by_res);
    util_time_format(from_ms == INT64_MIN ? 0 : from_ms, from);
    util_time_format(to_ms == INT64_MAX ? util_now_ms() : to_ms, to);
    return json_pack("{s:s, s:s, s:o, s:o}", "from", from, "to", to, "meters", meters, "resources",
                     resources);
}

int64_t
usage_purge(store_t *st, int64_t retention_ms, int64_t now_ms, err_t *err)
{
    int64_t acked_pos = 0, acked_id = 0, n;
    int rc_pos = store_meta_get(st, NATIVE_ACKED, &acked_pos, err), rc_id;

    if (rc_pos < 0)
        return -1;
    rc_id = store_meta_get(st, WAP_ACKED, &acked_id, err);
    if (rc_id < 0)
        return -1;
    if (rc_pos == 1 && rc_id == 1)
        return 0; /* nothing acknowledged: nothing goes */
    if (store_tx_begin(st, err))
        return -1;
    n = store_usage_purge(st, rc_pos == 1 ? 0 : acked_pos, rc_id == 1 ? 0 : acked_id,
                          now_ms - retention_ms, err);
    if (n < 0 || store_tx_commit(st, err)) {
        store_tx_rollback(st);
        return -1;
    }
    return n;
}
