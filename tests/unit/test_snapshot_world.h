/*
 * test_snapshot_world.h: the world of test_snapshot.c, and its helpers.
 *
 * The hosts are of a test kind, "snapsim": the simulator for every VM call, and volumes kept here, so that a
 * test decides how a copy goes (a quarter of the bytes per poll, held where it is, or a permanent failure
 * that leaves a partial volume) and counts the volumes deleted. The world: cloud c1 (the plan's, one host),
 * c2 (a replica cloud of the plan, one host) and c3 (not allowed, one host), a plan with storageGB 200,
 * a subscription, and the job engine running. Include after <cmocka.h> and "fixture.h".
 */
#ifndef WAPD_TEST_SNAPSHOT_WORLD_H
#define WAPD_TEST_SNAPSHOT_WORLD_H

#include <pthread.h>

#include "test_vm_world.h"

#include "../../lib/jget.h"
#include "../../lib/lease.h"
#include "../../lib/snapshot.h"

/* ---- the snapsim agent ---- */

#define FAKE_VOLUMES 32

typedef struct {
    char id[AGENT_ID_MAX];
    int64_t copied, total; /* a copy's bytes; copied == total when whole */
} fake_volume_t;

typedef struct {
    agent_t *inner;
    pthread_mutex_t lock;
    fake_volume_t vols[FAKE_VOLUMES];
} fake_t;

static bool fake_fail_copies; /* every copy answers a permanent error */
static bool fake_hold_copies; /* every copy stays pending where it is */
static int fake_deletes;      /* volumes deleted */

static int
fake_check_uri(const char *uri, agent_err_t *err)
{
    return agent_check_uri("sim", uri, err);
}

static int
fake_open(const agent_conf_t *conf, void **priv, agent_err_t *err)
{
    fake_t *f = calloc(1, sizeof(*f));

    f->inner = agent_open("sim", conf, err);
    if (f->inner == NULL) {
        free(f);
        return -1;
    }
    pthread_mutex_init(&f->lock, NULL);
    *priv = f;
    return 0;
}

static void
fake_close(void *priv)
{
    fake_t *f = priv;

    agent_close(f->inner);
    pthread_mutex_destroy(&f->lock);
    free(f);
}

static int
fake_vm_create(void *priv, const agent_call_t *call, const agent_vm_spec_t *spec,
               char hyp[AGENT_ID_MAX], agent_err_t *err)
{
    return agent_vm_create(((fake_t *) priv)->inner, call, spec, hyp, err);
}

static int
fake_vm_delete(void *priv, const agent_call_t *call, const char *hyp, agent_err_t *err)
{
    return agent_vm_delete(((fake_t *) priv)->inner, call, hyp, err);
}

static int
fake_vm_power(void *priv, const agent_call_t *call, const char *hyp, agent_power_op_t op,
              agent_err_t *err)
{
    return agent_vm_power(((fake_t *) priv)->inner, call, hyp, op, err);
}

static int
fake_inventory(void *priv, const agent_call_t *call, agent_vm_list_t *vms, agent_err_t *err)
{
    return agent_inventory(((fake_t *) priv)->inner, call, vms, err);
}

/* The volume of that id (lock held), or with add a new one; NULL when none. */
static fake_volume_t *
fake_volume(fake_t *f, const char *id, bool add)
{
    size_t i;

    for (i = 0; i < FAKE_VOLUMES; i++)
        if (strcmp(f->vols[i].id, id) == 0)
            return &f->vols[i];
    for (i = 0; add && i < FAKE_VOLUMES; i++) {
        if (f->vols[i].id[0] == '\0') {
            snprintf(f->vols[i].id, sizeof(f->vols[i].id), "%s", id);
            return &f->vols[i];
        }
    }
    return NULL;
}

static int
fake_volume_snapshot(void *priv, const agent_call_t *call, const char *hyp, int lun,
                     const char *volume_id, int64_t *size_gb, agent_err_t *err)
{
    fake_t *f = priv;
    agent_call_t inv = {"inventory", 0, NULL};
    agent_vm_list_t list = {0};
    const agent_vm_info_t *vm;
    int i, size = -1;

    (void) call;
    if (agent_inventory(f->inner, &inv, &list, err))
        return -1;
    vm = agent_vm_list_find(&list, hyp);
    for (i = 0; vm != NULL && i < vm->ndisks; i++)
        if (vm->disks[i].lun == lun)
            size = vm->disks[i].size_gb;
    agent_vm_list_free(&list);
    if (size < 0)
        return agent_fail(err, AGENT_ERR_NOT_FOUND, "No such disk.");
    pthread_mutex_lock(&f->lock);
    fake_volume(f, volume_id, true)->total = size;
    fake_volume(f, volume_id, true)->copied = size;
    pthread_mutex_unlock(&f->lock);
    *size_gb = size;
    return 0;
}

/* A quarter of the bytes per call: pending with progress until whole (or a permanent failure, with a
 * partial volume left behind). */
static int
fake_volume_copy(void *priv, const agent_call_t *call, const agent_volume_src_t *src,
                 const char *volume_id, agent_err_t *err)
{
    fake_t *f = priv;
    fake_volume_t *v;
    int rc = 0;

    pthread_mutex_lock(&f->lock);
    v = fake_volume(f, volume_id, true);
    v->total = src->size_gb << 30;
    v->copied += fake_hold_copies ? 0 : v->total / 4;
    if (v->copied > v->total)
        v->copied = v->total;
    if (call->progress != NULL) {
        call->progress->bytes_copied = v->copied;
        call->progress->bytes_total = v->total;
    }
    if (fake_fail_copies) /* part of it made */
        rc = agent_fail(err, AGENT_ERR_PERMANENT, "The copy broke.");
    else if (v->copied < v->total)
        rc = agent_fail(err, AGENT_PENDING, "Copying.");
    pthread_mutex_unlock(&f->lock);
    return rc;
}

static int
fake_volume_delete(void *priv, const agent_call_t *call, const char *volume_id, agent_err_t *err)
{
    fake_t *f = priv;
    fake_volume_t *v;

    (void) call;
    pthread_mutex_lock(&f->lock);
    v = fake_volume(f, volume_id, false);
    if (v != NULL) {
        memset(v, 0, sizeof(*v));
        fake_deletes++;
    }
    pthread_mutex_unlock(&f->lock);
    return v != NULL ? 0 : agent_fail(err, AGENT_ERR_NOT_FOUND, "No such volume.");
}

static const agent_driver_t fake_driver = {
    .name = "snapsim",
    .default_uri = "sim://",
    .journals = true, /* the inner simulator journals its own calls; volumes are keyed by id */
    .check_uri = fake_check_uri,
    .open = fake_open,
    .close = fake_close,
    .vm_create = fake_vm_create,
    .vm_delete = fake_vm_delete,
    .vm_power = fake_vm_power,
    .inventory = fake_inventory,
    .volume_snapshot = fake_volume_snapshot,
    .volume_copy = fake_volume_copy,
    .volume_delete = fake_volume_delete,
};

/* ---- the world ---- */

typedef struct {
    world_t w; /* first: world_teardown frees the whole */
    json_t *cloud2, *host2, *cloud3, *host3;
} snap_world_t;

static json_t *
make_host(store_t *st, const char *name, const json_t *cloud, int storage_gb)
{
    return make(api_catalog_host_create, st,
                json_pack("{s:s, s:s, s:{s:s}, s:{s:i, s:i, s:i}}", "name", name, "cloudId",
                          id_of(cloud), "agent", "kind", "snapsim", "capacity", "cores", 16,
                          "memoryMB", 65536, "storageGB", storage_gb));
}

static int
snap_setup(void **state)
{
    snap_world_t *sw = calloc(1, sizeof(*sw));
    world_t *w = &sw->w;
    err_t err = {0};
    store_t *st;

    setup(state);
    w->f = *state;
    st = w->f->st;
    fake_fail_copies = fake_hold_copies = false;
    fake_deletes = 0;
    hostreg_init(w->f->dir);
    if (!agent_kind_known("snapsim"))
        assert_int_equal(agent_register(&fake_driver), 0);
    assert_int_equal(vm_jobs_register(), 0);
    assert_int_equal(snapshot_jobs_register(), 0);
    assert_int_equal(accounts_jobs_register(), 0);
    w->cloud = make(api_catalog_cloud_create, st, json_pack("{s:s}", "name", "c1"));
    sw->cloud2 = make(api_catalog_cloud_create, st, json_pack("{s:s}", "name", "c2"));
    sw->cloud3 = make(api_catalog_cloud_create, st, json_pack("{s:s}", "name", "c3"));
    w->host = make_host(st, "h1", w->cloud, 1000);
    sw->host2 = make_host(st, "h2", sw->cloud2, 1000);
    sw->host3 = make_host(st, "h3", sw->cloud3, 1000);
    w->small = make(api_catalog_size_create, st,
                    json_pack("{s:s, s:i, s:i}", "name", "S", "cores", 2, "memoryMB", 2048));
    w->image = make(api_catalog_image_create, st,
                    json_pack("{s:s, s:s, s:i, s:i}", "name", "i", "osType", "Linux", "generation", 2,
                              "osDiskGB", 30));
    w->plan = make(api_catalog_plan_create, st,
                   json_pack("{s:s, s:s, s:[s], s:{s:i}}", "name", "p", "cloudId", id_of(w->cloud),
                             "replicaCloudIds", id_of(sw->cloud2), "quotas", "storageGB", 200));
    w->user = make_user(st, "t@example.com");
    w->sub = make_subscription(st, w->user, w->plan);
    assert_int_equal(job_engine_start(st, 2, &err), 0);
    *state = sw;
    return 0;
}

static int
snap_teardown(void **state)
{
    snap_world_t *sw = *state;

    job_engine_stop();
    json_decref(sw->cloud2);
    json_decref(sw->host2);
    json_decref(sw->cloud3);
    json_decref(sw->host3);
    sw->cloud2 = sw->host2 = sw->cloud3 = sw->host3 = NULL;
    *state = &sw->w;
    return world_teardown(state);
}

/* ---- helpers ---- */

static int64_t
storage_used(world_t *w)
{
    int64_t u[STORE_QUOTAS];
    err_t err = {0};

    assert_int_equal(store_usage_get(w->f->st, id_of(w->sub), u, &err), 0);
    return u[3];
}

static int64_t
host_allocated(world_t *w, const json_t *host)
{
    err_t err = {0};
    json_t *h = store_rec_get(w->f->st, &store_kind_host, id_of(host), NULL, &err);
    int64_t n = jget_int(json_object_get(h, "allocated"), "storageGB");

    json_decref(h);
    return n;
}

/* The counters agree with what the records say. */
static void
assert_counters_true(snap_world_t *sw)
{
    const json_t *hosts[] = {sw->w.host, sw->host2, sw->host3};
    int64_t u[STORE_QUOTAS], h[3];
    err_t err = {0};
    size_t i;

    assert_int_equal(store_usage_recompute(sw->w.f->st, id_of(sw->w.sub), u, &err), 0);
    assert_int_equal(u[3], storage_used(&sw->w));
    for (i = 0; i < 3; i++) {
        assert_int_equal(store_host_recompute(sw->w.f->st, id_of(hosts[i]), h, &err), 0);
        assert_int_equal(h[2], host_allocated(&sw->w, hosts[i]));
    }
}

/* Waits for the job (released) to succeed, saying why it did not. */
static void
wait_ok(store_t *st, json_t *job)
{
    json_t *done;

    assert_non_null(job);
    done = world_wait(st, job);
    if (strcmp(jget_str(done, "status"), "succeeded") != 0)
        fail_msg("job %s %s: %s", jget_str(done, "kind"), jget_str(done, "status"),
                 jget_str(json_object_get(done, "error"), "message"));
    json_decref(done);
    json_decref(job);
}

/* A VM with a 10 GB data disk at lun 2, running; its id into out. */
static void
vm_with_disk(world_t *w, char *out)
{
    store_t *st = w->f->st;
    vm_create_req_t req = {0};
    err_t err = {0};
    json_t *vm, *job = NULL;

    req.name = "v";
    req.image_id = id_of(w->image);
    req.size = "S";
    req.ndisks = 1;
    req.disks[0].size_gb = 10;
    req.disks[0].lun = 2;
    assert_int_equal(store_tx_begin(st, &err), 0);
    vm = vm_create(st, world_ctx(w), &req, &job, &err);
    if (vm == NULL)
        fail_msg("create failed: %s", err.message);
    assert_int_equal(store_tx_commit(st, &err), 0);
    snprintf(out, UTIL_UUID_LEN + 1, "%s", id_of(vm));
    json_decref(vm);
    wait_ok(st, job);
}

/* Takes a snapshot (lun < 0: the OS disk); answers its view, the job in *job; NULL with err. */
static json_t *
take(world_t *w, const char *vm_id, int lun, json_t **job, err_t *err)
{
    snapshot_create_req_t req = {"s", vm_id, lun >= 0, lun};

    return snapshot_create(w->f->st, world_ctx(w), &req, job, err);
}

/* A ready snapshot of the VM's disk at lun; its id into out. */
static void
ready_snapshot(world_t *w, const char *vm_id, int lun, char *out)
{
    err_t err = {0};
    json_t *job = NULL, *s = take(w, vm_id, lun, &job, &err);

    if (s == NULL)
        fail_msg("snapshot failed: %s", err.message);
    snprintf(out, UTIL_UUID_LEN + 1, "%s", id_of(s));
    json_decref(s);
    wait_ok(w->f->st, job);
}

static void
assert_state(world_t *w, const char *id, const char *state)
{
    err_t err = {0};
    json_t *s = snapshot_get(w->f->st, id_of(w->sub), id, NULL, &err);

    assert_non_null(s);
    assert_string_equal(jget_str(s, "state"), state);
    json_decref(s);
}

/* Starts a copy of snapshot id to cloud; answers the new snapshot's view, the job in *job. */
static json_t *
copy_to(world_t *w, const char *id, const json_t *cloud, json_t **job, err_t *err)
{
    return snapshot_copy(w->f->st, world_ctx(w), id, id_of(cloud), job, err);
}

static int64_t
leases_of(world_t *w, const char *id)
{
    err_t err = {0};
    json_t *rec = store_rec_get(w->f->st, &store_kind_snapshot, id, NULL, &err);
    int64_t n = jget_int(rec, "_leases");

    json_decref(rec);
    return n;
}

/* The timeline rows of resource id over all time. */
typedef struct {
    const char *id;
    int n;
} row_count_t;

static int
count_row(void *arg, const store_timeline_row_t *row, err_t *err)
{
    row_count_t *c = arg;

    (void) err;
    if (strcmp(row->vm_id, c->id) == 0)
        c->n++;
    return 0;
}

static int
timeline_rows(world_t *w, const char *id)
{
    row_count_t c = {id, 0};
    err_t err = {0};

    assert_int_equal(
        store_timeline_each(w->f->st, 0, INT64_MAX / 2, NULL, NULL, count_row, &c, &err), 0);
    return c.n;
}

#endif
