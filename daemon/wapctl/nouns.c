/*
 * nouns.c: the table of wapctl's nouns, their verbs and the fields each verb takes.
 *
 * This table is the only place that knows the admin API's paths and body fields (see schemas/openapi.yaml);
 * the parsing of options, the requests and the --help text all follow from it. Fields are camelCase JSON
 * paths; their options are the kebab-case of the path (wapctl_field_option). A verb whose table has no
 * field for an option refuses it (a usage error), so what the table lists is exactly what wapctl sends.
 */
#include "nouns.h"

#include <assert.h>
#include <ctype.h>
#include <string.h>

#define END {NULL, 0, NULL, NULL}
#define F(path, type) {path, WAPCTL_F_##type, NULL, NULL}
#define R(path, type, noun) {path, WAPCTL_F_##type, NULL, noun} /* ids of noun, or their names */
#define LIST_V(fields) {"list", WAPCTL_V_LIST, NULL, fields, NULL, NULL, "", "list every item"}
#define SHOW_V {"show", WAPCTL_V_SHOW, NULL, NULL, NULL, NULL, "ID", "show one item"}
#define CREATE_V(fields) {"create", WAPCTL_V_CREATE, NULL, fields, NULL, NULL, "", "create an item"}
#define UPDATE_V(fields)                                                                           \
    {"update", WAPCTL_V_UPDATE, NULL, fields, NULL, NULL, "ID", "change an item (If-Match its ETag)"}
#define DELETE_V                                                                                   \
    {"delete", WAPCTL_V_DELETE, NULL, NULL, NULL, NULL, "ID", "delete an item (If-Match its ETag)"}
#define CRUD(create, update) LIST_V(NULL), SHOW_V, CREATE_V(create), UPDATE_V(update), DELETE_V
#define VEND {NULL, 0, NULL, NULL, NULL, NULL, NULL, NULL}

static const wapctl_field_t cloud_fields[] = {F("name", STR), F("description", STRN), END};

static const wapctl_field_t host_create[] = {
    F("name", STR), R("cloudId", STR, "clouds"), F("agent.kind", STR), F("agent.uri", STR),
    F("agent.token", STR), F("agent.caFile", STR), F("capacity.cores", INT), F("capacity.memoryMB", INT),
    F("capacity.storageGB", INT), END};
static const wapctl_field_t host_update[] = {
    F("name", STR), F("state", STR), F("agent.uri", STR), F("agent.token", STR), F("agent.caFile", STR),
    F("capacity.cores", INT), F("capacity.memoryMB", INT), F("capacity.storageGB", INT), END};
static const wapctl_field_t host_simulate[] = {R("regenerateIds", LIST, "vms"), END};

static const wapctl_field_t size_fields[] = {
    F("name", STR), F("cores", INT), F("memoryMB", INT), F("dynamicMemory.enabled", BOOL),
    F("dynamicMemory.minimumMB", INTN), F("dynamicMemory.maximumMB", INTN), END};

static const wapctl_field_t image_fields[] = {F("name", STR), F("osType", STR), F("generation", INT),
                                              F("osDiskGB", INT), END};

static const wapctl_field_t gallery_fields[] = {
    F("name", STR), F("version", STR), R("imageId", STR, "images"), F("defaultSize", STR),
    F("minInstances", INT), F("maxInstances", INT), END};

static const wapctl_field_t plan_fields[] = {
    F("name", STR), R("cloudId", STR, "clouds"), F("state", STR),
    {"quotas", WAPCTL_F_QUOTA, "quota", NULL}, R("imageIds", LIST, "images"), F("sizeNames", LIST),
    R("galleryItemIds", LIST, "gallery"), F("checkpointMode", STR),
    F("checkpointRetentionHours", INTN), R("replicaCloudIds", LIST, "clouds"), END};

static const wapctl_field_t user_create[] = {F("email", STR), F("name", STRN), END};
static const wapctl_field_t user_update[] = {F("email", STR), F("name", STRN), F("state", STR), END};

static const wapctl_field_t sub_create[] = {R("userId", STR, "users"), R("planId", STR, "plans"),
                                            F("displayName", STR), END};
static const wapctl_field_t sub_update[] = {F("state", STR), F("displayName", STR), END};

static const wapctl_field_t vm_filters[] = {R("subscriptionId", STR, "subscriptions"),
                                            R("hostId", STR, "hosts"), F("powerState", STR),
                                            F("vmRoleId", STR), END};
static const wapctl_field_t vm_reassociate[] = {R("hostId", STR, "hosts"), F("hypervisorId", STR), END};
static const wapctl_field_t vm_migrate[] = {R("hostId", STR, "hosts"), END};
static const wapctl_field_t vmrole_join[] = {R("vmId", STR, "vms"), R("hostId", STR, "hosts"),
                                             F("hypervisorId", STR), END};

static const wapctl_field_t job_filters[] = {F("resourceId", STR), F("status", STR), F("kind", STR),
                                             R("subscriptionId", STR, "subscriptions"), END};
static const wapctl_field_t job_restart[] = {F("skipLastFailedStep", BOOL), END};

static const wapctl_field_t hook_fields[] = {F("url", STR), F("events", LIST), F("secret", STR),
                                             F("active", BOOL), F("description", STRN), END};

static const wapctl_field_t feed_fields[] = {F("after", STR), F("limit", STR), END};
static const wapctl_field_t usage_ack[] = {F("cursor", STR), END};
static const wapctl_field_t prune_fields[] = {R("cloudId", STRN, "clouds"), R("planId", STRN, "plans"),
                                              F("olderThanHours", INT), END};

static const wapctl_verb_t cloud_verbs[] = {CRUD(cloud_fields, cloud_fields), VEND};
static const wapctl_verb_t host_verbs[] = {
    CRUD(host_create, host_update),
    {"refresh", WAPCTL_V_ACTION, "/refresh", NULL, NULL, NULL, "ID", "sync the host's inventory (job)"},
    {"unmanaged", WAPCTL_V_SUBLIST, "/unmanaged", NULL, NULL, NULL, "ID", "VMs on the host no record owns"},
    {"simulate", WAPCTL_V_ACTION, "/simulate", host_simulate, NULL, NULL, "ID",
     "sim hosts: make VMs reappear under new hypervisor ids"},
    VEND};
static const wapctl_verb_t size_verbs[] = {CRUD(size_fields, size_fields), VEND};
static const wapctl_verb_t image_verbs[] = {CRUD(image_fields, image_fields), VEND};
static const wapctl_verb_t gallery_verbs[] = {CRUD(gallery_fields, gallery_fields), VEND};
static const wapctl_verb_t plan_verbs[] = {CRUD(plan_fields, plan_fields), VEND};
static const wapctl_verb_t user_verbs[] = {CRUD(user_create, user_update), VEND};
static const wapctl_verb_t token_verbs[] = {
    {"list", WAPCTL_V_CUSTOM, NULL, NULL, NULL, wapctl_tokens_list, "[--user-id U]",
     "admin tokens, or with --user-id that user's tenant tokens"},
    SHOW_V,
    {"create", WAPCTL_V_CUSTOM, NULL, NULL, NULL, wapctl_tokens_create,
     "--name N --scope S [--expires-in-days N] | --user-id U [--expires-in-days N]",
     "an admin token, or with --user-id a tenant token (shown once)"},
    {"delete", WAPCTL_V_CUSTOM, NULL, NULL, NULL, wapctl_tokens_delete, "ID [--user-id U]",
     "revoke an admin token, or with --user-id a tenant token"},
    VEND};
static const wapctl_verb_t sub_verbs[] = {
    CRUD(sub_create, sub_update),
    {"suspend", WAPCTL_V_UPDATE, NULL, NULL, "{\"state\": \"suspended\"}", NULL, "ID",
     "stop its VMs and refuse tenant writes (job)"},
    {"activate", WAPCTL_V_UPDATE, NULL, NULL, "{\"state\": \"active\"}", NULL, "ID", "lift a suspension"},
    {"reconcile", WAPCTL_V_ACTION, "/reconcile", NULL, NULL, NULL, "ID", "recompute quota usage"},
    VEND};
static const wapctl_verb_t vm_verbs[] = {
    LIST_V(vm_filters),
    SHOW_V,
    {"reassociate", WAPCTL_V_ACTION, "/reassociate", vm_reassociate, NULL, NULL, "ID",
     "point the record at a VM under a new hypervisor id"},
    {"migrate", WAPCTL_V_ACTION, "/migrate", vm_migrate, NULL, NULL, "ID", "move the VM to a host (job)"},
    VEND};
static const wapctl_verb_t vmrole_verbs[] = {
    {"join", WAPCTL_V_ACTION, "/join", vmrole_join, NULL, NULL, "ID",
     "make a VM (--vm-id, or --host-id and --hypervisor-id) an instance of the role"},
    VEND};
static const wapctl_verb_t job_verbs[] = {
    LIST_V(job_filters),
    SHOW_V,
    {"wait", WAPCTL_V_CUSTOM, NULL, NULL, NULL, wapctl_jobs_wait, "ID", "wait until the job ends"},
    {"cancel", WAPCTL_V_ACTION, "/cancel", NULL, NULL, NULL, "ID", "cancel the job"},
    {"restart", WAPCTL_V_ACTION, "/restart", job_restart, NULL, NULL, "ID", "restart a failed job"},
    VEND};
static const wapctl_verb_t hook_verbs[] = {
    CRUD(hook_fields, hook_fields),
    {"deliveries", WAPCTL_V_SUBLIST, "/deliveries", NULL, NULL, NULL, "ID", "the hook's delivery attempts"},
    {"redeliver", WAPCTL_V_CUSTOM, NULL, NULL, NULL, wapctl_hooks_redeliver, "ID ATTEMPT",
     "send an attempt's event again"},
    VEND};
static const wapctl_verb_t event_verbs[] = {
    {"list", WAPCTL_V_FEED, NULL, feed_fields, NULL, NULL, "", "every event (after --after CURSOR)"},
    VEND};
static const wapctl_verb_t usage_verbs[] = {
    {"list", WAPCTL_V_FEED, NULL, feed_fields, NULL, NULL, "", "every usage record (after --after CURSOR)"},
    {"ack", WAPCTL_V_POST, "/ack", usage_ack, NULL, NULL, "", "acknowledge every record up to --cursor"},
    {"export", WAPCTL_V_CUSTOM, NULL, NULL, NULL, wapctl_usage_export_verb, "--out FILE [--ack]",
     "append new records to FILE as JSON lines, resumable"},
    VEND};
static const wapctl_verb_t checkpoint_verbs[] = {
    {"prune", WAPCTL_V_POST, "/prune", prune_fields, NULL, NULL, "",
     "merge away every matching checkpoint (job)"},
    {"delete", WAPCTL_V_CUSTOM, NULL, NULL, NULL, wapctl_checkpoints_delete, "VMID",
     "merge away the VM's checkpoint (job)"},
    VEND};

static const char *const by_name[] = {"name", NULL};
static const char *const by_user[] = {"email", "name", NULL};
static const char *const by_display_name[] = {"displayName", NULL};

static const char *const cloud_cols[] = {"id", "name", "description", "createdAt", NULL};
static const char *const host_cols[] = {"id", "name", "state", "agent.kind", "capacity.cores",
                                        "allocated.cores", "lastSeenAt", NULL};
static const char *const size_cols[] = {"id", "name", "cores", "memoryMB", NULL};
static const char *const image_cols[] = {"id", "name", "osType", "generation", "osDiskGB", NULL};
static const char *const gallery_cols[] = {"id", "name", "version", "defaultSize", "minInstances",
                                           "maxInstances", NULL};
static const char *const plan_cols[] = {"id", "name", "state", "checkpointMode", "quotas", NULL};
static const char *const user_cols[] = {"id", "email", "name", "state", NULL};
static const char *const token_cols[] = {"id", "name", "scope", "expiresAt",
                                         "revokedAt", "lastUsedAt", NULL};
static const char *const sub_cols[] = {"id", "displayName", "state", "planId", "userId", NULL};
static const char *const vm_cols[] = {"id", "name", "size", "powerState", "provisioningState", "hostId", NULL};
static const char *const job_cols[] = {"id", "kind", "status", "progress", "resourceId", "endedAt", NULL};
static const char *const hook_cols[] = {"id", "url", "events", "active", NULL};
static const char *const event_cols[] = {"id", "type", "occurredAt", "resourceId", NULL};
static const char *const usage_cols[] = {"meter", "quantity", "unit", "periodStart", "resourceId", NULL};

const wapctl_noun_t wapctl_nouns[] = {
    {"clouds", "/v1/admin/clouds", by_name, cloud_cols, cloud_verbs, NULL, "clouds of hosts"},
    {"hosts", "/v1/admin/hosts", by_name, host_cols, host_verbs, NULL, "hypervisor hosts"},
    {"sizes", "/v1/admin/sizes", by_name, size_cols, size_verbs, NULL, "VM sizes"},
    {"images", "/v1/admin/images", by_name, image_cols, image_verbs, NULL, "OS images"},
    {"gallery", "/v1/admin/galleryItems", by_name, gallery_cols, gallery_verbs, NULL,
     "VM role gallery items"},
    {"plans", "/v1/admin/plans", by_name, plan_cols, plan_verbs, NULL, "plans (update is a job)"},
    {"users", "/v1/admin/users", by_user, user_cols, user_verbs, NULL, "tenant users (ID or email)"},
    {"tokens", "/v1/admin/tokens", by_name, token_cols, token_verbs, NULL,
     "admin tokens; with --user-id a user's tenant tokens"},
    {"subscriptions", "/v1/admin/subscriptions", by_display_name, sub_cols, sub_verbs, NULL,
     "subscriptions (ID or displayName)"},
    {"vms", "/v1/admin/vms", by_name, vm_cols, vm_verbs, NULL, "every VM"},
    {"vmroles", "/v1/admin/vmroles", NULL, NULL, vmrole_verbs, NULL, "VM roles (join only)"},
    {"jobs", "/v1/admin/jobs", NULL, job_cols, job_verbs, NULL, "jobs"},
    {"hooks", "/v1/admin/hooks", NULL, hook_cols, hook_verbs, NULL, "web hooks"},
    {"events", "/v1/admin/events", NULL, event_cols, event_verbs, NULL, "the events feed"},
    {"usage", "/v1/admin/usage", NULL, usage_cols, usage_verbs, NULL, "usage records for billing"},
    {"checkpoints", "/v1/admin/checkpoints", NULL, NULL, checkpoint_verbs, NULL, "VM checkpoints"},
    {"backup", "/v1/admin/backup", NULL, NULL, NULL, wapctl_backup_noun,
     "backup --out FILE: an online copy of the database"},
    {NULL, NULL, NULL, NULL, NULL, NULL, NULL},
};

const wapctl_noun_t *
wapctl_noun_find(const char *name)
{
    const wapctl_noun_t *n;

    assert(name != NULL);
    for (n = wapctl_nouns; n->name != NULL; n++)
        if (strcmp(n->name, name) == 0)
            return n;
    return NULL;
}

void
wapctl_field_option(const wapctl_field_t *f, char *buf, size_t size)
{
    const char *p;
    size_t n = 0;

    assert(f != NULL && buf != NULL && size > 0);
    if (f->option != NULL) {
        snprintf(buf, size, "%s", f->option);
        return;
    }
    for (p = f->path; *p != '\0' && n + 2 < size; p++) {
        if (*p == '.') {
            buf[n++] = '-';
            continue;
        }
        /* A word starts at an upper-case letter after a lower-case one or a digit, or at the last
         * capital of a run followed by a lower-case letter ("memoryMB" → memory-mb). */
        if (isupper((unsigned char) *p) && p > f->path && p[-1] != '.' &&
            (islower((unsigned char) p[-1]) || isdigit((unsigned char) p[-1]) ||
             (isupper((unsigned char) p[-1]) && islower((unsigned char) p[1]))))
            buf[n++] = '-';
        buf[n++] = (char) tolower((unsigned char) *p);
    }
    buf[n] = '\0';
}

void
wapctl_noun_help(const wapctl_noun_t *noun, FILE *out)
{
    const wapctl_verb_t *v;
    const wapctl_field_t *f;
    char opt[64];

    assert(noun != NULL && out != NULL);
    fprintf(out, "wapctl %s: %s\n", noun->name, noun->help);
    if (noun->verbs == NULL)
        return;
    fprintf(out, "\nverbs:\n");
    for (v = noun->verbs; v->name != NULL; v++) {
        fprintf(out, "  %s %s %s\n      %s\n", noun->name, v->name, v->args, v->help);
        for (f = v->fields; f != NULL && f->path != NULL; f++) {
            wapctl_field_option(f, opt, sizeof(opt));
            fprintf(out, "      --%s %s%s\n", opt,
                    f->type == WAPCTL_F_INT || f->type == WAPCTL_F_INTN ? "N"
                    : f->type == WAPCTL_F_BOOL                          ? "true|false"
                    : f->type == WAPCTL_F_LIST                          ? "A[,B...] (repeatable)"
                    : f->type == WAPCTL_F_QUOTA                         ? "KEY=N (repeatable)"
                                                                        : "VALUE",
                    f->type == WAPCTL_F_STRN || f->type == WAPCTL_F_INTN ? " (or null)" : "");
        }
    }
    if (noun->name_fields != NULL)
        fprintf(out, "\nAn ID may also be the item's unique %s.\n", noun->name_fields[0]);
}
