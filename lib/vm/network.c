/*
 * network.c: tenant networks and the addresses their VMs take (see network.h). Creating one counts toward
 * the networks quota of the subscription's plan; deleting one is refused while a VM holds an address in it.
 * Which address a NIC gets is ipam.c's choice. Each change raises its event (network.created,
 * network.deleted) in its own transaction.
 */
#include "network.h"

#include <assert.h>
#include <stdio.h>
#include <string.h>

#include "../events.h"
#include "../jget.h"
#include "../quota.h"
#include "../util.h"
#include "../vm.h"
#include "ipam.h"
#include "vmrec.h"

int
network_nic_take(store_t *st, const char *sid, const char *network_id, const char *vm_id,
                 vm_nic_t *nic, err_t *err)
{
    json_t *net = NULL;
    int64_t ip;
    char text[IPAM_TEXT_LEN];
    int rc;

    assert(st != NULL && sid != NULL && network_id != NULL && vm_id != NULL && nic != NULL);
    assert(strlen(network_id) < sizeof(nic->network_id)); /* a UUID, checked at the api edge */
    rc = vmrec_lookup(st, &store_kind_network, network_id, "subscriptionId", sid, &net, err);
    if (rc <= 0) {
        if (rc == 0)
            err_set(err, ERR_INVALID_REQUEST, "networkId",
                    "networkId names no network of this subscription.");
        return -1;
    }
    rc = ipam_take(st, network_id, jget_str(net, "addressPrefix"), vm_id, &ip, err);
    json_decref(net);
    if (rc)
        return -1;
    ipam_format(ip, text);
    snprintf(nic->network_id, sizeof(nic->network_id), "%s", network_id);
    snprintf(nic->ip_address, sizeof(nic->ip_address), "%s", text);
    return 0;
}

/* A new network record, its fields in the order a GET shows them. */
static json_t *
new_record(const char *sid, const network_create_req_t *req)
{
    char id[UTIL_UUID_LEN + 1], now[UTIL_TIME_LEN + 1];

    util_uuid(id);
    util_time_format(util_now_ms(), now);
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "id", id, "subscriptionId", sid, "name",
                     req->name, "addressPrefix", req->address_prefix, "createdAt", now, "updatedAt",
                     now);
}

json_t *
network_create(store_t *st, const vm_ctx_t *ctx, const network_create_req_t *req, err_t *err)
{
    int64_t first, last, d[STORE_QUOTAS] = {0};
    json_t *rec = NULL;

    assert(st != NULL && ctx != NULL && ctx->sub != NULL && ctx->plan != NULL && req != NULL);
    assert(req->name != NULL && req->address_prefix != NULL);
    if (ipam_parse_prefix(req->address_prefix, &first, &last, err))
        return NULL;
    if (store_tx_begin(st, err))
        return NULL;
    if (vm_subscription_writable(ctx->sub, err))
        goto fail;
    d[QUOTA_NETWORKS] = 1;
    if (quota_reserve(st, ctx->sid, ctx->plan, d, err))
        goto fail;
    if ((rec = new_record(ctx->sid, req)) == NULL) {
        err_set(err, ERR_INTERNAL, NULL, "Out of memory.");
        goto fail;
    }
    if (store_rec_insert(st, &store_kind_network, rec, err) ||
        events_emit(st, "network.created", ctx->sid, jget_str(rec, "id"),
                    json_pack("{s:s, s:s}", "name", req->name, "addressPrefix", req->address_prefix),
                    err) ||
        store_tx_commit(st, err))
        goto fail;
    return rec;
fail:
    store_tx_rollback(st);
    json_decref(rec);
    return NULL;
}

int
network_delete(store_t *st, const vm_ctx_t *ctx, const char *id, int64_t expect_rev, err_t *err)
{
    int64_t used, rev = 0, d[STORE_QUOTAS] = {0};
    json_t *net;

    assert(st != NULL && ctx != NULL && ctx->sub != NULL && id != NULL && expect_rev >= 0);
    if (store_tx_begin(st, err))
        return -1;
    net = store_rec_get_where(st, &store_kind_network, id, "subscriptionId", ctx->sid, &rev, err);
    if (net == NULL)
        goto fail;
    if (expect_rev > 0 && rev != expect_rev) {
        err_set(err, ERR_PRECONDITION_FAILED, NULL, "The network has changed since the ETag was read.");
        goto fail;
    }
    if (vm_subscription_writable(ctx->sub, err))
        goto fail;
    used = store_ip_count(st, id, err);
    if (used < 0)
        goto fail;
    if (used > 0) {
        err_set(err, ERR_CONFLICT, NULL, "The network is in use by %lld VM address(es).",
                (long long) used);
        goto fail;
    }
    d[QUOTA_NETWORKS] = -1;
    if (store_rec_delete(st, &store_kind_network, id, 0, err) ||
        quota_apply(st, ctx->sid, d, err) ||
        events_emit(st, "network.deleted", ctx->sid, id,
                    json_pack("{s:s}", "name", jget_str(net, "name")), err) ||
        store_tx_commit(st, err))
        goto fail;
    json_decref(net);
    return 0;
fail:
    store_tx_rollback(st);
    json_decref(net);
    return -1;
}
