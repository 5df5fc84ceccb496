/*
 * catalog.c: the admin catalog's resources (clouds, hosts, sizes, images, gallery items, plans) for the
 * generic handlers of resource.c: their field tables, and the adapters that turn a body those tables have
 * checked into the typed request of lib/catalog.h and call lib.
 *
 * Invariants: every field a table requires is present in the body an adapter reads (a create's table
 * requires every field the stored record cannot do without: a plan's name included); an adapter borrows
 * the body's strings for the one lib call; a check that needs more than a table (a relation between
 * fields) is made here, once, naming the field. A PATCH's adapter passes what the body names (its given
 * bits); lib checks the item the PATCH leaves against the stored values. A cloud's view adds its hosts'
 * capacity and allocation, summed by the store.
 */
#include "catalog.h"
#include "internal.h"

#include <assert.h>
#include <stdbool.h>

#include "../lib/catalog.h"
#include "../lib/evacuate.h"

#define JV_END {NULL, 0, 0, 0, 0, NULL, NULL}
#define BIG 1000000000000LL

static const char *const host_states[] = {"ok", "maintenance", NULL};
static const char *const os_types[] = {"windows", "linux", NULL};
static const char *const plan_states[] = {"public", "private", "decommissioned", NULL};
static const char *const checkpoint_modes[] = {"disabled", "viewRestore", "createViewRestore",
                                               NULL};

static const jv_field_t cloud_spec[] = {
    {"name", JV_STRING, JV_REQUIRED, 1, 128, NULL, NULL},
    {"description", JV_STRING, JV_NULLABLE, 0, 1024, NULL, NULL},
    JV_END,
};

/* The kind is checked against the agent registry by the catalog (lib/catalog/host.c). */
static const jv_field_t agent_spec[] = {
    {"kind", JV_STRING, JV_REQUIRED, 1, 16, NULL, NULL},
    {"uri", JV_STRING, JV_NULLABLE, 1, 1024, NULL, NULL},
    {"token", JV_STRING, JV_NULLABLE, 1, 512, NULL, NULL},
    {"caFile", JV_STRING, JV_NULLABLE, 1, 4096, NULL, NULL},
    JV_END,
};
static const jv_field_t agent_patch_spec[] = {
    {"uri", JV_STRING, JV_NULLABLE, 1, 1024, NULL, NULL},
    {"token", JV_STRING, JV_NULLABLE, 1, 512, NULL, NULL},
    {"caFile", JV_STRING, JV_NULLABLE, 1, 4096, NULL, NULL},
    JV_END,
};
static const jv_field_t capacity_spec[] = {
    {"cores", JV_INT, JV_REQUIRED, 1, 1000000, NULL, NULL},
    {"memoryMB", JV_INT, JV_REQUIRED, 1, BIG, NULL, NULL},
    {"storageGB", JV_INT, JV_REQUIRED, 1, BIG, NULL, NULL},
    JV_END,
};
static const jv_field_t host_spec[] = {
    {"name", JV_STRING, JV_REQUIRED, 1, 128, NULL, NULL},
    {"cloudId", JV_STRING, JV_REQUIRED | JV_UUID, 0, 0, NULL, NULL},
    {"agent", JV_OBJECT, JV_REQUIRED, 0, 0, NULL, agent_spec},
    {"capacity", JV_OBJECT, JV_REQUIRED, 0, 0, NULL, capacity_spec},
    JV_END,
};
static const jv_field_t host_patch_spec[] = {
    {"name", JV_STRING, 0, 1, 128, NULL, NULL},
    {"state", JV_STRING, 0, 1, 32, host_states, NULL},
    {"agent", JV_OBJECT, 0, 0, 0, NULL, agent_patch_spec},
    {"capacity", JV_OBJECT, 0, 0, 0, NULL, capacity_spec},
    JV_END,
};

static const jv_field_t size_spec[] = {
    {"name", JV_STRING, JV_REQUIRED, 1, 64, NULL, NULL},
    {"cores", JV_INT, JV_REQUIRED, 1, 1024, NULL, NULL},
    {"memoryMB", JV_INT, JV_REQUIRED, 1, 16LL * 1024 * 1024, NULL, NULL},
    {"dynamicMemory", JV_OBJECT, JV_NULLABLE, 0, 0, NULL, api_dynmem_fields},
    JV_END,
};

static const jv_field_t size_patch_spec[] = {
    {"name", JV_STRING, 0, 1, 64, NULL, NULL},
    {"cores", JV_INT, 0, 1, 1024, NULL, NULL},
    {"memoryMB", JV_INT, 0, 1, 16LL * 1024 * 1024, NULL, NULL},
    {"dynamicMemory", JV_OBJECT, JV_NULLABLE, 0, 0, NULL, api_dynmem_fields},
    JV_END,
};

static const jv_field_t image_spec[] = {
    {"name", JV_STRING, JV_REQUIRED, 1, 128, NULL, NULL},
    {"osType", JV_STRING, JV_REQUIRED, 1, 16, os_types, NULL},
    {"generation", JV_INT, JV_REQUIRED, 1, 2, NULL, NULL},
    {"osDiskGB", JV_INT, JV_REQUIRED, 1, 65536, NULL, NULL},
    JV_END,
};

static const jv_field_t gallery_spec[] = {
    {"name", JV_STRING, JV_REQUIRED, 1, 128, NULL, NULL},
    {"version", JV_STRING, JV_REQUIRED, 1, 32, NULL, NULL},
    {"imageId", JV_STRING, JV_REQUIRED | JV_UUID, 0, 0, NULL, NULL},
    {"defaultSize", JV_STRING, JV_REQUIRED, 1, 64, NULL, NULL},
    {"minInstances", JV_INT, JV_REQUIRED, 0, 1000, NULL, NULL},
    {"maxInstances", JV_INT, JV_REQUIRED, 1, 1000, NULL, NULL},
    JV_END,
};

static const jv_field_t quota_spec[] = {
    {"vms", JV_INT, JV_NULLABLE, 0, BIG, NULL, NULL},
    {"cores", JV_INT, JV_NULLABLE, 0, BIG, NULL, NULL},
    {"memoryMB", JV_INT, JV_NULLABLE, 0, BIG, NULL, NULL},
    {"storageGB", JV_INT, JV_NULLABLE, 0, BIG, NULL, NULL},
    {"vmRoles", JV_INT, JV_NULLABLE, 0, BIG, NULL, NULL},
    {"networks", JV_INT, JV_NULLABLE, 0, BIG, NULL, NULL},
    JV_END,
};
/* A plan's settings but its name, which a create requires and a PATCH may leave out. */
#define PLAN_SETTINGS                                                                              \
    {"state", JV_STRING, 0, 1, 32, plan_states, NULL},                                             \
        {"quotas", JV_OBJECT, JV_NULLABLE, 0, 0, NULL, quota_spec},                                \
        {"imageIds", JV_STRING_ARRAY, JV_NULLABLE | JV_UUID, 0, 0, NULL, NULL},                    \
        {"sizeNames", JV_STRING_ARRAY, JV_NULLABLE, 1, 64, NULL, NULL},                            \
        {"galleryItemIds", JV_STRING_ARRAY, JV_NULLABLE | JV_UUID, 0, 0, NULL, NULL},              \
        {"checkpointMode", JV_STRING, 0, 1, 32, checkpoint_modes, NULL},                           \
        {"checkpointRetentionHours", JV_INT, JV_NULLABLE, 1, 876000, NULL, NULL},                  \
        {"replicaCloudIds", JV_STRING_ARRAY, JV_NULLABLE, 1, 64, NULL, NULL}
static const jv_field_t plan_spec[] = {
    {"name", JV_STRING, JV_REQUIRED, 1, 128, NULL, NULL},
    PLAN_SETTINGS,
    {"cloudId", JV_STRING, JV_REQUIRED | JV_UUID, 0, 0, NULL, NULL},
    JV_END,
};
static const jv_field_t plan_patch_spec[] = {
    {"name", JV_STRING, 0, 1, 128, NULL, NULL},
    PLAN_SETTINGS,
    JV_END,
};

/* ---- reading a checked body ---- */

static const char *
str_of(const json_t *obj, const char *key)
{
    return json_string_value(json_object_get(obj, key));
}

static int64_t
int_of(const json_t *obj, const char *key)
{
    return json_integer_value(json_object_get(obj, key));
}

/* bit when obj has key (null included), else 0. */
static unsigned
given(const json_t *obj, const char *key, unsigned bit)
{
    return json_object_get(obj, key) != NULL ? bit : 0;
}

static void
capacity_of(const json_t *cap, catalog_capacity_t *out)
{
    out->cores = int_of(cap, "cores");
    out->memory_mb = int_of(cap, "memoryMB");
    out->storage_gb = int_of(cap, "storageGB");
}

/* ---- the adapters ---- */

json_t *
api_catalog_cloud_create(store_t *st, const json_t *body, err_t *err)
{
    catalog_cloud_req_t req = {.name = str_of(body, "name"),
                               .description = str_of(body, "description")};

    return catalog_cloud_create(st, &req, err);
}

json_t *
api_catalog_cloud_update(store_t *st, const char *id, const json_t *body, int64_t rev,
                         err_t *err)
{
    catalog_cloud_patch_t patch = {
        .given = given(body, "name", CATALOG_CLOUD_NAME) |
                 given(body, "description", CATALOG_CLOUD_DESCRIPTION),
        .set = {.name = str_of(body, "name"), .description = str_of(body, "description")},
    };

    return catalog_cloud_update(st, id, &patch, rev, err);
}

json_t *
api_catalog_host_create(store_t *st, const json_t *body, err_t *err)
{
    const json_t *agent = json_object_get(body, "agent");
    catalog_host_req_t req = {.name = str_of(body, "name"),
                              .cloud_id = str_of(body, "cloudId"),
                              .agent_kind = str_of(agent, "kind"),
                              .agent_uri = str_of(agent, "uri"),
                              .agent_token = str_of(agent, "token"),
                              .agent_ca_file = str_of(agent, "caFile")};

    capacity_of(json_object_get(body, "capacity"), &req.capacity);
    return catalog_host_create(st, &req, err);
}

json_t *
api_catalog_host_update(store_t *st, const char *id, const json_t *body, int64_t rev,
                        err_t *err)
{
    const json_t *agent = json_object_get(body, "agent"), *cap = json_object_get(body, "capacity");
    catalog_host_patch_t patch = {
        .given = given(body, "name", CATALOG_HOST_NAME) | given(agent, "uri", CATALOG_HOST_AGENT_URI) |
                 given(agent, "token", CATALOG_HOST_AGENT_TOKEN) |
                 given(agent, "caFile", CATALOG_HOST_AGENT_CA_FILE) |
                 given(cap, "cores", CATALOG_HOST_CORES) |
                 given(cap, "memoryMB", CATALOG_HOST_MEMORY_MB) |
                 given(cap, "storageGB", CATALOG_HOST_STORAGE_GB),
        .name = str_of(body, "name"),
        .agent_uri = str_of(agent, "uri"),
        .agent_token = str_of(agent, "token"),
        .agent_ca_file = str_of(agent, "caFile"),
    };

    if (json_object_get(body, "state") != NULL) {
        patch.given |= CATALOG_HOST_STATE;
        if (catalog_host_state_parse(str_of(body, "state"), &patch.state)) {
            err_set(err, ERR_INVALID_REQUEST, "state", "state must be ok or maintenance.");
            return NULL;
        }
    }
    capacity_of(cap, &patch.capacity);
    /* Maintenance empties the host: its VMs move to the other hosts of its cloud (lib/evacuate.h). */
    return evacuate_host_update(st, id, &patch, rev, err);
}

json_t *
api_catalog_size_create(store_t *st, const json_t *body, err_t *err)
{
    catalog_size_req_t req = {.name = str_of(body, "name"),
                              .cores = int_of(body, "cores"),
                              .memory_mb = int_of(body, "memoryMB")};

    catalog_dynmem_of(json_object_get(body, "dynamicMemory"), &req.dynamic_memory);
    return catalog_size_create(st, &req, err);
}

json_t *
api_catalog_image_create(store_t *st, const json_t *body, err_t *err)
{
    catalog_image_req_t req = {.name = str_of(body, "name"),
                               .os_type = str_of(body, "osType"),
                               .generation = int_of(body, "generation"),
                               .os_disk_gb = int_of(body, "osDiskGB")};

    return catalog_image_create(st, &req, err);
}

json_t *
api_catalog_gallery_item_create(store_t *st, const json_t *body, err_t *err)
{
    catalog_gallery_item_req_t req = {.name = str_of(body, "name"),
                                      .version = str_of(body, "version"),
                                      .image_id = str_of(body, "imageId"),
                                      .default_size = str_of(body, "defaultSize"),
                                      .min_instances = int_of(body, "minInstances"),
                                      .max_instances = int_of(body, "maxInstances")};

    if (req.min_instances > req.max_instances) {
        err_set(err, ERR_INVALID_REQUEST, "minInstances",
                "minInstances must not be greater than maxInstances.");
        return NULL;
    }
    return catalog_gallery_item_create(st, &req, err);
}

/* A plan's settings are the JSON form of a plan PATCH (lib/catalog.h), a create's body included. */
json_t *
api_catalog_plan_create(store_t *st, const json_t *body, err_t *err)
{
    catalog_plan_patch_t settings;
    catalog_plan_req_t req = {.cloud_id = str_of(body, "cloudId")};
    json_t *plan;

    if (catalog_plan_patch_from_json(body, &settings, err))
        return NULL;
    req.set = settings.set;
    plan = catalog_plan_create(st, &req, err);
    catalog_plan_patch_clear(&settings);
    return plan;
}

json_t *
api_catalog_plan_update(store_t *st, const char *id, const json_t *body, int64_t rev,
                        err_t *err)
{
    catalog_plan_patch_t patch;
    json_t *job;

    if (catalog_plan_patch_from_json(body, &patch, err))
        return NULL;
    job = catalog_plan_update(st, id, &patch, rev, err);
    catalog_plan_patch_clear(&patch);
    return job;
}

/* ---- changing the catalog's items ---- */

static json_t *
api_catalog_size_update(store_t *st, const char *id, const json_t *body, int64_t rev,
                        err_t *err)
{
    catalog_size_patch_t patch = {
        .given = given(body, "name", CATALOG_SIZE_NAME) | given(body, "cores", CATALOG_SIZE_CORES) |
                 given(body, "memoryMB", CATALOG_SIZE_MEMORY_MB) |
                 given(body, "dynamicMemory", CATALOG_SIZE_DYNAMIC_MEMORY),
        .name = str_of(body, "name"),
        .cores = int_of(body, "cores"),
        .memory_mb = int_of(body, "memoryMB"),
    };

    catalog_dynmem_of(json_object_get(body, "dynamicMemory"), &patch.dynamic_memory);
    return catalog_size_update(st, id, &patch, rev, err);
}

static json_t *
api_catalog_image_update(store_t *st, const char *id, const json_t *body, int64_t rev,
                         err_t *err)
{
    catalog_image_patch_t patch = {
        .given = given(body, "name", CATALOG_IMAGE_NAME) |
                 given(body, "osType", CATALOG_IMAGE_OS_TYPE) |
                 given(body, "generation", CATALOG_IMAGE_GENERATION) |
                 given(body, "osDiskGB", CATALOG_IMAGE_OS_DISK_GB),
        .set = {.name = str_of(body, "name"),
                .os_type = str_of(body, "osType"),
                .generation = int_of(body, "generation"),
                .os_disk_gb = int_of(body, "osDiskGB")},
    };

    return catalog_image_update(st, id, &patch, rev, err);
}

static json_t *
api_catalog_gallery_item_update(store_t *st, const char *id, const json_t *body, int64_t rev,
                                err_t *err)
{
    catalog_gallery_item_patch_t patch = {
        .given = given(body, "name", CATALOG_GALLERY_NAME) |
                 given(body, "version", CATALOG_GALLERY_VERSION) |
                 given(body, "imageId", CATALOG_GALLERY_IMAGE_ID) |
                 given(body, "defaultSize", CATALOG_GALLERY_DEFAULT_SIZE) |
                 given(body, "minInstances", CATALOG_GALLERY_MIN_INSTANCES) |
                 given(body, "maxInstances", CATALOG_GALLERY_MAX_INSTANCES),
        .set = {.name = str_of(body, "name"),
                .version = str_of(body, "version"),
                .image_id = str_of(body, "imageId"),
                .default_size = str_of(body, "defaultSize"),
                .min_instances = int_of(body, "minInstances"),
                .max_instances = int_of(body, "maxInstances")},
    };

    return catalog_gallery_item_update(st, id, &patch, rev, err);
}

/* ---- the resources ---- */

static const char *const host_filters[] = {"cloudId", "state", NULL};
static const char *const plan_filters[] = {"cloudId", "state", NULL};

/* A view's own copy of rec; NULL (out of memory) with err set. */
static json_t *
copy_of(const json_t *rec, err_t *err)
{
    json_t *v = json_deep_copy(rec);

    if (v == NULL)
        err_set(err, ERR_INTERNAL, NULL, "Out of memory.");
    return v;
}

/* A cloud as admins see it: with its hosts' capacity and allocation summed (every host, whatever its
 * state), and how many hosts that is. */
static json_t *
cloud_view(store_t *st, const json_t *rec, err_t *err)
{
    catalog_cloud_capacity_t cap;
    json_t *v;

    if (catalog_cloud_capacity(st, json_string_value(json_object_get(rec, "id")), &cap, err))
        return NULL;
    v = copy_of(rec, err);
    if (v == NULL)
        return NULL;
    if (json_object_set_new(v, "hosts", json_integer(cap.hosts)) ||
        json_object_set_new(v, "capacity",
                            json_pack("{s:I, s:I, s:I}", "cores", (json_int_t) cap.capacity.cores,
                                      "memoryMB", (json_int_t) cap.capacity.memory_mb, "storageGB",
                                      (json_int_t) cap.capacity.storage_gb)) ||
        json_object_set_new(v, "allocated",
                            json_pack("{s:I, s:I, s:I}", "cores", (json_int_t) cap.allocated.cores,
                                      "memoryMB", (json_int_t) cap.allocated.memory_mb,
                                      "storageGB", (json_int_t) cap.allocated.storage_gb))) {
        json_decref(v);
        err_set(err, ERR_INTERNAL, NULL, "Out of memory.");
        return NULL;
    }
    return v;
}

const api_resource_t api_res_clouds = {
    .kind = &store_kind_cloud,
    .view = cloud_view,
    .create_spec = cloud_spec,
    .create = api_catalog_cloud_create,
    .patch_spec = cloud_spec,
    .update = api_catalog_cloud_update,
    .remove = catalog_cloud_delete,
};
/* A host as admins see it: the agent's token is write-only. */
static json_t *
host_view(store_t *st, const json_t *rec, err_t *err)
{
    json_t *v = copy_of(rec, err);

    (void) st;
    if (v == NULL)
        return NULL;
    json_object_del(json_object_get(v, "agent"), "token");
    if (json_is_null(json_object_get(json_object_get(v, "agent"), "caFile")))
        json_object_del(json_object_get(v, "agent"), "caFile");
    return v;
}

const api_resource_t api_res_hosts = {
    .kind = &store_kind_host,
    .view = host_view,
    .filters = host_filters,
    .create_spec = host_spec,
    .create = api_catalog_host_create,
    .patch_spec = host_patch_spec,
    .update = api_catalog_host_update,
    .remove = catalog_host_delete,
};
const api_resource_t api_res_sizes = {
    .kind = &store_kind_size,
    .create_spec = size_spec,
    .create = api_catalog_size_create,
    .patch_spec = size_patch_spec,
    .update = api_catalog_size_update,
    .remove = catalog_size_delete,
};
const api_resource_t api_res_images = {
    .kind = &store_kind_image,
    .create_spec = image_spec,
    .create = api_catalog_image_create,
    .patch_spec = image_spec,
    .update = api_catalog_image_update,
    .remove = catalog_image_delete,
};
const api_resource_t api_res_gallery_items = {
    .kind = &store_kind_gallery_item,
    .create_spec = gallery_spec,
    .create = api_catalog_gallery_item_create,
    .patch_spec = gallery_spec,
    .update = api_catalog_gallery_item_update,
    .remove = catalog_gallery_item_delete,
};
/* A plan as admins see it: replicaCloudIds is always an array (a plan stored before it existed has
 * none, which means the same as []). */
static json_t *
plan_view(store_t *st, const json_t *rec, err_t *err)
{
    json_t *v = copy_of(rec, err);

    (void) st;
    if (v == NULL)
        return NULL;
    if (!json_is_array(json_object_get(v, "replicaCloudIds")))
        json_object_set_new(v, "replicaCloudIds", json_array());
    return v;
}

/* A plan's PATCH is a job: subscriptions take the new settings when it has run. */
const api_resource_t api_res_plans = {
    .kind = &store_kind_plan,
    .view = plan_view,
    .filters = plan_filters,
    .create_spec = plan_spec,
    .create = api_catalog_plan_create,
    .patch_spec = plan_patch_spec,
    .update = api_catalog_plan_update,
    .update_job = true,
    .remove = catalog_plan_delete,
};
