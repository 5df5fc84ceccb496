/*
 * image.c: a subscription's images (the plan's and its private ones), deleting a private image (the request
 * and the job image.delete that removes its volumes from its host), and the sources of disks cloned from a
 * private image or a snapshot.
 *
 * A tenant sees a private image only in its own subscription (another's is 404 on every path, and an
 * unknown id in a body); a plan image is read-only to tenants (DELETE 403). A private image is deleted in
 * the request's transaction once nothing holds a lease on it: what it holds (quota, host storage) is
 * released there exactly once (only while _counted), its metering ends and image.deleted is raised; the
 * volumes go afterwards, in a job that counts a volume or host that is gone as done. VMs made from it keep
 * their disks (clones).
 */
#include "image.h"

#include <assert.h>
#include <stdio.h>
#include <string.h>

#include "../catalog.h"
#include "../events.h"
#include "../hostreg.h"
#include "../lease.h"
#include "../quota.h"
#include "../usage.h"
#include "vmstep.h"

/* The private images' part of the one cursor across the two lists: positions from here on. */
#define PRIVATE_CURSOR_BASE ((int64_t) 1 << 48)

void
vm_image__volume_id(const char *image_id, int lun, char out[VM_VOLUME_ID_MAX])
{
    assert(image_id != NULL && out != NULL);
    if (lun < 0)
        snprintf(out, VM_VOLUME_ID_MAX, "%s-os", image_id);
    else
        snprintf(out, VM_VOLUME_ID_MAX, "%s-lun%d", image_id, lun);
}

json_t *
vm_image__volumes(const json_t *rec)
{
    const char *id = jget_str(rec, "id");
    char vol[VM_VOLUME_ID_MAX];
    json_t *out = json_array(), *d;
    size_t i;

    assert(id != NULL);
    vm_image__volume_id(id, -1, vol);
    if (out == NULL || json_array_append_new(out, json_pack("{s:n, s:s}", "lun", "volumeId", vol)))
        goto oom;
    json_array_foreach(json_object_get(rec, "dataDisks"), i, d) {
        vm_image__volume_id(id, (int) jget_int(d, "lun"), vol);
        if (json_array_append_new(out, json_pack("{s:I, s:s}", "lun", (json_int_t) jget_int(d, "lun"),
                                                 "volumeId", vol)))
            goto oom;
    }
    return out;
oom:
    json_decref(out);
    return NULL;
}

json_t *
vm_image__view(const json_t *rec)
{
    static const char *const fields[] = {"id",        "name",           "osType",     "generation",
                                         "osDiskGB",  "dataDisks",      "subscriptionId",
                                         "sourceVmId", NULL};
    static const char *const tail[] = {"cloudId", "state", "createdAt", "updatedAt", NULL};
    json_t *view = json_object(), *v;
    size_t i;

    for (i = 0; view != NULL && fields[i]; i++)
        if ((v = json_object_get(rec, fields[i])) != NULL)
            json_object_set(view, fields[i], v);
    if (view != NULL)
        json_object_set_new(view, "visibility", json_string("private"));
    for (i = 0; view != NULL && tail[i]; i++)
        if ((v = json_object_get(rec, tail[i])) != NULL)
            json_object_set(view, tail[i], v);
    return view;
}

/* A plan image's view as a tenant sees it: the catalog record and "visibility": "public". */
static json_t *
public_view(const json_t *rec)
{
    json_t *view = json_deep_copy(rec);

    if (view != NULL)
        json_object_set_new(view, "visibility", json_string("public"));
    return view;
}

job_step_result_t
vm_image__delete_volumes(store_t *st, const char *host_id, const json_t *volumes, const char *op,
                         err_t *err)
{
    char opid[256];
    agent_call_t c = {opid, VM_AGENT_TIMEOUT_MS, NULL};
    agent_err_t aerr = {0};
    job_step_result_t r;
    const json_t *v;
    agent_t *a;
    size_t i;

    if (host_id == NULL)
        return JOB_STEP_DONE;
    a = hostreg_agent(st, host_id, err);
    if (a == NULL)
        return err->code == ERR_NOT_FOUND ? JOB_STEP_DONE : JOB_STEP_RETRY;
    json_array_foreach(volumes, i, v) {
        snprintf(opid, sizeof(opid), "%s:%s", op, jget_str(v, "volumeId"));
        if (agent_volume_delete(a, &c, jget_str(v, "volumeId"), &aerr) != 0 &&
            aerr.status == AGENT_ERR_NOT_FOUND)
            aerr.status = AGENT_OK; /* already gone */
        if ((r = vmstep_result(&aerr, err)) != JOB_STEP_DONE)
            return r;
    }
    return JOB_STEP_DONE;
}

int
vm_image__host_cloud(store_t *st, const char *host_id, char out[VM_REC_ID_MAX], err_t *err)
{
    json_t *host = NULL;
    int rc = store_rec_lookup_shared(st, &store_kind_host, host_id, &host, NULL, err);

    if (rc < 0)
        return -1;
    snprintf(out, VM_REC_ID_MAX, "%s", rc == 1 && jget_str(host, "cloudId") ? jget_str(host, "cloudId") : "");
    json_decref(host);
    return 0;
}

/* Whether rec (a snapshot or private image) belongs to sid, is ready and is in cloud cloud_id. */
static bool
usable(const json_t *rec, const char *sid, const char *cloud_id)
{
    const char *s = jget_str(rec, "subscriptionId"), *state = jget_str(rec, "state"),
               *cloud = jget_str(rec, "cloudId");

    return s != NULL && strcmp(s, sid) == 0 && state != NULL && strcmp(state, "ready") == 0 &&
           cloud != NULL && cloud_id != NULL && strcmp(cloud, cloud_id) == 0;
}

int
vm_image__lookup_usable(store_t *st, const char *sid, const char *cloud_id, const char *id,
                        json_t **out, err_t *err)
{
    json_t *rec = NULL;
    int rc = store_rec_lookup_where(st, &store_kind_private_image, id, "subscriptionId", sid, &rec, NULL,
                                    err);

    if (rc == 1 && !usable(rec, sid, cloud_id)) {
        json_decref(rec);
        return 0;
    }
    if (rc == 1)
        *out = rec;
    return rc;
}

/* Records a lease (kind "image" or "snapshot", id) in sources. */
static int
note_lease(json_t *sources, const char *kind, const char *id, err_t *err)
{
    json_t *leases = json_object_get(sources, "leases");

    if (leases == NULL) {
        leases = json_array();
        if (json_object_set_new(sources, "leases", leases))
            return err_set(err, ERR_INTERNAL, NULL, "Out of memory.");
    }
    if (json_array_append_new(leases, json_pack("{s:s, s:s}", "kind", kind, "id", id)))
        return err_set(err, ERR_INTERNAL, NULL, "Out of memory.");
    return 0;
}

/* Records volume as the source of lun in sources. */
static int
note_volume(json_t *sources, int lun, const char *volume, err_t *err)
{
    json_t *vols = json_object_get(sources, "volumes");
    char key[16];

    if (vols == NULL) {
        vols = json_object();
        if (json_object_set_new(sources, "volumes", vols))
            return err_set(err, ERR_INTERNAL, NULL, "Out of memory.");
    }
    if (lun < 0)
        snprintf(key, sizeof(key), "os");
    else
        snprintf(key, sizeof(key), "%d", lun);
    if (json_object_set_new(vols, key, json_string(volume)))
        return err_set(err, ERR_INTERNAL, NULL, "Out of memory.");
    return 0;
}

const char *
vm_image__source_volume(const json_t *sources, int lun)
{
    char key[16];

    if (lun < 0)
        snprintf(key, sizeof(key), "os");
    else
        snprintf(key, sizeof(key), "%d", lun);
    return json_string_value(json_object_get(json_object_get(sources, "volumes"), key));
}

int
vm_image__use_snapshot(store_t *st, const char *sid, const char *cloud_id, const char *id, int lun,
                       const char *target, json_t *sources, int64_t *size_gb, err_t *err)
{
    json_t *snap = NULL;
    int rc;

    assert(st != NULL && sid != NULL && id != NULL && sources != NULL && size_gb != NULL);
    rc = store_rec_lookup_where(st, &store_kind_snapshot, id, "subscriptionId", sid, &snap, NULL, err);
    if (rc < 0)
        return -1;
    if (rc == 0 || !usable(snap, sid, cloud_id)) {
        json_decref(snap); /* rc 1: the subscription's own, not ready here */
        if (rc && cloud_id != NULL)
            return err_set(err, ERR_INVALID_REQUEST, target,
                           "The snapshot is not ready in this cloud (copy it to the cloud first).");
        return err_set(err, ERR_INVALID_REQUEST, target, "No snapshot with this id exists.");
    }
    *size_gb = jget_int(snap, "sizeGB");
    json_decref(snap);
    if (lease_take(st, &store_kind_snapshot, id, err) || note_lease(sources, "snapshot", id, err) ||
        note_volume(sources, lun, id, err))
        return -1;
    return 0;
}

int
vm_image__use_image(store_t *st, const json_t *image, json_t *sources, err_t *err)
{
    const char *id = jget_str(image, "id");
    json_t *vols = vm_image__volumes(image), *v;
    const json_t *lun;
    size_t i;

    assert(st != NULL && id != NULL && sources != NULL);
    if (vols == NULL)
        return err_set(err, ERR_INTERNAL, NULL, "Out of memory.");
    json_array_foreach(vols, i, v) {
        lun = json_object_get(v, "lun");
        if (note_volume(sources, json_is_integer(lun) ? (int) json_integer_value(lun) : -1,
                        jget_str(v, "volumeId"), err))
            break;
    }
    json_decref(vols);
    if (err->code != ERR_NONE || lease_take(st, &store_kind_private_image, id, err) ||
        note_lease(sources, "image", id, err))
        return -1;
    return 0;
}

int
vm_image__give_leases(store_t *st, const json_t *sources, err_t *err)
{
    const json_t *l;
    const char *kind;
    size_t i;

    json_array_foreach(json_object_get(sources, "leases"), i, l) {
        kind = jget_str(l, "kind");
        if (kind == NULL || jget_str(l, "id") == NULL)
            continue;
        if (lease_give(st, strcmp(kind, "image") == 0 ? &store_kind_private_image : &store_kind_snapshot,
                       jget_str(l, "id"), err))
            return -1;
    }
    return 0;
}

/* A private image of ctx's subscription: 1 with it (and its revision), 0 when none, -1 with err. */
static int
lookup_private(store_t *st, const vm_ctx_t *ctx, const char *id, json_t **out, int64_t *rev,
               err_t *err)
{
    json_t *rec = NULL;
    int rc = store_rec_lookup_where(st, &store_kind_private_image, id, "subscriptionId", ctx->sid, &rec,
                                    rev, err);

    if (rc == 1)
        *out = rec;
    return rc;
}

/* A plan image the subscription sees: 1 with it, 0 when none, -1 with err. */
static int
lookup_public(store_t *st, const vm_ctx_t *ctx, const char *id, json_t **out, int64_t *rev, err_t *err)
{
    json_t *rec = NULL;
    int rc;

    /* The plan decides before the store is read: an image the plan does not offer costs what a missing
     * one does. */
    if (!catalog_plan_allows(ctx->plan, "imageIds", id))
        return 0;
    rc = store_rec_lookup(st, &store_kind_image, id, &rec, rev, err);
    if (rc == 1)
        *out = rec;
    return rc;
}

json_t *
vm_image_get(store_t *st, const vm_ctx_t *ctx, const char *id, int64_t *rev, err_t *err)
{
    json_t *rec = NULL, *view = NULL;
    int rc;

    assert(st != NULL && ctx != NULL && ctx->sid != NULL && ctx->plan != NULL && id != NULL);
    if ((rc = lookup_private(st, ctx, id, &rec, rev, err)) == 1)
        view = vmrec__or_oom(vm_image__view(rec), err);
    else if (rc == 0 && (rc = lookup_public(st, ctx, id, &rec, rev, err)) == 1)
        view = vmrec__or_oom(public_view(rec), err);
    if (rc == 0)
        err_set(err, ERR_NOT_FOUND, NULL, "The image was not found.");
    json_decref(rec);
    return view;
}

/* Releases what a counted image holds and ends its metering, in the caller's transaction. */
static int
release_image(store_t *st, json_t *rec, err_t *err)
{
    int64_t size = jget_int(rec, "_storageGB");
    const char *sid = jget_str(rec, "subscriptionId");

    if (!json_is_true(json_object_get(rec, "_counted")))
        return 0;
    return lease_release_holdings(st, rec, size, err) ||
                   usage_storage_record(st, "image", jget_str(rec, "id"), sid, jget_str(rec, "name"), size,
                                        "deleted", err)
               ? -1
               : 0;
}

/* Removes private image rec (borrowed, of subscription sid) in the caller's transaction: releases what it
 * holds, deletes its record, raises image.deleted and starts the job that removes its volumes. */
static int
remove_image(store_t *st, const char *sid, json_t *rec, err_t *err)
{
    const char *id = jget_str(rec, "id");
    json_t *params, *j = NULL;

    if (release_image(st, rec, err) || store_rec_delete(st, &store_kind_private_image, id, 0, err) ||
        events_emit(st, "image.deleted", sid, id, NULL, err))
        return -1;
    params = json_pack("{s:s?, s:o}", "hostId", jget_str(rec, "_hostId"), "volumes",
                       vm_image__volumes(rec));
    if (vmrec__or_oom(params, err) != NULL)
        j = job_submit(st, "image.delete", id, sid, NULL, params, err);
    json_decref(params);
    json_decref(j);
    return j == NULL ? -1 : 0;
}

int
vm_image_delete(store_t *st, const vm_ctx_t *ctx, const char *id, int64_t expect_rev, err_t *err)
{
    json_t *rec = NULL;
    int64_t rev = 0;
    int rc;

    assert(st != NULL && ctx != NULL && ctx->sub != NULL && ctx->plan != NULL && id != NULL);
    if (store_tx_begin(st, err))
        return -1;
    if ((rc = lookup_private(st, ctx, id, &rec, &rev, err)) == 0) {
        if ((rc = lookup_public(st, ctx, id, &rec, NULL, err)) == 1)
            err_set(err, ERR_FORBIDDEN, NULL, "A plan's image cannot be deleted by a tenant.");
        else if (rc == 0)
            err_set(err, ERR_NOT_FOUND, NULL, "The image was not found.");
        rc = -1;
    } else if (rc == 1 && expect_rev > 0 && rev != expect_rev) {
        rc = err_set(err, ERR_PRECONDITION_FAILED, NULL, "The image has changed since it was read (If-Match).");
    } else if (rc == 1) {
        rc = vm_subscription_writable(ctx->sub, err) || lease_check_free(rec, err) ||
                     remove_image(st, ctx->sid, rec, err) || store_tx_commit(st, err)
                 ? -1
                 : 0;
    }
    if (rc != 0)
        store_tx_rollback(st);
    json_decref(rec);
    return rc;
}

int
vm_image__remove_all(store_t *st, const char *sid, err_t *err)
{
    store_filter_t f = {.field = "subscriptionId", .op = STORE_FILTER_EQ, .value = sid};
    json_t *list = store_rec_list_all(st, &store_kind_private_image, &f, 1, err), *rec;
    int answer = 1;
    size_t i;

    if (list == NULL)
        return -1;
    json_array_foreach(list, i, rec) {
        if (lease_check_free(rec, NULL) != 0) {
            answer = 0; /* being made, or read: its job ends first */
        } else if (remove_image(st, sid, rec, err)) {
            answer = -1;
            break;
        }
    }
    json_decref(list);
    return answer;
}

static job_step_result_t
step_delete_volumes(job_ctx_t *ctx, err_t *err)
{
    const json_t *p = job_ctx_params(ctx);

    return vm_image__delete_volumes(job_ctx_store(ctx), jget_str(p, "hostId"),
                                    json_object_get(p, "volumes"), job_ctx_op_id(ctx), err);
}

/* Appends the views of a page of kind's records (filter f) to list; *next as store_rec_list has it. */
static int
list_page(store_t *st, const store_kind_t *kind, const store_filter_t *f, size_t nf, int64_t after,
          int limit, json_t *list, int64_t *next, err_t *err)
{
    json_t *page = store_rec_list(st, kind, f, nf, after, limit, next, err), *rec;
    size_t i;

    if (page == NULL)
        return -1;
    json_array_foreach(page, i, rec)
        json_array_append_new(list, kind == &store_kind_image ? public_view(rec) : vm_image__view(rec));
    json_decref(page);
    return 0;
}

json_t *
vm_images_list(store_t *st, const vm_ctx_t *ctx, int64_t after, int limit, int64_t *next, err_t *err)
{
    const json_t *allowed = json_object_get(ctx->plan, "imageIds");
    store_filter_t pub = {.field = "id", .op = STORE_FILTER_IN, .values = allowed};
    store_filter_t priv = {.field = "subscriptionId", .op = STORE_FILTER_EQ, .value = ctx->sid};
    json_t *list = json_array(), *peek;
    int64_t n = 0, pn = 0;

    assert(st != NULL && ctx != NULL && ctx->sid != NULL && next != NULL && limit > 0);
    if (vmrec__or_oom(list, err) == NULL)
        return NULL;
    if (after < PRIVATE_CURSOR_BASE) {
        if (list_page(st, &store_kind_image, &pub, json_array_size(allowed) ? 1 : 0, after, limit,
                      list, &n, err))
            goto fail;
        if (n > 0) {
            *next = n;
            return list;
        }
        after = PRIVATE_CURSOR_BASE;
        if ((int) json_array_size(list) >= limit) {
            /* A full last page of plan images: a next page only when there are private images. */
            peek = store_rec_list(st, &store_kind_private_image, &priv, 1, 0, 1, &pn, err);
            if (peek == NULL)
                goto fail;
            *next = json_array_size(peek) ? PRIVATE_CURSOR_BASE : 0;
            json_decref(peek);
            return list;
        }
    }
    if (list_page(st, &store_kind_private_image, &priv, 1, after - PRIVATE_CURSOR_BASE,
                  limit - (int) json_array_size(list), list, &pn, err))
        goto fail;
    *next = pn > 0 ? PRIVATE_CURSOR_BASE + pn : 0;
    return list;
fail:
    json_decref(list);
    return NULL;
}

static const job_step_def_t delete_steps[] = {{"deleteVolumes", step_delete_volumes}, {NULL, NULL}};
static const job_kind_def_t delete_kind = {"image.delete", delete_steps, 0, NULL, NULL, NULL, NULL};

int
vm_image_kinds_register(void)
{
    return job_kind_register(&delete_kind);
}
