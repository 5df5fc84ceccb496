/*
 * sim.c: the simulator agent, an in-process simulated Hyper-V host (driver "sim"): its options, its life
 * (open, reconfigure, close), its simulator controls, and its driver table.
 *
 * The host keeps its VMs (power state, size, disks, NICs, checkpoints) and its volumes (disk snapshots,
 * copies of other hosts' volumes: sim_volume.c) in one append log,
 * STATE_DIR/sim/<host id>.log (sim_state.c), so that, like a real host, it still has its VMs after the
 * daemon restarts, crash included. Every change is idempotent by its key (sim_vm.c, sim_checkpoint.c);
 * the operation-id journal, latency and injected faults are the decorators agent_open wraps it in.
 *
 * Its uri: `sim://?latencyMs=200&jitterMs=50&failRate=0.05&hangRate=0.01&diffGBPerHour=1&copyMBps=100`.
 * latencyMs, jitterMs, failRate and hangRate are the chaos decorator's (checked here, read there);
 * diffGBPerHour (default 1) is the growth of checkpoints' differencing disks and copyMBps (default 0:
 * instant) the speed of every copy: disks made from an image or cloned from a volume, volume copies and VM
 * imports, each of which resumes where it was when the host is opened again. memoryDemand (default 1, at
 * most 100) is what the guests of dynamic-memory VMs ask for, as a fraction of their startup memory: a
 * running one is assigned round(memoryDemand x memoryMB) kept within its minimum and maximum (sim_vm.c).
 * guestHeartbeat (ok, the default; noContact; off) is what the inventory reports of a running VM's guest
 * agent (off: nothing). An unknown or malformed parameter refuses the uri (permanent error).
 *
 * Thread safety (the rule of lib/agent.h): every slot may be called from several workers at once; one lock
 * per host guards its state, and the simulator waits for nothing but its log's fdatasync, shared by
 * concurrent calls and never under the lock.
 */
#include "sim_internal.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../util.h"

#define SIM_MAX_DIFF_GB_PER_HOUR 1000000
#define SIM_MAX_COPY_MBPS 1000000
#define SIM_MAX_MEMORY_DEMAND 100

/* The host whose lock this thread holds (a thread holds at most one), for asserts. */
static _Thread_local const sim_t *locked_host;

void
agent_sim__lock(sim_t *s)
{
    pthread_mutex_lock(&s->lock);
    assert(locked_host == NULL);
    locked_host = s;
}

void
agent_sim__unlock(sim_t *s)
{
    assert(locked_host == s);
    locked_host = NULL;
    pthread_mutex_unlock(&s->lock);
}

bool
agent_sim__locked(const sim_t *s)
{
    return locked_host == s;
}

/* ---- options ---- */

/* The guestHeartbeat option's value as what the inventory reports ("" for off); -1 for another value. */
static int
parse_guest(const char *val, char out[SIM_GUEST_MAX])
{
    if (strcmp(val, "ok") != 0 && strcmp(val, "noContact") != 0 && strcmp(val, "off") != 0)
        return -1;
    snprintf(out, SIM_GUEST_MAX, "%s",
             strcmp(val, "off") == 0 ? "" : strcmp(val, "ok") == 0 ? "ok" : "noContact");
    return 0;
}

/* Reads the simulator's own options of uri into *diff, *copy, *demand and guest (all may be NULL: only
 * checked). */
static int
parse_uri(const char *uri, double *diff, double *copy, double *demand, char *guest, agent_err_t *err)
{
    char g[SIM_GUEST_MAX];

    static const char *const chaos_keys[] = {"latencyMs", "jitterMs", "failRate", "hangRate", NULL};
    const struct {
        const char *key;
        int max;
        double *out;
    } opts[] = {
        {"diffGBPerHour", SIM_MAX_DIFF_GB_PER_HOUR, diff},
        {"copyMBps", SIM_MAX_COPY_MBPS, copy},
        {"memoryDemand", SIM_MAX_MEMORY_DEMAND, demand},
        {NULL, 0, NULL},
    };
    agent_chaos_t chaos;
    const char *q;
    char key[32], val[64], *end;
    int n, i;
    double d;
    bool known;

    if (uri == NULL || uri[0] == '\0')
        return 0;
    if (strncmp(uri, "sim://", 6) != 0)
        return agent_fail(err, AGENT_ERR_PERMANENT, "A sim host's uri starts with sim://.");
    if (agent_chaos_parse(uri, &chaos, err))
        return -1;
    q = strchr(uri, '?');
    for (q = q ? q + 1 : ""; *q;) {
        n = 0;
        if (sscanf(q, "%31[^=&]=%63[^&]%n", key, val, &n) != 2 || n == 0)
            return agent_fail(err, AGENT_ERR_PERMANENT, "The sim uri has a malformed parameter.");
        for (i = 0, known = false; chaos_keys[i] && !known; i++)
            known = strcmp(key, chaos_keys[i]) == 0;
        if (strcmp(key, "guestHeartbeat") == 0) {
            if (parse_guest(val, g))
                return agent_fail(err, AGENT_ERR_PERMANENT,
                                  "The sim uri parameter guestHeartbeat is ok, noContact or off.");
            if (guest)
                memcpy(guest, g, SIM_GUEST_MAX);
            known = true;
        }
        d = strtod(val, &end);
        if (!known && (*end != '\0' || !(d >= 0)))
            return agent_fail(err, AGENT_ERR_PERMANENT, "The sim uri parameter %s is not a number.",
                              key);
        for (i = 0; !known && opts[i].key; i++) {
            if (strcmp(key, opts[i].key) != 0)
                continue;
            if (d > opts[i].max)
                return agent_fail(err, AGENT_ERR_PERMANENT,
                                  "The sim uri parameter %s must be at most %d.", key, opts[i].max);
            if (opts[i].out)
                *opts[i].out = d;
            known = true;
        }
        if (!known)
            return agent_fail(err, AGENT_ERR_PERMANENT, "The sim uri has an unknown parameter %s.",
                              key);
        q += n;
        if (*q == '&')
            q++;
    }
    return 0;
}

static int
sim_check_uri(const char *uri, agent_err_t *err)
{
    return parse_uri(uri, NULL, NULL, NULL, NULL, err);
}

/* ---- the host's life ---- */

static int
sim_open(const agent_conf_t *conf, void **priv, agent_err_t *err)
{
    sim_t *s;

    assert(conf != NULL && priv != NULL);
    s = calloc(1, sizeof(*s));
    if (s == NULL)
        return agent_fail(err, AGENT_ERR_TRANSIENT, "Out of memory.");
    snprintf(s->host_id, sizeof(s->host_id), "%s", conf->host_id ? conf->host_id : "sim");
    s->diff_gb_per_hour = 1;
    s->memory_demand = 1;
    snprintf(s->guest, sizeof(s->guest), "ok");
    if (parse_uri(conf->uri, &s->diff_gb_per_hour, &s->copy_mbps, &s->memory_demand, s->guest, err) ||
        agent_sim__load(s, conf->state_dir, err)) {
        agent_sim__state_free(s);
        free(s);
        return -1;
    }
    pthread_mutex_init(&s->lock, NULL);
    *priv = s;
    return 0;
}

static int
sim_reconfigure(void *priv, const agent_conf_t *conf, agent_err_t *err)
{
    sim_t *s = priv;
    double diff = 1, copy = 0, demand = 1;
    char guest[SIM_GUEST_MAX] = "ok";

    if (parse_uri(conf->uri, &diff, &copy, &demand, guest, err))
        return -1;
    agent_sim__lock(s);
    s->diff_gb_per_hour = diff;
    s->copy_mbps = copy;
    s->memory_demand = demand;
    memcpy(s->guest, guest, sizeof(s->guest));
    agent_sim__unlock(s);
    return 0;
}

static void
sim_close(void *priv)
{
    sim_t *s = priv;

    if (s == NULL)
        return;
    agent_sim__state_free(s);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

/* ---- simulator controls ---- */

/* The storage incident: each named VM reappears under a new hypervisor id (its checkpoints, disks and
 * power state kept); the old id is gone. Lock held; *end is the log's position to sync. */
static int
regenerate_ids(sim_t *s, const json_t *ids, json_t *map, uint64_t *end, agent_err_t *err)
{
    char fresh[AGENT_ID_MAX], uuid[UTIL_UUID_LEN + 1];
    const char *old;
    json_t *id, *vm;
    size_t i;

    assert(agent_sim__locked(s));
    json_array_foreach(ids, i, id) {
        old = json_string_value(id);
        vm = old ? json_object_get(s->vms, old) : NULL;
        if (vm == NULL)
            return agent_fail(err, AGENT_ERR_NOT_FOUND, "The host has no VM %s.", old ? old : "");
        util_uuid(uuid);
        snprintf(fresh, sizeof(fresh), "sim-%s", uuid);
        vm = json_deep_copy(vm);
        if (vm == NULL || json_object_set_new(vm, "hypervisorId", json_string(fresh)) != 0) {
            json_decref(vm);
            return agent_fail(err, AGENT_ERR_TRANSIENT, "Out of memory.");
        }
        agent_sim__vm_del(s, old);
        if (agent_sim__vm_put(s, fresh, vm) != 0)
            return agent_fail(err, AGENT_ERR_TRANSIENT, "Out of memory.");
        snprintf(s->dirty, sizeof(s->dirty), "%s", fresh);
        if (agent_sim__save(s, end, err) != 0)
            return -1;
        snprintf(s->dirty, sizeof(s->dirty), "%s", old);
        if (agent_sim__save(s, end, err) != 0)
            return -1;
        json_object_set_new(map, old, json_string(fresh));
    }
    return 0;
}

/* A VM wapd did not create (for tests of unmanaged VMs): {"addUnmanaged": name}, answers its id. Lock
 * held; *end is the log's position to sync. */
static int
add_unmanaged(sim_t *s, const char *name, json_t **result, uint64_t *end, agent_err_t *err)
{
    char hyp[AGENT_ID_MAX], uuid[UTIL_UUID_LEN + 1];
    json_t *vm;

    assert(agent_sim__locked(s));
    util_uuid(uuid);
    snprintf(hyp, sizeof(hyp), "sim-%s", uuid);
    vm = json_pack("{s:s, s:s, s:s, s:i, s:i, s:[{s:n, s:s, s:i}], s:{}, s:I}", "hypervisorId", hyp,
                   "name", name, "powerState", "running", "cores", 1, "memoryMB", 1024, "disks",
                   "lun", "kind", "os", "sizeGB", 40, "checkpoints", "runningSinceMs",
                   (json_int_t) util_now_ms());
    if (vm == NULL || agent_sim__vm_put(s, hyp, vm) != 0)
        return agent_fail(err, AGENT_ERR_TRANSIENT, "Out of memory.");
    snprintf(s->dirty, sizeof(s->dirty), "%s", hyp);
    if (agent_sim__save(s, end, err) != 0)
        return -1;
    *result = json_pack("{s:s}", "added", hyp);
    return 0;
}

static int
sim_simulate(void *priv, const json_t *command, json_t **result, agent_err_t *err)
{
    sim_t *s = priv;
    const char *name = json_string_value(json_object_get(command, "addUnmanaged"));
    json_t *map = json_object(), *added = NULL;
    uint64_t end = 0;
    int rc;

    agent_sim__lock(s);
    if (name != NULL)
        rc = add_unmanaged(s, name, &added, &end, err);
    else
        rc = regenerate_ids(s, json_object_get(command, "regenerateIds"), map, &end, err);
    agent_sim__unlock(s);
    if (agent_sim__sync(s, end, rc == 0 ? err : NULL) != 0)
        rc = -1;
    if (rc == 0)
        *result = name != NULL ? json_incref(added) : json_pack("{s:O}", "regenerated", map);
    json_decref(added);
    json_decref(map);
    return rc;
}

static const agent_driver_t sim_driver = {
    .name = "sim",
    .default_uri = "sim://",
    .check_uri = sim_check_uri,
    .open = sim_open,
    .close = sim_close,
    .reconfigure = sim_reconfigure,
    .vm_create = agent_sim__vm_create,
    .vm_delete = agent_sim__vm_delete,
    .vm_power = agent_sim__vm_power,
    .vm_release = agent_sim__vm_release,
    .vm_reconfigure = agent_sim__vm_reconfigure,
    .disk_attach = agent_sim__disk_attach,
    .disk_detach = agent_sim__disk_detach,
    .checkpoint_create = agent_sim__checkpoint_create,
    .checkpoint_delete = agent_sim__checkpoint_delete,
    .checkpoint_restore = agent_sim__checkpoint_restore,
    .inventory = agent_sim__inventory,
    .host_info = agent_sim__host_info,
    .volume_snapshot = agent_sim__volume_snapshot,
    .volume_copy = agent_sim__volume_copy,
    .volume_delete = agent_sim__volume_delete,
    .vm_import = agent_sim__vm_import,
    .simulate = sim_simulate,
};

int
agent_sim_register(void)
{
    return agent_register(&sim_driver);
}
