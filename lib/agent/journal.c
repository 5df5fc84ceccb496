/*
 * journal.c: the operation-id journal decorator (see agent.h). This first version wraps nothing: the
 * simulator still journals its own answers (sim_journal.c); the decorator that does it for every driver
 * replaces it.
 */
#include "agent_internal.h"

agent_t *
agent_journal_wrap(agent_t *inner, const char *path, agent_err_t *err)
{
    (void) path;
    (void) err;
    return inner;
}
