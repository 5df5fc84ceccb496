/*
 * agent.h: the hypervisor agent contract (v2): the driver table, the typed VM spec and inventory, and the
 * decorators every driver can be wrapped in.
 *
 * A driver is one static table of typed function pointers, as libvirt's hypervisor drivers are; only name,
 * check_uri, open and close are required, and an empty slot answers AGENT_ERR_UNSUPPORTED through the
 * dispatch layer. lib/agent/agent.c is the only code that calls through a table: it checks arguments once,
 * applies the operation's default timeout, and reports errors in one shape. Nothing outside lib/agent/
 * knows a driver's name: the catalog, the API and the inventory ask the registry (agent_kind_known,
 * agent_check_uri, agent_default_uri, agent_kind_can_simulate).
 *
 * Every call is designed for a remote host:
 * - it carries a timeout (per operation, agent_op_timeout_ms, unless the caller sets one), after which it
 *   answers AGENT_ERR_TIMEOUT: the host may or may not have done it;
 * - it carries an operation id: a call repeated with the same id is answered with the first call's result
 *   and is never applied twice, so a job step can retry a call whose answer was lost; the same id with
 *   different arguments is AGENT_ERR_CONFLICT and changes nothing;
 * - every change is also idempotent by its key, so that a repeat whose first answer was lost with the
 *   journal (a crash between the host's change and its record of the answer) is still applied once: a VM
 *   by its wapd VM id (a repeated create answers the VM created before), a disk by its lun, a checkpoint
 *   by its name (a repeated create answers the checkpoint of that name), power actions by the state they
 *   lead to; deleting what is gone answers AGENT_ERR_NOT_FOUND, which callers count as done;
 * - a long operation (a copy: a VM created from an image, later disk copies, clones, migrations) may answer
 *   AGENT_PENDING with call->progress filled: it goes on on the host, and the caller polls by calling again
 *   with the same operation id (and the same arguments) until it answers AGENT_OK or an error;
 * - its error is typed: transient (retry may succeed), permanent (it will not), timeout, not found,
 *   conflict, unsupported, unreachable (the host did not answer at all: no connection).
 *
 * Ownership: an agent_t is owned by whoever opened it and closed with agent_close; strings and specs passed
 * in are borrowed for the call; lists returned are owned by the caller (agent_vm_list_free).
 *
 * Thread safety, the rule every driver keeps: one open agent (one host) is shared by every job worker of
 * the process (lib/hostreg.c), so its slots are called from several threads at once, on the same priv,
 * for different VMs and for the same VM (a retry racing a slow answer, an inventory sync beside a job).
 * A driver therefore guards everything priv holds itself; keeps no state between calls outside priv;
 * never holds its lock across a wait on the host (latency, network, timeouts), so one slow call does not
 * stall the others; and applies a repeated operation id once. The callers promise in turn that one
 * operation id is never in flight twice at once (a job runs on one worker at a time), so a driver need
 * only answer a repeat that comes after the first call answered or timed out. open and close are not
 * concurrent with anything on that agent (the registry opens before the first call and closes after the
 * last); reconfigure may come at any time, like a call. agent_register is for start-up; the dispatch layer
 * keeps no per-call state and may be entered from any thread.
 */
#ifndef WAPD_AGENT_H
#define WAPD_AGENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#define AGENT_ID_MAX 64
#define AGENT_NAME_MAX 128
#define AGENT_MAC_MAX 18 /* "00:15:5d:xx:xx:xx" */
#define AGENT_ADDR_MAX 46
#define AGENT_MAX_DISKS 65 /* the OS disk and 64 data disks (luns 0..63) */
#define AGENT_MAX_NICS 8
#define AGENT_MAX_CHECKPOINTS 4

typedef enum {
    AGENT_OK = 0,
    AGENT_ERR_TRANSIENT,   /* a retry may succeed */
    AGENT_ERR_PERMANENT,   /* a retry will fail the same way */
    AGENT_ERR_TIMEOUT,     /* no answer in time: the outcome is unknown, ask the host */
    AGENT_ERR_NOT_FOUND,   /* the host has no such VM, disk or checkpoint */
    AGENT_ERR_UNSUPPORTED, /* the driver does not implement the call */
    AGENT_ERR_CONFLICT,    /* the operation id was used before with different arguments */
    AGENT_ERR_UNREACHABLE, /* the host could not be reached at all (no connection); nothing was done */
    AGENT_PENDING,         /* accepted and still running on the host: poll with the same operation id */
} agent_status_t;

typedef struct {
    agent_status_t status;
    char message[256];
} agent_err_t;

/* The operations, for per-operation timeouts, the journal's fingerprints and the chaos decorator. */
typedef enum {
    AGENT_OP_VM_CREATE,
    AGENT_OP_VM_DELETE,
    AGENT_OP_VM_POWER,
    AGENT_OP_VM_RELEASE,
    AGENT_OP_VM_RECONFIGURE,
    AGENT_OP_DISK_ATTACH,
    AGENT_OP_DISK_DETACH,
    AGENT_OP_CHECKPOINT_CREATE,
    AGENT_OP_CHECKPOINT_DELETE,
    AGENT_OP_CHECKPOINT_RESTORE,
    AGENT_OP_INVENTORY,
    AGENT_OP_HOST_INFO,
    AGENT_OP_VOLUME_SNAPSHOT,
    AGENT_OP_VOLUME_COPY,
    AGENT_OP_VOLUME_DELETE,
    AGENT_OP_VM_IMPORT,
    AGENT_OP_COUNT
} agent_op_t;

/* The operation's name ("vmCreate", …) and its default timeout in ms: reads 5 s, power actions, reconfigure,
 * disks, checkpoint and volume deletes 15 s, creates, deletes, checkpoint create and restore, volume
 * snapshots, copies and VM imports 30 s (each poll of a pending operation is one call). */
const char *agent_op_name(agent_op_t op);
int agent_op_timeout_ms(agent_op_t op);

typedef enum {
    AGENT_POWER_START,
    AGENT_POWER_STOP,     /* power off, stays allocated */
    AGENT_POWER_SHUTDOWN, /* guest shutdown, stays allocated */
    AGENT_POWER_RESTART,
} agent_power_op_t;

/* A VM's power state as the host reports it; the names are wapd's ("running", "stopped", "deallocated",
 * "unknown"). A host that has a VM but cannot say its state reports unknown. */
typedef enum {
    AGENT_VM_RUNNING,
    AGENT_VM_STOPPED,
    AGENT_VM_DEALLOCATED,
    AGENT_VM_UNKNOWN,
} agent_vm_power_t;

const char *agent_vm_power_name(agent_vm_power_t p);
int agent_vm_power_parse(const char *text, agent_vm_power_t *out); /* -1 for any other text */

/* Progress of a long operation: bytes copied of bytes to copy (both 0 when not a copy). */
typedef struct {
    int64_t bytes_copied;
    int64_t bytes_total;
} agent_progress_t;

/* What every call carries. */
typedef struct {
    const char *op_id;          /* unique per logical operation; required */
    int timeout_ms;             /* 0: agent_op_timeout_ms of the operation */
    agent_progress_t *progress; /* optional: filled by a long operation (AGENT_PENDING or AGENT_OK) */
} agent_call_t;

typedef enum {
    AGENT_CACHING_NONE,
    AGENT_CACHING_READ_ONLY,
    AGENT_CACHING_READ_WRITE,
} agent_caching_t;

const char *agent_caching_name(agent_caching_t c); /* "None", "ReadOnly", "ReadWrite" */
int agent_caching_parse(const char *text, agent_caching_t *out);

/* A disk to create: the OS disk (lun -1, made from image_id, a catalog image, or from volume_id) or a data
 * disk (lun >= 0: empty, or made from volume_id). A disk made from a volume is a clone of it: a long
 * operation (the create or attach may answer AGENT_PENDING with its progress). */
typedef struct {
    int lun;
    int size_gb;
    agent_caching_t caching;
    const char *image_id;    /* the image the disk is a copy of, or NULL */
    const char *volume_id;   /* or the volume (a snapshot, a captured image's disk) it clones, or NULL */
} agent_disk_spec_t;

typedef struct {
    const char *network_id;
    const char *mac; /* "00:15:5d:…", stable for the VM's life */
    const char *ip;  /* the address wapd gave it, or NULL */
} agent_nic_spec_t;

/* What a real hypervisor needs to create a VM. Every pointer is borrowed for the call. */
typedef struct {
    const char *vm_id; /* the wapd VM id: the key of the create */
    const char *name;
    int cores;
    int memory_mb;     /* startup memory */
    int memory_min_mb; /* dynamic memory bounds; both 0 (or equal to memory_mb): static memory */
    int memory_max_mb;
    int generation;    /* 1 or 2 */
    const agent_disk_spec_t *disks; /* disks[0] is the OS disk */
    int ndisks;
    const agent_nic_spec_t *nics;
    int nnics;
} agent_vm_spec_t;

/* Inventory: what the host has. */
typedef struct {
    int lun; /* -1: the OS disk */
    int size_gb;
} agent_disk_info_t;

typedef struct {
    char id[AGENT_ID_MAX]; /* the host's checkpoint id */
    char name[AGENT_NAME_MAX];
    int64_t size_gb; /* the differencing disk's size now */
} agent_checkpoint_info_t;

typedef struct {
    char vm_id[AGENT_ID_MAX]; /* the wapd VM id it was created for; "" for a VM wapd did not create */
    char hypervisor_id[AGENT_ID_MAX];
    char name[AGENT_NAME_MAX];
    agent_vm_power_t power;
    int cores;
    int memory_mb;
    int ndisks;
    agent_disk_info_t disks[AGENT_MAX_DISKS];
    int ncheckpoints;
    agent_checkpoint_info_t checkpoints[AGENT_MAX_CHECKPOINTS];
    int assigned_memory_mb;   /* what the host assigns the VM now; 0: not reported */
    char guest_heartbeat[16]; /* "ok", "noContact"; "": not reported */
} agent_vm_info_t;

typedef struct {
    size_t n;
    agent_vm_info_t *vms; /* owned */
} agent_vm_list_t;

void agent_vm_list_free(agent_vm_list_t *list); /* frees vms; list itself is the caller's */
/* The VM of that hypervisor id in list (borrowed), or NULL. */
const agent_vm_info_t *agent_vm_list_find(const agent_vm_list_t *list, const char *hypervisor_id);
/* The VM created for that wapd VM id in list (borrowed), or NULL. */
const agent_vm_info_t *agent_vm_list_find_vm_id(const agent_vm_list_t *list, const char *vm_id);
/* {id (the wapd VM id, null when ""), hypervisorId, name, powerState, cores, memoryMB, disks: [{lun, sizeGB}],
 * checkpoints: {id: {name, sizeGB}}, assignedMemoryMB and guestHeartbeat (both only when reported, both optional
 * on read)}: the JSON form (a new reference; NULL when out of memory), as the
 * wapd-agent protocol and job data hold it; agent_vm_info_from_json reads it back (-1 when malformed). */
json_t *agent_vm_info_to_json(const agent_vm_info_t *vm);
int agent_vm_info_from_json(const json_t *j, agent_vm_info_t *out);

/* What the host says of itself (GET /v1/host). */
typedef struct {
    char name[AGENT_NAME_MAX];
    char backend[32]; /* "sim", "libvirt", … */
    char version[32];
    int64_t cores, memory_mb, storage_gb; /* capacity; 0 when the host does not say */
    int64_t vms;                          /* VMs on the host */
    int64_t used_cores, used_memory_mb;   /* held by VMs that are not deallocated */
} agent_host_info_t;

/* ---- volumes ----
 *
 * A volume is a stored copy of a disk that no VM uses: a disk snapshot, or a disk of a captured image. A host
 * keeps the volumes made on it, by wapd's id for them (the key of every volume call); a disk made from a
 * volume (agent_disk_spec_t.volume_id) is a clone of it. A copy makes a volume on this host from a volume
 * another host keeps (src): it is a long operation, answered AGENT_PENDING with call->progress until its
 * last byte, and it resumes after a restart of either side where it was. */
typedef struct {
    const char *host_id;   /* wapd's id of the host that keeps the source volume */
    const char *volume_id; /* the source volume */
    int64_t size_gb;       /* its size */
} agent_volume_src_t;

/* A VM to import: the VM another host runs (or keeps stopped) that this host is to take over, its disks and
 * memory copied (a live migration when it runs: the copy goes on while it runs, and the VM is running here
 * when the import answers AGENT_OK). */
typedef struct {
    const char *host_id;       /* wapd's id of the host the VM is on now */
    const char *hypervisor_id; /* its id there */
    agent_vm_power_t power;    /* running (live), stopped or deallocated: the state it has here at the end */
    const char *const *checkpoints; /* the names of its checkpoints, made again here (ids: the inventory's) */
    int ncheckpoints;
} agent_vm_source_t;

/* How to reach a host: all borrowed for the open or reconfigure call. */
typedef struct {
    const char *host_id;
    const char *uri;
    const char *token;     /* http: the agent's bearer token, or NULL */
    const char *ca_file;   /* http: the CA bundle to verify https against, or NULL (system CAs) */
    const char *state_dir; /* where a driver may keep files ("" or NULL: memory only) */
} agent_conf_t;

typedef struct agent_driver {
    const char *name;        /* the agent kind: "sim", "http", "libvirt" */
    const char *default_uri; /* the uri a host of this kind gets when none is given, or NULL: required */
    bool remote;   /* the host is elsewhere: heartbeats watch it (lib/hostwatch), it may be unreachable */
    bool journals; /* the driver's far end keeps the operation-id journal itself (wapd-agent), so
                    * agent_open does not wrap it in the journal decorator */
    /* 0 when uri is one this driver accepts, else -1 with a permanent error whose message names what is
     * wrong (the catalog answers it as 400 on agent.uri). No I/O. Required. */
    int (*check_uri)(const char *uri, agent_err_t *err);
    /* Opens a connection to the host; no I/O to the host is needed to succeed (a host that is down opens,
     * and its calls answer AGENT_ERR_UNREACHABLE). */
    int (*open)(const agent_conf_t *conf, void **priv, agent_err_t *err);
    void (*close)(void *priv);
    /* Applies a changed uri or token to an open agent (optional). */
    int (*reconfigure)(void *priv, const agent_conf_t *conf, agent_err_t *err);
    /* Creates the VM (stopped), keyed by spec->vm_id; writes the host's id for it. */
    int (*vm_create)(void *priv, const agent_call_t *call, const agent_vm_spec_t *spec,
                     char hypervisor_id[AGENT_ID_MAX], agent_err_t *err);
    int (*vm_delete)(void *priv, const agent_call_t *call, const char *hypervisor_id,
                     agent_err_t *err);
    int (*vm_power)(void *priv, const agent_call_t *call, const char *hypervisor_id,
                    agent_power_op_t op, agent_err_t *err);
    /* Stops the VM if it runs and releases its compute (deallocated). */
    int (*vm_release)(void *priv, const agent_call_t *call, const char *hypervisor_id,
                      agent_err_t *err);
    int (*vm_reconfigure)(void *priv, const agent_call_t *call, const char *hypervisor_id, int cores,
                          int memory_mb, agent_err_t *err);
    int (*disk_attach)(void *priv, const agent_call_t *call, const char *hypervisor_id,
                       const agent_disk_spec_t *disk, agent_err_t *err);
    int (*disk_detach)(void *priv, const agent_call_t *call, const char *hypervisor_id, int lun,
                       agent_err_t *err);
    /* Keyed by name: a checkpoint of that name already there is answered, not made again. */
    int (*checkpoint_create)(void *priv, const agent_call_t *call, const char *hypervisor_id,
                             const char *name, char checkpoint_id[AGENT_ID_MAX], agent_err_t *err);
    int (*checkpoint_delete)(void *priv, const agent_call_t *call, const char *hypervisor_id,
                             const char *checkpoint_id, agent_err_t *err);
    int (*checkpoint_restore)(void *priv, const agent_call_t *call, const char *hypervisor_id,
                              const char *checkpoint_id, agent_err_t *err);
    /* Every VM on the host, unmanaged ones included. */
    int (*inventory)(void *priv, const agent_call_t *call, agent_vm_list_t *vms, agent_err_t *err);
    int (*host_info)(void *priv, const agent_call_t *call, agent_host_info_t *info, agent_err_t *err);
    /* Makes volume volume_id, a point-in-time copy of the VM's disk at lun (-1: the OS disk), in any steady
     * power state; writes its size. Keyed by volume_id: a volume of that id already there is answered. A
     * lun the VM does not have is AGENT_ERR_NOT_FOUND. May answer AGENT_PENDING with progress. */
    int (*volume_snapshot)(void *priv, const agent_call_t *call, const char *hypervisor_id, int lun,
                           const char *volume_id, int64_t *size_gb, agent_err_t *err);
    /* Makes volume volume_id on this host as a copy of src (long: AGENT_PENDING with progress until done).
     * Keyed by volume_id. */
    int (*volume_copy)(void *priv, const agent_call_t *call, const agent_volume_src_t *src,
                       const char *volume_id, agent_err_t *err);
    /* Deletes a volume (a copy under way is stopped first); one that is gone is AGENT_ERR_NOT_FOUND. */
    int (*volume_delete)(void *priv, const agent_call_t *call, const char *volume_id, agent_err_t *err);
    /* Creates the VM of spec on this host as a copy of the VM src names on another host (a migration):
     * disks, memory, power state and checkpoints (by name); long (AGENT_PENDING with progress: the bytes
     * of its disks and memory). Keyed by spec->vm_id, as vm_create; writes this host's id for it. The
     * source is not touched: the caller deletes it there once this answers AGENT_OK. */
    int (*vm_import)(void *priv, const agent_call_t *call, const agent_vm_spec_t *spec,
                     const agent_vm_source_t *src, char hypervisor_id[AGENT_ID_MAX], agent_err_t *err);
    /* Simulator controls (optional; sim only): {"regenerateIds": [hypervisorId…]} gives those VMs new
     * hypervisor ids, as after a storage incident; answers {"regenerated": {old: new}}. */
    int (*simulate)(void *priv, const json_t *command, json_t **result, agent_err_t *err);
} agent_driver_t;

typedef struct agent agent_t;

/* ---- the registry ---- */

/* Registers a driver under its name (at start, before any open). Returns 0, or -1 when the table is full,
 * the name is taken by another driver or a required slot is missing. */
int agent_register(const agent_driver_t *driver);
/* Registers every built-in driver (sim, http, libvirt when built). */
int agent_builtin_register(void);
/* The CA bundle (copied) http hosts without their own ca_file verify https against; NULL: the system's.
 * Set at start, before any host is opened. Returns -1 when memory runs out. */
int agent_http_set_default_ca_file(const char *path);
/* True when a driver of that kind is registered. */
bool agent_kind_known(const char *kind);
/* The registered kinds, NULL-terminated (static; for error messages and validation tables). */
const char *const *agent_kinds(void);
/* 0 when uri suits a host of that kind (-1 with a permanent error naming what is wrong; an unknown kind
 * is AGENT_ERR_UNSUPPORTED). */
int agent_check_uri(const char *kind, const char *uri, agent_err_t *err);
/* The default uri of the kind, or NULL when a host of that kind needs one. */
const char *agent_default_uri(const char *kind);
/* True when hosts of that kind take simulator controls. */
bool agent_kind_can_simulate(const char *kind);
/* True when hosts of that kind are elsewhere (heartbeats watch them). */
bool agent_kind_remote(const char *kind);

/* ---- an open agent ---- */

/* Opens the host's agent: the driver, wrapped in the chaos decorator when conf->uri carries chaos options
 * (agent_chaos_parse), then in the journal decorator (file STATE_DIR/journal/<host id>.log) unless the
 * driver journals itself. NULL with err on failure. */
agent_t *agent_open(const char *kind, const agent_conf_t *conf, agent_err_t *err);
void agent_close(agent_t *a);
/* Applies a changed uri or token to an open agent. */
int agent_reconfigure(agent_t *a, const agent_conf_t *conf, agent_err_t *err);

int agent_vm_create(agent_t *a, const agent_call_t *call, const agent_vm_spec_t *spec,
                    char hypervisor_id[AGENT_ID_MAX], agent_err_t *err);
int agent_vm_delete(agent_t *a, const agent_call_t *call, const char *hypervisor_id,
                    agent_err_t *err);
int agent_vm_power(agent_t *a, const agent_call_t *call, const char *hypervisor_id,
                   agent_power_op_t op, agent_err_t *err);
int agent_vm_release(agent_t *a, const agent_call_t *call, const char *hypervisor_id,
                     agent_err_t *err);
int agent_vm_reconfigure(agent_t *a, const agent_call_t *call, const char *hypervisor_id, int cores,
                         int memory_mb, agent_err_t *err);
int agent_disk_attach(agent_t *a, const agent_call_t *call, const char *hypervisor_id,
                      const agent_disk_spec_t *disk, agent_err_t *err);
int agent_disk_detach(agent_t *a, const agent_call_t *call, const char *hypervisor_id, int lun,
                      agent_err_t *err);
int agent_checkpoint_create(agent_t *a, const agent_call_t *call, const char *hypervisor_id,
                            const char *name, char checkpoint_id[AGENT_ID_MAX], agent_err_t *err);
int agent_checkpoint_delete(agent_t *a, const agent_call_t *call, const char *hypervisor_id,
                            const char *checkpoint_id, agent_err_t *err);
int agent_checkpoint_restore(agent_t *a, const agent_call_t *call, const char *hypervisor_id,
                             const char *checkpoint_id, agent_err_t *err);
int agent_inventory(agent_t *a, const agent_call_t *call, agent_vm_list_t *vms, agent_err_t *err);
int agent_host_info(agent_t *a, const agent_call_t *call, agent_host_info_t *info, agent_err_t *err);
int agent_volume_snapshot(agent_t *a, const agent_call_t *call, const char *hypervisor_id, int lun,
                          const char *volume_id, int64_t *size_gb, agent_err_t *err);
int agent_volume_copy(agent_t *a, const agent_call_t *call, const agent_volume_src_t *src,
                      const char *volume_id, agent_err_t *err);
int agent_volume_delete(agent_t *a, const agent_call_t *call, const char *volume_id, agent_err_t *err);
int agent_vm_import(agent_t *a, const agent_call_t *call, const agent_vm_spec_t *spec,
                    const agent_vm_source_t *src, char hypervisor_id[AGENT_ID_MAX], agent_err_t *err);
/* AGENT_ERR_UNSUPPORTED for every driver but the simulator. */
int agent_simulate(agent_t *a, const json_t *command, json_t **result, agent_err_t *err);

/* ---- decorators ---- */

/* The chaos decorator: every call of the wrapped agent first waits latency_ms (± jitter_ms), then fails
 * with a permanent error (nothing changed) with probability fail_rate, or never answers (waits its
 * timeout, then AGENT_ERR_TIMEOUT; half of such changes are carried out first) with probability hang_rate.
 * Reads fail transiently instead. Options come from a uri's query (the sim grammar: latencyMs, jitterMs,
 * failRate, hangRate); keys it does not know are left to the driver. */
typedef struct {
    int latency_ms, jitter_ms;
    double fail_rate, hang_rate;
} agent_chaos_t;

/* Reads the chaos keys of uri's query into *out (zeros when none); -1 with a permanent error naming the
 * key when a chaos key's value is malformed. */
int agent_chaos_parse(const char *uri, agent_chaos_t *out, agent_err_t *err);
/* Wraps inner (owned from now on, closed with the result) in the chaos decorator; NULL with err. */
agent_t *agent_chaos_wrap(agent_t *inner, const agent_chaos_t *opts, agent_err_t *err);
/* Changes the options of a chaos-wrapped agent (-1 when a is not one). */
int agent_chaos_set(agent_t *a, const agent_chaos_t *opts);

/* The journal decorator: remembers the answer of every changing call by operation id with a fingerprint
 * of its arguments, durably in path (a file the decorator owns; NULL: in memory) before the answer is
 * returned, and answers a repeat from it: the same id and arguments get the first answer without the
 * call reaching inner again; the same id with other arguments gets AGENT_ERR_CONFLICT. Pending answers
 * are not kept (a poll reaches inner). Keeps the last AGENT_JOURNAL_KEPT answers. */
#define AGENT_JOURNAL_KEPT 4096
agent_t *agent_journal_wrap(agent_t *inner, const char *path, agent_err_t *err);

/* ---- for drivers ---- */

/* Sets *err and returns -1. */
int agent_fail(agent_err_t *err, agent_status_t status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
const char *agent_status_name(agent_status_t status);

#endif
