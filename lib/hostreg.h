/*
 * hostreg.h: one open agent per host, shared by every job of the process.
 *
 * A host's agent is opened on first use from its record (kind, uri) and kept until hostreg_shutdown; a
 * changed uri is applied to the open agent. One instance per host matters: the simulator keeps one state
 * file per host, and a remote agent one connection pool.
 */
#ifndef WAPD_HOSTREG_H
#define WAPD_HOSTREG_H

#include "agent.h"
#include "err.h"
#include "store.h"

/* state_dir is where agents may keep files (borrowed; must outlive the registry). */
void hostreg_init(const char *state_dir);
/* Closes every agent; no agent returned before may be used afterwards. */
void hostreg_shutdown(void);
/* The host's agent (borrowed), or NULL with err (404 when the host is gone, 503 when it cannot be
 * reached). */
agent_t *hostreg_agent(store_t *st, const char *host_id, err_t *err);

#endif
