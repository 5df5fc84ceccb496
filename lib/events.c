/*
 * events.c: the outbox of events (see events.h).
 */
#include "events.h"

#include <assert.h>
#include <string.h>

#include "util.h"

const char *const events_types[] = {
    "vm.created",           "vm.deleted",           "vm.powerStateChanged",
    "vm.resized",           "vm.missing",           "vm.checkpoint.created",
    "vm.checkpoint.restored", "vm.checkpoint.deleted", "vmrole.scaled",
    "subscription.created", "subscription.suspended", "subscription.activated",
    "subscription.deleted", "plan.updated",         "job.failed",
    "host.unreachable",     "host.reachable",       "vm.generalized",
    "vm.migrated",          "image.created",        "image.deleted",
    "snapshot.created",     "snapshot.copied",      "snapshot.deleted",
    "user.updated",         "user.suspended",       "user.activated",       "user.deleted",
    NULL,
};

static void (*listener)(void *arg);
static void *listener_arg;

bool
events_type_known(const char *type)
{
    size_t i;

    for (i = 0; type && events_types[i]; i++)
        if (strcmp(events_types[i], type) == 0)
            return true;
    return false;
}

void
events_set_listener(void (*fn)(void *arg), void *arg)
{
    __atomic_store_n(&listener_arg, arg, __ATOMIC_RELEASE);
    __atomic_store_n(&listener, fn, __ATOMIC_RELEASE);
}

static void
notify(void *arg)
{
    void (*fn)(void *) = __atomic_load_n(&listener, __ATOMIC_ACQUIRE);

    (void) arg;
    if (fn)
        fn(__atomic_load_n(&listener_arg, __ATOMIC_ACQUIRE));
}

int
events_emit(store_t *st, const char *type, const char *sid, const char *resource_id, json_t *data,
            err_t *err)
{
    char id[UTIL_UUID_LEN + 1], at[UTIL_TIME_LEN + 1];
    int64_t now = util_now_ms();
    json_t *ev;
    int rc;

    assert(st != NULL && type != NULL);
    util_uuid_v7(now, id);
    util_time_format(now, at);
    ev = json_pack("{s:s, s:s, s:s, s:s?, s:s?, s:o}", "id", id, "type", type, "occurredAt", at,
                   "subscriptionId", sid, "resourceId", resource_id, "data",
                   data ? data : json_object());
    if (ev == NULL)
        return err_set(err, ERR_INTERNAL, NULL, "Out of memory.");
    rc = store_event_add(st, ev, now, err);
    json_decref(ev);
    if (rc)
        return -1;
    return store_tx_on_commit(st, notify, NULL, err);
}

json_t *
events_page(store_t *st, int64_t after, int limit, int64_t *next, err_t *err)
{
    assert(st != NULL && next != NULL);
    return store_events_after(st, after, limit, next, err);
}

int64_t
events_purge(store_t *st, int64_t retention_ms, int64_t now_ms, err_t *err)
{
    return store_events_purge(st, now_ms - retention_ms, err);
}
