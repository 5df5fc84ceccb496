/*
 * resource.c: the generic handlers of records: list, get, create, patch and delete, each driven by the
 * resource its route row names (r->route->res: the kind, its view, its list filters, its body tables and its
 * lib/ entry points), so that a route of a plain resource needs no handler of its own.
 *
 * Every answer shows a record as its view makes it (as stored when the resource has none) with its ETag; a
 * create answers 201 with Location naming the new record, read back the way a GET reads it; a PATCH or
 * DELETE honours If-Match. The record reads here are the pipeline's: inside the request's transaction.
 */
#include "internal.h"

#include <assert.h>
#include <stdio.h>
#include <string.h>

#define MAX_FILTERS 8

void
api_list_kind_views(api_req_t *r, const store_kind_t *kind, const store_filter_t *filters, size_t n,
                    api_view_fn view)
{
    int64_t after, next = 0;
    err_t err = {0};
    json_t *list, *views, *rec, *one;
    size_t i;
    int limit;

    if (api_paging(r, &limit, &after))
        return;
    list = store_rec_list(r->store, kind, filters, n, after, limit, &next, &err);
    if (list == NULL) {
        api_reply_err(r, &err);
        return;
    }
    if (view != NULL) {
        views = json_array();
        json_array_foreach(list, i, rec) {
            one = view(r->store, rec, &err);
            if (one == NULL) {
                json_decref(list);
                json_decref(views);
                api_reply_err(r, &err);
                return;
            }
            json_array_append_new(views, one);
        }
        json_decref(list);
        list = views;
    }
    api_reply_page(r, list, limit, next);
}

void
api_list_kind(api_req_t *r, const store_kind_t *kind, const store_filter_t *filters, size_t n)
{
    api_list_kind_views(r, kind, filters, n, NULL);
}

void
api_get_kind_view(api_req_t *r, const store_kind_t *kind, const char *id, int status,
                  api_view_fn view)
{
    err_t err = {0};
    int64_t rev = 0;
    /* Only serialized (or copied by the view): the shared (cached) record saves a copy. */
    json_t *rec = store_rec_get_shared(r->store, kind, id, &rev, &err), *one;

    if (rec != NULL && view != NULL) {
        one = view(r->store, rec, &err);
        json_decref(rec);
        rec = one;
    }
    if (rec == NULL) {
        api_reply_err(r, &err);
        return;
    }
    api_reply_record(r, status, rec, rev);
}

void
api_get_kind(api_req_t *r, const store_kind_t *kind, const char *id)
{
    api_get_kind_view(r, kind, id, 200, NULL);
}

size_t
api_query_filters(api_req_t *r, const char *const *fields, store_filter_t *f, size_t max)
{
    size_t n = 0;
    const char *value;

    for (; fields != NULL && *fields != NULL && n < max; fields++) {
        value = api_query(r, *fields);
        if (value != NULL)
            f[n++] = (store_filter_t){.field = *fields, .op = STORE_FILTER_EQ, .value = value};
    }
    return n;
}

/* The resource of the request's route; every generic handler needs one. */
static const api_resource_t *
resource_of(const api_req_t *r)
{
    assert(r->route != NULL && r->route->res != NULL && r->route->res->kind != NULL);
    return r->route->res;
}

void
api_resource_list(api_req_t *r)
{
    const api_resource_t *res = resource_of(r);
    store_filter_t f[MAX_FILTERS];
    size_t n = api_query_filters(r, res->filters, f, MAX_FILTERS);

    api_list_kind_views(r, res->kind, f, n, res->view);
}

void
api_resource_get(api_req_t *r)
{
    const api_resource_t *res = resource_of(r);

    api_get_kind_view(r, res->kind, r->params[0], 200, res->view);
}

void
api_resource_create(api_req_t *r)
{
    const api_resource_t *res = resource_of(r);
    err_t err = {0};
    json_t *body, *rec;
    const char *id;

    assert(res->create != NULL && strchr(r->route->pattern, '{') == NULL);
    if ((body = api_body(r, res->create_spec, false, false)) == NULL)
        return;
    rec = res->create(r->store, body, &err);
    json_decref(body);
    if (rec == NULL) {
        api_reply_err(r, &err);
        return;
    }
    id = json_string_value(json_object_get(rec, "id"));
    snprintf(r->location, sizeof(r->location), "%s/%s", r->route->pattern, id);
    api_get_kind_view(r, res->kind, id, 201, res->view);
    json_decref(rec);
}

void
api_resource_patch(api_req_t *r)
{
    const api_resource_t *res = resource_of(r);
    err_t err = {0};
    int64_t rev;
    json_t *body, *out;

    assert(res->update != NULL);
    if (api_if_match(r, &rev) || (body = api_body(r, res->patch_spec, true, false)) == NULL)
        return;
    out = res->update(r->store, r->params[0], body, rev, &err);
    json_decref(body);
    if (res->update_job || out == NULL) {
        api_reply_job(r, out, &err);
        return;
    }
    json_decref(out);
    api_get_kind_view(r, res->kind, r->params[0], 200, res->view);
}

void
api_resource_remove(api_req_t *r)
{
    const api_resource_t *res = resource_of(r);
    err_t err = {0};
    int64_t rev;

    assert(res->remove != NULL);
    if (api_if_match(r, &rev))
        return;
    if (res->remove(r->store, r->params[0], rev, &err)) {
        api_reply_err(r, &err);
        return;
    }
    api_reply_no_content(r);
}

void
api_list_keyed(api_req_t *r, api_keyed_lister_t lister, const char *key)
{
    int64_t after, next = 0;
    err_t err = {0};
    json_t *list;
    int limit;

    assert(r != NULL && lister != NULL && key != NULL);
    if (api_paging(r, &limit, &after))
        return;
    list = lister(r->store, key, after, limit, &next, &err);
    api_reply_page_or_err(r, list, limit, next, &err);
}
