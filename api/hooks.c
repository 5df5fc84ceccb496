/*
 * hooks.c: the admin's hooks, their delivery log, and the events feed.
 *
 * Hooks are a resource served by the generic handlers of resource.c (api_res_hooks). Its create and update
 * slots point at the adapters below, which turn a body the field tables have already shape-checked into
 * the typed request of lib/hooks.h (borrowing the body's strings; the body outlives the call) and make the
 * one lib call. A hook's secret is write-only: every answer shows the hook through hooks_view, which
 * leaves it out.
 */
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>

#include "../lib/events.h"
#include "../lib/hooks.h"
#include "../lib/jget.h"

#define JV_END {NULL, 0, 0, 0, 0, NULL, NULL}

static const jv_field_t hook_spec[] = {
    {"url", JV_STRING, JV_REQUIRED, 1, 2048, NULL, NULL},
    {"events", JV_STRING_ARRAY, JV_REQUIRED, 1, 64, NULL, NULL},
    {"secret", JV_STRING, JV_REQUIRED, 1, 256, NULL, NULL},
    {"active", JV_BOOL, 0, 0, 0, NULL, NULL},
    {"description", JV_STRING, JV_NULLABLE, 0, 1024, NULL, NULL},
    JV_END,
};
static const jv_field_t hook_patch_spec[] = {
    {"url", JV_STRING, 0, 1, 2048, NULL, NULL},
    {"events", JV_STRING_ARRAY, 0, 1, 64, NULL, NULL},
    {"secret", JV_STRING, 0, 1, 256, NULL, NULL},
    {"active", JV_BOOL, 0, 0, 0, NULL, NULL},
    {"description", JV_STRING, JV_NULLABLE, 0, 1024, NULL, NULL},
    JV_END,
};

/* The events array of a checked body, as the borrowed string array a hook request carries: *out (freed by
 * the caller) points into body. -1 when out of memory. */
static int
events_of(const json_t *body, const char ***out, size_t *n, err_t *err)
{
    const json_t *events = json_object_get(body, "events"), *e;
    const char **a;
    size_t i;

    *n = json_array_size(events);
    a = calloc(*n > 0 ? *n : 1, sizeof(*a));
    if (a == NULL)
        return err_set(err, ERR_INTERNAL, NULL, "Out of memory.");
    json_array_foreach(events, i, e)
        a[i] = json_string_value(e);
    *out = a;
    return 0;
}

static json_t *
hook_create(store_t *st, const json_t *body, err_t *err)
{
    const json_t *active = json_object_get(body, "active");
    hooks_req_t req = {
        .url = jget_str(body, "url"),
        .secret = jget_str(body, "secret"),
        .active = active == NULL || json_is_true(active), /* active unless it says otherwise */
        .description = jget_str(body, "description"),     /* absent or null: none */
    };
    const char **events = NULL;
    json_t *view;

    if (events_of(body, &events, &req.nevents, err))
        return NULL;
    req.events = events;
    view = hooks_create(st, &req, err);
    free(events);
    return view;
}

static json_t *
hook_update(store_t *st, const char *id, const json_t *body, int64_t rev, err_t *err)
{
    const json_t *active = json_object_get(body, "active");
    hooks_patch_t patch = {
        .url = jget_str(body, "url"),
        .has_events = json_object_get(body, "events") != NULL,
        .secret = jget_str(body, "secret"),
        .has_active = active != NULL,
        .active = json_is_true(active),
        /* Given as null clears the description. */
        .has_description = json_object_get(body, "description") != NULL,
        .description = jget_str(body, "description"),
    };
    const char **events = NULL;
    json_t *view;

    if (patch.has_events && events_of(body, &events, &patch.nevents, err))
        return NULL;
    patch.events = events;
    view = hooks_update(st, id, &patch, rev, err);
    free(events);
    return view;
}

const api_resource_t api_res_hooks = {
    .kind = &store_kind_hook,
    .view = hooks_view,
    .create_spec = hook_spec,
    .create = hook_create,
    .patch_spec = hook_patch_spec,
    .update = hook_update,
    .remove = hooks_delete,
};

void
api_admin_hook_deliveries(api_req_t *r)
{
    api_list_keyed(r, hooks_deliveries, r->params[0]);
}

void
api_admin_hook_redeliver(api_req_t *r)
{
    err_t err = {0};

    if (hooks_redeliver(r->store, r->params[0], r->params[1], &err))
        api_reply_err(r, &err);
    else
        api_reply_json(r, 200, json_pack("{s:s, s:s}", "hookId", r->params[0], "redelivered",
                                         r->params[1]));
}

void
api_admin_events(api_req_t *r)
{
    int64_t pos, next = 0;
    err_t err = {0};
    json_t *list;
    int limit;

    if (api_feed_paging(r, "e1.", &limit, &pos))
        return;
    list = events_page(r->store, pos, limit, &next, &err);
    if (list == NULL) {
        api_reply_err(r, &err);
        return;
    }
    api_reply_feed(r, "e1.", list, next);
}
