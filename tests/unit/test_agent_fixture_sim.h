/*
 * test_agent_fixture_sim.h: the conformance suite's fixture for the in-process simulator: a host whose
 * state and journal live in a temporary directory, and unmanaged VMs made with its addUnmanaged control.
 */
#ifndef WAPD_TEST_AGENT_FIXTURE_SIM_H
#define WAPD_TEST_AGENT_FIXTURE_SIM_H

#include "test_agent_conformance.h"
#include "test_agent_tmp.h"

/* sim: the in-process simulator, its state and journal in a temporary directory. */
typedef struct {
    char dir[AGENT_TMP_LEN];
} sim_env_t;

static void *
sim_start(void)
{
    sim_env_t *e = calloc(1, sizeof(*e));

    assert_non_null(e);
    agent_tmp_make(e->dir);
    return e;
}

static agent_t *
sim_open(void *env, agent_err_t *err)
{
    sim_env_t *e = env;
    agent_conf_t conf = {.host_id = "conformance", .uri = "sim://", .state_dir = e->dir};

    return agent_open("sim", &conf, err);
}

static int
sim_add_unmanaged(void *env, agent_t *a, const char *name, char hyp[AGENT_ID_MAX])
{
    json_t *cmd = json_pack("{s:s}", "addUnmanaged", name), *res = NULL;
    agent_err_t err;
    int rc;

    (void) env;
    rc = agent_simulate(a, cmd, &res, &err);
    if (rc == 0)
        snprintf(hyp, AGENT_ID_MAX, "%s", json_string_value(json_object_get(res, "added")));
    json_decref(cmd);
    json_decref(res);
    return rc;
}

static void
sim_stop(void *env)
{
    sim_env_t *e = env;

    agent_tmp_remove(e->dir);
    free(e);
}

static const conformance_fixture_t sim_fixture = {"sim", sim_start, sim_open, sim_add_unmanaged,
                                                  sim_stop, true};

#endif
