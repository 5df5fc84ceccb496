/*
 * store.h: wapd's persistent state.
 *
 * The store is the only module that speaks to the database. Its interface deals in records (jansson
 * objects shaped as the API shows them), kinds (one per resource type), positions (an increasing number
 * per kind that gives lists a stable order) and revisions (a number that grows with every change of a
 * record, behind ETags). None of these belongs to one database engine: the calls below are served by a
 * backend (lib/store/backend.h), chosen when the store opens, and every backend passes the same
 * conformance suite (tests/unit/test_store_conformance.c).
 *
 * Threads: one store_t is shared by every thread; each thread gets its own connection on first use. Every
 * write that returns success is durably committed (or is part of the calling thread's open transaction,
 * committed by store_tx_commit).
 *
 * Ownership: records returned are new references owned by the caller; records and strings passed in are
 * borrowed. Pointers to the store, to a kind and to out-parameters must not be NULL.
 */
#ifndef WAPD_STORE_H
#define WAPD_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "err.h"

typedef struct store store_t;
typedef struct store_kind store_kind_t;

extern const store_kind_t store_kind_cloud;
extern const store_kind_t store_kind_host;
extern const store_kind_t store_kind_size;
extern const store_kind_t store_kind_image;
extern const store_kind_t store_kind_gallery_item;
extern const store_kind_t store_kind_plan;
extern const store_kind_t store_kind_user;
extern const store_kind_t store_kind_token;
extern const store_kind_t store_kind_subscription;
extern const store_kind_t store_kind_job;
extern const store_kind_t store_kind_vm;
extern const store_kind_t store_kind_network;
extern const store_kind_t store_kind_vmrole;
extern const store_kind_t store_kind_hook;
extern const store_kind_t store_kind_snapshot;
extern const store_kind_t store_kind_private_image;
extern const store_kind_t store_kind_admin_token;

typedef struct {
    int busy_timeout_ms; /* how long a writer waits for another; 0 picks 5000 */
    int migrate_to;      /* tests of migrations: stop at this schema version (0: the latest) */
} store_options_t;

typedef enum {
    STORE_FILTER_EQ, /* field equals value (a string; integers compare by their decimal text) */
    STORE_FILTER_IN, /* field is one of values (a JSON array of strings) */
} store_filter_op_t;

typedef struct {
    const char *field;     /* the record's field name, e.g. "cloudId" */
    store_filter_op_t op;
    const char *value;     /* borrowed; STORE_FILTER_EQ */
    const json_t *values;  /* borrowed; STORE_FILTER_IN */
} store_filter_t;

/* Opens (creating when absent) the database at location, applies pending migrations and runs a quick
 * check. location is a file path, or "<scheme>://…" for a backend that opens such locations. Returns a new
 * store or NULL with err set. */
store_t *store_open(const char *location, const store_options_t *opts, err_t *err);
/* Closes every connection. No thread may use the store afterwards. store_close(NULL) is a no-op. */
void store_close(store_t *st);
/* The schema version the store is at. */
int store_schema_version(store_t *st);
/* The name of the backend that serves the store (as its table names itself). */
const char *store_backend_name(store_t *st);
/* Whether several processes may share the store's database (its backend is not single_process: PostgreSQL):
 * then no process may keep state the others cannot see (a sim host's simulator, say). */
bool store_shared(store_t *st);
/* Answers whether the database can be read: 0, or -1 with err. */
int store_ping(store_t *st, err_t *err);
/* Lack of space: true from a write that failed because the disk (or the database) was full
 * (InsufficientStorage) until a transaction that changed a record commits, or a probe does.
 * store_write_probe commits a write of bytes (> 0) that leaves no record behind, to learn whether there is
 * room again for a write of that size (a small one may fit in room the database reuses while larger ones
 * do not): 0 (and the store is not full any more), or -1 with err. Its commit is its own: no other write
 * shares it, so a probe that finds no room fails no client's write. */
bool store_storage_full(store_t *st);
int store_write_probe(store_t *st, int64_t bytes, err_t *err); /* with no transaction open */
/* Runs the full integrity check; 0 when it reports ok. */
int store_integrity_check(store_t *st, err_t *err);
/* Backups. backup_to writes a consistent copy of the whole store into a new database file at path (one
 * snapshot: that of the calling thread's open read transaction, or one taken for the copy; writes of
 * other threads go on meanwhile), which a store opened at that path serves as it is. backup_temp does the
 * same into a new temporary file (0600) in the store's own directory (a file store; $TMPDIR or /tmp for
 * another) and answers its descriptor, positioned at the start, the file already unlinked (it is gone
 * once closed) and its size in *size; -1 with err when either fails (nothing left behind; a copy that a
 * process killed meanwhile left is removed when the store next opens). */
int store_backup_to(store_t *st, const char *path, err_t *err);
int store_backup_temp(store_t *st, int64_t *size, err_t *err);

/* Transactions of the calling thread. begin opens a write transaction (or a nested one inside an open
 * transaction); commit makes it durable (the outermost) or folds it into the enclosing one; rollback undoes
 * it. Every begin that succeeded is matched by one commit or one rollback. */
int store_tx_begin(store_t *st, err_t *err);
/* Opens a read transaction: the reads that follow see one snapshot, and pay for the database's locks once
 * instead of once per statement. End it with store_tx_commit. A write inside it fails; use store_tx_begin
 * for transactions that write. */
int store_tx_begin_read(store_t *st, err_t *err);
/* As store_tx_begin, for a transaction that will write many rows (a usage period's records): the backend
 * may prepare for it (keep its pages in memory until it ends, say). */
int store_tx_begin_bulk(store_t *st, err_t *err);
/* Write transactions committed since the store opened (the outermost ones, implicit ones of single write
 * calls included), and the durable commits that made them so: with group commit, concurrent write
 * transactions share one commit (one fsync), so under contention batches < commits. For metrics and
 * tests. */
uint64_t store_commits(store_t *st);
uint64_t store_batches(store_t *st);

/* What an operator watches (for /metrics), each read at once and cheaply, whatever the history kept.
 * job_counts: the jobs queued and the jobs running, by kind, in one read: fn(arg, kind, status, n) once
 * per kind and status ("queued" or "running") that has n > 0 jobs, kind and status borrowed for the call;
 * 0, or -1 with err (fn may have been called before the failure). delivery_backlog: the hook deliveries
 * pending, every hook's, in *pending, and when the earliest queued of them was queued in *oldest_ms (-1:
 * none pending); 0, or -1 with err, the out-parameters untouched. size_bytes: the bytes the database
 * takes on disk now (a SQLite store: its file and its write-ahead log); -1 when the backend cannot tell. */
typedef void (*store_job_count_fn)(void *arg, const char *kind, const char *status, int64_t n);
int store_job_counts(store_t *st, store_job_count_fn fn, void *arg, err_t *err);
int store_delivery_backlog(store_t *st, int64_t *pending, int64_t *oldest_ms, err_t *err);
int64_t store_size_bytes(store_t *st);
/* Commit is called only with a transaction open. A rollback with none open is a no-op: it follows a
 * commit that failed, which leaves nothing open. */
int store_tx_commit(store_t *st, err_t *err);
void store_tx_rollback(store_t *st);

/* Calls fn(arg) once the calling thread's open transaction has committed (at once when none is open);
 * never when it rolls back. For work that must not start before a change is durable, such as waking the
 * job workers. A hook added inside a nested transaction that rolls back is discarded with it. */
int store_tx_on_commit(store_t *st, void (*fn)(void *arg), void *arg, err_t *err);
/* As store_tx_on_commit, for an arg the hook owns: fn(arg) takes it on commit; drop(arg) releases it when
 * the transaction the hook was added in rolls back (or the commit fails). Either runs exactly once. When
 * this call fails, nothing was taken: the caller still owns arg. */
int store_tx_on_commit_owned(store_t *st, void (*fn)(void *arg), void (*drop)(void *arg), void *arg,
                             err_t *err);

/* Inserts rec (which carries "id" and every required field). 409 Conflict on a duplicate unique field or
 * a reference to a missing record. */
int store_rec_insert(store_t *st, const store_kind_t *kind, const json_t *rec, err_t *err);
/* As store_rec_insert, for a caller to whom a duplicate means something of its own (another job holds
 * the lock): 1 when inserted; 0 when a record already holds rec's id or one of the kind's unique values
 * (nothing changed, err untouched); -1 with err (409 for a reference to a missing record). */
int store_rec_insert_unique(store_t *st, const store_kind_t *kind, const json_t *rec, err_t *err);

/* Lookups: a missing record is an answer, not an error. Each returns 1 when the record is there, with
 * *out a new reference to it (out may be NULL when only its existence matters) and its revision in *rev
 * (when rev is not NULL); 0 when there is none, with out, rev and err untouched; -1 with err when the
 * store failed. The caller says what "none" means (a 400 naming its field, the kind's 404, a job that is
 * done) and passes a failure up as it is. lookup reads by id, lookup_by the first record whose field
 * equals value. The _shared forms answer a record that may be shared with the calling thread's cache and
 * must not be modified (still a new reference, released with json_decref). */
int store_rec_lookup(store_t *st, const store_kind_t *kind, const char *id, json_t **out,
                     int64_t *rev, err_t *err);
int store_rec_lookup_shared(store_t *st, const store_kind_t *kind, const char *id, json_t **out,
                            int64_t *rev, err_t *err);
int store_rec_lookup_by(store_t *st, const store_kind_t *kind, const char *field, const char *value,
                        json_t **out, err_t *err);
int store_rec_lookup_by_shared(store_t *st, const store_kind_t *kind, const char *field,
                               const char *value, json_t **out, err_t *err);

/* The record with that id when its field (a text field other than the id) equals value, found by both at
 * once, as store_rec_lookup answers. A record whose field holds another value is none, and costs what a
 * missing id does (the same answer from the same work): what a tenant's request uses to find a record
 * of its subscription, so that another's is indistinguishable from none, in time too. */
int store_rec_lookup_where(store_t *st, const store_kind_t *kind, const char *id, const char *field,
                           const char *value, json_t **out, int64_t *rev, err_t *err);
int store_rec_lookup_where_shared(store_t *st, const store_kind_t *kind, const char *id,
                                  const char *field, const char *value, json_t **out, int64_t *rev,
                                  err_t *err);

/* The gets: for a caller to whom a missing record is the request's 404. Each is the lookup above, with
 * "none" answered as NULL and ERR_NOT_FOUND, "The <kind> was not found." Nobody rewrites that error:
 * a caller that means something else by "none" uses a lookup. */
/* The record with that id, and its revision in *rev (when rev is not NULL); NULL with ERR_NOT_FOUND. */
json_t *store_rec_get(store_t *st, const store_kind_t *kind, const char *id, int64_t *rev, err_t *err);
/* The record with that id when its field equals value (a string; value NULL: any), as store_rec_get;
 * otherwise NULL with the same 404 as for a missing id (a tenant's view of another's record), found as
 * store_rec_lookup_where finds it. */
json_t *store_rec_get_where(store_t *st, const store_kind_t *kind, const char *id, const char *field,
                            const char *value, int64_t *rev, err_t *err);
/* The first record whose field equals value; NULL with ERR_NOT_FOUND when none. */
json_t *store_rec_find(store_t *st, const store_kind_t *kind, const char *field, const char *value,
                       err_t *err);
/* The same two reads for read-only use: the record returned may be shared with the calling thread's cache
 * and must not be modified (it is still a new reference, released with json_decref). They save a copy on
 * hot paths such as authentication. */
json_t *store_rec_get_shared(store_t *st, const store_kind_t *kind, const char *id, int64_t *rev,
                             err_t *err);
json_t *store_rec_find_shared(store_t *st, const store_kind_t *kind, const char *field,
                              const char *value, err_t *err);
/* Up to limit records after position `after` (0: from the start), in position order, that match every
 * filter. Returns a new array; *next is the position to continue from, or 0 when this is the last page. */
json_t *store_rec_list(store_t *st, const store_kind_t *kind, const store_filter_t *filters,
                       size_t nfilters, int64_t after, int limit, int64_t *next, err_t *err);
/* A record's position, id and revision: what names a record of a page before the record is read. */
#define STORE_KEY_ID_MAX 64
typedef struct {
    int64_t pos;
    int64_t rev;
    char id[STORE_KEY_ID_MAX];
} store_rec_key_t;
/* The keys of the page store_rec_list answers for the same arguments, from the same index and without
 * reading the records: into keys (room for limit), *n of them. 0, or -1 with err. */
int store_rec_list_keys(store_t *st, const store_kind_t *kind, const store_filter_t *filters,
                        size_t nfilters, int64_t after, int limit, store_rec_key_t *keys, int *n,
                        int64_t *next, err_t *err);
/* Every record that matches, in position order (for lib/'s own sweeps, not for paging callers). */
json_t *store_rec_list_all(store_t *st, const store_kind_t *kind, const store_filter_t *filters,
                           size_t nfilters, err_t *err);
/* Counts the records that match every filter; -1 with err on failure. */
int64_t store_rec_count(store_t *st, const store_kind_t *kind, const store_filter_t *filters,
                        size_t nfilters, err_t *err);
/* Replaces every mutable field of record id with rec's values. With expect_rev > 0, only when the
 * record is still at that revision (else 412 PreconditionFailed). 404 when there is no such record. */
int store_rec_update(store_t *st, const store_kind_t *kind, const char *id, const json_t *rec,
                     int64_t expect_rev, err_t *err);
/* Deletes record id, with the same revision rule; 409 Conflict while other records refer to it. */
int store_rec_delete(store_t *st, const store_kind_t *kind, const char *id, int64_t expect_rev,
                     err_t *err);

/* Idempotency keys. A saved answer is {bodyHash, status, location, body}. lookup returns it (new
 * reference) when one younger than max_age_ms exists for (scope, method, path, key), else NULL with no
 * error. save records an answer, replacing an expired one. */
json_t *store_idem_lookup(store_t *st, const char *scope, const char *method, const char *path,
                          const char *key, int64_t max_age_ms, err_t *err);
int store_idem_save(store_t *st, const char *scope, const char *method, const char *path,
                    const char *key, const json_t *answer, err_t *err);
/* Removes answers older than max_age_ms; returns how many, or -1. */
int64_t store_idem_purge(store_t *st, int64_t max_age_ms, err_t *err);

/* Quota usage counters of a subscription, in this order. */
#define STORE_QUOTAS 6
extern const char *const store_quota_keys[STORE_QUOTAS]; /* vms cores memoryMB storageGB vmRoles networks */
int store_usage_get(store_t *st, const char *sid, int64_t usage[STORE_QUOTAS], err_t *err);
/* Adds delta to the counters in one step, only if every counter that grows stays within its limit
 * (limit < 0, or limit NULL: unlimited). Returns 0 when applied; 1 when a limit (or a missing subscription)
 * refused it, with nothing changed and err untouched; -1 with err. Decreases always apply. */
int store_usage_adjust(store_t *st, const char *sid, const int64_t delta[STORE_QUOTAS],
                       const int64_t limit[STORE_QUOTAS], err_t *err);
int store_usage_set(store_t *st, const char *sid, const int64_t usage[STORE_QUOTAS], err_t *err);
/* Usage as the subscription's resources say it is (VMs that count, networks). */
int store_usage_recompute(store_t *st, const char *sid, int64_t usage[STORE_QUOTAS], err_t *err);

/* Adds to a host's allocation in one step. Returns 0 when applied; 1 when growth does not fit the
 * capacity (or there is no such host), with nothing changed and err untouched; -1 with err. Release always
 * applies. */
int store_host_allocate(store_t *st, const char *host_id, int64_t cores, int64_t memory_mb,
                        int64_t storage_gb, err_t *err);
/* Adds to a host's allocated storage whatever its capacity: growth that already happened on the host
 * (a differencing disk) is recorded, not refused. */
int store_host_grow_storage(store_t *st, const char *host_id, int64_t storage_gb, err_t *err);
/* The allocation the host's VMs hold: {cores, memoryMB, storageGB}. */
int store_host_recompute(store_t *st, const char *host_id, int64_t out[3], err_t *err);
/* A cloud's hosts summed, every state: {hosts, capacity cores, memoryMB, storageGB, allocated cores,
 * memoryMB, storageGB}; zeros when it has none. */
int store_cloud_capacity(store_t *st, const char *cloud_id, int64_t out[7], err_t *err);

/* A network's addresses: rows of (network, address, VM), with no policy here (which address a VM gets
 * is lib/vm/ipam.c's choice). used answers the addresses VMs of the network hold, ascending: 0 with *ips
 * (new, the caller free()s it; NULL when *n is 0) and *n; -1 with err. claim records address ip of the
 * network as vm_id's: 1 when claimed; 0 when the address is already taken (nothing changed, err
 * untouched); -1 with err. release_vm gives back every address vm_id holds. */
int store_ip_used(store_t *st, const char *network_id, int64_t **ips, size_t *n, err_t *err);
int store_ip_claim(store_t *st, const char *network_id, const char *vm_id, int64_t ip, err_t *err);
int store_ip_release_vm(store_t *st, const char *vm_id, err_t *err);
/* How many addresses of the network are taken; -1 on failure. */
int64_t store_ip_count(store_t *st, const char *network_id, err_t *err);

/* What the last inventory sync of a host found that no record owns: [{hypervisorId, name, powerState,
 * seenAt}]. replace sets the whole list; remove takes one out (once a record owns it). */
int store_unmanaged_replace(store_t *st, const char *host_id, const json_t *vms, err_t *err);
json_t *store_unmanaged_list(store_t *st, const char *host_id, err_t *err);
int store_unmanaged_remove(store_t *st, const char *host_id, const char *hypervisor_id, err_t *err);

/* The VM timeline, the source of metering. append records the VM's metered state (power state, size,
 * cores, memory, storage, what it holds) with the time, in the caller's transaction: event "created",
 * "changed" (written only when something metered changed) or "deleted". forget drops a VM's rows (a VM
 * whose creation failed is never billed). A stored object that is metered by its size (a snapshot, a
 * private image) is on the timeline too, as a record whose "_resourceType" names its type ("vm" when
 * absent). A VM's "_assignedMemoryMB" (its memoryMB when absent) is recorded too, and its change is a
 * change. */
int store_timeline_append(store_t *st, const json_t *vm, const char *event, err_t *err);
int store_timeline_forget(store_t *st, const char *vm_id, err_t *err);

/* The store's own settings (integers). get returns 0, 1 when unset, or -1. */
int store_meta_get(store_t *st, const char *key, int64_t *value, err_t *err);
int store_meta_set(store_t *st, const char *key, int64_t value, err_t *err);
/* One row of the VM timeline; strings are valid only during the callback that receives it. */
typedef struct {
    const char *vm_id, *subscription_id, *event, *power_state, *size, *name;
    const char *resource_type; /* "vm", "snapshot", "image" */
    int64_t at_ms, cores, memory_mb, storage_gb;
    int64_t assigned_memory_mb; /* what the host assigned (dynamic memory); memory_mb when it did not say */
    bool holds_compute, holds_storage;
} store_timeline_row_t;
typedef int (*store_timeline_fn)(void *arg, const store_timeline_row_t *row, err_t *err);
/* Calls fn with every timeline row a window [from_ms, until_ms) needs, for the VMs whose id is in
 * (after_vm, last_vm] (after_vm NULL: from the first; last_vm NULL: to the last), each VM's rows together
 * and in order: the VM's last row before from_ms (unless that row is its deletion), then every row within
 * the window. fn may write (other tables) in the caller's transaction; a non-zero return stops the walk
 * and is returned, err set by fn. */
int store_timeline_each(store_t *st, int64_t from_ms, int64_t until_ms, const char *after_vm,
                        const char *last_vm, store_timeline_fn fn, void *arg, err_t *err);
/* The id of the n-th VM after after_vm (NULL: from the first), in id order, among those not gone before
 * from_ms, into out (of size outn): the end of a chunk of n VMs. 1 when found; 0 when fewer than n remain (the chunk runs
 * to the last VM); -1 with err. */
int store_timeline_chunk_end(store_t *st, int64_t from_ms, const char *after_vm, int n, char *out,
                             size_t outn, err_t *err);
/* Forgets the VMs that went before before_ms (their last period is closed); returns how many, or -1. */
int64_t store_vm_state_prune(store_t *st, int64_t before_ms, err_t *err);
/* The time of the earliest timeline row (-1: none). */
int store_timeline_first(store_t *st, int64_t *first_ms, err_t *err);
/* A usage record (borrowed strings; properties is JSON text; variant is the size a compute record bills,
 * "" for the rest). put adds it; a second one for the same resource, meter, period and variant is
 * ignored. */
typedef struct {
    const char *id, *subscription_id, *resource_id, *resource_type, *meter, *unit, *properties;
    const char *variant;
    double quantity;
    int64_t period_start_ms, period_end_ms;
} store_usage_rec_t;
int store_usage_record_put(store_t *st, const store_usage_rec_t *r, err_t *err);
/* Records after position `after` (of subscription sid, or all when NULL) whose period lies within
 * [from_ms, to_ms], in order; *last is the position of the last one (after when none). */
json_t *store_usage_records(store_t *st, const char *sid, int64_t after, int64_t from_ms,
                            int64_t to_ms, int limit, int64_t *last, err_t *err);

/* The WAP usage contract's records: put adds one per VM, period and size (the subscriber's email is
 * looked up; a second one is ignored); after answers the WAP shape, EventId ascending, at most batch, the
 * counters as strings (a whole number as such, else up to 3 decimals). The averages are over the time
 * the VM had the size within the period; memory_consumed_* is the assigned memory (MB). */
typedef struct {
    const char *resource_id, *subscription_id, *name, *size;
    int64_t period_start_ms, period_end_ms, cpu_max, memory_max, disk_bytes_max;
    int64_t memory_consumed_min, memory_consumed_max;
    double cpu_avg, memory_avg, memory_consumed_avg, disk_bytes_avg;
} store_wap_rec_t;
int store_wap_usage_put(store_t *st, const store_wap_rec_t *r, err_t *err);
json_t *store_wap_usage_after(store_t *st, int64_t last_id, int batch, err_t *err);
/* The highest usage record position and the highest WAP EventId ever issued (0: none), purged ones
 * included. */
int store_usage_issued(store_t *st, int64_t *last_pos, int64_t *last_event_id, err_t *err);

/* Purges, among the periods that ended before older_than_ms, what is acknowledged: a usage record at a
 * position up to acked_pos, or whose VM's WAP records of its period all have an EventId up to
 * acked_event_id; a WAP record with an EventId up to acked_event_id, or none of whose VM's usage records
 * of its period is left. Returns how many went, or -1. */
int64_t store_usage_purge(store_t *st, int64_t acked_pos, int64_t acked_event_id, int64_t older_than_ms,
                          err_t *err);

/* Events: the outbox. event_add saves ev {id, type, occurredAt, subscriptionId, resourceId, data} (in the
 * caller's transaction) and queues one delivery of it, due at now_ms, for every active hook whose events
 * list names its type or "*". events_after answers the events after position `after`, in order; *last is
 * the position of the last one (after when none). */
int store_event_add(store_t *st, const json_t *ev, int64_t now_ms, err_t *err);
json_t *store_events_after(store_t *st, int64_t after, int limit, int64_t *last, err_t *err);
/* Drops events older than older_than_ms that no delivery refers to; returns how many, or -1. */
int64_t store_events_purge(store_t *st, int64_t older_than_ms, err_t *err);
/* Drops at most limit (> 0) jobs that ended (succeeded, failed or canceled) before ended_before_ms, with
 * everything kept only for them; a job not ended is never dropped. Returns how many, or -1. */
int64_t store_jobs_purge(store_t *st, int64_t ended_before_ms, int limit, err_t *err);

/* Job leases: which daemon of a shared store runs a job now. A lease is (job, owner, until_ms): owner (a
 * daemon's instance id) alone may run the job until until_ms; renewing pushes until_ms on. These calls
 * never join a transaction and never wait for writers: each is one statement committed on its own, even
 * when the calling thread has a transaction open (it then runs on a second connection of the thread, and
 * a rollback of that transaction leaves it done); they do not pass the fault wrapper (fault loops count
 * the same calls with or without them).
 * - lease_take: 1 when owner now holds job_id's lease until until_ms (there was none, it had expired at
 *   now_ms, or owner held it already and it is renewed); 0 when another owner holds a live one; -1 err.
 * - leases_renew: every lease owner holds on a job still queued or running gets until_ms (one whose job
 *   ended, its give-back having failed, expires); how many, or -1.
 * - lease_give: drops owner's lease on job_id (a no-op when owner holds none): 0, or -1.
 * - jobs_unleased: at most limit ids [id, ...] of jobs queued or running whose lease is absent, or
 *   expired at now_ms (the takeover scan: a daemon that died leaves its jobs there), oldest first.
 * A store of one process (SQLite: daemon/lock.c makes the database one process's) has nothing to share:
 * lease_take answers 1, leases_renew and lease_give 0, jobs_unleased an empty list; its engine's own
 * pool is the lease. */
int store_job_lease_take(store_t *st, const char *job_id, const char *owner, int64_t now_ms,
                         int64_t until_ms, err_t *err);
int store_job_leases_renew(store_t *st, const char *owner, int64_t until_ms, err_t *err);
int store_job_lease_give(store_t *st, const char *job_id, const char *owner, err_t *err);
json_t *store_jobs_unleased(store_t *st, int64_t now_ms, int limit, err_t *err);
/* The ids among ids (a JSON array of job ids, borrowed) whose lease is live at now_ms, whoever holds it: a
 * job a daemon has taken up, shown running by every daemon before its first step commits. A read, in the
 * calling thread's transaction when one is open. A new array (empty on a store of one process), or NULL
 * with err. */
json_t *store_jobs_leased(store_t *st, const json_t *ids, int64_t now_ms, err_t *err);

/* Deliveries of events to hooks. due: a hook's pending deliveries due by now_ms, earliest first:
 * [{seq, attempts, queuedMs, eventId, eventType, body}] (body: the event's JSON text as saved).
 * record: ends an attempt {id, attempt, statusCode|null, error|null, atMs} of delivery seq, leaving the
 * delivery in state ("pending" with next_ms for a retry, "succeeded" or "failed") and logging the attempt;
 * a no-op when the delivery is no longer pending (its hook deleted). next_ms: the earliest due time of a
 * pending delivery of the hook (-1: none). attempts: a hook's log, oldest first, paged by position (*next 0: last
 * page): [{id, eventId, eventType, attempt, statusCode, error, at}]. requeue: queues the event of attempt
 * attempt_id again for its hook (404 when the hook has no such attempt). purge: drops log rows and
 * finished deliveries older than older_than_ms; returns how many, or -1. */
json_t *store_deliveries_due(store_t *st, const char *hook_id, int64_t now_ms, int limit, err_t *err);
int store_delivery_record(store_t *st, int64_t seq, const json_t *attempt, const char *state,
                          int64_t next_ms, err_t *err);
int store_delivery_next_ms(store_t *st, const char *hook_id, int64_t *next_ms, err_t *err);
json_t *store_delivery_attempts(store_t *st, const char *hook_id, int64_t after, int limit,
                                int64_t *next, err_t *err);
int store_delivery_requeue(store_t *st, const char *hook_id, const char *attempt_id, int64_t now_ms,
                           err_t *err);
int64_t store_deliveries_purge(store_t *st, int64_t older_than_ms, err_t *err);

/* Test hook: how many single-record reads (lookups, gets, get_where, finds and their shared forms, cached
 * or not) of kind the store has been asked for since it opened. */
uint64_t store__reads(store_t *st, const store_kind_t *kind);
/* Test hook: the name of the i-th backend this build has (the order they registered in); NULL past the
 * last. */
const char *store__backend_at(size_t i);

/* Leadership of the periodic work (usage close, retention, inventory sync, reconcile, purges, host
 * heartbeats, hook delivery): of the processes sharing one database, at most one leads at a time.
 * store_leader_try: 1 when this process leads (it held or has just taken the leadership), 0 when another
 * does, -1 with err when it cannot tell (the database unreachable, the connection lost): then it does not
 * lead, and a later try takes the leadership again if it is free. Call it with no transaction open on the
 * calling thread; it never waits for a writer and no writer waits for it. A backend shared by several
 * processes (PostgreSQL) holds a lock for it on a connection of its own, which a lost connection or
 * store_close gives up; a backend one process owns (SQLite) always leads. store_is_leader: the last answer
 * of store_leader_try (always true for a backend one process owns), for any thread, without a call to the
 * database. */
int store_leader_try(store_t *st, err_t *err);
bool store_is_leader(store_t *st);

#endif
