/*
 * seed.c: fills a state dir with VMs through the store, not the API, for the benchmark's scale run.
 *
 *   seed DB SUBSCRIPTION N
 *
 * The subscription must already hold one VM, created through the API and running on its host: it is the
 * template. seed adds N copies of it, each a record as lib/vm writes one (vmrec_insert: the typed record
 * and its first timeline row) with an id, a name and a hypervisor id of its own, in bulk transactions of
 * BATCH VMs, placed batch by batch on the hosts of the template's cloud in turn (a host takes at most a
 * million cores). Each transaction also adds what its VMs hold to the subscription's quota counters and
 * to its host's allocation, so that counters and records agree (store_usage_recompute and
 * store_host_recompute find the same numbers) and every committed batch is a consistent state. The hosts
 * and the plan must have room for them: seed stops with an error when a batch does not fit.
 *
 * Prints "<seeded> <seconds> <VMs per second>". The daemon must not be running on DB meanwhile.
 */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../lib/quota.h"
#include "../lib/store.h"
#include "../lib/util.h"
#include "../lib/vm/vmrec.h"

#define BATCH 20000
#define MAX_HOSTS 64

typedef struct {
    char id[MAX_HOSTS][VM_REC_ID_MAX];
    size_t n;
} hosts_t;

/* The subscription's first VM, which must be running and hold what a created VM holds. */
static int
load_template(store_t *st, const char *sid, vm_rec_t *out, err_t *err)
{
    store_filter_t f = {.field = "subscriptionId", .op = STORE_FILTER_EQ, .value = sid};
    int64_t next = 0;
    json_t *page;
    int rc = -1;

    assert(st != NULL && sid != NULL && out != NULL);
    page = store_rec_list(st, &store_kind_vm, &f, 1, 0, 1, &next, err);
    if (page == NULL)
        return -1;
    if (json_array_size(page) != 1)
        err_set(err, ERR_NOT_FOUND, NULL, "The subscription has no VM to copy.");
    else if (vmrec_from_store(json_array_get(page, 0), out, err) == 0) {
        if (out->power != VM_POWER_RUNNING || !out->hold.holds_compute || !out->hold.counted)
            err_set(err, ERR_CONFLICT, NULL, "The subscription's first VM is not running.");
        else
            rc = 0;
    }
    json_decref(page);
    return rc;
}

/* The hosts of the cloud the template's host is in (at most MAX_HOSTS). */
static int
load_hosts(store_t *st, const vm_rec_t *tmpl, hosts_t *out, err_t *err)
{
    store_filter_t f = {.field = "cloudId", .op = STORE_FILTER_EQ};
    json_t *host, *all, *h;
    size_t i;

    assert(st != NULL && tmpl != NULL && out != NULL);
    if ((host = store_rec_get(st, &store_kind_host, tmpl->host_id, NULL, err)) == NULL)
        return -1;
    f.value = json_string_value(json_object_get(host, "cloudId"));
    all = f.value ? store_rec_list_all(st, &store_kind_host, &f, 1, err) : NULL;
    json_decref(host);
    if (all == NULL)
        return -1;
    out->n = 0;
    json_array_foreach(all, i, h) {
        if (out->n < MAX_HOSTS)
            snprintf(out->id[out->n++], VM_REC_ID_MAX, "%s", json_string_value(json_object_get(h, "id")));
    }
    json_decref(all);
    return 0;
}

/* Inserts n copies of tmpl (numbered from first), placed on host_id, and what they hold, in one
 * transaction. */
static int
seed_batch(store_t *st, const vm_rec_t *tmpl, const char *host_id, size_t first, size_t n, err_t *err)
{
    int64_t delta[STORE_QUOTAS] = {0};
    char now[UTIL_TIME_LEN + 1];
    vm_rec_t vm;
    size_t i;
    int rc;

    assert(st != NULL && tmpl != NULL);
    util_time_format(util_now_ms(), now);
    if (store_tx_begin_bulk(st, err))
        return -1;
    for (i = 0; i < n; i++) {
        vm = *tmpl;
        util_uuid(vm.id);
        snprintf(vm.host_id, sizeof(vm.host_id), "%s", host_id);
        snprintf(vm.name, sizeof(vm.name), "seed%07zu", first + i);
        snprintf(vm.hypervisor_id, sizeof(vm.hypervisor_id), "seed-%.36s", vm.id);
        snprintf(vm.created_at, sizeof(vm.created_at), "%s", now);
        snprintf(vm.updated_at, sizeof(vm.updated_at), "%s", now);
        if (vmrec_insert(st, &vm, err))
            goto fail;
    }
    delta[QUOTA_VMS] = (int64_t) n;
    delta[QUOTA_CORES] = (int64_t) n * tmpl->cores;
    delta[QUOTA_MEMORY] = (int64_t) n * tmpl->memory_mb;
    delta[QUOTA_STORAGE] = (int64_t) n * tmpl->hold.storage_gb;
    rc = store_usage_adjust(st, tmpl->subscription_id, delta, NULL, err);
    if (rc == 0)
        rc = store_host_allocate(st, host_id, delta[QUOTA_CORES], delta[QUOTA_MEMORY],
                                 tmpl->hold.holds_storage ? delta[QUOTA_STORAGE] : 0, err);
    if (rc > 0)
        err_set(err, ERR_CONFLICT, NULL, "The plan or host %s has no room for %zu more VMs.", host_id, n);
    if (rc != 0)
        goto fail;
    return store_tx_commit(st, err);
fail:
    store_tx_rollback(st);
    return -1;
}

int
main(int argc, char **argv)
{
    err_t err = {0};
    store_t *st;
    vm_rec_t tmpl;
    hosts_t hosts;
    struct timespec t0, t1;
    size_t n, done = 0, b;
    double secs;
    int rc = 1;

    if (argc != 4) {
        fprintf(stderr, "usage: seed DB SUBSCRIPTION N\n");
        return 2;
    }
    n = strtoull(argv[3], NULL, 10);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    st = store_open(argv[1], NULL, &err);
    if (st == NULL || load_template(st, argv[2], &tmpl, &err) || load_hosts(st, &tmpl, &hosts, &err))
        goto out;
    while (done < n) {
        b = n - done < BATCH ? n - done : BATCH;
        if (seed_batch(st, &tmpl, hosts.id[(done / BATCH) % hosts.n], done, b, &err))
            goto out;
        done += b;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    secs = (double) (t1.tv_sec - t0.tv_sec) + (double) (t1.tv_nsec - t0.tv_nsec) / 1e9;
    printf("%zu %.1f %.0f\n", done, secs, secs > 0 ? (double) done / secs : 0.0);
    rc = 0;
out:
    if (rc)
        fprintf(stderr, "seed: %s (after %zu VMs)\n", err.message, done);
    store_close(st);
    return rc;
}
