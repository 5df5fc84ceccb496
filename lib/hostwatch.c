/*
 * hostwatch.c: the heartbeat of remote hosts (see hostwatch.h).
 *
 * A watcher keeps one counter per host it has beaten, under its own lock (a round and a test may beat at
 * once); the lock is never held across a call to the host nor a transaction. The agent is reached in one
 * place, ask_host. A transition is one write transaction that reads the host's record again and changes
 * nothing unless the record still is in the state the heartbeat saw, so it happens once.
 *
 * A round also observes the VMs of every host it reaches, simulated ones included (which have no heartbeat
 * of their own): what the host reports of their guests and assigned memory goes on their records
 * (inventory_observe), which changes a record only when a value changed.
 *
 * The daemon's thread runs a round only while its daemon leads (store_is_leader); a period it does not lead
 * forgets the counts, since the leader counts meanwhile.
 */
#include "hostwatch.h"

#include <assert.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agent.h"
#include "events.h"
#include "hostreg.h"
#include "inventory.h"
#include "jget.h"
#include "util.h"
#include "vm/vmrec.h"

#define STATE_MAX 32 /* a host state's name */
#define UNKNOWN_PAGE 256 /* records marked unknown per read when a host goes unreachable */

typedef struct counter {
    char host_id[UTIL_UUID_LEN + 1];
    int failures;
    struct counter *next;
} counter_t;

struct hostwatch {
    store_t *st;
    int timeout_ms;
    pthread_mutex_t lock; /* guards counters */
    counter_t *counters;
    int stopping; /* atomic: a round under way ends at its next host */
};

hostwatch_t *
hostwatch_new(store_t *st, int timeout_ms)
{
    hostwatch_t *hw;

    assert(st != NULL && timeout_ms > 0);
    hw = calloc(1, sizeof(*hw));
    if (hw == NULL)
        return NULL;
    hw->st = st;
    hw->timeout_ms = timeout_ms;
    pthread_mutex_init(&hw->lock, NULL);
    return hw;
}

void
hostwatch_free(hostwatch_t *hw)
{
    counter_t *c, *n;

    if (hw == NULL)
        return;
    for (c = hw->counters; c; c = n) {
        n = c->next;
        free(c);
    }
    pthread_mutex_destroy(&hw->lock);
    free(hw);
}

/* Adds one failure to host_id's count (answered false) or clears it (true); returns the count now. A host
 * whose counter cannot be made (out of memory) counts as never failing, so it is never marked by
 * mistake. */
static int
count(hostwatch_t *hw, const char *host_id, bool answered)
{
    counter_t *c;
    int n = 0;

    pthread_mutex_lock(&hw->lock);
    for (c = hw->counters; c; c = c->next)
        if (strcmp(c->host_id, host_id) == 0)
            break;
    if (c == NULL && !answered && (c = calloc(1, sizeof(*c))) != NULL) {
        snprintf(c->host_id, sizeof(c->host_id), "%s", host_id);
        c->next = hw->counters;
        hw->counters = c;
    }
    if (c != NULL) {
        c->failures = answered ? 0 : c->failures + 1;
        n = c->failures;
    }
    pthread_mutex_unlock(&hw->lock);
    return n;
}

/* Forgets every count: failures seen while this daemon led are old news once another has beaten the
 * hosts meanwhile. */
static void
forget_counts(hostwatch_t *hw)
{
    counter_t *c, *n;

    pthread_mutex_lock(&hw->lock);
    for (c = hw->counters; c; c = n) {
        n = c->next;
        free(c);
    }
    hw->counters = NULL;
    pthread_mutex_unlock(&hw->lock);
}

int
hostwatch_failures(hostwatch_t *hw, const char *host_id)
{
    const counter_t *c;
    int n = 0;

    assert(hw != NULL && host_id != NULL);
    pthread_mutex_lock(&hw->lock);
    for (c = hw->counters; c; c = c->next)
        if (strcmp(c->host_id, host_id) == 0)
            n = c->failures;
    pthread_mutex_unlock(&hw->lock);
    return n;
}

/* The one call to the host: 0 when it answered within the timeout, else -1 with why in aerr. */
static int
ask_host(hostwatch_t *hw, agent_t *a, agent_err_t *aerr)
{
    agent_call_t call = {.op_id = "heartbeat", .timeout_ms = hw->timeout_ms};
    agent_host_info_t info;

    return agent_host_info(a, &call, &info, aerr);
}

/* True while a job is changing the VM (its provisioning or power state is transitional): that job
 * decides its state, as the inventory sync leaves it alone. */
static bool
vm_busy(const vm_rec_t *vm)
{
    err_t why = {0};

    return vmrec_ready(vm, &why) != 0 && why.code == ERR_OPERATION_IN_PROGRESS;
}

/* Every VM on the host that exists there and no job is changing: powerState unknown, in the open
 * transaction. The records are read a page of UNKNOWN_PAGE at a time (still in that one transaction), so
 * that memory stays bounded however many VMs the host has. */
static int
vms_unknown(store_t *st, const char *host_id, err_t *err)
{
    store_filter_t f = {.field = "hostId", .op = STORE_FILTER_EQ, .value = host_id};
    json_t *vms, *rec;
    int64_t after = 0, next = 0;
    vm_rec_t vm;
    size_t i;
    int rc = 0;

    assert(st != NULL && host_id != NULL);
    do {
        if ((vms = store_rec_list(st, &store_kind_vm, &f, 1, after, UNKNOWN_PAGE, &next, err)) == NULL)
            return -1;
        json_array_foreach(vms, i, rec) {
            if ((rc = vmrec_from_store(rec, &vm, err)) != 0)
                break;
            if (vm.hypervisor_id[0] == '\0' || vm_busy(&vm) || vm.power == VM_POWER_UNKNOWN)
                continue;
            vm.power = VM_POWER_UNKNOWN;
            if ((rc = vmrec_save(st, &vm, err)) != 0)
                break;
        }
        json_decref(vms);
        after = next;
    } while (rc == 0 && next != 0);
    return rc;
}

/* The transition from state `from` to `to`, if the record is still in `from`: the record, the event type
 * with data (stolen), then what the transition means (VMs unknown, or an inventory sync). One
 * transaction. */
static int
transition(hostwatch_t *hw, const char *host_id, const char *from, const char *to, const char *type,
           json_t *data, err_t *err)
{
    char now[UTIL_TIME_LEN + 1];
    err_t busy = {0};
    json_t *host = NULL, *job;
    const char *state;
    int rc = -1;

    if (store_tx_begin(hw->st, err))
        goto out;
    host = store_rec_get(hw->st, &store_kind_host, host_id, NULL, err);
    if (host == NULL)
        goto fail;
    state = jget_str(host, "state");
    if (state == NULL || strcmp(state, from) != 0) {
        rc = 0; /* someone else made it, or the admin moved the host: nothing to do */
        goto fail;
    }
    json_object_set_new(host, "state", json_string(to));
    if (strcmp(to, "ok") == 0) {
        util_time_format(util_now_ms(), now);
        json_object_set_new(host, "lastSeenAt", json_string(now));
    }
    json_object_set_new(data, "name", json_incref(json_object_get(host, "name")));
    if (store_rec_update(hw->st, &store_kind_host, host_id, host, 0, err) ||
        events_emit(hw->st, type, NULL, host_id, json_incref(data), err))
        goto fail;
    if (strcmp(to, "unreachable") == 0) {
        if (vms_unknown(hw->st, host_id, err))
            goto fail;
    } else {
        /* The sync, as a job of this transaction; one under way already will do. */
        job = inventory_refresh(hw->st, host_id, &busy);
        json_decref(job);
        if (job == NULL && busy.code != ERR_OPERATION_IN_PROGRESS) {
            err_set(err, busy.code, NULL, "%s", busy.message);
            goto fail;
        }
    }
    if (store_tx_commit(hw->st, err))
        goto fail;
    rc = 0;
    goto out;
fail:
    store_tx_rollback(hw->st);
out:
    json_decref(host);
    json_decref(data);
    return rc;
}

/* The host's state as its record says now into state; -1 when it is gone or cannot be read. */
static int
state_now(hostwatch_t *hw, const char *host_id, char state[STATE_MAX])
{
    json_t *host = store_rec_get_shared(hw->st, &store_kind_host, host_id, NULL, NULL);
    const char *s = jget_str(host, "state");

    if (s != NULL)
        snprintf(state, STATE_MAX, "%s", s);
    json_decref(host);
    return s != NULL ? 0 : -1;
}

int
hostwatch_beat(hostwatch_t *hw, const char *host_id, err_t *err)
{
    agent_err_t aerr = {0};
    err_t open_err = {0};
    agent_t *a;
    char state[STATE_MAX];
    int failures;

    assert(hw != NULL && host_id != NULL);
    a = hostreg_agent(hw->st, host_id, &open_err);
    if (a == NULL && open_err.code == ERR_NOT_FOUND)
        return 0; /* deleted meanwhile */
    if (a == NULL)
        snprintf(aerr.message, sizeof(aerr.message), "%s", open_err.message);
    failures = count(hw, host_id, a != NULL && ask_host(hw, a, &aerr) == 0);
    if (state_now(hw, host_id, state) != 0)
        return 0; /* gone, or unreadable now: the next heartbeat decides */
    if (failures == 0 && strcmp(state, "unreachable") == 0)
        return transition(hw, host_id, "unreachable", "ok", "host.reachable", json_object(), err);
    if (failures >= HOSTWATCH_FAILURES && strcmp(state, "ok") == 0)
        return transition(hw, host_id, "ok", "unreachable", "host.unreachable",
                          json_pack("{s:i, s:s}", "failures", failures, "error", aerr.message), err);
    if (failures == 0 && strcmp(state, "unreachable") != 0)
        return inventory_observe(hw->st, host_id, err);
    return 0;
}

int
hostwatch_round(hostwatch_t *hw, err_t *err)
{
    int64_t after = 0, next = 0;
    json_t *page, *host;
    const char *kind, *state;
    err_t one;
    size_t i;
    int rc = 0;

    assert(hw != NULL);
    do {
        page = store_rec_list(hw->st, &store_kind_host, NULL, 0, after, 500, &next, err);
        if (page == NULL)
            return -1;
        json_array_foreach(page, i, host) {
            if (__atomic_load_n(&hw->stopping, __ATOMIC_ACQUIRE))
                break;
            kind = jget_str(json_object_get(host, "agent"), "kind");
            state = jget_str(host, "state");
            if (kind == NULL ||
                (!agent_kind_remote(kind) && state != NULL && strcmp(state, "unreachable") == 0))
                continue;
            err_clear(&one);
            /* A host in this process answers always: it is only observed. */
            if ((agent_kind_remote(kind) ? hostwatch_beat(hw, jget_str(host, "id"), &one)
                                         : inventory_observe(hw->st, jget_str(host, "id"), &one)) != 0 &&
                rc == 0)
                rc = err_set(err, one.code, NULL, "%s", one.message);
        }
        json_decref(page);
        after = next;
    } while (next && !__atomic_load_n(&hw->stopping, __ATOMIC_ACQUIRE));
    return rc;
}

/* ---- the daemon's thread ---- */

static struct {
    hostwatch_t *hw;
    int period_ms;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    bool running, stop; /* stop: guarded by lock */
} W = {.lock = PTHREAD_MUTEX_INITIALIZER, .wake = PTHREAD_COND_INITIALIZER};

static void *
watch_main(void *arg)
{
    struct timespec until;
    err_t err;
    bool stop;

    (void) arg;
    for (;;) {
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += W.period_ms / 1000;
        pthread_mutex_lock(&W.lock);
        while (!W.stop && pthread_cond_timedwait(&W.wake, &W.lock, &until) == 0)
            ;
        stop = W.stop;
        pthread_mutex_unlock(&W.lock);
        if (stop)
            break;
        if (!store_is_leader(W.hw->st)) {
            forget_counts(W.hw); /* the leader of the database's daemons beats the hosts */
            continue;
        }
        err_clear(&err);
        if (hostwatch_round(W.hw, &err) != 0)
            fprintf(stderr, "{\"level\":\"warn\",\"msg\":\"a host's heartbeat could not be recorded\","
                            "\"code\":\"%s\"}\n",
                    err_code_name(err.code));
    }
    return NULL;
}

int
hostwatch_start(store_t *st, int period_seconds, err_t *err)
{
    int timeout_ms = period_seconds * 500;

    assert(st != NULL && period_seconds >= 0);
    if (W.running || period_seconds == 0)
        return 0;
    W.hw = hostwatch_new(st, timeout_ms < HOSTWATCH_TIMEOUT_MAX_MS ? timeout_ms
                                                                   : HOSTWATCH_TIMEOUT_MAX_MS);
    if (W.hw == NULL)
        return err_set(err, ERR_INTERNAL, NULL, "Out of memory.");
    W.period_ms = period_seconds * 1000;
    W.stop = false;
    if (pthread_create(&W.thread, NULL, watch_main, NULL) != 0) {
        hostwatch_free(W.hw);
        W.hw = NULL;
        return err_set(err, ERR_INTERNAL, NULL, "The host heartbeat thread could not start.");
    }
    W.running = true;
    return 0;
}

void
hostwatch_stop(void)
{
    if (!W.running)
        return;
    __atomic_store_n(&W.hw->stopping, 1, __ATOMIC_RELEASE);
    pthread_mutex_lock(&W.lock);
    W.stop = true;
    pthread_cond_signal(&W.wake);
    pthread_mutex_unlock(&W.lock);
    pthread_join(W.thread, NULL);
    hostwatch_free(W.hw);
    W.hw = NULL;
    W.running = false;
}
