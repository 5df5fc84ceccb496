/*
 * hooks.c: the admin's hooks, their delivery log, and the events feed.
 *
 * Hooks are a resource served by the generic handlers of resource.c (api_res_hooks). A hook's secret is
 * write-only: every answer shows the hook through hooks_view, which leaves it out.
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

const api_resource_t api_res_hooks = {
    .kind = &store_kind_hook,
    .view = hooks_view,
    .create_spec = hook_spec,
    .create = hooks_create,
    .patch_spec = hook_patch_spec,
    .update = hooks_update,
    .remove = hooks_delete,
};

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
