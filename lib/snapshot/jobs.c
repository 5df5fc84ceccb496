/*
 * jobs.c: the snapshot jobs: snapshot.create (snapshotDisk), snapshot.copy (copyVolume, polled) and
 * snapshot.delete (deleteVolume, removeRecord).
 *
 * Every step is idempotent: it reads its snapshot afresh, skips what the record says is done, and calls the
 * host with the job's operation id keyed by the snapshot's id, so a step run again after a crash gets the
 * host's answer (a copy goes on from the bytes the host has). A step's changes to the record commit with
 * the job's record (job_ctx_begin). The ends keep the holdings exact: a snapshot that never became ready
 * gives its size back (once, through its _counted flag) and has no timeline rows; a copy gives its lease on
 * the source back however it ends; a canceled copy leaves no record.
 */
#include "snapshot_internal.h"

#include <assert.h>
#include <stdio.h>
#include <string.h>

#include "../events.h"
#include "../hostreg.h"
#include "../jget.h"
#include "../lease.h"
#include "../quota.h"
#include "../usage.h"
#include "../util.h"
#include "../vm/vmstep.h"

/* A copy may take long: it polls the host until this deadline from its first run. */
#define SNAPSHOT_COPY_DEADLINE_MS (6 * 60 * 60 * 1000)

/* The job's snapshot (its resource): 1 with *rec; 0 when it is gone; -1 when the store failed. With tx, the
 * read opens the step's transaction first. */
static int
job_snapshot(job_ctx_t *ctx, bool tx, json_t **rec, err_t *err)
{
    assert(ctx != NULL && rec != NULL);
    if (tx && job_ctx_begin(ctx, err))
        return -1;
    return store_rec_lookup(job_ctx_store(ctx), &store_kind_snapshot, job_ctx_resource(ctx), rec, NULL,
                            err);
}

/* The result of a step whose snapshot could not be read: rc from job_snapshot. */
static job_step_result_t
unread(int rc, err_t *err)
{
    if (rc == 0)
        err_set(err, ERR_NOT_FOUND, NULL, "The snapshot was not found.");
    return rc == 0 ? JOB_STEP_FAILED : JOB_STEP_RETRY;
}

/* The agent of the host that keeps (or is to keep) the snapshot's volume; NULL with *r the step's result
 * when it cannot be had now. */
static agent_t *
volume_agent(job_ctx_t *ctx, const json_t *rec, job_step_result_t *r, err_t *err)
{
    const char *host = jget_str(rec, "_hostId");
    agent_t *a = host != NULL ? hostreg_agent(job_ctx_store(ctx), host, err) : NULL;

    if (a == NULL) {
        if (err->code == ERR_NONE)
            err_set(err, ERR_HOST_FAILED, NULL, "The snapshot has no host.");
        *r = err->code == ERR_UNAVAILABLE ? JOB_STEP_RETRY : JOB_STEP_FAILED;
    }
    return a;
}

/* Saves rec (changed in place) with updatedAt now. */
static int
save(store_t *st, json_t *rec, err_t *err)
{
    char now[UTIL_TIME_LEN + 1];

    assert(st != NULL && rec != NULL);
    util_time_format(util_now_ms(), now);
    json_object_set_new(rec, "updatedAt", json_string(now));
    return store_rec_update(st, &store_kind_snapshot, jget_str(rec, "id"), rec, 0, err);
}

/* A snapshot made ready: saved, on the timeline from now (billed), and its event. */
static int
made_ready(store_t *st, json_t *rec, const char *type, json_t *data, err_t *err)
{
    assert(st != NULL && rec != NULL && type != NULL);
    json_object_set_new(rec, "state", json_string("ready"));
    if (save(st, rec, err) ||
        usage_storage_record(st, "snapshot", jget_str(rec, "id"), jget_str(rec, "subscriptionId"),
                             jget_str(rec, "name"), jget_int(rec, "sizeGB"), "created", err)) {
        json_decref(data);
        return -1;
    }
    return events_emit(st, type, jget_str(rec, "subscriptionId"), jget_str(rec, "id"), data, err);
}

/* ---- snapshot.create ---- */

/* The host made the volume, of size_gb (0: unknown): the snapshot is ready. A size other than the one
 * reserved moves the holdings with it (growth already happened on the host: never refused). */
static job_step_result_t
finish_create(job_ctx_t *ctx, int64_t size_gb, err_t *err)
{
    store_t *st = job_ctx_store(ctx);
    int64_t d[STORE_QUOTAS] = {0};
    json_t *rec = NULL;
    int rc = job_snapshot(ctx, true, &rec, err);

    if (rc != 1)
        return unread(rc, err);
    d[QUOTA_STORAGE] = size_gb - jget_int(rec, "sizeGB");
    if (size_gb > 0 && d[QUOTA_STORAGE] != 0) {
        rc = quota_apply(st, jget_str(rec, "subscriptionId"), d, err) ||
             store_host_grow_storage(st, jget_str(rec, "_hostId"), d[QUOTA_STORAGE], err);
        json_object_set_new(rec, "sizeGB", json_integer(size_gb));
    } else {
        rc = 0;
    }
    rc = rc ? -1
            : made_ready(st, rec, "snapshot.created",
                         json_pack("{s:O, s:O, s:O}", "vmId", json_object_get(rec, "vmId"), "lun",
                                   json_object_get(rec, "lun"), "sizeGB",
                                   json_object_get(rec, "sizeGB")),
                         err);
    json_decref(rec);
    return rc ? JOB_STEP_RETRY : JOB_STEP_DONE;
}

static job_step_result_t
step_snapshot_disk(job_ctx_t *ctx, err_t *err)
{
    agent_progress_t prog = {0, 0};
    agent_call_t c = vmstep_call(ctx);
    agent_err_t aerr = {0};
    job_step_result_t r = JOB_STEP_FAILED;
    const json_t *lun;
    json_t *rec = NULL;
    int64_t size = 0;
    vm_rec_t vm;
    agent_t *a;
    int rc = job_snapshot(ctx, false, &rec, err);

    if (rc != 1)
        return unread(rc, err);
    if (strcmp(jget_str(rec, "state"), "creating") != 0) {
        json_decref(rec);
        return JOB_STEP_DONE; /* made before a crash */
    }
    rc = vmrec_load(job_ctx_store(ctx), NULL, jget_str(rec, "vmId"), &vm, NULL, err);
    if (rc == 0)
        err_set(err, ERR_NOT_FOUND, NULL, "The VM was not found.");
    if (rc <= 0) {
        json_decref(rec);
        return rc < 0 ? JOB_STEP_RETRY : JOB_STEP_FAILED;
    }
    if ((a = volume_agent(ctx, rec, &r, err)) != NULL) {
        lun = json_object_get(rec, "lun");
        c.progress = &prog;
        agent_volume_snapshot(a, &c, vm.hypervisor_id, json_is_integer(lun) ? (int) json_integer_value(lun) : -1,
                              jget_str(rec, "id"), &size, &aerr);
        r = vmstep_result(&aerr, err);
        if (r == JOB_STEP_POLL && prog.bytes_total > 0)
            job_ctx_set_copy(ctx, prog.bytes_copied, prog.bytes_total);
    }
    json_decref(rec);
    return r == JOB_STEP_DONE ? finish_create(ctx, size, err) : r;
}

/* on_failed of snapshot.create (a failure or a cancel): nothing was billed; the size goes back. */
static int
failed_create(job_ctx_t *ctx, err_t *err)
{
    json_t *rec = NULL;
    int rc = job_snapshot(ctx, false, &rec, err);

    if (rc <= 0)
        return rc;
    rc = 0;
    if (strcmp(jget_str(rec, "state"), "ready") != 0) {
        json_object_set_new(rec, "state", json_string("failed"));
        rc = snapshot__release(job_ctx_store(ctx), rec, err) || save(job_ctx_store(ctx), rec, err);
    }
    json_decref(rec);
    return rc ? -1 : 0;
}

/* cleanup of a failed create or copy: the host deletes what it may have made of the volume (best effort:
 * a volume left behind holds nothing wapd counts). */
static void
cleanup_volume(job_ctx_t *ctx)
{
    char op[192];
    agent_call_t c = {op, 0, NULL};
    agent_err_t aerr = {0};
    job_step_result_t r;
    json_t *rec = NULL;
    err_t err = {0};
    agent_t *a;

    if (job_snapshot(ctx, false, &rec, &err) != 1)
        return;
    snprintf(op, sizeof(op), "%s:cleanup", job_ctx_op_id(ctx));
    if (strcmp(jget_str(rec, "state"), "ready") != 0 && (a = volume_agent(ctx, rec, &r, &err)) != NULL)
        agent_volume_delete(a, &c, jget_str(rec, "id"), &aerr);
    json_decref(rec);
}

/* ---- snapshot.copy ---- */

/* Saves how far the copy is, never backwards (a host that resumes may count from an earlier point than
 * the last poll saw), on the snapshot and on the job; with done, the copy is whole and the snapshot
 * ready. */
static job_step_result_t
save_copy(job_ctx_t *ctx, bool done, const agent_progress_t *prog, err_t *err)
{
    json_t *rec = NULL;
    int64_t total, copied, before;
    int rc = job_snapshot(ctx, true, &rec, err);

    if (rc != 1)
        return unread(rc, err);
    total = jget_int(rec, "sizeGB") * SNAPSHOT_GIB;
    copied = prog->bytes_total > 0 ? (int64_t) ((double) prog->bytes_copied / prog->bytes_total * total)
                                   : 0;
    before = jget_int(json_object_get(rec, "copy"), "bytesCopied");
    copied = done ? total : copied < before ? before : copied > total ? total : copied;
    json_object_set_new(rec, "copy", snapshot__copy_json(copied, total));
    job_ctx_set_copy(ctx, copied, total);
    if (done)
        rc = made_ready(job_ctx_store(ctx), rec, "snapshot.copied",
                        json_pack("{s:O, s:O}", "sourceSnapshotId",
                                  json_object_get(rec, "sourceSnapshotId"), "cloudId",
                                  json_object_get(rec, "cloudId")),
                        err);
    else
        rc = save(job_ctx_store(ctx), rec, err);
    json_decref(rec);
    if (rc)
        return JOB_STEP_RETRY;
    return done ? JOB_STEP_DONE : JOB_STEP_POLL;
}

static job_step_result_t
step_copy_volume(job_ctx_t *ctx, err_t *err)
{
    agent_progress_t prog = {0, 0};
    agent_call_t c = vmstep_call(ctx);
    agent_volume_src_t src;
    agent_err_t aerr = {0};
    job_step_result_t r = JOB_STEP_FAILED;
    json_t *rec = NULL, *source = NULL;
    agent_t *a;
    int rc = job_snapshot(ctx, false, &rec, err);

    if (rc != 1)
        return unread(rc, err);
    if (strcmp(jget_str(rec, "state"), "copying") != 0) {
        json_decref(rec);
        return JOB_STEP_DONE; /* copied before a crash */
    }
    rc = store_rec_lookup(job_ctx_store(ctx), &store_kind_snapshot, jget_str(rec, "sourceSnapshotId"),
                          &source, NULL, err);
    if (rc == 0)
        err_set(err, ERR_NOT_FOUND, NULL, "The source snapshot was not found.");
    if (rc == 1 && (a = volume_agent(ctx, rec, &r, err)) != NULL) {
        src.host_id = jget_str(source, "_hostId");
        src.volume_id = jget_str(source, "id");
        src.size_gb = jget_int(source, "sizeGB");
        c.progress = &prog;
        agent_volume_copy(a, &c, &src, jget_str(rec, "id"), &aerr);
        r = vmstep_result(&aerr, err);
    } else if (rc < 0) {
        r = JOB_STEP_RETRY;
    }
    json_decref(rec);
    json_decref(source);
    if (r == JOB_STEP_POLL)
        err_clear(err);
    return r == JOB_STEP_DONE || r == JOB_STEP_POLL ? save_copy(ctx, r == JOB_STEP_DONE, &prog, err)
                                                    : r;
}

static int
succeeded_copy(job_ctx_t *ctx, err_t *err)
{
    return lease_give(job_ctx_store(ctx), &store_kind_snapshot,
                      jget_str(job_ctx_params(ctx), "sourceSnapshotId"), err);
}

/* on_failed of snapshot.copy: the lease goes back; the copy holds nothing and was never billed. A failed
 * copy stays, failed; a canceled one goes. */
static int
failed_copy(job_ctx_t *ctx, err_t *err)
{
    store_t *st = job_ctx_store(ctx);
    json_t *rec = NULL;
    int rc = 0;

    if (succeeded_copy(ctx, err) || (rc = job_snapshot(ctx, false, &rec, err)) < 0)
        return -1;
    if (rc == 0 || strcmp(jget_str(rec, "state"), "ready") == 0) {
        json_decref(rec);
        return 0;
    }
    rc = snapshot__release(st, rec, err);
    if (rc == 0 && strcmp(job_ctx_status(ctx), "canceled") == 0) {
        rc = store_rec_delete(st, &store_kind_snapshot, jget_str(rec, "id"), 0, err);
    } else if (rc == 0) {
        json_object_set_new(rec, "state", json_string("failed"));
        rc = save(st, rec, err);
    }
    json_decref(rec);
    return rc;
}

/* ---- snapshot.delete ---- */

static job_step_result_t
step_delete_volume(job_ctx_t *ctx, err_t *err)
{
    agent_call_t c = vmstep_call(ctx);
    agent_err_t aerr = {0};
    job_step_result_t r = JOB_STEP_DONE;
    json_t *rec = NULL;
    agent_t *a;
    int rc = job_snapshot(ctx, false, &rec, err);

    if (rc <= 0)
        return rc < 0 ? JOB_STEP_RETRY : JOB_STEP_DONE; /* gone: nothing to delete */
    /* A copy may have started from it since the delete was asked for: it stays until that ends. */
    if (lease_check_free(rec, err)) {
        json_decref(rec);
        return JOB_STEP_FAILED;
    }
    if (json_is_string(json_object_get(rec, "_hostId")) &&
        (a = volume_agent(ctx, rec, &r, err)) != NULL) {
        if (agent_volume_delete(a, &c, jget_str(rec, "id"), &aerr) != 0 &&
            aerr.status == AGENT_ERR_NOT_FOUND)
            aerr.status = AGENT_OK; /* already gone */
        r = vmstep_result(&aerr, err);
    }
    json_decref(rec);
    return r;
}

static job_step_result_t
step_remove_record(job_ctx_t *ctx, err_t *err)
{
    store_t *st = job_ctx_store(ctx);
    json_t *rec = NULL;
    bool billed;
    int rc = job_snapshot(ctx, true, &rec, err);

    if (rc <= 0)
        return rc < 0 ? JOB_STEP_RETRY : JOB_STEP_DONE;
    billed = strcmp(jget_str(rec, "state"), "ready") == 0; /* only a ready one is on the timeline */
    rc = snapshot__release(st, rec, err) ||
         (billed && usage_storage_record(st, "snapshot", jget_str(rec, "id"),
                                         jget_str(rec, "subscriptionId"), jget_str(rec, "name"),
                                         jget_int(rec, "sizeGB"), "deleted", err)) ||
         events_emit(st, "snapshot.deleted", jget_str(rec, "subscriptionId"), jget_str(rec, "id"),
                     json_pack("{s:O}", "name", json_object_get(rec, "name")), err) ||
         store_rec_delete(st, &store_kind_snapshot, jget_str(rec, "id"), 0, err);
    json_decref(rec);
    return rc ? JOB_STEP_RETRY : JOB_STEP_DONE;
}

static const job_step_def_t create_steps[] = {{"snapshotDisk", step_snapshot_disk}, {NULL, NULL}};
static const job_step_def_t copy_steps[] = {{"copyVolume", step_copy_volume}, {NULL, NULL}};
static const job_step_def_t delete_steps[] = {
    {"deleteVolume", step_delete_volume},
    {"removeRecord", step_remove_record},
    {NULL, NULL},
};
static const job_kind_def_t snapshot_kinds[] = {
    {"snapshot.create", create_steps, VM_JOB_DEADLINE_MS, failed_create, cleanup_volume, NULL, NULL},
    {"snapshot.copy", copy_steps, SNAPSHOT_COPY_DEADLINE_MS, failed_copy, cleanup_volume, NULL,
     succeeded_copy},
    {"snapshot.delete", delete_steps, VM_JOB_DEADLINE_MS, NULL, NULL, NULL, NULL},
};

int
snapshot_jobs_register(void)
{
    size_t i;

    for (i = 0; i < sizeof(snapshot_kinds) / sizeof(snapshot_kinds[0]); i++)
        if (job_kind_register(&snapshot_kinds[i]))
            return -1;
    return 0;
}
