/*
 * agent_sim.c: the simulator agent, an in-process simulated Hyper-V host (driver "sim").
 *
 * The host keeps each VM (power state, size, disks, checkpoints) in STATE_DIR/sim/<host id>/<vm>.json,
 * together with the answers of the last calls that changed it; a call's change and its answer are written
 * atomically (temp file and rename) in that one file, so that, like a real host, it still has its VMs after
 * the daemon restarts, crash included, and never applies a call twice. A deleted VM leaves a small
 * tombstone file with its answers.
 *
 * Behaviour from the host's uri, `sim://?latencyMs=200&jitterMs=50&failRate=0.05&hangRate=0.01`:
 * - every call takes latencyMs plus up to jitterMs;
 * - failRate: the call fails with a permanent error and changes nothing;
 * - hangRate: the call does not answer until its timeout; half of such calls were carried out on the host
 *   before the answer was lost, as happens with a real remote host (a retry with the same operation id then
 *   gets the recorded answer).
 * Differencing disks: a checkpoint's disk starts empty and grows while the VM runs, by diffGBPerHour
 * (uri, default 1) for every hour of running since the checkpoint was taken, up to the size of the VM's
 * disks; restoring the checkpoint empties it again (the changes since are discarded). The host reports the
 * current size (sizeGB) of each checkpoint in its inventory.
 * Operation ids: the answer of every call that reached the host is recorded (the last 512), and a call
 * with a recorded id gets that answer again without being applied twice.
 *
 * Invariants: one lock per host guards its state; sleeps (latency, hangs) happen outside it.
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "agent.h"
#include "util.h"

/* Answers kept for operation ids: only calls still in flight are ever asked again (a job retrying or
 * resuming its step), and a host never has more than a few of those. */
#define SIM_OPS_KEPT 512

#define SIM_VM_OPS_KEPT 16

typedef struct {
    char host_id[AGENT_ID_MAX];
    char path[PATH_MAX]; /* the host's directory; empty: memory only */
    char dirty[AGENT_ID_MAX]; /* the VM the call being applied changed */
    json_t *graveyard;        /* deleted VMs' answers, until their tombstone is written */
    int latency_ms, jitter_ms;
    double fail_rate, hang_rate;
    double diff_gb_per_hour;
    pthread_mutex_t lock;
    unsigned seed;
    json_t *vms;      /* {hypervisorId: vm} */
    json_t *ops;      /* {opId: {status, message, result}} */
    json_t *op_order; /* [opId…], oldest first */
} sim_t;

/* ---- parsing and persistence ---- */

static int
parse_uri(sim_t *s, const char *uri, agent_err_t *err)
{
    const char *q;
    char key[32], val[64], *end;
    int n;
    double d;

    if (uri == NULL || uri[0] == '\0')
        return 0;
    if (strncmp(uri, "sim://", 6) != 0)
        return agent_fail(err, AGENT_ERR_PERMANENT, "A sim host's uri starts with sim://.");
    q = strchr(uri, '?');
    for (q = q ? q + 1 : ""; *q;) {
        n = 0;
        if (sscanf(q, "%31[^=&]=%63[^&]%n", key, val, &n) != 2 || n == 0)
            return agent_fail(err, AGENT_ERR_PERMANENT, "The sim uri has a malformed parameter.");
        d = strtod(val, &end);
        if (*end != '\0' || d < 0)
            return agent_fail(err, AGENT_ERR_PERMANENT, "The sim uri parameter %s is not a number.",
                              key);
        if (strcmp(key, "latencyMs") == 0)
            s->latency_ms = (int) d;
        else if (strcmp(key, "jitterMs") == 0)
            s->jitter_ms = (int) d;
        else if (strcmp(key, "failRate") == 0)
            s->fail_rate = d;
        else if (strcmp(key, "hangRate") == 0)
            s->hang_rate = d;
        else if (strcmp(key, "diffGBPerHour") == 0)
            s->diff_gb_per_hour = d;
        else
            return agent_fail(err, AGENT_ERR_PERMANENT, "The sim uri has an unknown parameter %s.",
                              key);
        q += n;
        if (*q == '&')
            q++;
    }
    return 0;
}

/* Writes the file of the VM the last call changed (or its tombstone); lock held. A failure to persist
 * fails the call. */
static int
save(sim_t *s, agent_err_t *err)
{
    char file[PATH_MAX + AGENT_ID_MAX + 16], tmp[PATH_MAX + AGENT_ID_MAX + 24];
    json_t *vm, *doc;
    char *text;
    FILE *f;
    int ok;

    if (s->path[0] == '\0' || s->dirty[0] == '\0')
        return 0;
    vm = json_object_get(s->vms, s->dirty);
    doc = vm ? json_incref(vm) : json_pack("{s:b, s:O}", "deleted", 1, "_ops",
                                           json_object_get(s->graveyard, s->dirty));
    snprintf(file, sizeof(file), "%s/%s.json", s->path, s->dirty);
    snprintf(tmp, sizeof(tmp), "%s.tmp", file);
    text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
    json_decref(doc);
    f = text ? fopen(tmp, "w") : NULL;
    ok = f && fputs(text, f) >= 0;
    if (f && fclose(f) != 0)
        ok = 0;
    free(text);
    json_object_del(s->graveyard, s->dirty);
    if (!ok || rename(tmp, file) != 0)
        return agent_fail(err, AGENT_ERR_TRANSIENT, "The simulated host could not save its state.");
    return 0;
}

static void remember_op(sim_t *s, const char *op_id, json_t *answer);

static int
load(sim_t *s, agent_err_t *err)
{
    char file[PATH_MAX + 300];
    json_error_t jerr;
    struct dirent *de;
    const char *key;
    json_t *doc, *ans;
    DIR *d;
    size_t n;

    s->vms = json_object();
    s->ops = json_object();
    s->op_order = json_array();
    s->graveyard = json_object();
    if (s->path[0] == '\0' || (d = opendir(s->path)) == NULL)
        return 0;
    while ((de = readdir(d)) != NULL) {
        n = strlen(de->d_name);
        if (n < 6 || strcmp(de->d_name + n - 5, ".json") != 0)
            continue;
        snprintf(file, sizeof(file), "%s/%s", s->path, de->d_name);
        doc = json_load_file(file, 0, &jerr);
        if (doc == NULL) {
            closedir(d);
            return agent_fail(err, AGENT_ERR_PERMANENT, "A simulated VM's state file is unreadable.");
        }
        json_object_foreach(json_object_get(doc, "_ops"), key, ans)
            remember_op(s, key, json_incref(ans));
        if (!json_is_true(json_object_get(doc, "deleted")))
            json_object_set(s->vms, json_string_value(json_object_get(doc, "hypervisorId")), doc);
        json_decref(doc);
    }
    closedir(d);
    return 0;
}

static int
sim_open(const char *host_id, const char *uri, const char *state_dir, void **priv, agent_err_t *err)
{
    sim_t *s = calloc(1, sizeof(*s));
    char dir[PATH_MAX];
    unsigned char seed[sizeof(unsigned)];

    if (s == NULL)
        return agent_fail(err, AGENT_ERR_TRANSIENT, "Out of memory.");
    snprintf(s->host_id, sizeof(s->host_id), "%s", host_id ? host_id : "sim");
    s->diff_gb_per_hour = 1;
    if (parse_uri(s, uri, err)) {
        free(s);
        return -1;
    }
    if (state_dir && state_dir[0]) {
        snprintf(dir, sizeof(dir), "%s/sim", state_dir);
        if (strlen(dir) + strlen(s->host_id) + 2 > sizeof(s->path) ||
            (mkdir(dir, 0700) != 0 && errno != EEXIST)) {
            free(s);
            return agent_fail(err, AGENT_ERR_PERMANENT, "The simulated host has no state directory.");
        }
        strcpy(s->path, dir);
        strcat(s->path, "/");
        strcat(s->path, s->host_id);
        if (mkdir(s->path, 0700) != 0 && errno != EEXIST) {
            free(s);
            return agent_fail(err, AGENT_ERR_PERMANENT, "The simulated host has no state directory.");
        }
    }
    if (load(s, err)) {
        json_decref(s->vms);
        json_decref(s->ops);
        json_decref(s->op_order);
        json_decref(s->graveyard);
        free(s);
        return -1;
    }
    util_random_bytes(seed, sizeof(seed));
    memcpy(&s->seed, seed, sizeof(seed));
    pthread_mutex_init(&s->lock, NULL);
    *priv = s;
    return 0;
}

static int
sim_reconfigure(void *priv, const char *uri, agent_err_t *err)
{
    sim_t *s = priv, next;

    memset(&next, 0, sizeof(next));
    next.diff_gb_per_hour = 1;
    if (parse_uri(&next, uri, err))
        return -1;
    pthread_mutex_lock(&s->lock);
    s->latency_ms = next.latency_ms;
    s->jitter_ms = next.jitter_ms;
    s->fail_rate = next.fail_rate;
    s->hang_rate = next.hang_rate;
    s->diff_gb_per_hour = next.diff_gb_per_hour;
    pthread_mutex_unlock(&s->lock);
    return 0;
}

static void
sim_close(void *priv)
{
    sim_t *s = priv;

    if (s == NULL)
        return;
    json_decref(s->vms);
    json_decref(s->ops);
    json_decref(s->op_order);
    json_decref(s->graveyard);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

/* ---- the call frame: latency, faults, operation ids ---- */

static void
sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long) (ms % 1000) * 1000000L};

    while (ms > 0 && nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

static double
roll(sim_t *s)
{
    double r;

    pthread_mutex_lock(&s->lock);
    r = (double) rand_r(&s->seed) / ((double) RAND_MAX + 1.0);
    pthread_mutex_unlock(&s->lock);
    return r;
}

typedef enum {
    FRAME_RUN,     /* carry the call out */
    FRAME_REPLAY,  /* answered from the record */
    FRAME_FAIL,    /* fault injected, nothing done */
} frame_t;

/* What happens to a call before it touches the host: latency, a recorded answer, an injected fault.
 * *hang tells the caller to carry the call out and then lose the answer (or not carry it out at all). */
static frame_t
frame_begin(sim_t *s, const agent_call_t *call, char result[AGENT_ID_MAX], bool *hang,
            bool *apply_on_hang, agent_err_t *err)
{
    int delay = s->latency_ms;
    json_t *rec;
    frame_t f = FRAME_RUN;

    *hang = false;
    *apply_on_hang = false;
    if (s->jitter_ms > 0)
        delay += (int) (roll(s) * (s->jitter_ms + 1));
    if (delay >= call->timeout_ms) {
        sleep_ms(call->timeout_ms);
        agent_fail(err, AGENT_ERR_TIMEOUT, "The simulated host did not answer within %d ms.",
                   call->timeout_ms);
        return FRAME_FAIL;
    }
    sleep_ms(delay);
    pthread_mutex_lock(&s->lock);
    rec = json_object_get(s->ops, call->op_id);
    if (rec != NULL) {
        agent_status_t st = (agent_status_t) json_integer_value(json_object_get(rec, "status"));
        if (st != AGENT_OK)
            agent_fail(err, st, "%s", json_string_value(json_object_get(rec, "message")));
        if (result && json_is_string(json_object_get(rec, "result")))
            snprintf(result, AGENT_ID_MAX, "%s", json_string_value(json_object_get(rec, "result")));
        f = st == AGENT_OK ? FRAME_REPLAY : FRAME_FAIL;
    }
    pthread_mutex_unlock(&s->lock);
    if (rec != NULL)
        return f;
    if (s->fail_rate > 0 && roll(s) < s->fail_rate) {
        agent_fail(err, AGENT_ERR_PERMANENT, "The simulated host failed the call (injected fault).");
        return FRAME_FAIL;
    }
    if (s->hang_rate > 0 && roll(s) < s->hang_rate) {
        *hang = true;
        *apply_on_hang = roll(s) < 0.5;
    }
    return FRAME_RUN;
}

/* Keeps an answer (stolen) in the in-memory index of recent answers; lock held. */
static void
remember_op(sim_t *s, const char *op_id, json_t *answer)
{
    json_t *old;

    if (json_object_get(s->ops, op_id) == NULL)
        json_array_append_new(s->op_order, json_string(op_id));
    json_object_set_new(s->ops, op_id, answer);
    while (json_array_size(s->op_order) > SIM_OPS_KEPT) {
        old = json_array_get(s->op_order, 0);
        json_object_del(s->ops, json_string_value(old));
        json_array_remove(s->op_order, 0);
    }
}

/* Records the answer of a call that reached the host, in the index and with the VM it changed (so that
 * both are saved in one write); lock held. */
static void
record_op(sim_t *s, const char *op_id, agent_status_t status, const char *message,
          const char *result)
{
    json_t *answer = json_pack("{s:i, s:s, s:s}", "status", (int) status, "message",
                               message ? message : "", "result", result ? result : "");
    json_t *holder = NULL, *ops;
    const char *first;
    void *iter;

    if (answer == NULL)
        return;
    if (s->dirty[0]) {
        holder = json_object_get(s->vms, s->dirty);
        if (holder == NULL)
            holder = json_object_get(s->graveyard, s->dirty);
    }
    if (holder != NULL) {
        ops = json_object_get(holder, "_ops");
        if (!json_is_object(ops)) {
            ops = json_object();
            json_object_set_new(holder, "_ops", ops);
        }
        json_object_set(ops, op_id, answer);
        while (json_object_size(ops) > SIM_VM_OPS_KEPT) {
            iter = json_object_iter(ops);
            first = json_object_iter_key(iter);
            json_object_del(ops, first);
        }
    }
    remember_op(s, op_id, answer);
}

typedef int (*apply_fn)(sim_t *s, void *args, char result[AGENT_ID_MAX], agent_err_t *err);

/* Runs one call: frame, then apply under the lock, record, save; a hang then waits out the timeout. */
static int
run_call(sim_t *s, const agent_call_t *call, apply_fn fn, void *args, char result[AGENT_ID_MAX],
         agent_err_t *err)
{
    char res[AGENT_ID_MAX] = "";
    agent_err_t local = {0};
    bool hang, apply_on_hang;
    frame_t f = frame_begin(s, call, result, &hang, &apply_on_hang, err);
    int rc;

    if (f == FRAME_REPLAY)
        return 0;
    if (f == FRAME_FAIL)
        return -1;
    if (hang && !apply_on_hang) {
        sleep_ms(call->timeout_ms);
        return agent_fail(err, AGENT_ERR_TIMEOUT, "The simulated host did not answer within %d ms.",
                          call->timeout_ms);
    }
    pthread_mutex_lock(&s->lock);
    s->dirty[0] = '\0';
    rc = fn(s, args, res, &local);
    record_op(s, call->op_id, rc == 0 ? AGENT_OK : local.status, local.message, res);
    if (save(s, &local) != 0 && rc == 0) {
        /* Not persisted: forget the answer so that a retry does it again. */
        json_object_del(s->ops, call->op_id);
        rc = -1;
    }
    pthread_mutex_unlock(&s->lock);
    if (hang) {
        sleep_ms(call->timeout_ms);
        return agent_fail(err, AGENT_ERR_TIMEOUT,
                          "The simulated host did not answer within %d ms.", call->timeout_ms);
    }
    if (rc != 0) {
        if (err)
            *err = local;
        return -1;
    }
    if (result)
        snprintf(result, AGENT_ID_MAX, "%s", res);
    return 0;
}

/* ---- operations (lock held) ---- */

static json_t *
find_vm(sim_t *s, const char *hyp, agent_err_t *err)
{
    json_t *vm = json_object_get(s->vms, hyp);

    if (vm == NULL)
        agent_fail(err, AGENT_ERR_NOT_FOUND, "The host has no VM %s.", hyp);
    else
        snprintf(s->dirty, sizeof(s->dirty), "%s", hyp);
    return vm;
}

static const char *
power_of(const json_t *vm)
{
    return json_string_value(json_object_get(vm, "powerState"));
}

typedef struct {
    const agent_vm_spec_t *spec;
} create_args_t;

static int
op_vm_create(sim_t *s, void *args, char result[AGENT_ID_MAX], agent_err_t *err)
{
    const agent_vm_spec_t *spec = ((create_args_t *) args)->spec;
    char id[UTIL_UUID_LEN + 1], now[UTIL_TIME_LEN + 1];
    json_t *disks = json_array(), *d;
    size_t i;

    (void) err;
    json_array_append_new(disks, json_pack("{s:n, s:s, s:i}", "lun", "kind", "os", "sizeGB",
                                           spec->os_disk_gb));
    json_array_foreach(spec->data_disks, i, d)
        json_array_append_new(disks, json_pack("{s:O, s:s, s:O}", "lun", json_object_get(d, "lun"),
                                               "kind", "data", "sizeGB",
                                               json_object_get(d, "sizeGB")));
    util_uuid(id);
    util_time_format(util_now_ms(), now);
    snprintf(result, AGENT_ID_MAX, "sim-%s", id);
    snprintf(s->dirty, sizeof(s->dirty), "%s", result);
    json_object_set_new(s->vms, result,
                        json_pack("{s:s, s:s, s:s, s:i, s:i, s:o, s:{}, s:s}", "hypervisorId",
                                  result, "name", spec->name ? spec->name : "", "powerState",
                                  "stopped", "cores", spec->cores, "memoryMB", spec->memory_mb,
                                  "disks", disks, "checkpoints", "createdAt", now));
    return 0;
}

static int
op_vm_delete(sim_t *s, void *args, char result[AGENT_ID_MAX], agent_err_t *err)
{
    const char *hyp = args;

    json_t *vm;

    (void) result;
    if ((vm = find_vm(s, hyp, err)) == NULL)
        return -1;
    /* The VM goes; its answers stay, in the tombstone save() writes. */
    json_object_set_new(s->graveyard, hyp,
                        json_pack("{s:O}", "_ops",
                                  json_object_get(vm, "_ops") ? json_object_get(vm, "_ops")
                                                              : json_object()));
    json_object_del(s->vms, hyp);
    return 0;
}

/* ---- differencing disk growth ---- */

/* Folds the running time since the last settle into each checkpoint's account; lock held. */
static void
settle(json_t *vm, int64_t now)
{
    json_t *since = json_object_get(vm, "runningSinceMs"), *cp;
    const char *key;
    int64_t from, start;

    if (!json_is_integer(since))
        return;
    start = json_integer_value(since);
    json_object_foreach(json_object_get(vm, "checkpoints"), key, cp) {
        from = json_integer_value(json_object_get(cp, "sinceMs"));
        if (from < start)
            from = start;
        if (now > from)
            json_object_set_new(cp, "accumMs",
                                json_integer(json_integer_value(json_object_get(cp, "accumMs")) +
                                             (now - from)));
        json_object_set_new(cp, "sinceMs", json_integer(now));
    }
    json_object_set_new(vm, "runningSinceMs", json_integer(now));
}

/* Sets the VM's power state, keeping the growth accounts right; lock held. */
static void
set_power(json_t *vm, const char *ps)
{
    int64_t now = util_now_ms();

    settle(vm, now);
    json_object_set_new(vm, "runningSinceMs",
                        strcmp(ps, "running") == 0 ? json_integer(now) : json_null());
    json_object_set_new(vm, "powerState", json_string(ps));
}

/* The checkpoint's differencing disk size now; lock held. */
static int64_t
diff_size_gb(const sim_t *s, const json_t *vm, const json_t *cp, int64_t now)
{
    int64_t ms = json_integer_value(json_object_get(cp, "accumMs")), from, cap = 0;
    const json_t *since = json_object_get(vm, "runningSinceMs"), *d;
    size_t i;
    double gb;

    if (json_is_integer(since)) {
        from = json_integer_value(json_object_get(cp, "sinceMs"));
        if (from < json_integer_value(since))
            from = json_integer_value(since);
        if (now > from)
            ms += now - from;
    }
    json_array_foreach(json_object_get(vm, "disks"), i, d)
        cap += json_integer_value(json_object_get(d, "sizeGB"));
    gb = (double) ms / 3600000.0 * s->diff_gb_per_hour;
    return gb >= (double) cap ? cap : (int64_t) gb;
}

typedef struct {
    const char *hyp;
    agent_power_op_t op;
} power_args_t;

static int
op_vm_power(sim_t *s, void *args, char result[AGENT_ID_MAX], agent_err_t *err)
{
    power_args_t *a = args;
    json_t *vm = find_vm(s, a->hyp, err);
    const char *ps;

    (void) result;
    if (vm == NULL)
        return -1;
    ps = power_of(vm);
    if (a->op == AGENT_POWER_START) {
        if (strcmp(ps, "running") == 0)
            return 0; /* already: the host answers success, as Start-VM does */
        set_power(vm, "running");
        return 0;
    }
    if (strcmp(ps, "running") != 0)
        return agent_fail(err, AGENT_ERR_PERMANENT, "The VM is not running.");
    if (a->op != AGENT_POWER_RESTART)
        set_power(vm, "stopped");
    return 0;
}

static int
op_vm_release(sim_t *s, void *args, char result[AGENT_ID_MAX], agent_err_t *err)
{
    json_t *vm = find_vm(s, args, err);

    (void) result;
    if (vm == NULL)
        return -1;
    set_power(vm, "deallocated");
    return 0;
}

typedef struct {
    const char *hyp;
    int a, b;
    const char *name;
} vm_args_t;

static int
op_vm_reconfigure(sim_t *s, void *args, char result[AGENT_ID_MAX], agent_err_t *err)
{
    vm_args_t *a = args;
    json_t *vm = find_vm(s, a->hyp, err);

    (void) result;
    if (vm == NULL)
        return -1;
    if (strcmp(power_of(vm), "running") == 0)
        return agent_fail(err, AGENT_ERR_PERMANENT, "A running VM cannot be resized.");
    json_object_set_new(vm, "cores", json_integer(a->a));
    json_object_set_new(vm, "memoryMB", json_integer(a->b));
    return 0;
}

static int
find_lun(const json_t *disks, int lun)
{
    json_t *d;
    size_t i;

    json_array_foreach(disks, i, d)
        if (json_is_integer(json_object_get(d, "lun")) &&
            json_integer_value(json_object_get(d, "lun")) == lun)
            return (int) i;
    return -1;
}

static int
op_disk_attach(sim_t *s, void *args, char result[AGENT_ID_MAX], agent_err_t *err)
{
    vm_args_t *a = args;
    json_t *vm = find_vm(s, a->hyp, err), *disks;

    (void) result;
    if (vm == NULL)
        return -1;
    disks = json_object_get(vm, "disks");
    if (find_lun(disks, a->a) >= 0)
        return agent_fail(err, AGENT_ERR_PERMANENT, "Lun %d is taken.", a->a);
    json_array_append_new(disks, json_pack("{s:i, s:s, s:i}", "lun", a->a, "kind", "data",
                                           "sizeGB", a->b));
    return 0;
}

static int
op_disk_detach(sim_t *s, void *args, char result[AGENT_ID_MAX], agent_err_t *err)
{
    vm_args_t *a = args;
    json_t *vm = find_vm(s, a->hyp, err);
    int i;

    (void) result;
    if (vm == NULL)
        return -1;
    i = find_lun(json_object_get(vm, "disks"), a->a);
    if (i < 0)
        return agent_fail(err, AGENT_ERR_NOT_FOUND, "The VM has no disk at lun %d.", a->a);
    json_array_remove(json_object_get(vm, "disks"), (size_t) i);
    return 0;
}

static int
op_checkpoint_create(sim_t *s, void *args, char result[AGENT_ID_MAX], agent_err_t *err)
{
    vm_args_t *a = args;
    json_t *vm = find_vm(s, a->hyp, err);
    char id[UTIL_UUID_LEN + 1], now[UTIL_TIME_LEN + 1];

    if (vm == NULL)
        return -1;
    util_uuid(id);
    util_time_format(util_now_ms(), now);
    snprintf(result, AGENT_ID_MAX, "cp-%s", id);
    settle(vm, util_now_ms());
    /* A new differencing disk starts empty; it grows with the VM's writes. */
    json_object_set_new(json_object_get(vm, "checkpoints"), result,
                        json_pack("{s:s, s:s, s:O, s:i, s:s, s:I, s:I}", "id", result, "name",
                                  a->name, "powerState", json_object_get(vm, "powerState"),
                                  "sizeGB", 0, "createdAt", now, "accumMs", (json_int_t) 0,
                                  "sinceMs", (json_int_t) util_now_ms()));
    return 0;
}

static int
op_checkpoint_delete(sim_t *s, void *args, char result[AGENT_ID_MAX], agent_err_t *err)
{
    vm_args_t *a = args;
    json_t *vm = find_vm(s, a->hyp, err), *cps;

    (void) result;
    if (vm == NULL)
        return -1;
    cps = json_object_get(vm, "checkpoints");
    if (json_object_get(cps, a->name) == NULL)
        return agent_fail(err, AGENT_ERR_NOT_FOUND, "The VM has no checkpoint %s.", a->name);
    json_object_del(cps, a->name);
    return 0;
}

static int
op_checkpoint_restore(sim_t *s, void *args, char result[AGENT_ID_MAX], agent_err_t *err)
{
    vm_args_t *a = args;
    json_t *vm = find_vm(s, a->hyp, err), *cp;

    (void) result;
    if (vm == NULL)
        return -1;
    cp = json_object_get(json_object_get(vm, "checkpoints"), a->name);
    if (cp == NULL)
        return agent_fail(err, AGENT_ERR_NOT_FOUND, "The VM has no checkpoint %s.", a->name);
    /* The VM returns to the power state it had when the checkpoint was taken, and the changes since
     * (the differencing disk) are discarded. */
    set_power(vm, json_string_value(json_object_get(cp, "powerState")));
    json_object_set_new(cp, "accumMs", json_integer(0));
    json_object_set_new(cp, "sinceMs", json_integer(util_now_ms()));
    return 0;
}

/* ---- the driver table ---- */

static int
sim_vm_create(void *priv, const agent_call_t *call, const agent_vm_spec_t *spec,
              char hypervisor_id[AGENT_ID_MAX], agent_err_t *err)
{
    create_args_t a = {spec};

    return run_call(priv, call, op_vm_create, &a, hypervisor_id, err);
}

static int
sim_vm_delete(void *priv, const agent_call_t *call, const char *hyp, agent_err_t *err)
{
    return run_call(priv, call, op_vm_delete, (void *) hyp, NULL, err);
}

static int
sim_vm_power(void *priv, const agent_call_t *call, const char *hyp, agent_power_op_t op,
             agent_err_t *err)
{
    power_args_t a = {hyp, op};

    return run_call(priv, call, op_vm_power, &a, NULL, err);
}

static int
sim_vm_release(void *priv, const agent_call_t *call, const char *hyp, agent_err_t *err)
{
    return run_call(priv, call, op_vm_release, (void *) hyp, NULL, err);
}

static int
sim_vm_reconfigure(void *priv, const agent_call_t *call, const char *hyp, int cores, int memory_mb,
                   agent_err_t *err)
{
    vm_args_t a = {hyp, cores, memory_mb, NULL};

    return run_call(priv, call, op_vm_reconfigure, &a, NULL, err);
}

static int
sim_disk_attach(void *priv, const agent_call_t *call, const char *hyp, int lun, int size_gb,
                agent_err_t *err)
{
    vm_args_t a = {hyp, lun, size_gb, NULL};

    return run_call(priv, call, op_disk_attach, &a, NULL, err);
}

static int
sim_disk_detach(void *priv, const agent_call_t *call, const char *hyp, int lun, agent_err_t *err)
{
    vm_args_t a = {hyp, lun, 0, NULL};

    return run_call(priv, call, op_disk_detach, &a, NULL, err);
}

static int
sim_checkpoint_create(void *priv, const agent_call_t *call, const char *hyp, const char *name,
                      char checkpoint_id[AGENT_ID_MAX], agent_err_t *err)
{
    vm_args_t a = {hyp, 0, 0, name};

    return run_call(priv, call, op_checkpoint_create, &a, checkpoint_id, err);
}

static int
sim_checkpoint_delete(void *priv, const agent_call_t *call, const char *hyp, const char *cp,
                      agent_err_t *err)
{
    vm_args_t a = {hyp, 0, 0, cp};

    return run_call(priv, call, op_checkpoint_delete, &a, NULL, err);
}

static int
sim_checkpoint_restore(void *priv, const agent_call_t *call, const char *hyp, const char *cp,
                       agent_err_t *err)
{
    vm_args_t a = {hyp, 0, 0, cp};

    return run_call(priv, call, op_checkpoint_restore, &a, NULL, err);
}

/* Reads are not recorded as operations: they change nothing and may be asked again at will. */
static int
read_frame(sim_t *s, const agent_call_t *call, agent_err_t *err)
{
    int delay = s->latency_ms + (s->jitter_ms > 0 ? (int) (roll(s) * (s->jitter_ms + 1)) : 0);

    if (delay >= call->timeout_ms || (s->hang_rate > 0 && roll(s) < s->hang_rate)) {
        sleep_ms(call->timeout_ms);
        return agent_fail(err, AGENT_ERR_TIMEOUT, "The simulated host did not answer within %d ms.",
                          call->timeout_ms);
    }
    sleep_ms(delay);
    if (s->fail_rate > 0 && roll(s) < s->fail_rate)
        return agent_fail(err, AGENT_ERR_TRANSIENT, "The simulated host failed the call (injected "
                                                    "fault).");
    return 0;
}

static int
sim_inventory(void *priv, const agent_call_t *call, json_t **vms, agent_err_t *err)
{
    sim_t *s = priv;
    const char *key;
    json_t *vm, *list;

    if (read_frame(s, call, err))
        return -1;
    list = json_array();
    pthread_mutex_lock(&s->lock);
    json_object_foreach(s->vms, key, vm) {
        json_t *copy = json_deep_copy(vm), *cp;
        const char *ck;
        json_object_del(copy, "_ops");
        json_object_del(copy, "runningSinceMs");
        json_object_foreach(json_object_get(copy, "checkpoints"), ck, cp) {
            json_object_set_new(cp, "sizeGB",
                                json_integer(diff_size_gb(s, vm, json_object_get(json_object_get(
                                                                     vm, "checkpoints"),
                                                                 ck),
                                                          util_now_ms())));
            json_object_del(cp, "accumMs");
            json_object_del(cp, "sinceMs");
        }
        json_array_append_new(list, copy);
    }
    pthread_mutex_unlock(&s->lock);
    *vms = list;
    return 0;
}

static int
sim_host_info(void *priv, const agent_call_t *call, json_t **info, agent_err_t *err)
{
    sim_t *s = priv;
    json_int_t cores = 0, memory = 0;
    const char *key;
    json_t *vm;
    size_t n;

    if (read_frame(s, call, err))
        return -1;
    pthread_mutex_lock(&s->lock);
    n = json_object_size(s->vms);
    json_object_foreach(s->vms, key, vm) {
        if (strcmp(power_of(vm), "deallocated") == 0)
            continue;
        cores += json_integer_value(json_object_get(vm, "cores"));
        memory += json_integer_value(json_object_get(vm, "memoryMB"));
    }
    pthread_mutex_unlock(&s->lock);
    *info = json_pack("{s:s, s:I, s:I, s:I}", "kind", "sim", "vms", (json_int_t) n, "cores", cores,
                      "memoryMB", memory);
    return 0;
}

/* The storage incident: each named VM reappears under a new hypervisor id (its checkpoints, disks and
 * power state kept); the old id is gone. */
static int
sim_simulate(void *priv, const json_t *command, json_t **result, agent_err_t *err)
{
    sim_t *s = priv;
    json_t *ids = json_object_get(command, "regenerateIds"), *id, *vm, *map = json_object();
    char fresh[AGENT_ID_MAX], uuid[UTIL_UUID_LEN + 1];
    const char *old;
    size_t i;
    int rc = 0;

    pthread_mutex_lock(&s->lock);
    json_array_foreach(ids, i, id) {
        old = json_string_value(id);
        vm = old ? json_object_get(s->vms, old) : NULL;
        if (vm == NULL) {
            rc = agent_fail(err, AGENT_ERR_NOT_FOUND, "The host has no VM %s.", old ? old : "");
            break;
        }
        util_uuid(uuid);
        snprintf(fresh, sizeof(fresh), "sim-%s", uuid);
        json_incref(vm);
        json_object_set_new(vm, "hypervisorId", json_string(fresh));
        json_object_set_new(s->graveyard, old, json_pack("{s:{}}", "_ops"));
        json_object_del(s->vms, old);
        json_object_set_new(s->vms, fresh, vm);
        snprintf(s->dirty, sizeof(s->dirty), "%s", fresh);
        if (save(s, err) != 0) {
            rc = -1;
            break;
        }
        snprintf(s->dirty, sizeof(s->dirty), "%s", old);
        if (save(s, err) != 0) {
            rc = -1;
            break;
        }
        json_object_set_new(map, old, json_string(fresh));
    }
    pthread_mutex_unlock(&s->lock);
    if (rc != 0) {
        json_decref(map);
        return -1;
    }
    *result = json_pack("{s:o}", "regenerated", map);
    return 0;
}

static const agent_driver_t sim_driver = {
    .name = "sim",
    .open = sim_open,
    .close = sim_close,
    .reconfigure = sim_reconfigure,
    .vm_create = sim_vm_create,
    .vm_delete = sim_vm_delete,
    .vm_power = sim_vm_power,
    .vm_release = sim_vm_release,
    .vm_reconfigure = sim_vm_reconfigure,
    .disk_attach = sim_disk_attach,
    .disk_detach = sim_disk_detach,
    .checkpoint_create = sim_checkpoint_create,
    .checkpoint_delete = sim_checkpoint_delete,
    .checkpoint_restore = sim_checkpoint_restore,
    .inventory = sim_inventory,
    .host_info = sim_host_info,
    .simulate = sim_simulate,
};

int
agent_sim_register(void)
{
    return agent_register(&sim_driver);
}
