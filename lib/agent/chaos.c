/*
 * chaos.c: the chaos decorator (see agent.h): latency, jitter, injected failures and hangs in front of any
 * driver, so that fault tests run against every kind of host.
 *
 * Every call of the wrapped agent first waits latencyMs, moved by up to jitterMs either way (never below
 * 0); a wait that reaches the call's timeout ends in AGENT_ERR_TIMEOUT without reaching the host. Then,
 * with probability failRate, a change fails with a permanent error and nothing is done (a read fails
 * transiently); with probability hangRate the call never answers: it waits out its timeout and answers
 * AGENT_ERR_TIMEOUT, and half of such changes were carried out on the host first, as happens when a real
 * host's answer is lost. Every change goes through this frame, the volume calls (snapshots, copies and
 * their polls, deletes) and imports included; only inventory and host info are reads. Simulator controls
 * and reconfigure pass straight through.
 *
 * Invariants: the options and the PRNG state of one wrapped agent are read and written only under its
 * lock, and the lock is never held across a sleep or a call of the inner agent; the inner agent is owned by
 * the decorator and closed with it.
 */
#include "agent_internal.h"

#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../util.h"

#define CHAOS_MAX_MS 600000

typedef struct {
    agent_t *inner;
    pthread_mutex_t lock;
    agent_chaos_t opts; /* under lock */
    unsigned seed;      /* under lock */
} chaos_t;

static const agent_driver_t chaos_driver;

/* ---- options ---- */

/* Reads one chaos key's value: whole milliseconds in [0, CHAOS_MAX_MS] or a rate in [0, 1]. */
static int
parse_value(const char *key, const char *val, size_t len, bool rate, double *out, agent_err_t *err)
{
    char buf[64], *end;
    double d;

    if (len == 0 || len >= sizeof(buf))
        goto bad;
    memcpy(buf, val, len);
    buf[len] = '\0';
    errno = 0;
    d = strtod(buf, &end);
    if (*end != '\0' || errno != 0 || !(d >= 0))
        goto bad;
    if (rate ? d > 1 : (d > CHAOS_MAX_MS || d != (double) (long) d))
        goto bad;
    *out = d;
    return 0;
bad:
    if (rate)
        return agent_fail(err, AGENT_ERR_PERMANENT,
                          "The uri parameter %s must be a number between 0 and 1.", key);
    return agent_fail(err, AGENT_ERR_PERMANENT,
                      "The uri parameter %s must be whole milliseconds up to %d.", key, CHAOS_MAX_MS);
}

int
agent_chaos_parse(const char *uri, agent_chaos_t *out, agent_err_t *err)
{
    static const char *const keys[] = {"latencyMs", "jitterMs", "failRate", "hangRate"};
    agent_chaos_t o = {0};
    const char *p, *amp, *eq;
    double vals[4] = {0};
    size_t klen, i;

    assert(out != NULL);
    p = uri ? strchr(uri, '?') : NULL;
    for (p = p ? p + 1 : ""; *p; p = *amp ? amp + 1 : amp) {
        amp = strchr(p, '&');
        if (amp == NULL)
            amp = p + strlen(p);
        eq = memchr(p, '=', (size_t) (amp - p));
        klen = (size_t) ((eq ? eq : amp) - p);
        for (i = 0; i < 4; i++) {
            if (strlen(keys[i]) != klen || strncmp(p, keys[i], klen) != 0)
                continue;
            if (eq == NULL)
                return agent_fail(err, AGENT_ERR_PERMANENT, "The uri parameter %s has no value.",
                                  keys[i]);
            if (parse_value(keys[i], eq + 1, (size_t) (amp - eq - 1), i >= 2, &vals[i], err))
                return -1;
        }
    }
    o.latency_ms = (int) vals[0];
    o.jitter_ms = (int) vals[1];
    o.fail_rate = vals[2];
    o.hang_rate = vals[3];
    *out = o;
    return 0;
}

/* ---- the frame of every call ---- */

static void
sleep_ms(int ms)
{
    struct timespec ts;

    if (ms <= 0)
        return;
    ts.tv_sec = ms / 1000;
    ts.tv_nsec = (long) (ms % 1000) * 1000000L;
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

static double
roll(chaos_t *c)
{
    return (double) rand_r(&c->seed) / ((double) RAND_MAX + 1.0);
}

static int
timed_out(int ms, agent_err_t *err)
{
    return agent_fail(err, AGENT_ERR_TIMEOUT, "The host did not answer within %d ms.", ms);
}

/* What happens before the call reaches the host: the wait, an injected fault, a hang. Answers -1 when the
 * call ends here; else 0, with *hang_ms > 0 when the call is to be carried out and its answer then lost
 * after that many ms. */
static int
frame_begin(chaos_t *c, agent_op_t op, const agent_call_t *call, int *hang_ms, agent_err_t *err)
{
    int timeout = call->timeout_ms > 0 ? call->timeout_ms : agent_op_timeout_ms(op), delay;
    bool read = op == AGENT_OP_INVENTORY || op == AGENT_OP_HOST_INFO;
    double r_jitter, r_fail, r_hang, r_half;
    agent_chaos_t o;

    *hang_ms = 0;
    pthread_mutex_lock(&c->lock);
    o = c->opts;
    r_jitter = roll(c);
    r_fail = roll(c);
    r_hang = roll(c);
    r_half = roll(c);
    pthread_mutex_unlock(&c->lock);
    delay = o.latency_ms;
    if (o.jitter_ms > 0)
        delay += (int) (r_jitter * (2 * o.jitter_ms + 1)) - o.jitter_ms;
    if (delay < 0)
        delay = 0;
    if (delay >= timeout) {
        sleep_ms(timeout);
        return timed_out(timeout, err);
    }
    sleep_ms(delay);
    if (o.fail_rate > 0 && r_fail < o.fail_rate)
        return agent_fail(err, read ? AGENT_ERR_TRANSIENT : AGENT_ERR_PERMANENT,
                          "The host failed the call (injected fault).");
    if (o.hang_rate > 0 && r_hang < o.hang_rate) {
        if (read || r_half >= 0.5) {
            sleep_ms(timeout - delay);
            return timed_out(timeout, err);
        }
        *hang_ms = timeout - delay;
    }
    return 0;
}

/* After the host carried the call out: a hang loses its answer. */
static int
frame_end(int rc, int hang_ms, const agent_call_t *call, agent_op_t op, agent_err_t *err)
{
    if (hang_ms == 0)
        return rc;
    sleep_ms(hang_ms);
    return timed_out(call->timeout_ms > 0 ? call->timeout_ms : agent_op_timeout_ms(op), err);
}

/* Runs one slot through the frame: FORWARD is the inner call, evaluated only when the frame lets it. */
#define CHAOS_RUN(priv, op, call, err, FORWARD)                                                    \
    do {                                                                                           \
        chaos_t *c_ = (priv);                                                                      \
        int hang_, rc_;                                                                            \
        if (frame_begin(c_, (op), (call), &hang_, (err)))                                          \
            return -1;                                                                             \
        rc_ = (FORWARD);                                                                           \
        return frame_end(rc_, hang_, (call), (op), (err));                                         \
    } while (0)

/* ---- the slots ---- */

static int
chaos_vm_create(void *priv, const agent_call_t *call, const agent_vm_spec_t *spec,
                char hypervisor_id[AGENT_ID_MAX], agent_err_t *err)
{
    char hyp[AGENT_ID_MAX];
    int hang, rc;

    /* The id is written only when the answer reaches the caller. */
    if (frame_begin(priv, AGENT_OP_VM_CREATE, call, &hang, err))
        return -1;
    rc = agent_vm_create(((chaos_t *) priv)->inner, call, spec, hyp, err);
    if ((rc = frame_end(rc, hang, call, AGENT_OP_VM_CREATE, err)) == 0)
        memcpy(hypervisor_id, hyp, AGENT_ID_MAX);
    return rc;
}

static int
chaos_vm_delete(void *priv, const agent_call_t *call, const char *hyp, agent_err_t *err)
{
    CHAOS_RUN(priv, AGENT_OP_VM_DELETE, call, err,
              agent_vm_delete(c_->inner, call, hyp, err));
}

static int
chaos_vm_power(void *priv, const agent_call_t *call, const char *hyp, agent_power_op_t op,
               agent_err_t *err)
{
    CHAOS_RUN(priv, AGENT_OP_VM_POWER, call, err, agent_vm_power(c_->inner, call, hyp, op, err));
}

static int
chaos_vm_release(void *priv, const agent_call_t *call, const char *hyp, agent_err_t *err)
{
    CHAOS_RUN(priv, AGENT_OP_VM_RELEASE, call, err, agent_vm_release(c_->inner, call, hyp, err));
}

static int
chaos_vm_reconfigure(void *priv, const agent_call_t *call, const char *hyp, int cores,
                     int memory_mb, agent_err_t *err)
{
    CHAOS_RUN(priv, AGENT_OP_VM_RECONFIGURE, call, err,
              agent_vm_reconfigure(c_->inner, call, hyp, cores, memory_mb, err));
}

static int
chaos_disk_attach(void *priv, const agent_call_t *call, const char *hyp,
                  const agent_disk_spec_t *disk, agent_err_t *err)
{
    CHAOS_RUN(priv, AGENT_OP_DISK_ATTACH, call, err,
              agent_disk_attach(c_->inner, call, hyp, disk, err));
}

static int
chaos_disk_detach(void *priv, const agent_call_t *call, const char *hyp, int lun,
                  agent_err_t *err)
{
    CHAOS_RUN(priv, AGENT_OP_DISK_DETACH, call, err,
              agent_disk_detach(c_->inner, call, hyp, lun, err));
}

static int
chaos_checkpoint_create(void *priv, const agent_call_t *call, const char *hyp, const char *name,
                        char checkpoint_id[AGENT_ID_MAX], agent_err_t *err)
{
    char cp[AGENT_ID_MAX];
    int hang, rc;

    if (frame_begin(priv, AGENT_OP_CHECKPOINT_CREATE, call, &hang, err))
        return -1;
    rc = agent_checkpoint_create(((chaos_t *) priv)->inner, call, hyp, name, cp, err);
    if ((rc = frame_end(rc, hang, call, AGENT_OP_CHECKPOINT_CREATE, err)) == 0)
        memcpy(checkpoint_id, cp, AGENT_ID_MAX);
    return rc;
}

static int
chaos_checkpoint_delete(void *priv, const agent_call_t *call, const char *hyp, const char *cp,
                        agent_err_t *err)
{
    CHAOS_RUN(priv, AGENT_OP_CHECKPOINT_DELETE, call, err,
              agent_checkpoint_delete(c_->inner, call, hyp, cp, err));
}

static int
chaos_checkpoint_restore(void *priv, const agent_call_t *call, const char *hyp, const char *cp,
                         agent_err_t *err)
{
    CHAOS_RUN(priv, AGENT_OP_CHECKPOINT_RESTORE, call, err,
              agent_checkpoint_restore(c_->inner, call, hyp, cp, err));
}

static int
chaos_volume_snapshot(void *priv, const agent_call_t *call, const char *hyp, int lun,
                      const char *volume_id, int64_t *size_gb, agent_err_t *err)
{
    int64_t size = 0;
    int hang, rc;

    /* The size is written only when the answer reaches the caller. */
    if (frame_begin(priv, AGENT_OP_VOLUME_SNAPSHOT, call, &hang, err))
        return -1;
    rc = agent_volume_snapshot(((chaos_t *) priv)->inner, call, hyp, lun, volume_id, &size, err);
    if ((rc = frame_end(rc, hang, call, AGENT_OP_VOLUME_SNAPSHOT, err)) == 0)
        *size_gb = size;
    return rc;
}

static int
chaos_volume_copy(void *priv, const agent_call_t *call, const agent_volume_src_t *src,
                  const char *volume_id, agent_err_t *err)
{
    CHAOS_RUN(priv, AGENT_OP_VOLUME_COPY, call, err,
              agent_volume_copy(c_->inner, call, src, volume_id, err));
}

static int
chaos_volume_delete(void *priv, const agent_call_t *call, const char *volume_id, agent_err_t *err)
{
    CHAOS_RUN(priv, AGENT_OP_VOLUME_DELETE, call, err,
              agent_volume_delete(c_->inner, call, volume_id, err));
}

static int
chaos_vm_import(void *priv, const agent_call_t *call, const agent_vm_spec_t *spec,
                const agent_vm_source_t *src, char hypervisor_id[AGENT_ID_MAX], agent_err_t *err)
{
    char hyp[AGENT_ID_MAX];
    int hang, rc;

    if (frame_begin(priv, AGENT_OP_VM_IMPORT, call, &hang, err))
        return -1;
    rc = agent_vm_import(((chaos_t *) priv)->inner, call, spec, src, hyp, err);
    if ((rc = frame_end(rc, hang, call, AGENT_OP_VM_IMPORT, err)) == 0)
        memcpy(hypervisor_id, hyp, AGENT_ID_MAX);
    return rc;
}

static int
chaos_inventory(void *priv, const agent_call_t *call, agent_vm_list_t *vms, agent_err_t *err)
{
    CHAOS_RUN(priv, AGENT_OP_INVENTORY, call, err, agent_inventory(c_->inner, call, vms, err));
}

static int
chaos_host_info(void *priv, const agent_call_t *call, agent_host_info_t *info, agent_err_t *err)
{
    CHAOS_RUN(priv, AGENT_OP_HOST_INFO, call, err, agent_host_info(c_->inner, call, info, err));
}

static int
chaos_simulate(void *priv, const json_t *command, json_t **result, agent_err_t *err)
{
    return agent_simulate(((chaos_t *) priv)->inner, command, result, err);
}

/* A changed uri changes the options too; the inner agent gets the conf as it is. */
static int
chaos_reconfigure(void *priv, const agent_conf_t *conf, agent_err_t *err)
{
    chaos_t *c = priv;
    agent_chaos_t o;

    if (agent_chaos_parse(conf->uri, &o, err) || agent_reconfigure(c->inner, conf, err))
        return -1;
    pthread_mutex_lock(&c->lock);
    c->opts = o;
    pthread_mutex_unlock(&c->lock);
    return 0;
}

/* ---- the decorator's life ---- */

static void
chaos_close(void *priv)
{
    chaos_t *c = priv;

    if (c == NULL)
        return;
    agent_close(c->inner);
    pthread_mutex_destroy(&c->lock);
    free(c);
}

/* Made by wrapping an agent, never registered or opened by kind: no check_uri, no open. */
static const agent_driver_t chaos_driver = {
    .name = "chaos",
    .close = chaos_close,
    .reconfigure = chaos_reconfigure,
    .vm_create = chaos_vm_create,
    .vm_delete = chaos_vm_delete,
    .vm_power = chaos_vm_power,
    .vm_release = chaos_vm_release,
    .vm_reconfigure = chaos_vm_reconfigure,
    .disk_attach = chaos_disk_attach,
    .disk_detach = chaos_disk_detach,
    .checkpoint_create = chaos_checkpoint_create,
    .checkpoint_delete = chaos_checkpoint_delete,
    .checkpoint_restore = chaos_checkpoint_restore,
    .inventory = chaos_inventory,
    .host_info = chaos_host_info,
    .volume_snapshot = chaos_volume_snapshot,
    .volume_copy = chaos_volume_copy,
    .volume_delete = chaos_volume_delete,
    .vm_import = chaos_vm_import,
    .simulate = chaos_simulate,
};

agent_t *
agent_chaos_wrap(agent_t *inner, const agent_chaos_t *opts, agent_err_t *err)
{
    chaos_t *c;
    agent_t *a;

    assert(inner != NULL && opts != NULL);
    c = calloc(1, sizeof(*c));
    if (c == NULL) {
        agent_close(inner);
        agent_fail(err, AGENT_ERR_TRANSIENT, "Out of memory.");
        return NULL;
    }
    c->inner = inner;
    c->opts = *opts;
    if (util_random_bytes(&c->seed, sizeof(c->seed)) != 0)
        c->seed = (unsigned) time(NULL);
    pthread_mutex_init(&c->lock, NULL);
    a = agent__new(&chaos_driver, c);
    if (a == NULL) {
        chaos_close(c);
        agent_fail(err, AGENT_ERR_TRANSIENT, "Out of memory.");
    }
    return a;
}

int
agent_chaos_set(agent_t *a, const agent_chaos_t *opts)
{
    chaos_t *c;

    assert(opts != NULL);
    if (a == NULL || a->driver != &chaos_driver)
        return -1;
    c = a->priv;
    pthread_mutex_lock(&c->lock);
    c->opts = *opts;
    pthread_mutex_unlock(&c->lock);
    return 0;
}
