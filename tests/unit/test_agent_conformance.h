/*
 * test_agent_conformance.h: what a kind of host gives the driver conformance suite
 * (test_agent_conformance.c): one conformance_fixture_t, defined in its own header
 * (test_agent_fixture_<kind>.h) and listed in the suite's table. Include after <cmocka.h>.
 */
#ifndef WAPD_TEST_AGENT_CONFORMANCE_H
#define WAPD_TEST_AGENT_CONFORMANCE_H

#include <stdbool.h>

#include "../../lib/agent.h"

/* A kind of host the suite runs against. */
typedef struct {
    const char *kind;
    /* Starts what hosts of the kind need (a state directory, a wapd-agent process, a libvirt
     * connection) and answers it, or NULL when the kind cannot run on this machine (its cases skip). */
    void *(*start)(void);
    /* Opens an agent on the host; after agent_close, a new open sees the same host and journal. */
    agent_t *(*open)(void *env, agent_err_t *err);
    /* Puts a VM wapd did not create on the host, its hypervisor id written (NULL: the kind cannot). */
    int (*add_unmanaged)(void *env, agent_t *a, const char *name, char hyp[AGENT_ID_MAX]);
    /* Stops and removes everything start made. */
    void (*stop)(void *env);
    /* The kind implements volumes, copies, clones and imports: the volume cases
     * (test_agent_conformance_volume.h) run against it; they skip while this is false. */
    bool has_volumes;
} conformance_fixture_t;

#endif
