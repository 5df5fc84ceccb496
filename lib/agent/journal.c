/*
 * journal.c: the operation-id journal decorator (see agent.h): the answer of every changing call, kept by
 * operation id with a fingerprint of the call, so that any driver answers a repeated call with its first
 * answer and never applies it twice.
 *
 * The fingerprint is the SHA-256 of a canonical JSON array of the operation's name and every argument
 * (the hypervisor id, the whole VM or disk spec, the power action, the checkpoint's name or id, the volume
 * id and the source of a copy or an import). A snapshot's answer, its size, is kept as its result text. A
 * call whose id is known is answered from the journal when its fingerprint matches, and with
 * AGENT_ERR_CONFLICT (nothing done) when it does not. Only final answers are kept: AGENT_OK, and the
 * permanent, not-found and unsupported errors; a pending, timed-out, unreachable or transient answer is
 * not, so that a retry or a poll reaches the host, whose changes are idempotent by key. Reads, simulator
 * controls and reconfigure pass straight through.
 *
 * A long call's final answer keeps its progress too ({bytesCopied, bytesTotal} as progress: [copied,
 * total]), so that a repeat of a finished copy answers the bytes it copied, not none.
 *
 * Durability: the journal is an append log (applog.h) of JSON lines {opId, fingerprint, status, message,
 * result, progress?}; a line is appended under the lock and made durable after it is released, before its
 * answer is returned, so that concurrent calls share one fdatasync (group commit). At open the file is read
 * back into the index; a torn last line (a crash in the middle of an append, whose answer was therefore
 * never returned) is cut off. When the file holds 2 x AGENT_JOURNAL_KEPT lines it is rewritten with the
 * kept answers only. Without a path the journal lives in memory only. A repeated call answered from the index
 * waits until the file is synced to its end first, as the answer's line may not be durable yet.
 *
 * Invariants: the index holds at most AGENT_JOURNAL_KEPT answers, oldest first; the index is touched and
 * the file appended to or compacted only under the lock, which is never held across a call of the inner
 * agent nor across a fdatasync; every answer in the index is in the file. The inner agent is owned by
 * the decorator and closed with it.
 */
#include "agent_internal.h"
#include "applog.h"
#include "journal_internal.h"

#include <assert.h>
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../util.h"

#define FP_LEN UTIL_SHA256_HEX_LEN

typedef struct {
    agent_t *inner;
    pthread_mutex_t lock;
    applog_t *log;    /* the file; NULL when memory only */
    json_t *index;    /* {opId: {fingerprint, status, message, result}}, oldest first; under lock */
    bool load_failed; /* at open: a line could not be kept in the index */
} journal_t;

/* The journal whose lock this thread holds, for asserts. */
static _Thread_local const journal_t *locked_journal;

static void
journal_lock(journal_t *j)
{
    pthread_mutex_lock(&j->lock);
    assert(locked_journal == NULL);
    locked_journal = j;
}

static void
journal_unlock(journal_t *j)
{
    assert(locked_journal == j);
    locked_journal = NULL;
    pthread_mutex_unlock(&j->lock);
}

/* The answer kept for one operation id, copied out of the index. */
typedef struct {
    char fingerprint[FP_LEN + 1];
    agent_status_t status;
    char message[256];
    char result[AGENT_ID_MAX];
    agent_progress_t progress; /* a long call's final progress (0 of 0: none) */
} answer_t;

/* ---- the records ---- */

static bool
kept_status(agent_status_t st)
{
    return st == AGENT_OK || st == AGENT_ERR_PERMANENT || st == AGENT_ERR_NOT_FOUND ||
           st == AGENT_ERR_UNSUPPORTED;
}

static int
status_parse(const char *name, agent_status_t *out)
{
    int s;

    for (s = AGENT_OK; s <= AGENT_PENDING && name; s++)
        if (strcmp(agent_status_name((agent_status_t) s), name) == 0) {
            *out = (agent_status_t) s;
            return 0;
        }
    return -1;
}

/* The record's index form (a new reference, NULL when out of memory). */
static json_t *
answer_to_json(const answer_t *ans)
{
    json_t *rec = json_pack("{s:s, s:s, s:s, s:s}", "fingerprint", ans->fingerprint, "status",
                            agent_status_name(ans->status), "message", ans->message, "result",
                            ans->result);

    if (rec != NULL && ans->progress.bytes_total > 0 &&
        json_object_set_new(rec, "progress",
                            json_pack("[I, I]", (json_int_t) ans->progress.bytes_copied,
                                      (json_int_t) ans->progress.bytes_total)) != 0) {
        json_decref(rec);
        return NULL;
    }
    return rec;
}

static int
answer_from_json(const json_t *rec, answer_t *out)
{
    const char *fp = NULL, *status = NULL, *message = NULL, *result = NULL;
    json_int_t copied = 0, total = 0;

    if (json_unpack((json_t *) rec, "{s:s, s:s, s:s, s:s, s?[II]}", "fingerprint", &fp, "status",
                    &status, "message", &message, "result", &result, "progress", &copied,
                    &total) != 0 ||
        strlen(fp) != FP_LEN || strlen(result) >= AGENT_ID_MAX ||
        status_parse(status, &out->status) != 0 || !kept_status(out->status))
        return -1;
    memcpy(out->fingerprint, fp, FP_LEN + 1);
    snprintf(out->message, sizeof(out->message), "%s", message);
    snprintf(out->result, sizeof(out->result), "%s", result);
    out->progress.bytes_copied = copied;
    out->progress.bytes_total = total;
    return 0;
}

/* Puts a record (stolen) in the index, forgetting the oldest beyond AGENT_JOURNAL_KEPT; lock held. */
static int
index_put(journal_t *j, const char *op_id, json_t *rec)
{
    assert(locked_journal == j);
    if (rec == NULL || json_object_set_new(j->index, op_id, rec) != 0)
        return -1;
    while (json_object_size(j->index) > AGENT_JOURNAL_KEPT)
        json_object_del(j->index, json_object_iter_key(json_object_iter(j->index)));
    return 0;
}

/* ---- the file (an append log, applog.h) ---- */

/* One line of the file: the record with its operation id, without a newline (malloc'ed). */
static char *
line_of(const char *op_id, const json_t *rec)
{
    json_t *obj = json_deep_copy(rec);
    char *text = NULL;

    if (obj != NULL && json_object_set_new(obj, "opId", json_string(op_id)) == 0)
        text = util_json_dumps(obj, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(obj);
    return text;
}

/* Writes every kept answer through emit (compaction; lock held). */
static int
kept_records(void *ctx, applog_emit_fn emit, void *emit_ctx)
{
    journal_t *j = ctx;
    const char *key;
    json_t *rec;
    char *line;
    int rc = 0;

    assert(locked_journal == j);
    json_object_foreach(j->index, key, rec) {
        line = line_of(key, rec);
        rc = line == NULL || emit(emit_ctx, line, strlen(line)) != 0 ? -1 : 0;
        free(line);
        if (rc != 0)
            break;
    }
    return rc;
}

/* Appends one record to the file (not yet durable: *end is its position for applog_sync); lock held. */
static int
append(journal_t *j, const char *op_id, const json_t *rec, uint64_t *end)
{
    char *line;
    int rc;

    assert(locked_journal == j && j->log != NULL);
    line = line_of(op_id, rec);
    rc = line == NULL || applog_append(j->log, line, strlen(line), end) != 0 ? -1 : 0;
    free(line);
    return rc;
}

/* Reads one line of the file back into the index (at open); -1 when it is not a record. */
static int
load_line(void *ctx, const char *line, size_t len)
{
    journal_t *j = ctx;
    json_t *rec = json_loadb(line, len, 0, NULL);
    const char *op_id = json_string_value(json_object_get(rec, "opId"));
    answer_t ans;
    int rc = -1;

    if (op_id != NULL && answer_from_json(rec, &ans) == 0) {
        rc = 0;
        journal_lock(j); /* not shared yet: for the asserts of index_put */
        if (index_put(j, op_id, answer_to_json(&ans)) != 0)
            j->load_failed = true; /* out of memory: the line is good, the open fails */
        journal_unlock(j);
    }
    json_decref(rec);
    return rc;
}

/* ---- the frame of every changing call ---- */

/* The fingerprint of a call: args (stolen) is its canonical array; -1 when out of memory. */
static int
fingerprint(json_t *args, char out[FP_LEN + 1], agent_err_t *err)
{
    char *text = args ? util_json_dumps(args, JSON_COMPACT) : NULL;

    json_decref(args);
    if (text == NULL)
        return agent_fail(err, AGENT_ERR_TRANSIENT, "Out of memory.");
    util_sha256_hex(text, strlen(text), out);
    free(text);
    return 0;
}

/* Answers a known operation id from the journal: 1 with *rc set when it did, 0 when the call must reach
 * the host. */
static int
replay(journal_t *j, const agent_call_t *call, const char *fp, char *result, int *rc,
       agent_err_t *err)
{
    answer_t ans;
    uint64_t end;
    int known;

    journal_lock(j);
    known = answer_from_json(json_object_get(j->index, call->op_id), &ans) == 0;
    end = known && j->log != NULL ? applog_end(j->log) : 0;
    journal_unlock(j);
    if (!known)
        return 0;
    if (end != 0 && applog_sync(j->log, end) != 0) /* the answer it gives is durable */
        *rc = agent_fail(err, AGENT_ERR_TRANSIENT, "The host could not record the answer of %s.",
                         call->op_id);
    else if (strcmp(ans.fingerprint, fp) != 0)
        *rc = agent_fail(err, AGENT_ERR_CONFLICT,
                         "The operation id %s was used before with other arguments.", call->op_id);
    else if (ans.status != AGENT_OK)
        *rc = agent_fail(err, ans.status, "%s", ans.message);
    else {
        if (result != NULL)
            memcpy(result, ans.result, AGENT_ID_MAX);
        if (call->progress != NULL && ans.progress.bytes_total > 0)
            *call->progress = ans.progress; /* a long call answers its final progress again */
        *rc = 0;
    }
    return 1;
}

/* Keeps the inner call's answer (rc, *inner_err, res) when it is final, then returns it to the caller
 * (result, err); a final answer that could not be recorded is a transient error, as the host's
 * change is idempotent by key and a retry is safe. */
static int
record(journal_t *j, const agent_call_t *call, const char *fp, int rc, const agent_err_t *inner_err,
       const char *res, char *result, agent_err_t *err)
{
    answer_t ans = {.status = rc == 0 ? AGENT_OK : inner_err->status};
    uint64_t end = 0;
    json_t *rec;
    int ok;

    if (rc != 0 && err != NULL)
        *err = *inner_err;
    if (!kept_status(ans.status))
        return rc;
    memcpy(ans.fingerprint, fp, FP_LEN + 1);
    if (rc == 0 && call->progress != NULL)
        ans.progress = *call->progress;
    snprintf(ans.message, sizeof(ans.message), "%s", rc == 0 ? "" : inner_err->message);
    snprintf(ans.result, sizeof(ans.result), "%s", res);
    rec = answer_to_json(&ans);
    journal_lock(j);
    ok = rec != NULL && (j->log == NULL || append(j, call->op_id, rec, &end) == 0);
    if (ok)
        ok = index_put(j, call->op_id, rec) == 0;
    else
        json_decref(rec);
    if (ok && j->log != NULL && applog_needs_compact(j->log, AGENT_JOURNAL_KEPT, 0))
        applog_compact(j->log, kept_records, j); /* on failure the next append tries again */
    journal_unlock(j);
    /* Durable before the answer; concurrent calls share the fdatasync (outside the lock). */
    if (ok && j->log != NULL)
        ok = applog_sync(j->log, end) == 0;
    if (!ok)
        return agent_fail(err, AGENT_ERR_TRANSIENT, "The host could not record the answer of %s.",
                          call->op_id);
    if (rc == 0 && result != NULL)
        memcpy(result, res, AGENT_ID_MAX);
    return rc;
}

/* Runs one changing slot through the journal: ARGS is the canonical array of the call (a new
 * reference), FORWARD the inner call, which writes its error to e_ and its result id to res_. */
#define JOURNAL_RUN(priv, call, result, err, ARGS, FORWARD)                                        \
    do {                                                                                           \
        journal_t *j_ = (priv);                                                                    \
        char fp_[FP_LEN + 1], res_[AGENT_ID_MAX] = "";                                             \
        agent_err_t e_ = {0};                                                                      \
        int rc_;                                                                                   \
        (void) res_;                                                                               \
        if (fingerprint((ARGS), fp_, (err)))                                                       \
            return -1;                                                                             \
        if (replay(j_, (call), fp_, (result), &rc_, (err)))                                        \
            return rc_;                                                                            \
        rc_ = (FORWARD);                                                                           \
        return record(j_, (call), fp_, rc_, &e_, res_, (result), (err));                           \
    } while (0)

#define OP(op) agent_op_name(AGENT_OP_##op)

/* ---- the slots ---- */

static int
journal_vm_create(void *priv, const agent_call_t *call, const agent_vm_spec_t *spec,
                  char hypervisor_id[AGENT_ID_MAX], agent_err_t *err)
{
    JOURNAL_RUN(priv, call, hypervisor_id, err, journal__spec_args(OP(VM_CREATE), spec),
                agent_vm_create(j_->inner, call, spec, res_, &e_));
}

static int
journal_vm_delete(void *priv, const agent_call_t *call, const char *hyp, agent_err_t *err)
{
    JOURNAL_RUN(priv, call, NULL, err, json_pack("[s, s]", OP(VM_DELETE), hyp),
                agent_vm_delete(j_->inner, call, hyp, &e_));
}

static int
journal_vm_power(void *priv, const agent_call_t *call, const char *hyp, agent_power_op_t op,
                 agent_err_t *err)
{
    JOURNAL_RUN(priv, call, NULL, err, json_pack("[s, s, i]", OP(VM_POWER), hyp, (int) op),
                agent_vm_power(j_->inner, call, hyp, op, &e_));
}

static int
journal_vm_release(void *priv, const agent_call_t *call, const char *hyp, agent_err_t *err)
{
    JOURNAL_RUN(priv, call, NULL, err, json_pack("[s, s]", OP(VM_RELEASE), hyp),
                agent_vm_release(j_->inner, call, hyp, &e_));
}

static int
journal_vm_reconfigure(void *priv, const agent_call_t *call, const char *hyp, int cores,
                       int memory_mb, agent_err_t *err)
{
    JOURNAL_RUN(priv, call, NULL, err,
                json_pack("[s, s, i, i]", OP(VM_RECONFIGURE), hyp, cores, memory_mb),
                agent_vm_reconfigure(j_->inner, call, hyp, cores, memory_mb, &e_));
}

static int
journal_disk_attach(void *priv, const agent_call_t *call, const char *hyp,
                    const agent_disk_spec_t *disk, agent_err_t *err)
{
    JOURNAL_RUN(priv, call, NULL, err, json_pack("[s, s, o]", OP(DISK_ATTACH), hyp, journal__disk_args(disk)),
                agent_disk_attach(j_->inner, call, hyp, disk, &e_));
}

static int
journal_disk_detach(void *priv, const agent_call_t *call, const char *hyp, int lun,
                    agent_err_t *err)
{
    JOURNAL_RUN(priv, call, NULL, err, json_pack("[s, s, i]", OP(DISK_DETACH), hyp, lun),
                agent_disk_detach(j_->inner, call, hyp, lun, &e_));
}

static int
journal_checkpoint_create(void *priv, const agent_call_t *call, const char *hyp, const char *name,
                          char checkpoint_id[AGENT_ID_MAX], agent_err_t *err)
{
    JOURNAL_RUN(priv, call, checkpoint_id, err,
                json_pack("[s, s, s]", OP(CHECKPOINT_CREATE), hyp, name),
                agent_checkpoint_create(j_->inner, call, hyp, name, res_, &e_));
}

static int
journal_checkpoint_delete(void *priv, const agent_call_t *call, const char *hyp, const char *cp,
                          agent_err_t *err)
{
    JOURNAL_RUN(priv, call, NULL, err, json_pack("[s, s, s]", OP(CHECKPOINT_DELETE), hyp, cp),
                agent_checkpoint_delete(j_->inner, call, hyp, cp, &e_));
}

static int
journal_checkpoint_restore(void *priv, const agent_call_t *call, const char *hyp, const char *cp,
                           agent_err_t *err)
{
    JOURNAL_RUN(priv, call, NULL, err, json_pack("[s, s, s]", OP(CHECKPOINT_RESTORE), hyp, cp),
                agent_checkpoint_restore(j_->inner, call, hyp, cp, &e_));
}

/* The snapshot's answer is its size: kept as the result text, read back from it. */
static int
snapshot_run(journal_t *j, const agent_call_t *call, const char *hyp, int lun, const char *volume_id,
             char result[AGENT_ID_MAX], agent_err_t *err)
{
    JOURNAL_RUN(j, call, result, err,
                json_pack("[s, s, i, s]", OP(VOLUME_SNAPSHOT), hyp, lun, volume_id),
                journal__snapshot_forward(j_->inner, call, hyp, lun, volume_id, res_, &e_));
}

static int
journal_volume_snapshot(void *priv, const agent_call_t *call, const char *hyp, int lun,
                        const char *volume_id, int64_t *size_gb, agent_err_t *err)
{
    char res[AGENT_ID_MAX] = "";

    if (snapshot_run(priv, call, hyp, lun, volume_id, res, err) != 0)
        return -1;
    if (journal__size_parse(res, size_gb) != 0)
        return agent_fail(err, AGENT_ERR_PERMANENT, "The journal's answer of %s is not a size.",
                          call->op_id);
    return 0;
}

static int
journal_volume_copy(void *priv, const agent_call_t *call, const agent_volume_src_t *src,
                    const char *volume_id, agent_err_t *err)
{
    JOURNAL_RUN(priv, call, NULL, err,
                json_pack("[s, s, s, I, s]", OP(VOLUME_COPY), src->host_id, src->volume_id,
                          (json_int_t) src->size_gb, volume_id),
                agent_volume_copy(j_->inner, call, src, volume_id, &e_));
}

static int
journal_volume_delete(void *priv, const agent_call_t *call, const char *volume_id, agent_err_t *err)
{
    JOURNAL_RUN(priv, call, NULL, err, json_pack("[s, s]", OP(VOLUME_DELETE), volume_id),
                agent_volume_delete(j_->inner, call, volume_id, &e_));
}

static int
journal_vm_import(void *priv, const agent_call_t *call, const agent_vm_spec_t *spec,
                  const agent_vm_source_t *src, char hypervisor_id[AGENT_ID_MAX], agent_err_t *err)
{
    JOURNAL_RUN(priv, call, hypervisor_id, err, journal__import_args(spec, src),
                agent_vm_import(j_->inner, call, spec, src, res_, &e_));
}

static int
journal_inventory(void *priv, const agent_call_t *call, agent_vm_list_t *vms, agent_err_t *err)
{
    return agent_inventory(((journal_t *) priv)->inner, call, vms, err);
}

static int
journal_host_info(void *priv, const agent_call_t *call, agent_host_info_t *info, agent_err_t *err)
{
    return agent_host_info(((journal_t *) priv)->inner, call, info, err);
}

static int
journal_simulate(void *priv, const json_t *command, json_t **result, agent_err_t *err)
{
    return agent_simulate(((journal_t *) priv)->inner, command, result, err);
}

static int
journal_reconfigure(void *priv, const agent_conf_t *conf, agent_err_t *err)
{
    return agent_reconfigure(((journal_t *) priv)->inner, conf, err);
}

/* ---- the decorator's life ---- */

static void
journal_close(void *priv)
{
    journal_t *j = priv;

    if (j == NULL)
        return;
    agent_close(j->inner);
    applog_close(j->log);
    json_decref(j->index);
    pthread_mutex_destroy(&j->lock);
    free(j);
}

/* Made by wrapping an agent, never registered or opened by kind: no check_uri, no open. */
static const agent_driver_t journal_driver = {
    .name = "journal",
    .close = journal_close,
    .reconfigure = journal_reconfigure,
    .vm_create = journal_vm_create,
    .vm_delete = journal_vm_delete,
    .vm_power = journal_vm_power,
    .vm_release = journal_vm_release,
    .vm_reconfigure = journal_vm_reconfigure,
    .disk_attach = journal_disk_attach,
    .disk_detach = journal_disk_detach,
    .checkpoint_create = journal_checkpoint_create,
    .checkpoint_delete = journal_checkpoint_delete,
    .checkpoint_restore = journal_checkpoint_restore,
    .inventory = journal_inventory,
    .host_info = journal_host_info,
    .volume_snapshot = journal_volume_snapshot,
    .volume_copy = journal_volume_copy,
    .volume_delete = journal_volume_delete,
    .vm_import = journal_vm_import,
    .simulate = journal_simulate,
};

/* Opens (creating it and its directory when missing) the journal's file and reads it back. */
static int
open_file(journal_t *j, const char *path, agent_err_t *err)
{
    char dir[PATH_MAX];
    int rc;

    if (strlen(path) >= PATH_MAX - 8)
        return agent_fail(err, AGENT_ERR_PERMANENT, "The operation journal's path is unusable.");
    snprintf(dir, sizeof(dir), "%s", path);
    if (mkdir(dirname(dir), 0700) != 0 && errno != EEXIST)
        return agent_fail(err, AGENT_ERR_PERMANENT, "The operation journal's directory is unusable.");
    rc = applog_open(path, load_line, j, &j->log);
    if (rc == APPLOG_ERR_DAMAGED)
        return agent_fail(err, AGENT_ERR_PERMANENT, "The operation journal is damaged.");
    if (rc != 0)
        return agent_fail(err, AGENT_ERR_PERMANENT, "The operation journal cannot be opened.");
    if (j->load_failed)
        return agent_fail(err, AGENT_ERR_PERMANENT, "The operation journal cannot be read.");
    return 0;
}

agent_t *
agent_journal_wrap(agent_t *inner, const char *path, agent_err_t *err)
{
    journal_t *j;
    agent_t *a = NULL;

    assert(inner != NULL);
    j = calloc(1, sizeof(*j));
    if (j == NULL) {
        agent_close(inner);
        agent_fail(err, AGENT_ERR_TRANSIENT, "Out of memory.");
        return NULL;
    }
    j->inner = inner;
    pthread_mutex_init(&j->lock, NULL);
    j->index = json_object();
    if (j->index == NULL)
        agent_fail(err, AGENT_ERR_TRANSIENT, "Out of memory.");
    else if (path == NULL || path[0] == '\0' || open_file(j, path, err) == 0) {
        a = agent__new(&journal_driver, j);
        if (a == NULL)
            agent_fail(err, AGENT_ERR_TRANSIENT, "Out of memory.");
    }
    if (a == NULL)
        journal_close(j);
    return a;
}
