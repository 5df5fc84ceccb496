/*
 * agent_internal.h: what the dispatch layer shares with the decorators (chaos.c, journal.c); not for
 * other modules.
 *
 * An open agent is a driver table and its priv. A decorator is a driver table of its own whose priv holds
 * the agent it wraps (owned: closing the decorator closes it) and whose slots forward with agent_*(inner,
 * ...), so a decorator sees calls after the dispatch layer's checks, exactly as a driver does.
 */
#ifndef WAPD_AGENT_INTERNAL_H
#define WAPD_AGENT_INTERNAL_H

#include "../agent.h"

struct agent {
    const agent_driver_t *driver;
    void *priv;
};

/* A new open agent over driver d and its priv (NULL when out of memory; priv is then the caller's). */
agent_t *agent__new(const agent_driver_t *d, void *priv);

/* The built-in drivers' registrations, called by agent_builtin_register. */
int agent_sim_register(void);
int agent_http_register(void);

#endif
