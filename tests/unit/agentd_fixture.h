/*
 * agentd_fixture.h: a real wapd-agent process for unit tests that drive the http agent (the http
 * driver's own tests and the driver conformance suite).
 *
 * agentd_start forks and execs build/wapd-agent (WAPD_AGENT_BIN overrides the path) on 127.0.0.1
 * port 0 with a fresh temporary state dir and a token of its own, then polls DIR/agent.json
 * (generous deadline, no fixed sleeps) for the port it chose. The child dies with the test process
 * (PR_SET_PDEATHSIG), so a test that crashes leaves no agent behind; agentd_stop, called from a
 * teardown, kills it even when the test failed, reaps it and removes its state dir.
 *
 * Invariants: pid > 0 exactly while a child runs; uri and port name the port it listens on once
 * agentd_start (or agentd_restart) answered 0; dir stays until agentd_stop.
 */
#ifndef WAPD_TEST_AGENTD_FIXTURE_H
#define WAPD_TEST_AGENTD_FIXTURE_H

#include <sys/types.h>

#include "../../lib/agent.h"

typedef struct {
    pid_t pid;
    int port;
    char dir[64];
    char uri[64];   /* "http://127.0.0.1:PORT" */
    char token[72]; /* the agent's bearer token */
    char sim_uri[256];
} agentd_t;

/* Starts an agent; sim_uri (borrowed; NULL: the default) is its --sim-uri. Returns 0, or -1 with a
 * line on stderr (and nothing left running). */
int agentd_start(agentd_t *a, const char *sim_uri);
/* Kills the agent (SIGKILL) and reaps it, keeping its state dir; a no-op when it does not run. */
void agentd_kill(agentd_t *a);
/* Starts the agent again on the same state dir (it binds its previous port). 0 or -1. */
int agentd_restart(agentd_t *a);
/* Kills the agent if it runs and removes its state dir; a no-op on a zeroed agentd_t. */
void agentd_stop(agentd_t *a);

/* Opens an agent of kind "http" on it with token (borrowed; NULL: the agent's own). The http driver
 * must be registered (agent_builtin_register). NULL with err on failure. */
agent_t *agentd_open(const agentd_t *a, const char *token, agent_err_t *err);

/* Registers the built-in drivers, starts an agent (sim_uri as for agentd_start) and opens an http
 * agent on it with the agent's own token: the agent, or NULL with a line on stderr and nothing left
 * running. */
agent_t *agentd_start_open(agentd_t *a, const char *sim_uri);

#endif
