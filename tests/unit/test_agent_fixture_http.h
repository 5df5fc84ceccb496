/*
 * test_agent_fixture_http.h: the conformance suite's fixture for the http kind: a real wapd-agent process
 * (sim backend, its state and journal in a temporary directory; agentd_fixture.c) reached by the http
 * driver. The agent cannot be given a VM wapd did not create, so the unmanaged-VM case skips for it;
 * the volume cases run (the agent's sim backend copies at once: its default uri).
 * Links tests/unit/agentd_fixture.c (the Makefile's AGENTD_TESTS).
 */
#ifndef WAPD_TEST_AGENT_FIXTURE_HTTP_H
#define WAPD_TEST_AGENT_FIXTURE_HTTP_H

#include "agentd_fixture.h"
#include "test_agent_conformance.h"

static void *
http_start(void)
{
    agentd_t *d = calloc(1, sizeof(*d));

    assert_non_null(d);
    if (agentd_start(d, NULL) != 0) {
        agentd_stop(d);
        free(d);
        fail_msg("the wapd-agent for the http kind did not start");
    }
    return d;
}

static agent_t *
http_open(void *env, agent_err_t *err)
{
    return agentd_open(env, NULL, err);
}

static void
http_stop(void *env)
{
    agentd_stop(env);
    free(env);
}

static const conformance_fixture_t http_fixture = {"http", http_start, http_open, NULL, http_stop, true};

#endif
