/*
 * catalog.h: what the admin offers: clouds, hosts, sizes, images, VM role gallery items and hosting plans.
 *
 * Requests come in as the typed structs below, filled at the api edge from bodies already checked for shape
 * (types, ranges, known fields, and relations within the body such as minInstances <= maxInstances). These
 * functions decide everything that needs the state: references that must exist, names that must be unique,
 * resources in use; they build the stored record from the struct. Strings in a request are borrowed for
 * the duration of the call. Each write runs in one transaction (nested in the caller's when one is open).
 * Records returned are new references, shaped as the API shows them.
 */
#ifndef WAPD_CATALOG_H
#define WAPD_CATALOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "err.h"
#include "store.h"
#include "catalog/dynmem.h"

/* ---- closed sets lib decides on; name gives the API's text, parse answers -1 for any other text ---- */

typedef enum {
    CATALOG_HOST_OK,
    CATALOG_HOST_MAINTENANCE,
    CATALOG_HOST_UNREACHABLE,
} catalog_host_state_t;

/* The zero value is a new plan's default. */
typedef enum {
    CATALOG_PLAN_PRIVATE,
    CATALOG_PLAN_PUBLIC,
    CATALOG_PLAN_DECOMMISSIONED,
} catalog_plan_state_t;

/* The zero value is a new plan's default. */
typedef enum {
    CATALOG_CHECKPOINT_DISABLED,
    CATALOG_CHECKPOINT_VIEW_RESTORE,
    CATALOG_CHECKPOINT_CREATE_VIEW_RESTORE,
} catalog_checkpoint_mode_t;

/* A plan's quotas, in the order the API lists them. */
typedef enum {
    CATALOG_QUOTA_VMS,
    CATALOG_QUOTA_CORES,
    CATALOG_QUOTA_MEMORY_MB,
    CATALOG_QUOTA_STORAGE_GB,
    CATALOG_QUOTA_VM_ROLES,
    CATALOG_QUOTA_NETWORKS,
    CATALOG_QUOTA__COUNT,
} catalog_quota_t;

const char *catalog_host_state_name(catalog_host_state_t state);
int catalog_host_state_parse(const char *text, catalog_host_state_t *out);
const char *catalog_plan_state_name(catalog_plan_state_t state);
int catalog_plan_state_parse(const char *text, catalog_plan_state_t *out);
const char *catalog_checkpoint_mode_name(catalog_checkpoint_mode_t mode);
int catalog_checkpoint_mode_parse(const char *text, catalog_checkpoint_mode_t *out);
/* "vms", "cores", "memoryMB", "storageGB", "vmRoles", "networks". */
const char *catalog_quota_name(catalog_quota_t quota);

/* ---- clouds ---- */

/* description NULL: none (null). */
typedef struct {
    const char *name;
    const char *description;
} catalog_cloud_req_t;

#define CATALOG_CLOUD_NAME 1u
#define CATALOG_CLOUD_DESCRIPTION 2u

/* given: the CATALOG_CLOUD_* fields the PATCH names; description NULL with its bit sets it to null. */
typedef struct {
    unsigned given;
    catalog_cloud_req_t set;
} catalog_cloud_patch_t;

json_t *catalog_cloud_create(store_t *st, const catalog_cloud_req_t *req, err_t *err);
json_t *catalog_cloud_update(store_t *st, const char *id, const catalog_cloud_patch_t *patch,
                             int64_t expect_rev, err_t *err);
int catalog_cloud_delete(store_t *st, const char *id, int64_t expect_rev, err_t *err);

/* ---- hosts ---- */

typedef struct {
    int64_t cores, memory_mb, storage_gb;
} catalog_capacity_t;

/* agent_kind: a kind the agent registry knows (400 naming agent.kind otherwise), and a remote one (http,
 * libvirt) when the store is shared by several daemons (store_shared: 400 naming agent.kind, as for a change
 * of a sim host's agent there); agent_uri NULL: the kind's
 * default (400 naming agent.uri when the kind has none), else checked by the kind's driver (400 naming
 * agent.uri). agent_token (write-only: never in a view) and agent_ca_file may be NULL. */
typedef struct {
    const char *name;
    const char *cloud_id;
    const char *agent_kind;
    const char *agent_uri;
    const char *agent_token;
    const char *agent_ca_file;
    catalog_capacity_t capacity;
} catalog_host_req_t;

#define CATALOG_HOST_NAME 1u
#define CATALOG_HOST_STATE 2u
#define CATALOG_HOST_AGENT_URI 4u  /* agent_uri NULL: back to the kind's default */
#define CATALOG_HOST_CORES 8u
#define CATALOG_HOST_MEMORY_MB 16u
#define CATALOG_HOST_STORAGE_GB 32u
#define CATALOG_HOST_AGENT_TOKEN 64u   /* agent_token NULL: none */
#define CATALOG_HOST_AGENT_CA_FILE 128u /* agent_ca_file NULL: the system CAs */

/* given: the CATALOG_HOST_* fields the PATCH names; each takes its value from the members below. */
typedef struct {
    unsigned given;
    const char *name;
    catalog_host_state_t state;
    const char *agent_uri;
    const char *agent_token;
    const char *agent_ca_file;
    catalog_capacity_t capacity;
} catalog_host_patch_t;

json_t *catalog_host_create(store_t *st, const catalog_host_req_t *req, err_t *err);
/* A capacity below what the host's VMs hold is 409 Conflict naming capacity.<field>. */
json_t *catalog_host_update(store_t *st, const char *id, const catalog_host_patch_t *patch,
                            int64_t expect_rev, err_t *err);
int catalog_host_delete(store_t *st, const char *id, int64_t expect_rev, err_t *err);

/* ---- sizes, images, gallery items ---- */

/* dynamic_memory is checked by catalog_size_create against memory_mb. */
typedef struct {
    const char *name;
    int64_t cores, memory_mb;
    catalog_dynmem_t dynamic_memory;
} catalog_size_req_t;

typedef struct {
    const char *name;
    const char *os_type;
    int64_t generation, os_disk_gb;
} catalog_image_req_t;

/* min_instances <= max_instances (the api edge checks it, naming minInstances). */
typedef struct {
    const char *name;
    const char *version;
    const char *image_id;
    const char *default_size;
    int64_t min_instances, max_instances;
} catalog_gallery_item_req_t;

json_t *catalog_size_create(store_t *st, const catalog_size_req_t *req, err_t *err);
json_t *catalog_image_create(store_t *st, const catalog_image_req_t *req, err_t *err);
json_t *catalog_gallery_item_create(store_t *st, const catalog_gallery_item_req_t *req, err_t *err);

/* ---- changing and removing sizes, images, gallery items (catalog/items.c) ---- */

#define CATALOG_SIZE_NAME 1u
#define CATALOG_SIZE_CORES 2u
#define CATALOG_SIZE_MEMORY_MB 4u
#define CATALOG_SIZE_DYNAMIC_MEMORY 8u

/* A size PATCH. given: the CATALOG_SIZE_* fields named; dynamic_memory (not present: null, fixed memory)
 * is checked as a create checks it, against the memoryMB the size ends with. A new name must be free (409 naming name) and the size must not be in use (409 naming
 * name: VMs, roles, gallery items and plans name a size by its name). New cores and memory apply to VMs
 * made from now on; existing VMs keep their own. */
typedef struct {
    unsigned given;
    const char *name;
    int64_t cores, memory_mb;
    catalog_dynmem_t dynamic_memory;
} catalog_size_patch_t;

#define CATALOG_IMAGE_NAME 1u
#define CATALOG_IMAGE_OS_TYPE 2u
#define CATALOG_IMAGE_GENERATION 4u
#define CATALOG_IMAGE_OS_DISK_GB 8u

/* An image PATCH: name and osDiskGB always (VMs keep the disks they have); osType and generation only
 * while nothing uses the image (409 Conflict naming the field). */
typedef struct {
    unsigned given;
    catalog_image_req_t set;
} catalog_image_patch_t;

#define CATALOG_GALLERY_NAME 1u
#define CATALOG_GALLERY_VERSION 2u
#define CATALOG_GALLERY_IMAGE_ID 4u
#define CATALOG_GALLERY_DEFAULT_SIZE 8u
#define CATALOG_GALLERY_MIN_INSTANCES 16u
#define CATALOG_GALLERY_MAX_INSTANCES 32u

/* A gallery item PATCH, checked as a create is against the item it makes: an image and a size that exist
 * (400 naming imageId, defaultSize), minInstances <= maxInstances (400 naming minInstances). Roles made
 * from the item keep what they have; their scaling follows the new minInstances and maxInstances; the
 * imageId changes only while no role is made from the item (409 Conflict naming imageId), since a
 * role's new instances are made from its item's image. */
typedef struct {
    unsigned given;
    catalog_gallery_item_req_t set;
} catalog_gallery_item_patch_t;

/* Each answers the updated record; 404 when missing; 412 when expect_rev (> 0) is stale. */
json_t *catalog_size_update(store_t *st, const char *id, const catalog_size_patch_t *patch,
                            int64_t expect_rev, err_t *err);
json_t *catalog_image_update(store_t *st, const char *id, const catalog_image_patch_t *patch,
                             int64_t expect_rev, err_t *err);
json_t *catalog_gallery_item_update(store_t *st, const char *id,
                                    const catalog_gallery_item_patch_t *patch, int64_t expect_rev,
                                    err_t *err);
/* Each checks and deletes in one transaction: 409 Conflict, target naming what uses it ("vms",
 * "vmRoles", "galleryItems" or "plans"; a plan whose list is empty names nothing), while a VM, a VM
 * role, a gallery item or a plan names it. A create that names it runs in its own write transaction, so
 * it either committed before (and the delete is refused) or reads after (and finds no such item: 400). */
int catalog_size_delete(store_t *st, const char *id, int64_t expect_rev, err_t *err);
int catalog_image_delete(store_t *st, const char *id, int64_t expect_rev, err_t *err);
int catalog_gallery_item_delete(store_t *st, const char *id, int64_t expect_rev, err_t *err);

/* ---- clouds' capacity ---- */

/* A cloud's capacity: every host of the cloud, whatever its state (maintenance and unreachable
 * included), summed; allocated likewise. */
typedef struct {
    int64_t hosts;
    catalog_capacity_t capacity, allocated;
} catalog_cloud_capacity_t;

int catalog_cloud_capacity(store_t *st, const char *cloud_id, catalog_cloud_capacity_t *out,
                           err_t *err);

/* ---- hosting plans ---- */

/* No limit: a quota the API shows as null. */
#define CATALOG_UNLIMITED (-1)

/* A list of borrowed strings; count 0 means "all allowed". null: given as null in a PATCH (stored as an
 * empty list, and kept so the change is recorded as it was asked). */
typedef struct {
    const char *const *items;
    size_t count;
    bool null;
} catalog_strs_t;

/* What a plan offers. limits: CATALOG_UNLIMITED or a limit >= 0; checkpoint_retention_hours 0: none
 * (null). replica_cloud_ids: the clouds, besides the plan's own, that its subscriptions' snapshots may be
 * copied to (empty: none; unlike the allow lists, empty allows nothing). */
typedef struct {
    const char *name;
    catalog_plan_state_t state;
    int64_t limits[CATALOG_QUOTA__COUNT];
    catalog_strs_t image_ids, size_names, gallery_item_ids, replica_cloud_ids;
    catalog_checkpoint_mode_t checkpoint_mode;
    int64_t checkpoint_retention_hours;
} catalog_plan_settings_t;

typedef struct {
    const char *cloud_id;
    catalog_plan_settings_t set;
} catalog_plan_req_t;

#define CATALOG_PLAN_NAME 1u
#define CATALOG_PLAN_STATE 2u
#define CATALOG_PLAN_QUOTAS 4u
#define CATALOG_PLAN_IMAGE_IDS 8u
#define CATALOG_PLAN_SIZE_NAMES 16u
#define CATALOG_PLAN_GALLERY_ITEM_IDS 32u
#define CATALOG_PLAN_CHECKPOINT_MODE 64u
#define CATALOG_PLAN_RETENTION 128u
#define CATALOG_PLAN_REPLICA_CLOUD_IDS 256u

/* A plan PATCH. given: the CATALOG_PLAN_* fields it names, each taking its value from set. With
 * CATALOG_PLAN_QUOTAS, quotas_given has bit (1 << q) for each quota q named (its limit in set.limits),
 * and quotas_null says quotas was null (every limit lifted: every bit given, every limit unlimited). */
typedef struct {
    unsigned given;
    unsigned quotas_given;
    bool quotas_null;
    catalog_plan_settings_t set;
} catalog_plan_patch_t;

/* The JSON form of a plan PATCH: the API's PATCH body, which is also what the plan.update job keeps in its
 * params (so a job queued by an older version reads the same). from_json reads an object already checked
 * for shape into *out (strings borrowed from json; lists allocated, released by catalog_plan_patch_clear),
 * ignoring keys that are not settings (cloudId of a create body); 400 naming the field when a value is
 * not one of the set. to_json answers a new object (NULL: out of memory). */
int catalog_plan_patch_from_json(const json_t *json, catalog_plan_patch_t *out, err_t *err);
json_t *catalog_plan_patch_to_json(const catalog_plan_patch_t *patch);
/* Releases the lists from_json allocated; the patch is empty afterwards. */
void catalog_plan_patch_clear(catalog_plan_patch_t *patch);

json_t *catalog_plan_create(store_t *st, const catalog_plan_req_t *req, err_t *err);
/* Checks the new settings and answers the plan-update job, which applies them to the plan and then to its
 * subscriptions; until it succeeds the old settings apply. One plan-update job per plan at a time (409
 * OperationInProgress). */
json_t *catalog_plan_update(store_t *st, const char *id, const catalog_plan_patch_t *patch,
                            int64_t expect_rev, err_t *err);
int catalog_plan_delete(store_t *st, const char *id, int64_t expect_rev, err_t *err);

/* Registers the catalog's job kinds (plan.update). */
int catalog_jobs_register(void);

/* True when the plan (a record) allows the item: its list for that field is empty or names it. */
int catalog_plan_allows(const json_t *plan, const char *list_field, const char *value);
/* True when the plan (a record) lets snapshots be copied to cloud_id: its own cloud or one of its
 * replicaCloudIds. */
bool catalog_plan_allows_cloud(const json_t *plan, const char *cloud_id);

/* For other modules' records: sets rec's updatedAt to now. */
void catalog_record_touch(json_t *rec);

#endif
