/*
 * types.c: the agent contract's closed sets (operations, power states, disk caching) and its typed
 * inventory: names, default timeouts, the list's life, and the JSON form the wapd-agent protocol and job
 * data use (see agent.h).
 *
 * The JSON form is read strictly: a VM entry with a field of the wrong type, a name too long for its
 * buffer, more disks or checkpoints than the struct holds, or a power state no enum names does not parse.
 */
#include "../agent.h"

#include <assert.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../jget.h"
#include "../util.h"

static const char *const op_names[] = {
    "vmCreate",         "vmDelete",          "vmPower",          "vmRelease",
    "vmReconfigure",    "diskAttach",        "diskDetach",       "checkpointCreate",
    "checkpointDelete", "checkpointRestore", "inventory",        "hostInfo",
    "volumeSnapshot",   "volumeCopy",        "volumeDelete",     "vmImport",
};
static const int op_timeouts_ms[] = {
    30000, 30000, 15000, 15000, 15000, 15000, 15000, 30000, 15000, 30000, 5000, 5000,
    30000, 30000, 15000, 30000,
};
_Static_assert(sizeof(op_names) / sizeof(op_names[0]) == AGENT_OP_COUNT, "one name per operation");
_Static_assert(sizeof(op_timeouts_ms) / sizeof(op_timeouts_ms[0]) == AGENT_OP_COUNT,
               "one timeout per operation");

const char *
agent_op_name(agent_op_t op)
{
    assert((unsigned) op < AGENT_OP_COUNT);
    return op_names[op];
}

int
agent_op_timeout_ms(agent_op_t op)
{
    assert((unsigned) op < AGENT_OP_COUNT);
    return op_timeouts_ms[op];
}

static const char *const power_names[] = {"running", "stopped", "deallocated", "unknown"};
static const char *const caching_names[] = {"None", "ReadOnly", "ReadWrite"};

UTIL_ENUM_NAMES(agent_vm_power, agent_vm_power_t, power_names)
UTIL_ENUM_NAMES(agent_caching, agent_caching_t, caching_names)

void
agent_vm_list_free(agent_vm_list_t *list)
{
    if (list == NULL)
        return;
    free(list->vms);
    list->vms = NULL;
    list->n = 0;
}

const agent_vm_info_t *
agent_vm_list_find(const agent_vm_list_t *list, const char *hypervisor_id)
{
    size_t i;

    for (i = 0; list != NULL && hypervisor_id != NULL && i < list->n; i++)
        if (strcmp(list->vms[i].hypervisor_id, hypervisor_id) == 0)
            return &list->vms[i];
    return NULL;
}

const agent_vm_info_t *
agent_vm_list_find_vm_id(const agent_vm_list_t *list, const char *vm_id)
{
    size_t i;

    for (i = 0; list != NULL && vm_id != NULL && vm_id[0] && i < list->n; i++)
        if (strcmp(list->vms[i].vm_id, vm_id) == 0)
            return &list->vms[i];
    return NULL;
}

json_t *
agent_vm_info_to_json(const agent_vm_info_t *vm)
{
    json_t *j, *disks = json_array(), *cps = json_object();
    int i;

    assert(vm != NULL);
    for (i = 0; disks != NULL && i < vm->ndisks; i++)
        if (json_array_append_new(disks, json_pack("{s:o, s:i}", "lun",
                                                   vm->disks[i].lun < 0 ? json_null()
                                                                        : json_integer(vm->disks[i].lun),
                                                   "sizeGB", vm->disks[i].size_gb)))
            goto fail;
    for (i = 0; cps != NULL && i < vm->ncheckpoints; i++)
        if (json_object_set_new(cps, vm->checkpoints[i].id,
                                json_pack("{s:s, s:I}", "name", vm->checkpoints[i].name, "sizeGB",
                                          (json_int_t) vm->checkpoints[i].size_gb)))
            goto fail;
    if (disks == NULL || cps == NULL)
        goto fail;
    j = json_pack("{s:o, s:s, s:s, s:s, s:i, s:i, s:o, s:o}", "id",
                  vm->vm_id[0] ? json_string(vm->vm_id) : json_null(), "hypervisorId",
                  vm->hypervisor_id, "name", vm->name, "powerState", agent_vm_power_name(vm->power),
                  "cores", vm->cores, "memoryMB", vm->memory_mb, "disks", disks, "checkpoints", cps);
    if (j != NULL && vm->assigned_memory_mb > 0 &&
        json_object_set_new(j, "assignedMemoryMB", json_integer(vm->assigned_memory_mb)) != 0)
        goto fail_j;
    if (j != NULL && vm->guest_heartbeat[0] != '\0' &&
        json_object_set_new(j, "guestHeartbeat", json_string(vm->guest_heartbeat)) != 0)
        goto fail_j;
    return j;
fail_j:
    json_decref(j);
    return NULL;
fail:
    json_decref(disks);
    json_decref(cps);
    return NULL;
}

/* Copies a string field into buf; an absent field is "" when optional. -1 when it does not fit or is not
 * a string. */
static int
copy_str(const json_t *j, const char *key, char *buf, size_t size, bool optional)
{
    const json_t *v = json_object_get(j, key);

    if (v == NULL || json_is_null(v)) {
        buf[0] = '\0';
        return optional ? 0 : -1;
    }
    if (!json_is_string(v) || json_string_length(v) >= size)
        return -1;
    memcpy(buf, json_string_value(v), json_string_length(v) + 1);
    return 0;
}

static int
int_field(const json_t *j, const char *key, int64_t *out)
{
    const json_t *v = json_object_get(j, key);

    if (!json_is_integer(v))
        return -1;
    *out = json_integer_value(v);
    return 0;
}

int
agent_vm_info_from_json(const json_t *j, agent_vm_info_t *out)
{
    agent_vm_info_t vm;
    const json_t *d, *cp;
    const char *key;
    int64_t n;
    size_t i;

    memset(&vm, 0, sizeof(vm));
    if (!json_is_object(j) || copy_str(j, "id", vm.vm_id, sizeof(vm.vm_id), true) ||
        copy_str(j, "hypervisorId", vm.hypervisor_id, sizeof(vm.hypervisor_id), false) ||
        copy_str(j, "name", vm.name, sizeof(vm.name), true) ||
        agent_vm_power_parse(jget_str(j, "powerState"), &vm.power))
        return -1;
    if (int_field(j, "cores", &n) == 0)
        vm.cores = (int) n;
    if (int_field(j, "memoryMB", &n) == 0)
        vm.memory_mb = (int) n;
    if (int_field(j, "assignedMemoryMB", &n) == 0 && n > 0 && n <= INT_MAX)
        vm.assigned_memory_mb = (int) n;
    if (copy_str(j, "guestHeartbeat", vm.guest_heartbeat, sizeof(vm.guest_heartbeat), true) ||
        (vm.guest_heartbeat[0] != '\0' && strcmp(vm.guest_heartbeat, "ok") != 0 &&
         strcmp(vm.guest_heartbeat, "noContact") != 0))
        return -1;
    if (json_array_size(json_object_get(j, "disks")) > AGENT_MAX_DISKS ||
        json_object_size(json_object_get(j, "checkpoints")) > AGENT_MAX_CHECKPOINTS)
        return -1;
    json_array_foreach(json_object_get(j, "disks"), i, d) {
        vm.disks[i].lun = json_is_integer(json_object_get(d, "lun"))
                              ? (int) json_integer_value(json_object_get(d, "lun"))
                              : -1;
        if (int_field(d, "sizeGB", &n))
            return -1;
        vm.disks[i].size_gb = (int) n;
        vm.ndisks++;
    }
    json_object_foreach((json_t *) json_object_get(j, "checkpoints"), key, cp) {
        agent_checkpoint_info_t *c = &vm.checkpoints[vm.ncheckpoints];
        if (strlen(key) >= sizeof(c->id) || copy_str(cp, "name", c->name, sizeof(c->name), true))
            return -1;
        strcpy(c->id, key);
        c->size_gb = int_field(cp, "sizeGB", &n) == 0 ? n : 0;
        vm.ncheckpoints++;
    }
    *out = vm;
    return 0;
}
