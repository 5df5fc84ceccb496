/*
 * sim_journal.c: the frame of every simulator call and its operation-id journal (see sim_internal.h).
 *
 * Behaviour from the host's uri options: every call takes latencyMs plus up to jitterMs; with failRate a
 * call fails with a permanent error and changes nothing (a read fails transiently); with hangRate a call
 * does not answer until its timeout, and half of such changing calls were carried out on the host before
 * the answer was lost, as happens with a real remote host.
 *
 * The journal: the answer of every changing call that reached the host is recorded (the last SIM_OPS_KEPT
 * in memory, the last SIM_VM_OPS_KEPT with each VM's file), and a call with a recorded operation id gets
 * that answer again without being applied twice. A change that could not be saved is forgotten, so that
 * a retry does it again. Reads are not journaled.
 */
#include "sim_internal.h"

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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

    agent_sim__lock(s);
    r = (double) rand_r(&s->seed) / ((double) RAND_MAX + 1.0);
    agent_sim__unlock(s);
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
    agent_sim__lock(s);
    rec = json_object_get(s->ops, call->op_id);
    if (rec != NULL) {
        agent_status_t st = (agent_status_t) json_integer_value(json_object_get(rec, "status"));
        if (st != AGENT_OK)
            agent_fail(err, st, "%s", json_string_value(json_object_get(rec, "message")));
        if (result && json_is_string(json_object_get(rec, "result")))
            snprintf(result, AGENT_ID_MAX, "%s", json_string_value(json_object_get(rec, "result")));
        f = st == AGENT_OK ? FRAME_REPLAY : FRAME_FAIL;
    }
    agent_sim__unlock(s);
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

/* Lock held, or the host not yet shared (at open). */
void
agent_sim__remember_op(sim_t *s, const char *op_id, json_t *answer)
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

    assert(agent_sim__locked(s));
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
    agent_sim__remember_op(s, op_id, answer);
}

/* Runs one call: frame, then apply under the lock, record, save; a hang then waits out the timeout. */
int
agent_sim__run_call(sim_t *s, const agent_call_t *call, agent_sim_apply_fn fn, void *args,
                    char result[AGENT_ID_MAX], agent_err_t *err)
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
    agent_sim__lock(s);
    s->dirty[0] = '\0';
    rc = fn(s, args, res, &local);
    record_op(s, call->op_id, rc == 0 ? AGENT_OK : local.status, local.message, res);
    if (agent_sim__save(s, &local) != 0 && rc == 0) {
        /* Not persisted: forget the answer so that a retry does it again. */
        json_object_del(s->ops, call->op_id);
        rc = -1;
    }
    agent_sim__unlock(s);
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

/* Reads are not recorded as operations: they change nothing and may be asked again at will. */
int
agent_sim__read_frame(sim_t *s, const agent_call_t *call, agent_err_t *err)
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

