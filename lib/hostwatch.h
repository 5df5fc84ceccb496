/*
 * hostwatch.h: the heartbeat of remote hosts, and what a host that stops answering means.
 *
 * Every remote host (its agent kind's driver says so: agent_kind_remote; not the in-process simulator) is
 * asked how it is (agent_host_info, with a short timeout) once per period. HOSTWATCH_FAILURES failures in a row make a
 * host whose state is ok `unreachable`, in one transaction: its record, the event host.unreachable
 * (resourceId the host, no subscription) and every VM on it that no job is changing shown with powerState
 * unknown. Placement skips the host and job steps on it retry until their deadline (HostUnreachable). The
 * first answer after that makes it ok again, in one transaction: its record (lastSeenAt now), the event
 * host.reachable and an inventory sync job (host.refresh), which gives its VMs their true power state
 * back. Nothing else about a VM changes while its host is away: holdings, quota and disks stay as they were.
 *
 * maintenance is the admin's state, and the heartbeat leaves it alone: a host in maintenance that stops
 * answering stays in maintenance (it takes no new VMs either way, and its jobs retry on the agent's own
 * errors), and one that answers again is not made ok. Only the admin moves a host out of maintenance; if
 * it is then still silent, the next failure (the count goes on) makes it unreachable.
 *
 * Transitions are decided from the record, read again inside their transaction, so each is made (and its
 * event raised) once, whoever else beats the same host; the failure count lives in memory (a restart
 * counts from zero, as does a daemon that takes the lead over from another, and a host recorded unreachable
 * is made ok by its first answer).
 */
#ifndef WAPD_HOSTWATCH_H
#define WAPD_HOSTWATCH_H

#include <stdbool.h>

#include "err.h"
#include "store.h"

#define HOSTWATCH_FAILURES 3
#define HOSTWATCH_TIMEOUT_MAX_MS 3000 /* a heartbeat's timeout: half the period, at most this */

typedef struct hostwatch hostwatch_t;

/* A watcher of st's hosts (st borrowed, outliving it) whose heartbeats wait timeout_ms at most (> 0).
 * NULL when out of memory. */
hostwatch_t *hostwatch_new(store_t *st, int timeout_ms);
void hostwatch_free(hostwatch_t *hw);

/* One heartbeat of host host_id (any kind: the caller chooses), and the transition it means, if any; a
 * host that answered and is not unreachable has its VMs observed (inventory_observe).
 * 0 (a host that is gone is 0 too), or -1 with err when the transition could not be recorded (it is tried
 * again at the next heartbeat). */
int hostwatch_beat(hostwatch_t *hw, const char *host_id, err_t *err);
/* One heartbeat of every remote host, and an observation of the VMs of every host reached (in this process:
 * every host not unreachable). 0, or -1 with err (the first failure; the other hosts are still beaten). */
int hostwatch_round(hostwatch_t *hw, err_t *err);
/* The failures in a row of host host_id so far (0 after an answer). */
int hostwatch_failures(hostwatch_t *hw, const char *host_id);

/* The daemon's watcher: a thread that runs a round every period_seconds (0: no thread), with heartbeats
 * of half the period (at most HOSTWATCH_TIMEOUT_MAX_MS), while its daemon leads (store_is_leader: of the
 * daemons sharing a database, one beats the hosts). It waits on the hosts, so it is a thread of its own
 * rather than part of the main loop's periodic work. */
int hostwatch_start(store_t *st, int period_seconds, err_t *err);
/* Stops the thread after the heartbeat under way (a round ends at its next host); no-op when not
 * started. */
void hostwatch_stop(void);

#endif
