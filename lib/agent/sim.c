/*
 * sim.c: the simulator agent, an in-process simulated Hyper-V host (driver "sim"): its options, its life
 * (open, reconfigure, close), its simulator controls, and its driver table.
 *
 * The host keeps each VM (power state, size, disks, checkpoints) in STATE_DIR/sim/<host id>/<vm>.json,
 * together with the answers of the last calls that changed it (sim_state.c), so that, like a real host, it
 * still has its VMs after the daemon restarts, crash included, and never applies a call twice
 * (sim_journal.c). The VM operations are in sim_vm.c.
 *
 * Behaviour from the host's uri, `sim://?latencyMs=200&jitterMs=50&failRate=0.05&hangRate=0.01`, with
 * diffGBPerHour (default 1) for the growth of checkpoints' differencing disks; an unknown, malformed or
 * out-of-range parameter refuses the uri (permanent error), at the catalog's check (check_uri) as at open.
 *
 * Thread safety (the rule of lib/agent.h): every slot may be called from several workers at once; one lock
 * per host guards its state, and sleeps (latency, hangs) happen outside it.
 */
#include "sim_internal.h"

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../util.h"

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

/* Reads the uri's options into s (those it names; the others stay). The grammar: "sim://" then optional
 * key=value pairs: latencyMs, jitterMs (whole ms up to 600000), failRate, hangRate (0 to 1),
 * diffGBPerHour (0 to 1000000). Anything else refuses the uri with a permanent error naming the problem. */
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
        return agent_fail(err, AGENT_ERR_PERMANENT, "A sim host's uri must start with sim://.");
    q = strchr(uri + 6, '?');
    for (q = q ? q + 1 : ""; *q;) {
        n = 0;
        if (sscanf(q, "%31[^=&]=%63[^&]%n", key, val, &n) != 2 || n == 0)
            return agent_fail(err, AGENT_ERR_PERMANENT,
                              "The uri's parameters must be key=value pairs separated by &.");
        d = strtod(val, &end);
        if (*end != '\0' || d < 0 || d != d)
            return agent_fail(err, AGENT_ERR_PERMANENT,
                              "The uri parameter %s must be a number of at least 0.", key);
        if (strcmp(key, "failRate") == 0 || strcmp(key, "hangRate") == 0) {
            if (d > 1)
                return agent_fail(err, AGENT_ERR_PERMANENT,
                                  "The uri parameter %s must be between 0 and 1.", key);
            *(key[0] == 'f' ? &s->fail_rate : &s->hang_rate) = d;
        } else if (strcmp(key, "diffGBPerHour") == 0) {
            if (d > 1000000)
                return agent_fail(err, AGENT_ERR_PERMANENT,
                                  "The uri parameter diffGBPerHour must be at most 1000000.");
            s->diff_gb_per_hour = d;
        } else if (strcmp(key, "latencyMs") == 0 || strcmp(key, "jitterMs") == 0) {
            if (d != (double) (long) d || d > 600000)
                return agent_fail(err, AGENT_ERR_PERMANENT,
                                  "The uri parameter %s must be whole milliseconds up to 600000.",
                                  key);
            *(key[0] == 'l' ? &s->latency_ms : &s->jitter_ms) = (int) d;
        } else {
            return agent_fail(err, AGENT_ERR_PERMANENT, "The uri has an unknown parameter %s.", key);
        }
        q += n;
        if (*q == '&')
            q++;
    }
    return 0;
}

static int
sim_check_uri(const char *uri, agent_err_t *err)
{
    sim_t scratch;

    memset(&scratch, 0, sizeof(scratch));
    return parse_uri(&scratch, uri, err);
}

/* ---- the host's life ---- */

static int
sim_open(const agent_conf_t *conf, void **priv, agent_err_t *err)
{
    const char *host_id = conf->host_id, *uri = conf->uri, *state_dir = conf->state_dir;
    sim_t *s = calloc(1, sizeof(*s));
    char dir[PATH_MAX];
    unsigned char seed[sizeof(unsigned)];

    assert(priv != NULL);
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
    if (agent_sim__load(s, err)) {
        agent_sim__state_free(s);
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
sim_reconfigure(void *priv, const agent_conf_t *conf, agent_err_t *err)
{
    sim_t *s = priv, next;

    memset(&next, 0, sizeof(next));
    next.diff_gb_per_hour = 1;
    if (parse_uri(&next, conf->uri, err))
        return -1;
    agent_sim__lock(s);
    s->latency_ms = next.latency_ms;
    s->jitter_ms = next.jitter_ms;
    s->fail_rate = next.fail_rate;
    s->hang_rate = next.hang_rate;
    s->diff_gb_per_hour = next.diff_gb_per_hour;
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

    agent_sim__lock(s);
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
        if (agent_sim__save(s, err) != 0) {
            rc = -1;
            break;
        }
        snprintf(s->dirty, sizeof(s->dirty), "%s", old);
        if (agent_sim__save(s, err) != 0) {
            rc = -1;
            break;
        }
        json_object_set_new(map, old, json_string(fresh));
    }
    agent_sim__unlock(s);
    if (rc != 0) {
        json_decref(map);
        return -1;
    }
    *result = json_pack("{s:o}", "regenerated", map);
    return 0;
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
    .simulate = sim_simulate,
};

int
agent_sim_register(void)
{
    return agent_register(&sim_driver);
}
