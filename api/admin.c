/*
 * admin.c: the admin listener's health, readiness and metrics endpoints. The admin's resources are elsewhere:
 * the catalog (clouds, hosts, sizes, images, gallery items, plans) in catalog.c; users, their tokens and
 * subscriptions in accounts.c; hooks in hooks.c.
 */
#include "internal.h"

#include "../lib/job.h"

/* ---- health, readiness, metrics ---- */

void
api_health_get(api_req_t *r)
{
    api_reply_json(r, 200, json_pack("{s:s}", "status", "ok"));
}

void
api_ready_get(api_req_t *r)
{
    err_t err = {0};
    int db = store_ping(r->store, &err) == 0;

    if (db && r->ctx->ready && job_engine_running())
        api_reply_json(r, 200, json_pack("{s:s}", "status", "ready"));
    else
        api_reply_json(r, 503,
                       json_pack("{s:s, s:{s:b, s:b}}", "status", "notReady", "checks", "database",
                                 db, "workers", job_engine_running()));
}

void
api_metrics_get(api_req_t *r)
{
    char *text = api_metrics_render(r->store);

    if (text == NULL) {
        api_reply_error(r, ERR_INTERNAL, NULL, "The metrics could not be rendered.");
        return;
    }
    api_reply_text(r, 200, "text/plain; version=0.0.4; charset=utf-8", text);
}
