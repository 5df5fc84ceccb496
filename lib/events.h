/*
 * events.h: what happened, for hooks and for the pull feed.
 *
 * An event {id, type, occurredAt, subscriptionId, resourceId, data} is written in the same transaction as
 * the change it describes (an outbox), so an event exists exactly when its change committed. Writing it
 * also queues a delivery to every active hook that asks for its type; lib/hooks.c sends them.
 *
 * Types: vm.created, vm.deleted, vm.powerStateChanged, vm.resized, vm.missing (inventory found the VM gone
 * from its host), vm.checkpoint.created, vm.checkpoint.restored, vm.checkpoint.deleted, vmrole.scaled,
 * subscription.created, subscription.suspended, subscription.activated, subscription.deleted, plan.updated,
 * job.failed, host.unreachable and host.reachable (lib/hostwatch.c; resourceId the host, no subscription),
 * vm.generalized, vm.migrated (data: fromHostId, toHostId), image.created and image.deleted (private
 * images), snapshot.created, snapshot.copied (resourceId the new copy; data: sourceSnapshotId, cloudId) and
 * snapshot.deleted; vm.disk.attached and vm.disk.detached (data: lun, sizeGB), vm.reassociated (data:
 * fromHostId, toHostId, hypervisorId); network.created and network.deleted; vmrole.created, vmrole.deleted
 * and vmrole.instanceJoined (data: vmId, adopted: whether wapd made the VM's record from the host's report,
 * which also raises vm.created); host.created,
 * host.updated (data: the fields changed) and host.deleted (no subscription); user.created (data: email,
 * name), token.created and token.revoked (resourceId the token, data: userId; never the token's value;
 * no subscription); adminToken.created (data: name, scope, expiresAt) and adminToken.revoked (data: name)
 * (resourceId the admin token; never its value; no subscription); job.succeeded, job.failed and
 * job.canceled (resourceId the job's resource; data: jobId, kind, and code and message when it failed).
 *
 * Every type is made of letters and dots. A hook filter is "*" (every type), a known type, or a prefix
 * ending in ".*" ("vm.*") that matches every type beginning with the prefix and its dot (vm.created,
 * vm.disk.attached); the prefix must name at least one known type.
 */
#ifndef WAPD_EVENTS_H
#define WAPD_EVENTS_H

#include <stdbool.h>

#include <jansson.h>

#include "err.h"
#include "store.h"

/* Every type above, NULL-terminated, for validating hook subscriptions. */
extern const char *const events_types[];
bool events_type_known(const char *type);
/* True when filter may stand in a hook's events list (see the top of this file); NULL is not. */
bool events_filter_valid(const char *filter);
/* True when valid filter selects type (both borrowed, non-NULL). The store's delivery query does the
 * same in SQL; this is its reference. */
bool events_filter_matches(const char *filter, const char *type);

/* Records an event in the calling thread's open transaction (or on its own when none is open). sid and
 * resource_id are borrowed and may be NULL; data is stolen (NULL: {}). After the transaction commits, the
 * listener (events_set_listener) is called once. */
int events_emit(store_t *st, const char *type, const char *sid, const char *resource_id, json_t *data,
                err_t *err);
/* Called after every commit that wrote events (the hook sender's wake-up); fn must be quick and
 * thread-safe. NULL: nobody. */
void events_set_listener(void (*fn)(void *arg), void *arg);

/* The pull feed: events after position `after`, oldest first; *next the position to continue from (the
 * same when nothing is new). */
json_t *events_page(store_t *st, int64_t after, int limit, int64_t *next, err_t *err);

/* Drops events older than retention_ms once no hook delivery still refers to them (the feed's readers
 * must read within the retention). Returns how many went, or -1. */
int64_t events_purge(store_t *st, int64_t retention_ms, int64_t now_ms, err_t *err);

#endif
