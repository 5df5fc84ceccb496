/*
 * vmrec.h: the VM record, for the modules that change VMs (lib/vm/, checkpoint, VM roles, inventory).
 * Not for api/.
 *
 * A VM record is a vm_rec_t: the fields the API shows, typed (states are enums, disks, NICs and the
 * checkpoint slot are structs), plus what the VM holds (vm_holdings_t: its storage in GB, whether it holds
 * compute and storage on its host, whether it counts toward its subscription's quotas). The store keeps
 * it as JSON with the columns of store_kind_vm; vmrec_from_store and vmrec_to_store are the only code that
 * reads or writes that form, and vm_render_view the only code that makes a VM's view (no view ever
 * carries a key that starts with '_').
 *
 * Strings are fixed buffers sized to what the API and the agents accept, not owned pointers: a vm_rec_t is
 * a plain value, copied by assignment (the record "as it was" for a save is a copy), lives on the stack
 * and needs no free; reading one allocates nothing. A text longer than its buffer does not parse (an
 * internal error). An empty string stands for JSON null in every text field but the checkpoint's
 * description, whose null is has_description false.
 *
 * Every save records the VM's metered state on its timeline and raises the events the change means (created,
 * power state changed, resized) from the record as it was read (its seen part), in the caller's
 * transaction: a save never reads the VM again. Holdings move together with their flags, so
 * that a release is exact and happens once.
 */
#ifndef WAPD_VM_VMREC_H
#define WAPD_VM_VMREC_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "../err.h"
#include "../jget.h"
#include "../store.h"
#include "../util.h"
#include "../vm.h"

#define VM_MAX_LUN 63

/* Buffer sizes in bytes, with the terminating NUL: ids are UUIDs or an agent's ids (AGENT_ID_MAX); names
 * room for 127 four-byte characters (the API takes 64 characters; an adopted VM keeps its host's name); a
 * checkpoint's description 256 characters of any width; stamps are RFC 3339. */
#define VM_REC_ID_MAX 64
#define VM_REC_NAME_MAX 512
#define VM_REC_TEXT_MAX 1024
#define VM_REC_SHORT_MAX 64
#define VM_REC_SIZE_MAX 260 /* a size's name: 64 characters */
#define VM_REC_ADDR_MAX 48
#define VM_REC_STAMP_MAX 40
/* The OS disk and a data disk at every lun; NICs (a create takes one). */
#define VM_REC_MAX_DISKS (VM_MAX_LUN + 2)
#define VM_REC_MAX_NICS 8

#define VM_PROVISIONING_STATES(X)                                                                  \
    X(VM_PROV_CREATING, "creating")                                                                \
    X(VM_PROV_SUCCEEDED, "succeeded")                                                              \
    X(VM_PROV_FAILED, "failed")                                                                    \
    X(VM_PROV_UPDATING, "updating")                                                                \
    X(VM_PROV_DELETING, "deleting")
#define VM_POWER_STATES(X)                                                                         \
    X(VM_POWER_STARTING, "starting")                                                               \
    X(VM_POWER_RUNNING, "running")                                                                 \
    X(VM_POWER_STOPPING, "stopping")                                                               \
    X(VM_POWER_STOPPED, "stopped")                                                                 \
    X(VM_POWER_DEALLOCATING, "deallocating")                                                       \
    X(VM_POWER_DEALLOCATED, "deallocated")                                                         \
    X(VM_POWER_UNKNOWN, "unknown")
#define VM_ENUM_VALUE(e, name) e,

typedef enum { VM_PROVISIONING_STATES(VM_ENUM_VALUE) } vm_provisioning_t;
typedef enum { VM_POWER_STATES(VM_ENUM_VALUE) } vm_power_t;
typedef enum { VM_DISK_OS, VM_DISK_DATA } vm_disk_kind_t;
/* Whether the VM's OS was generalized (sysprep): a generalized VM cannot start, and can be captured. */
typedef enum { VM_OS_SPECIALIZED, VM_OS_GENERALIZED } vm_os_state_t;

/* The API's names ("creating", "running", "os"); parse answers -1 for any other text (or NULL). */
const char *vm_provisioning_name(vm_provisioning_t state);
int vm_provisioning_parse(const char *text, vm_provisioning_t *out);
const char *vm_power_name(vm_power_t state);
int vm_power_parse(const char *text, vm_power_t *out);
const char *vm_disk_kind_name(vm_disk_kind_t kind);
int vm_disk_kind_parse(const char *text, vm_disk_kind_t *out);
const char *vm_os_state_name(vm_os_state_t state); /* "specialized", "generalized" */
int vm_os_state_parse(const char *text, vm_os_state_t *out);

/* A disk: the OS disk (lun -1, shown as null) or a data disk. */
typedef struct {
    int lun;
    vm_disk_kind_t kind;
    int64_t size_gb;
    vm_caching_t caching;
} vm_disk_t;

typedef struct {
    char network_id[VM_REC_ID_MAX];
    char ip_address[VM_REC_ADDR_MAX];
} vm_nic_t;

/* What the VM was when its checkpoint was taken (never shown), which a restore gives back: its size,
 * cores, memory, dynamic memory (has_dynamic_memory false for a checkpoint made before wapd kept it) and
 * disks. present is false for a checkpoint made before wapd kept any of it. */
typedef struct {
    bool present;
    char size[VM_REC_SIZE_MAX];
    int64_t cores;
    int64_t memory_mb;
    bool has_dynamic_memory;
    catalog_dynmem_t dynamic_memory;
    size_t ndisks;
    vm_disk_t disks[VM_REC_MAX_DISKS];
} vm_checkpoint_vm_t;

/* The checkpoint slot: what the API shows, and the host's side of it (never shown): the host's checkpoint
 * id ("" when unknown), the VM's power state when it was taken (has_power false when unknown) and what
 * the VM was then (vm). */
typedef struct {
    bool present;
    char name[VM_REC_NAME_MAX];
    bool has_description;
    char description[VM_REC_TEXT_MAX];
    char created_at[VM_REC_STAMP_MAX];
    int64_t size_gb;
    char host_id[VM_REC_ID_MAX];
    bool has_power;
    vm_power_t power;
    vm_checkpoint_vm_t vm;
} vm_checkpoint_t;

/* What the VM holds, so that holdings can be released exactly and recomputed. */
typedef struct {
    int64_t storage_gb;
    bool holds_compute;
    bool holds_storage;
    bool counted;
} vm_holdings_t;

/* The engine's side of the instance view (the store's _instanceView): when the provisioning and the power
 * state were entered, the guest's heartbeat as the host last reported it ("ok" or "noContact"; "" none),
 * with when it took that value, and when each disk was added, by lun + 1 (0: the OS disk; "" for a lun with
 * no disk, until the save that adds one stamps it). Only a running VM has a guest status: a save that
 * leaves running clears it. present is false for a record written before the instance view existed: its
 * times are then the record's createdAt (provisioning, disks) and updatedAt (power), and it is written back
 * as null until a save stamps it. */
#define VM_REC_GUEST_MAX 16
typedef struct {
    bool present;
    char provisioning_at[VM_REC_STAMP_MAX];
    char power_at[VM_REC_STAMP_MAX];
    char guest[VM_REC_GUEST_MAX];
    char guest_at[VM_REC_STAMP_MAX];
    char disk_at[VM_REC_MAX_DISKS][VM_REC_STAMP_MAX];
} vm_instance_view_t;

/* What a save compares to raise its events: the record as it was read from the store (or last saved). */
typedef struct {
    vm_provisioning_t provisioning;
    vm_power_t power;
    char size[VM_REC_SIZE_MAX];
} vm_rec_seen_t;

/* A VM record. Text fields: "" is null (vm_role_id, host_id, hypervisor_id, image_id, os_type when
 * unknown); generation 0 is null. seen is not part of the record: vmrec_from_store and vmrec_save set
 * it. */
typedef struct {
    char id[VM_REC_ID_MAX];
    char name[VM_REC_NAME_MAX];
    char subscription_id[VM_REC_ID_MAX];
    char size[VM_REC_SIZE_MAX];
    int64_t cores;
    int64_t memory_mb; /* the startup memory */
    catalog_dynmem_t dynamic_memory;
    bool dynamic_memory_own; /* given in the create body (a resize keeps it), not the size's */
    char image_id[VM_REC_ID_MAX];
    int64_t generation;
    char os_type[VM_REC_SHORT_MAX];
    vm_os_state_t os_state;
    char vm_role_id[VM_REC_ID_MAX];
    vm_provisioning_t provisioning;
    vm_power_t power;
    size_t ndisks;
    vm_disk_t disks[VM_REC_MAX_DISKS];
    size_t nnics;
    vm_nic_t nics[VM_REC_MAX_NICS];
    vm_checkpoint_t checkpoint;
    char created_at[VM_REC_STAMP_MAX];
    char updated_at[VM_REC_STAMP_MAX];
    char host_id[VM_REC_ID_MAX];
    char hypervisor_id[VM_REC_ID_MAX];
    vm_holdings_t hold;
    int64_t assigned_memory_mb; /* what the host assigns the VM now (metered, never shown); 0: null, memoryMB */
    vm_instance_view_t view;
    vm_rec_seen_t seen;
} vm_rec_t;

/* The store's JSON record (borrowed) as a vm_rec_t, written to *out only on success; a record that does
 * not parse (a field missing, of the wrong type, too long, or a state no enum names) is -1 with
 * ERR_INTERNAL naming the field. */
int vmrec_from_store(const json_t *rec, vm_rec_t *out, err_t *err);
/* The JSON the store saves (a new reference; NULL when out of memory): the columns of store_kind_vm, in
 * their order, as the store reads them back. */
json_t *vmrec_to_store(const vm_rec_t *vm);
/* The VM's view (a new reference; NULL when out of memory), the one place a VM view is made: the API's
 * fields in the order it answers them, the instanceView built from the record's view; with admin, hostId,
 * hypervisorId and what the VM holds on its host (allocated) too. No key starts with '_'. */
json_t *vm_render_view(const vm_rec_t *vm, bool admin);
/* The same view appended to b as compact JSON text, byte for byte what dumping vm_render_view answers;
 * with hide_checkpoint (tenant views only) the checkpoint shows null. */
void vm_render_view_text(const vm_rec_t *vm, bool admin, bool hide_checkpoint, util_buf_t *b);

/* The checkpoint slot's view (a new reference; NULL when out of memory): name, description, createdAt and
 * sizeGB, as the VM's view shows it; the host's side is never shown. */
json_t *vm_render_checkpoint(const vm_checkpoint_t *cp);
/* The data disks of vm in the store's form (for an agent's VM spec): a new reference, NULL when out of
 * memory. */
json_t *vmrec_data_disks_json(const vm_rec_t *vm);

/* Missing as a value: 1 with the VM (of subscription sid; any when sid is NULL) in *out and its revision
 * in *rev (when not NULL); 0 when there is none (out, rev and err untouched); -1 with err when the store
 * cannot tell or the record does not parse. Reads the store's shared copy: no record is copied. */
int vmrec_load(store_t *st, const char *sid, const char *id, vm_rec_t *out, int64_t *rev, err_t *err);
/* Saves vm (updatedAt now), its timeline row and the events of the change since vm->seen (the record as
 * it was loaded: no second read), in the caller's transaction; vm->seen is then the record as saved. */
int vmrec_save(store_t *st, vm_rec_t *vm, err_t *err);
/* Inserts a new record (its seen is set to it) and its first timeline row, in the caller's transaction. */
int vmrec_insert(store_t *st, vm_rec_t *vm, err_t *err);

/* Missing as a value: 1 when a record of kind has that id (and, when field is not NULL, field equals value),
 * 0 when none has, -1 with err when the store cannot tell. */
int vmrec_exists(store_t *st, const store_kind_t *kind, const char *id, const char *field,
                 const char *value, err_t *err);
/* Missing as a value: 1 with the record (a new reference) in *out when a record of kind has that id (and,
 * when field is not NULL, field equals value); 0 when none has (*out untouched, err untouched); -1 with err
 * when the store cannot tell. */
int vmrec_lookup(store_t *st, const store_kind_t *kind, const char *id, const char *field,
                 const char *value, json_t **out, err_t *err);
/* Opens a transaction and answers every VM record of subscription sid (the store's JSON); on failure, NULL
 * with the transaction rolled back. */
json_t *vmrec_begin_all(store_t *st, const char *sid, err_t *err);
/* Starts a job of kind on the VM (one at a time: 409 OperationInProgress) and saves the VM, already put in
 * its transitional state by the caller, in the caller's transaction. params is borrowed. The job's view, or
 * NULL. */
json_t *vmrec_submit(store_t *st, vm_rec_t *vm, const char *kind, const json_t *params, err_t *err);

/* 409 OperationInProgress while the VM is being created, updated or deleted; Conflict when its last
 * operation failed. */
int vmrec_busy(const vm_rec_t *vm, err_t *err);
/* vmrec_busy, and 409 OperationInProgress while its power state is transitional. */
int vmrec_ready(const vm_rec_t *vm, err_t *err);
/* True when no data disk of the VM sits at lun. */
bool vmrec_lun_free(const vm_rec_t *vm, int64_t lun);

/* A new record's holdings: storage_gb of storage, counted toward quota, held on its host when held (a VM
 * placed by a create) or not yet (an adopted one, whose holdings are taken when it is pointed at its
 * host). */
void vmrec_init_holdings(vm_rec_t *vm, int64_t storage_gb, bool held);
/* Releases (and clears the flags of) the VM's host holdings: compute, storage or both. */
int vmrec_release_host(store_t *st, vm_rec_t *vm, bool compute, bool storage, err_t *err);
/* Takes compute on the VM's host for a VM that holds none: 409 NoCapacity when there is no room. */
int vmrec_hold_compute(store_t *st, vm_rec_t *vm, err_t *err);
/* Changes the storage the VM holds by delta GB: its quota usage (when counted) and its host's allocation
 * (when held) follow. Growth that does not fit the host is 409 NoCapacity with no_room. */
int vmrec_hold_storage(store_t *st, vm_rec_t *vm, int64_t delta_gb, const char *no_room, err_t *err);
/* Releases everything the VM holds: host, quota, addresses. */
int vmrec_release_all(store_t *st, vm_rec_t *vm, err_t *err);
/* A create that failed: releases everything; the record stays, failed and deallocated, never billed. */
int vmrec_fail_create(store_t *st, vm_rec_t *vm, err_t *err);
/* Releases everything the VM holds and deletes its record, leaving its last timeline row (or none, for a
 * VM whose creation failed). */
int vmrec_remove(store_t *st, vm_rec_t *vm, err_t *err);
/* Records the checkpoint slot's size (size < 0 changes nothing): the VM's storage, its quota usage and its
 * host's allocation follow, growth never refused (it already happened on the host). */
int vmrec_set_checkpoint_size(store_t *st, vm_rec_t *vm, int64_t size, err_t *err);

/* Internal to lib/vm and its tests: vm->seen := the record as it is now; vmrec_load with none as the
 * request's 404 "The VM was not found." (0, or -1 with err); j, or NULL with "Out of memory." in err. */
void vmrec__seen(vm_rec_t *vm);
int vmrec__load_or_404(store_t *st, const char *sid, const char *id, vm_rec_t *out, int64_t *rev,
                       err_t *err);
json_t *vmrec__or_oom(json_t *j, err_t *err);
/* Writes vm to the store as it is, with no timeline row and no event (a new record's NIC). */
int vmrec__update(store_t *st, const vm_rec_t *vm, err_t *err);
/* The instance view (vmrec_iview.c), for the codec: the store's _instanceView (borrowed; null or absent: a
 * record from before it) read into vm->view and the disks' times, after the rest of the record (-1 with
 * ERR_INTERNAL when it does not parse); written back (a new reference, NULL when out of memory); and the
 * API's instanceView as a value (a new reference, NULL when out of memory) and as text appended to b. */
int vmrec__iview_from_store(const json_t *iv, vm_rec_t *vm, err_t *err);
json_t *vmrec__iview_to_store(const vm_rec_t *vm);
json_t *vmrec__iview_json(const vm_rec_t *vm);
void vmrec__iview_text(const vm_rec_t *vm, util_buf_t *b);
/* The one place the instance view's times are stamped, by every save and insert: the time (now, RFC 3339)
 * of a provisioning or power state that changed since vm->seen (or was never stamped), and of every disk
 * not stamped yet; leaving running clears the guest status. Marks the view present. */
void vmrec__stamp(vm_rec_t *vm, const char *now);
/* Records what the host reports of the VM: its guest heartbeat ("ok", "noContact"; "" or NULL: not
 * reported) and its assigned memory (0: not reported). Changes the record only when a value changed (a
 * heartbeat's time is when it took its value) and answers whether it did; a guest status is kept only
 * while the VM is running. */
bool vmrec_observe(vm_rec_t *vm, const char *guest, int64_t assigned_memory_mb, const char *now);

#endif
