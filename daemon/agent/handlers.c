/*
 * handlers.c: the wapd-agent protocol's paths (schemas/agent.yaml), one route table and one handler
 * per path: read the request into typed values with lib/agent/wire, make one agent_* call, answer.
 *
 * The server has already checked the token, matched the route, read the write's Operation-Id into
 * r->call and parsed the body as the route asks, so a handler only validates what is particular to
 * its path. Repeated operation ids, their conflicts and crash safety belong to the agent (its
 * journal decorator and driver), not to this file: a handler makes its call as if it were the
 * first. Every handler answers exactly once. A long operation (a copy, an import, a create or attach
 * that clones a volume) answers 202 with its progress while it goes on: such an answer is not final,
 * and the journal keeps only final ones, so a poll with the same Operation-Id reaches the backend.
 */
#include "agentd.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../lib/util.h"

/* Route arguments of the VM actions: the power operations, then deallocate. */
#define ACTION_DEALLOCATE 100
/* The route arguments of POST /v1/vms/import and DELETE /v1/volumes/{id} (their VM twins have 0). */
#define MAKE_IMPORT 1
#define DELETE_VOLUME 1

/* r->params[i] as a VM or checkpoint id, or NULL with r answered 404 (no such id can exist). */
static const char *
id_or_reply(agentd_req_t *r, int i, const char *what)
{
    assert(i >= 0 && i < AGENTD_MAX_PARAMS);
    if (agent_wire_path_id_valid(r->params[i]))
        return r->params[i];
    agentd_reply_error(r, 404, "There is no %s '%.64s'.", what, r->params[i]);
    return NULL;
}

/* ---- reads ---- */

static void
host_get(agentd_req_t *r)
{
    agent_host_info_t info;
    agent_err_t err = {0};
    int rc;

    memset(&info, 0, sizeof(info));
    rc = agent_host_info(r->d->agent, &r->call, &info, &err);
    if (!agentd_ok_or_reply(r, rc, &err))
        return;
    snprintf(info.name, sizeof(info.name), "%s", r->d->name);
    snprintf(info.backend, sizeof(info.backend), "%s", r->d->backend);
    snprintf(info.version, sizeof(info.version), "%s", WAPD_VERSION);
    agentd_reply(r, 200, agent_wire_host_to_json(&info));
}

/* Answers the inventory: every VM (one NULL) or the VM of hypervisor id one (404 when absent). */
static void
inventory_reply(agentd_req_t *r, const char *one)
{
    agent_vm_list_t list = {0, NULL};
    const agent_vm_info_t *vm;
    agent_err_t err = {0};
    json_t *value = NULL;
    size_t i;
    int rc;

    rc = agent_inventory(r->d->agent, &r->call, &list, &err);
    if (!agentd_ok_or_reply(r, rc, &err))
        return;
    if (one != NULL) {
        vm = agent_vm_list_find(&list, one);
        if (vm == NULL)
            agentd_reply_error(r, 404, "There is no VM '%s'.", one);
        else
            agentd_reply(r, 200, agent_vm_info_to_json(vm));
        goto cleanup;
    }
    value = json_array();
    for (i = 0; value && i < list.n; i++)
        if (json_array_append_new(value, agent_vm_info_to_json(&list.vms[i])) != 0) {
            json_decref(value);
            value = NULL;
        }
    if (value == NULL)
        agentd_reply_error(r, 503, "The agent is out of memory.");
    else
        agentd_reply(r, 200, json_pack("{s:o}", "value", value));
cleanup:
    agent_vm_list_free(&list);
}

static void
vms_list(agentd_req_t *r)
{
    inventory_reply(r, NULL);
}

static void
vm_get(agentd_req_t *r)
{
    const char *hyp = id_or_reply(r, 0, "VM");

    if (hyp != NULL)
        inventory_reply(r, hyp);
}

/* ---- the VM ---- */

/* Creates (POST /v1/vms) or imports (POST /v1/vms/import, r->arg MAKE_IMPORT) a VM: both answer
 * the host's id for it. */
static void
vm_make(agentd_req_t *r)
{
    agent_wire_import_t *w = calloc(1, sizeof(*w));
    char hyp[AGENT_ID_MAX];
    agent_err_t err = {0};
    int rc;

    if (w == NULL) {
        agentd_reply_error(r, 503, "The agent is out of memory.");
        return;
    }
    assert(r->body != NULL); /* the route requires a body */
    rc = r->arg == MAKE_IMPORT ? agent_wire_import_from_json(r->body, w, &err)
                               : agent_wire_spec_from_json(r->body, &w->spec, &err);
    if (rc != 0) {
        agentd_reply_error(r, err.status == AGENT_ERR_TRANSIENT ? 503 : 400, "%s", err.message);
        goto cleanup;
    }
    if (r->arg == MAKE_IMPORT)
        rc = agent_vm_import(r->d->agent, &r->call, &w->spec.spec, &w->src, hyp, &err);
    else
        rc = agent_vm_create(r->d->agent, &r->call, &w->spec.spec, hyp, &err);
    if (agentd_ok_or_reply(r, rc, &err))
        agentd_reply(r, 200, json_pack("{s:s}", "hypervisorId", hyp));
cleanup:
    free(w);
}

/* Deletes the VM (DELETE /v1/vms/{hyp}) or, r->arg DELETE_VOLUME, the volume of the path. */
static void
resource_delete(agentd_req_t *r)
{
    bool volume = r->arg == DELETE_VOLUME;
    const char *id = id_or_reply(r, 0, volume ? "volume" : "VM");
    agent_err_t err = {0};
    int rc;

    if (id == NULL)
        return;
    if (volume)
        rc = agent_volume_delete(r->d->agent, &r->call, id, &err);
    else
        rc = agent_vm_delete(r->d->agent, &r->call, id, &err);
    if (agentd_ok_or_reply(r, rc, &err))
        agentd_reply(r, 200, NULL);
}

static void
vm_action(agentd_req_t *r)
{
    const char *hyp = id_or_reply(r, 0, "VM");
    agent_err_t err = {0};
    int rc;

    if (hyp == NULL)
        return;
    if (r->arg == ACTION_DEALLOCATE)
        rc = agent_vm_release(r->d->agent, &r->call, hyp, &err);
    else
        rc = agent_vm_power(r->d->agent, &r->call, hyp, (agent_power_op_t) r->arg, &err);
    if (agentd_ok_or_reply(r, rc, &err))
        agentd_reply(r, 200, NULL);
}

static void
vm_resize(agentd_req_t *r)
{
    const char *hyp = id_or_reply(r, 0, "VM");
    agent_err_t err = {0};
    int rc, cores, memory_mb;

    if (hyp == NULL)
        return;
    assert(r->body != NULL);
    if (agent_wire_resize_from_json(r->body, &cores, &memory_mb, &err) != 0) {
        agentd_reply_error(r, 400, "%s", err.message);
        return;
    }
    rc = agent_vm_reconfigure(r->d->agent, &r->call, hyp, cores, memory_mb, &err);
    if (agentd_ok_or_reply(r, rc, &err))
        agentd_reply(r, 200, NULL);
}

/* ---- disks ---- */

/* The lun of the path, or -1 with r answered 404 (no disk can have that lun). */
static int
lun_or_reply(agentd_req_t *r)
{
    int lun;

    if (agent_wire_lun_parse(r->params[1], &lun) == 0)
        return lun;
    agentd_reply_error(r, 404, "There is no disk at lun '%.64s' (luns are 0 to %d).", r->params[1],
                       AGENT_WIRE_LUN_MAX);
    return -1;
}

static void
disk_attach(agentd_req_t *r)
{
    const char *hyp = id_or_reply(r, 0, "VM");
    agent_wire_disk_t disk;
    agent_err_t err = {0};
    int rc, lun;

    if (hyp == NULL || (lun = lun_or_reply(r)) < 0)
        return;
    assert(r->body != NULL);
    if (agent_wire_disk_from_json(r->body, lun, &disk, &err) != 0) {
        agentd_reply_error(r, 400, "%s", err.message);
        return;
    }
    rc = agent_disk_attach(r->d->agent, &r->call, hyp, &disk.disk, &err);
    if (agentd_ok_or_reply(r, rc, &err))
        agentd_reply(r, 200, NULL);
}

static void
disk_detach(agentd_req_t *r)
{
    const char *hyp = id_or_reply(r, 0, "VM");
    agent_err_t err = {0};
    int rc, lun;

    if (hyp == NULL || (lun = lun_or_reply(r)) < 0)
        return;
    rc = agent_disk_detach(r->d->agent, &r->call, hyp, lun, &err);
    if (agentd_ok_or_reply(r, rc, &err))
        agentd_reply(r, 200, NULL);
}

/* ---- checkpoints ---- */

static void
checkpoint_create(agentd_req_t *r)
{
    const char *hyp = id_or_reply(r, 0, "VM");
    char name[AGENT_NAME_MAX], cp[AGENT_ID_MAX];
    agent_err_t err = {0};
    int rc;

    if (hyp == NULL)
        return;
    assert(r->body != NULL);
    if (agent_wire_checkpoint_from_json(r->body, name, &err) != 0) {
        agentd_reply_error(r, 400, "%s", err.message);
        return;
    }
    rc = agent_checkpoint_create(r->d->agent, &r->call, hyp, name, cp, &err);
    if (agentd_ok_or_reply(r, rc, &err))
        agentd_reply(r, 200, json_pack("{s:s}", "id", cp));
}

/* Deletes (arg 0) or restores (arg 1) the checkpoint of the path. */
static void
checkpoint_act(agentd_req_t *r)
{
    const char *hyp = id_or_reply(r, 0, "VM");
    const char *cp = hyp ? id_or_reply(r, 1, "checkpoint") : NULL;
    agent_err_t err = {0};
    int rc;

    if (cp == NULL)
        return;
    if (r->arg == 0)
        rc = agent_checkpoint_delete(r->d->agent, &r->call, hyp, cp, &err);
    else
        rc = agent_checkpoint_restore(r->d->agent, &r->call, hyp, cp, &err);
    if (agentd_ok_or_reply(r, rc, &err))
        agentd_reply(r, 200, NULL);
}

/* ---- volumes and imports ---- */

static void
volume_snapshot(agentd_req_t *r)
{
    const char *hyp = id_or_reply(r, 0, "VM");
    char volume_id[AGENT_ID_MAX];
    agent_err_t err = {0};
    int64_t size_gb = 0;
    int rc, lun;

    if (hyp == NULL)
        return;
    if (agent_wire_disk_parse(r->params[1], &lun) != 0) {
        agentd_reply_error(r, 404, "There is no disk '%.64s' (the OS disk is '%s', luns are 0 to %d).",
                           r->params[1], AGENT_WIRE_OS_DISK, AGENT_WIRE_LUN_MAX);
        return;
    }
    assert(r->body != NULL);
    if (agent_wire_snapshot_from_json(r->body, volume_id, &err) != 0) {
        agentd_reply_error(r, 400, "%s", err.message);
        return;
    }
    rc = agent_volume_snapshot(r->d->agent, &r->call, hyp, lun, volume_id, &size_gb, &err);
    if (agentd_ok_or_reply(r, rc, &err))
        agentd_reply(r, 200, agent_wire_size_to_json(size_gb));
}

static void
volume_copy(agentd_req_t *r)
{
    const char *volume_id = id_or_reply(r, 0, "volume");
    agent_wire_copy_t copy;
    agent_err_t err = {0};
    int rc;

    if (volume_id == NULL)
        return;
    assert(r->body != NULL);
    if (agent_wire_copy_from_json(r->body, &copy, &err) != 0) {
        agentd_reply_error(r, 400, "%s", err.message);
        return;
    }
    rc = agent_volume_copy(r->d->agent, &r->call, &copy.src, volume_id, &err);
    if (agentd_ok_or_reply(r, rc, &err))
        agentd_reply(r, 200, NULL);
}

/* ---- the table: the protocol's paths, in the order of schemas/agent.yaml ---- */

const agentd_route_t agentd_routes[] = {
    {"GET", "/v1/host", host_get, 0, AGENTD_BODY_NONE},
    {"GET", "/v1/vms", vms_list, 0, AGENTD_BODY_NONE},
    {"POST", "/v1/vms", vm_make, 0, AGENTD_BODY_REQUIRED},
    {"POST", "/v1/vms/import", vm_make, MAKE_IMPORT, AGENTD_BODY_REQUIRED},
    {"GET", "/v1/vms/x", vm_get, 0, AGENTD_BODY_NONE},
    {"DELETE", "/v1/vms/x", resource_delete, 0, AGENTD_BODY_NONE},
    {"POST", "/v1/vms/x/start", vm_action, AGENT_POWER_START, AGENTD_BODY_NONE},
    {"POST", "/v1/vms/x/stop", vm_action, AGENT_POWER_STOP, AGENTD_BODY_NONE},
    {"POST", "/v1/vms/x/shutdown", vm_action, AGENT_POWER_SHUTDOWN, AGENTD_BODY_NONE},
    {"POST", "/v1/vms/x/restart", vm_action, AGENT_POWER_RESTART, AGENTD_BODY_NONE},
    {"POST", "/v1/vms/x/deallocate", vm_action, ACTION_DEALLOCATE, AGENTD_BODY_NONE},
    {"POST", "/v1/vms/x/resize", vm_resize, 0, AGENTD_BODY_REQUIRED},
    {"PUT", "/v1/vms/x/disks/x", disk_attach, 0, AGENTD_BODY_REQUIRED},
    {"DELETE", "/v1/vms/x/disks/x", disk_detach, 0, AGENTD_BODY_NONE},
    {"POST", "/v1/vms/x/disks/x/snapshot", volume_snapshot, 0, AGENTD_BODY_REQUIRED},
    {"POST", "/v1/vms/x/checkpoints", checkpoint_create, 0, AGENTD_BODY_REQUIRED},
    {"DELETE", "/v1/vms/x/checkpoints/x", checkpoint_act, 0, AGENTD_BODY_NONE},
    {"POST", "/v1/vms/x/checkpoints/x/restore", checkpoint_act, 1, AGENTD_BODY_NONE},
    {"PUT", "/v1/volumes/x", volume_copy, 0, AGENTD_BODY_REQUIRED},
    {"DELETE", "/v1/volumes/x", resource_delete, DELETE_VOLUME, AGENTD_BODY_NONE},
};

const size_t agentd_nroutes = sizeof(agentd_routes) / sizeof(agentd_routes[0]);
