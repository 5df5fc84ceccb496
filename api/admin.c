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

/* Ready: the database answers, has room for writes, and the workers run. While the last write failed for
 * lack of room, the daemon's main loop tries a write of its own every second (store_write_probe), so
 * readiness comes back as soon as room does, without waiting for a client's write. */
void
api_ready_get(api_req_t *r)
{
    err_t err = {0};
    int db = store_ping(r->store, &err) == 0;
    int space = !store_storage_full(r->store);

    if (db && space && r->ctx->ready && job_engine_running()) {
        api_reply_json(r, 200, json_pack("{s:s}", "status", "ready"));
        return;
    }
    if (!space)
        r->retry_after = API_STORAGE_RETRY_AFTER_S;
    api_reply_json(r, 503,
                   json_pack("{s:s, s:{s:b, s:b, s:b}}", "status", "notReady", "checks", "database", db,
                             "storage", space, "workers", job_engine_running()));
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
