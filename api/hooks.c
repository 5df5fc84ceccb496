/*
 * hooks.c: the admin's hooks, their delivery log, and the events feed.
 *
 * A hook's secret is write-only: every answer shows the hook through hooks_view, which leaves it out.
 */
#include "internal.h"

#include <stdio.h>

#include "../lib/events.h"
#include "../lib/hooks.h"

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

void
api_admin_hooks_list(api_req_t *r)
{
    api_list_kind_views(r, &store_kind_hook, NULL, 0, hooks_view);
}

void
api_admin_hooks_create(api_req_t *r)
{
    err_t err = {0};
    json_t *body = api_body(r, hook_spec, false, false), *hook;
    const char *id;

    if (body == NULL)
        return;
    hook = hooks_create(r->store, body, &err);
    json_decref(body);
    if (hook == NULL) {
        api_reply_err(r, &err);
        return;
    }
    id = json_string_value(json_object_get(hook, "id"));
    snprintf(r->location, sizeof(r->location), "/v1/admin/hooks/%s", id);
    api_get_kind_view(r, &store_kind_hook, id, 201, hooks_view);
    json_decref(hook);
}

void
api_admin_hook_get(api_req_t *r)
{
    api_get_kind_view(r, &store_kind_hook, r->params[0], 200, hooks_view);
}

void
api_admin_hook_patch(api_req_t *r)
{
    err_t err = {0};
    int64_t rev;
    json_t *body, *hook;

    if (api_if_match(r, &rev) || (body = api_body(r, hook_patch_spec, true, false)) == NULL)
        return;
    hook = hooks_update(r->store, r->params[0], body, rev, &err);
    json_decref(body);
    if (hook == NULL) {
        api_reply_err(r, &err);
        return;
    }
    json_decref(hook);
    api_get_kind_view(r, &store_kind_hook, r->params[0], 200, hooks_view);
}

void
api_admin_hook_delete(api_req_t *r)
{
    err_t err = {0};
    int64_t rev;

    if (api_if_match(r, &rev))
        return;
    if (hooks_delete(r->store, r->params[0], rev, &err)) {
        api_reply_err(r, &err);
        return;
    }
    api_reply_no_content(r);
}

void
api_admin_hook_deliveries(api_req_t *r)
{
    int64_t after, next = 0;
    err_t err = {0};
    json_t *list;
    int limit;

    if (api_paging(r, &limit, &after))
        return;
    list = hooks_deliveries(r->store, r->params[0], after, limit, &next, &err);
    if (list == NULL) {
        api_reply_err(r, &err);
        return;
    }
    api_reply_page(r, list, limit, next);
}

void
api_admin_hook_redeliver(api_req_t *r)
{
    err_t err = {0};

    if (hooks_redeliver(r->store, r->params[0], r->params[1], &err)) {
        api_reply_err(r, &err);
        return;
    }
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
