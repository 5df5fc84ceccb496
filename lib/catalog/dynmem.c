/*
 * dynmem.c: dynamic memory values (see dynmem.h): their parse from a checked body, their check against a
 * startup memory, and their JSON form, which the API shows and the store keeps alike.
 *
 * One function checks the bounds for a size's create and a VM's create alike, so that both answer the same
 * 400 with the same target.
 */
#include "dynmem.h"

#include <assert.h>
#include <string.h>

static int64_t
bound(const json_t *j, const char *key)
{
    const json_t *v = json_object_get(j, key);

    return json_is_integer(v) ? (int64_t) json_integer_value(v) : 0;
}

void
catalog_dynmem_of(const json_t *j, catalog_dynmem_t *out)
{
    assert(out != NULL);
    memset(out, 0, sizeof(*out));
    if (!json_is_object(j))
        return;
    out->present = true;
    out->enabled = json_is_true(json_object_get(j, "enabled"));
    if (out->enabled) {
        out->minimum_mb = bound(j, "minimumMB");
        out->maximum_mb = bound(j, "maximumMB");
    }
}

int
catalog_dynmem_check(const catalog_dynmem_t *d, int64_t startup_mb, err_t *err)
{
    assert(d != NULL && startup_mb > 0);
    if (!d->present || !d->enabled)
        return 0;
    if (d->minimum_mb <= 0)
        return err_set(err, ERR_INVALID_REQUEST, "dynamicMemory.minimumMB",
                       "Enabled dynamic memory needs minimumMB.");
    if (d->maximum_mb <= 0)
        return err_set(err, ERR_INVALID_REQUEST, "dynamicMemory.maximumMB",
                       "Enabled dynamic memory needs maximumMB.");
    if (d->minimum_mb > startup_mb || d->minimum_mb > d->maximum_mb)
        return err_set(err, ERR_INVALID_REQUEST, "dynamicMemory.minimumMB",
                       "minimumMB (%lld) must not be above the startup memory (%lld MB) or maximumMB.",
                       (long long) d->minimum_mb, (long long) startup_mb);
    if (d->maximum_mb < startup_mb)
        return err_set(err, ERR_INVALID_REQUEST, "dynamicMemory.maximumMB",
                       "maximumMB (%lld) must not be below the startup memory (%lld MB).",
                       (long long) d->maximum_mb, (long long) startup_mb);
    return 0;
}

json_t *
catalog_dynmem_json(const catalog_dynmem_t *d)
{
    assert(d != NULL);
    if (!d->present)
        return json_null();
    if (!d->enabled)
        return json_pack("{s:b, s:n, s:n}", "enabled", 0, "minimumMB", "maximumMB");
    return json_pack("{s:b, s:I, s:I}", "enabled", 1, "minimumMB", (json_int_t) d->minimum_mb,
                     "maximumMB", (json_int_t) d->maximum_mb);
}

int
catalog_dynmem_from_json(const json_t *j, catalog_dynmem_t *out)
{
    catalog_dynmem_t d;

    assert(out != NULL);
    if (j != NULL && !json_is_null(j) &&
        (!json_is_object(j) || !json_is_boolean(json_object_get(j, "enabled"))))
        return -1;
    catalog_dynmem_of(j, &d);
    if (d.enabled && (d.minimum_mb <= 0 || d.maximum_mb < d.minimum_mb))
        return -1;
    *out = d;
    return 0;
}
