/*
 * chaos.c: the chaos decorator (see agent.h). This first version wraps nothing: the simulator still
 * applies its own latency and faults (sim_journal.c); the decorator that does it for every driver
 * replaces it.
 */
#include "agent_internal.h"

#include <string.h>

int
agent_chaos_parse(const char *uri, agent_chaos_t *out, agent_err_t *err)
{
    (void) uri;
    (void) err;
    memset(out, 0, sizeof(*out));
    return 0;
}

agent_t *
agent_chaos_wrap(agent_t *inner, const agent_chaos_t *opts, agent_err_t *err)
{
    (void) opts;
    (void) err;
    return inner;
}

int
agent_chaos_set(agent_t *a, const agent_chaos_t *opts)
{
    (void) a;
    (void) opts;
    return -1;
}
