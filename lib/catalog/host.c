/*
 * host.c: the catalog's hosts (see catalog.h): create, update and delete.
 *
 * Invariants kept here:
 * - a host refers only to a cloud that exists (a clear 400 naming cloudId, backed by the schema's foreign
 *   key);
 * - a host's agent is of a kind the agent registry knows, with a uri its driver accepts (the kind's
 *   default when none is given); its token and CA file are kept with it (the token is never shown: the
 *   API's view drops it);
 * - on a store shared by several daemons (store_shared: PostgreSQL) every host's agent is a remote one
 *   (http, libvirt): a sim host lives inside one daemon, which the others could not see, so it is refused
 *   (400 naming agent.kind, saying what scale-out uses), when made and when its agent is changed;
 * - a new host is ok, seen now, and holds nothing; its capacity never drops below what its VMs hold (409
 *   naming the capacity field);
 * - a host with VMs is not deleted (409 Conflict);
 * - every create, update and delete raises its event (host.created, host.updated, host.deleted; no
 *   subscription) in the transaction that writes it.
 */
#include "catalog_internal.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../agent.h"
#include "../events.h"
#include "../jget.h"

/* The registry's word on an agent's kind and uri, as the catalog's error: 400 naming agent.kind or
 * agent.uri; on a shared store, an agent that is not remote is refused too (400 naming agent.kind). */
static int
check_agent(store_t *st, const char *kind, const char *uri, err_t *err)
{
    const char *const *kinds = agent_kinds();
    char known[128] = "";
    agent_err_t aerr;
    size_t i;

    if (!agent_kind_known(kind)) {
        for (i = 0; kinds[i] != NULL; i++)
            snprintf(known + strlen(known), sizeof(known) - strlen(known), "%s%s", i ? ", " : "",
                     kinds[i]);
        return err_set(err, ERR_INVALID_REQUEST, "agent.kind", "agent.kind must be one of: %s.",
                       known);
    }
    if (store_shared(st) && !agent_kind_remote(kind))
        return err_set(err, ERR_INVALID_REQUEST, "agent.kind",
                       "A %s host lives inside one daemon, and this %s store is shared by several daemons, "
                       "which could not see it: scale-out uses http hosts (wapd-agent, which serves a "
                       "simulated host with --backend sim) or libvirt hosts.",
                       kind, store_backend_name(st));
    if (agent_check_uri(kind, uri, &aerr) != 0)
        return err_set(err, ERR_INVALID_REQUEST, "agent.uri", "agent.uri is not valid for a %s host: %s",
                       kind, aerr.message);
    return 0;
}

/* Sets the agent's optional secret and CA file into the record's agent object (NULL: removed). */
static void
set_optional(json_t *agent, const char *key, const char *value)
{
    if (value != NULL)
        json_object_set_new(agent, key, json_string(value));
    else
        json_object_del(agent, key);
}

/* Writes host record rec (taken) and raises type about it with data (stolen), in a transaction of its own
 * (nested in the caller's when one is open): a new record when id is NULL, else an update of id at
 * revision expect_rev. The record as written, or NULL with err. */
static json_t *
write_with_event(store_t *st, const char *id, json_t *rec, int64_t expect_rev, const char *type,
                 json_t *data, err_t *err)
{
    assert(st != NULL && type != NULL);
    if (store_tx_begin(st, err)) {
        json_decref(rec);
        json_decref(data);
        return NULL;
    }
    rec = id != NULL ? catalog__update_or_free(st, &store_kind_host, id, rec, expect_rev, err)
                     : catalog__insert_or_free(st, &store_kind_host, rec, err);
    if (rec == NULL)
        json_decref(data);
    if (rec != NULL && events_emit(st, type, NULL, jget_str(rec, "id"), data, err) == 0 &&
        store_tx_commit(st, err) == 0)
        return rec;
    store_tx_rollback(st);
    json_decref(rec);
    return NULL;
}

/* What a host.updated event says changed: the patched fields' names (never a token's value). */
static json_t *
changed_fields(const json_t *rec, unsigned given)
{
    static const struct {
        unsigned bit;
        const char *name;
    } names[] = {
        {CATALOG_HOST_NAME, "name"},
        {CATALOG_HOST_STATE, "state"},
        {CATALOG_HOST_AGENT_URI, "agent.uri"},
        {CATALOG_HOST_AGENT_TOKEN, "agent.token"},
        {CATALOG_HOST_AGENT_CA_FILE, "agent.caFile"},
        {CATALOG_HOST_CORES, "capacity.cores"},
        {CATALOG_HOST_MEMORY_MB, "capacity.memoryMB"},
        {CATALOG_HOST_STORAGE_GB, "capacity.storageGB"},
    };
    json_t *changed = json_array();
    size_t i;

    for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (given & names[i].bit)
            json_array_append_new(changed, json_string(names[i].name));
    return json_pack("{s:o, s:s, s:O}", "changed", changed, "state", jget_str(rec, "state"),
                     "capacity", json_object_get(rec, "capacity"));
}

json_t *
catalog_host_create(store_t *st, const catalog_host_req_t *req, err_t *err)
{
    json_t *rec;

    assert(req != NULL && req->name != NULL && req->cloud_id != NULL);
    if (catalog__require_exists(st, &store_kind_cloud, req->cloud_id, "cloudId", "cloud", err))
        return NULL;
    if (check_agent(st, req->agent_kind, req->agent_uri, err))
        return NULL;
    rec = catalog__record_take(json_pack(
        "{s:s, s:s, s:{s:s, s:s}, s:{s:I, s:I, s:I}, s:{s:i, s:i, s:i}, s:s}", "name", req->name,
        "cloudId", req->cloud_id, "agent", "kind", req->agent_kind, "uri",
        req->agent_uri != NULL ? req->agent_uri : agent_default_uri(req->agent_kind), "capacity", "cores",
        (json_int_t) req->capacity.cores, "memoryMB", (json_int_t) req->capacity.memory_mb,
        "storageGB", (json_int_t) req->capacity.storage_gb, "allocated", "cores", 0, "memoryMB", 0,
        "storageGB", 0, "state", catalog_host_state_name(CATALOG_HOST_OK)));
    if (rec != NULL) {
        json_object_set(rec, "lastSeenAt", json_object_get(rec, "createdAt"));
        set_optional(json_object_get(rec, "agent"), "token", req->agent_token);
        set_optional(json_object_get(rec, "agent"), "caFile", req->agent_ca_file);
    } else {
        err_set(err, ERR_INTERNAL, NULL, "Out of memory.");
        return NULL;
    }
    return write_with_event(st, NULL, rec, 0, "host.created",
                            json_pack("{s:s, s:s}", "name", req->name, "cloudId", req->cloud_id), err);
}

/* The capacity fields: their bits in a patch and their keys in the record. */
static const struct {
    unsigned bit;
    const char *key;
} cap_fields[] = {
    {CATALOG_HOST_CORES, "cores"},
    {CATALOG_HOST_MEMORY_MB, "memoryMB"},
    {CATALOG_HOST_STORAGE_GB, "storageGB"},
};
#define NCAP (sizeof(cap_fields) / sizeof(cap_fields[0]))

/* Sets the capacity fields patch gives into rec, then refuses (409 naming the field) a capacity below
 * what rec's VMs hold. */
static int
patch_capacity(json_t *rec, const catalog_host_patch_t *patch, err_t *err)
{
    const int64_t values[NCAP] = {patch->capacity.cores, patch->capacity.memory_mb,
                                  patch->capacity.storage_gb};
    json_t *cap = json_object_get(rec, "capacity"), *alloc = json_object_get(rec, "allocated");
    char target[48];
    size_t i;

    for (i = 0; i < NCAP; i++)
        if (patch->given & cap_fields[i].bit)
            json_object_set_new(cap, cap_fields[i].key, json_integer(values[i]));
    for (i = 0; i < NCAP; i++) {
        if (json_integer_value(json_object_get(cap, cap_fields[i].key)) <
            json_integer_value(json_object_get(alloc, cap_fields[i].key))) {
            snprintf(target, sizeof(target), "capacity.%s", cap_fields[i].key);
            return err_set(err, ERR_CONFLICT, target,
                           "The new %s is less than what the host's VMs already hold.", target);
        }
    }
    return 0;
}

json_t *
catalog_host_update(store_t *st, const char *id, const catalog_host_patch_t *patch,
                    int64_t expect_rev, err_t *err)
{
    json_t *rec, *agent;
    const char *kind;

    assert(patch != NULL && (!(patch->given & CATALOG_HOST_NAME) || patch->name != NULL));
    rec = catalog__get_for_update(st, &store_kind_host, id, expect_rev, err);
    if (rec == NULL)
        return NULL;
    if (patch->given & CATALOG_HOST_NAME)
        json_object_set_new(rec, "name", json_string(patch->name));
    if (patch->given & CATALOG_HOST_STATE)
        json_object_set_new(rec, "state", json_string(catalog_host_state_name(patch->state)));
    agent = json_object_get(rec, "agent");
    kind = jget_str(agent, "kind");
    if (patch->given & CATALOG_HOST_AGENT_URI) {
        if (check_agent(st, kind, patch->agent_uri, err))
            goto fail;
        json_object_set_new(agent, "uri", json_string(patch->agent_uri != NULL
                                                          ? patch->agent_uri
                                                          : agent_default_uri(kind)));
    }
    if (patch->given & CATALOG_HOST_AGENT_TOKEN)
        set_optional(agent, "token", patch->agent_token);
    if (patch->given & CATALOG_HOST_AGENT_CA_FILE)
        set_optional(agent, "caFile", patch->agent_ca_file);
    if (patch_capacity(rec, patch, err))
        goto fail;
    catalog_record_touch(rec);
    return write_with_event(st, id, rec, expect_rev, "host.updated", changed_fields(rec, patch->given),
                            err);
fail:
    json_decref(rec);
    return NULL;
}

int
catalog_host_delete(store_t *st, const char *id, int64_t expect_rev, err_t *err)
{
    assert(st != NULL && id != NULL);
    if (store_tx_begin(st, err))
        return -1;
    /* Every VM placed there counts, deallocated ones too: their disks live on the host. */
    if (catalog__delete_unless_used(st, &store_kind_host, id, &store_kind_vm, "hostId",
                                    "VMs live on this host; move or delete them first.", expect_rev,
                                    err) ||
        events_emit(st, "host.deleted", NULL, id, NULL, err) || store_tx_commit(st, err)) {
        store_tx_rollback(st);
        return -1;
    }
    return 0;
}
