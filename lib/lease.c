/*
 * lease.c: leases on stored objects (see lease.h). The count lives in the record's _leases; every change is
 * a read and an update of the record in the caller's transaction, so two jobs that start or end at once
 * never lose a count (the write gate orders them).
 */
#include "lease.h"

#include <assert.h>
#include <string.h>

#include "jget.h"
#include "quota.h"

/* Adds delta to the record's lease count (never below 0). 1 when changed, 0 when the record is gone. */
static int
lease_add(store_t *st, const store_kind_t *kind, const char *id, int delta, err_t *err)
{
    json_t *rec = NULL;
    int64_t rev, n;
    int rc;

    assert(st != NULL && kind != NULL && id != NULL);
    assert(kind == &store_kind_snapshot || kind == &store_kind_private_image);
    rc = store_rec_lookup(st, kind, id, &rec, &rev, err);
    if (rc <= 0)
        return rc;
    n = json_integer_value(json_object_get(rec, "_leases")) + delta;
    json_object_set_new(rec, "_leases", json_integer(n < 0 ? 0 : n));
    rc = store_rec_update(st, kind, id, rec, rev, err) ? -1 : 1;
    json_decref(rec);
    return rc;
}

int
lease_take(store_t *st, const store_kind_t *kind, const char *id, err_t *err)
{
    int rc = lease_add(st, kind, id, 1, err);

    if (rc == 0)
        return err_set(err, ERR_NOT_FOUND, NULL, "The %s was not found.",
                       kind == &store_kind_snapshot ? "snapshot" : "image");
    return rc < 0 ? -1 : 0;
}

int
lease_give(store_t *st, const store_kind_t *kind, const char *id, err_t *err)
{
    return lease_add(st, kind, id, -1, err) < 0 ? -1 : 0;
}

int
lease_check_free(const json_t *rec, err_t *err)
{
    const char *state = jget_str(rec, "state");
    int64_t n = json_integer_value(json_object_get(rec, "_leases"));

    assert(rec != NULL);
    if (state != NULL && (strcmp(state, "creating") == 0 || strcmp(state, "copying") == 0))
        return err_set(err, ERR_CONFLICT, "lease", "It is still being made (%s); it can be deleted once it is ready or failed.",
                       state);
    if (n > 0)
        return err_set(err, ERR_CONFLICT, "lease",
                       "%lld running operation%s (a copy, or a VM or disk made from it) read%s it; it can be deleted once they end.",
                       (long long) n, n == 1 ? "" : "s", n == 1 ? "s" : "");
    return 0;
}

int
lease_release_holdings(store_t *st, json_t *rec, int64_t size_gb, err_t *err)
{
    int64_t d[STORE_QUOTAS] = {0};
    const char *host = jget_str(rec, "_hostId");

    assert(st != NULL && rec != NULL && size_gb >= 0);
    if (!json_is_true(json_object_get(rec, "_counted")))
        return 0;
    d[QUOTA_STORAGE] = -size_gb;
    /* A release always applies (store_host_allocate answers 1 only for growth). */
    if (quota_apply(st, jget_str(rec, "subscriptionId"), d, err) ||
        (host != NULL && store_host_allocate(st, host, 0, 0, -size_gb, err) < 0))
        return -1;
    return json_object_set_new(rec, "_counted", json_false()) ? err_set(err, ERR_INTERNAL, NULL, "Out of memory.") : 0;
}
