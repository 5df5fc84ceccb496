/*
 * events.c: the outbox of events (see events.h): the table of types, the hook filters that select among
 * them, and the write of one event with the change it describes.
 *
 * Invariants: every type in events_types is made of letters and dots only, so a filter's prefix never
 * holds a LIKE or GLOB wildcard; an event is written only inside the caller's transaction (or one of its
 * own), and the listener hears of it only after that commit.
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
    "vm.disk.attached",     "vm.disk.detached",     "vm.reassociated",
    "network.created",      "network.deleted",
    "vmrole.created",       "vmrole.deleted",       "vmrole.instanceJoined",
    "host.created",         "host.updated",         "host.deleted",
    "user.created",         "user.updated",         "user.suspended",
    "user.activated",       "user.deleted",
    "token.created",        "token.revoked",
    "adminToken.created",   "adminToken.revoked",
    "job.succeeded",        "job.canceled",
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

/* True when type is a known type that begins with the len characters of prefix. */
static bool
some_type_starts(const char *prefix, size_t len)
{
    size_t i;

    for (i = 0; events_types[i]; i++)
        if (strncmp(events_types[i], prefix, len) == 0)
            return true;
    return false;
}

bool
events_filter_valid(const char *filter)
{
    size_t len, i;

    if (filter == NULL)
        return false;
    if (strcmp(filter, "*") == 0 || events_type_known(filter))
        return true;
    len = strlen(filter);
    /* "x.*": at least one character before ".*", and nothing but letters and dots in it. */
    if (len < 3 || strcmp(filter + len - 2, ".*") != 0)
        return false;
    for (i = 0; i < len - 2; i++)
        if (!((filter[i] >= 'a' && filter[i] <= 'z') || (filter[i] >= 'A' && filter[i] <= 'Z') ||
              (filter[i] == '.' && i > 0 && filter[i - 1] != '.')))
            return false;
    return some_type_starts(filter, len - 1); /* the prefix with its dot names some type */
}

bool
events_filter_matches(const char *filter, const char *type)
{
    size_t len;

    assert(filter != NULL && type != NULL);
    if (strcmp(filter, "*") == 0 || strcmp(filter, type) == 0)
        return true;
    len = strlen(filter);
    return len >= 3 && strcmp(filter + len - 2, ".*") == 0 && strncmp(filter, type, len - 1) == 0;
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

    assert(st != NULL && type != NULL && events_type_known(type));
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
