/*
 * wire_spec.c: the VM spec (POST /v1/vms) and disk attach (PUT /v1/vms/{hyp}/disks/{lun}) bodies of
 * the wapd-agent protocol (see wire.h).
 *
 * A decoded spec lives in one agent_wire_spec_t: every string the spec points to is copied into the
 * buffers beside it, so nothing points into the JSON it was read from. disks[0] is the OS disk (lun
 * null, -1 in C); data disks carry distinct luns. Decoding refuses an unknown key at every level
 * and names the field at fault ("disks[1].lun"); encoding writes every key the decoder reads.
 */
#include "wire_internal.h"

#include <arpa/inet.h>
#include <assert.h>
#include <ctype.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

/* ---- disks and NICs ---- */

static const char *const disk_keys[] = {"lun", "sizeGB", "caching", "imageId", "volumeId", NULL};
static const char *const attach_keys[] = {"sizeGB", "caching", "volumeId", NULL};
static const char *const nic_keys[] = {"networkId", "macAddress", "ipAddress", NULL};

/* Reads sizeGB, caching and volumeId of a disk object (lun and imageId are the caller's). */
static int
read_disk_common(const json_t *d, const char *where, agent_disk_spec_t *disk, char *volume_id,
                 agent_err_t *err)
{
    const char *caching = json_string_value(json_object_get(d, "caching"));
    bool has;

    if (agent_wire__read_small_int(d, where, "sizeGB", 1, 65536, &disk->size_gb, err))
        return -1;
    if (agent_caching_parse(caching, &disk->caching) != 0)
        return agent_fail(err, AGENT_ERR_PERMANENT,
                          "field '%s%scaching' must be one of None, ReadOnly, ReadWrite", where,
                          where[0] ? "." : "");
    if (agent_wire__read_str(d, where, "volumeId", true, volume_id, AGENT_ID_MAX, &has, err))
        return -1;
    disk->volume_id = has ? volume_id : NULL;
    return 0;
}

static json_t *
disk_to_json(const agent_disk_spec_t *d, bool with_lun_and_image)
{
    json_t *j = json_pack("{s:i, s:s, s:o}", "sizeGB", d->size_gb, "caching",
                          agent_caching_name(d->caching), "volumeId",
                          agent_wire__nullable_string(d->volume_id));

    if (j && with_lun_and_image &&
        (json_object_set_new(j, "lun", d->lun < 0 ? json_null() : json_integer(d->lun)) ||
         json_object_set_new(j, "imageId", agent_wire__nullable_string(d->image_id)))) {
        json_decref(j);
        return NULL;
    }
    return j;
}

static bool
mac_valid(const char *s)
{
    int i;

    if (strlen(s) != 17)
        return false;
    for (i = 0; i < 17; i++)
        if (i % 3 == 2 ? s[i] != ':' : !isxdigit((unsigned char) s[i]))
            return false;
    return true;
}

static int
read_nic(const json_t *n, const char *where, agent_wire_spec_t *out, int i, agent_err_t *err)
{
    unsigned char addr[16];
    bool has_ip;

    if (agent_wire__check_object(n, where, nic_keys, err) ||
        agent_wire__read_str(n, where, "networkId", false, out->network_ids[i], AGENT_ID_MAX, NULL,
                             err) ||
        agent_wire__read_str(n, where, "macAddress", false, out->macs[i], AGENT_MAC_MAX, NULL,
                             err) ||
        agent_wire__read_str(n, where, "ipAddress", true, out->ips[i], AGENT_ADDR_MAX, &has_ip,
                             err))
        return -1;
    if (!mac_valid(out->macs[i]))
        return agent_fail(err, AGENT_ERR_PERMANENT,
                          "field '%s.macAddress' must be six hex pairs separated by ':'", where);
    if (has_ip && inet_pton(AF_INET, out->ips[i], addr) != 1 &&
        inet_pton(AF_INET6, out->ips[i], addr) != 1)
        return agent_fail(err, AGENT_ERR_PERMANENT, "field '%s.ipAddress' must be an IP address",
                          where);
    out->nics[i].network_id = out->network_ids[i];
    out->nics[i].mac = out->macs[i];
    out->nics[i].ip = has_ip ? out->ips[i] : NULL;
    return 0;
}

static int
read_spec_disk(const json_t *d, const char *where, agent_wire_spec_t *out, int i, agent_err_t *err)
{
    agent_disk_spec_t *disk = &out->disks[i];
    json_t *lun = json_object_get(d, "lun");
    bool has_image;
    int k;

    if (agent_wire__check_object(d, where, disk_keys, err) ||
        read_disk_common(d, where, disk, out->volume_ids[i], err) ||
        agent_wire__read_str(d, where, "imageId", true, out->image_ids[i], AGENT_ID_MAX, &has_image,
                             err))
        return -1;
    disk->image_id = has_image ? out->image_ids[i] : NULL;
    if (i == 0) {
        if (lun != NULL && !json_is_null(lun))
            return agent_fail(err, AGENT_ERR_PERMANENT,
                              "field '%s.lun' must be null: disks[0] is the OS disk", where);
        disk->lun = -1;
        return 0;
    }
    if (agent_wire__read_small_int(d, where, "lun", 0, AGENT_WIRE_LUN_MAX, &disk->lun, err))
        return -1;
    for (k = 1; k < i; k++)
        if (out->disks[k].lun == disk->lun)
            return agent_fail(err, AGENT_ERR_PERMANENT, "field '%s.lun': lun %d is used twice",
                              where, disk->lun);
    return 0;
}

/* ---- the VM spec ---- */

static const char *const spec_keys[] = {"id",         "name",  "cores", "memoryMB", "dynamicMemory",
                                        "generation", "disks", "nics",  NULL};
static const char *const dynmem_keys[] = {"minimumMB", "maximumMB", NULL};

json_t *
agent_wire_spec_to_json(const agent_vm_spec_t *spec)
{
    json_t *j, *disks, *nics, *dyn, *item;
    int i;

    assert(spec != NULL && spec->vm_id != NULL && spec->name != NULL);
    dyn = spec->memory_min_mb == 0 && spec->memory_max_mb == 0
              ? json_null()
              : json_pack("{s:i, s:i}", "minimumMB", spec->memory_min_mb, "maximumMB",
                          spec->memory_max_mb);
    j = json_pack("{s:s, s:s, s:i, s:i, s:o*, s:i, s:[], s:[]}", "id", spec->vm_id, "name",
                  spec->name, "cores", spec->cores, "memoryMB", spec->memory_mb, "dynamicMemory",
                  dyn, "generation", spec->generation, "disks", "nics");
    if (j == NULL || dyn == NULL)
        goto fail;
    disks = json_object_get(j, "disks");
    nics = json_object_get(j, "nics");
    for (i = 0; i < spec->ndisks; i++) {
        item = disk_to_json(&spec->disks[i], true);
        if (json_array_append_new(disks, item))
            goto fail;
    }
    for (i = 0; i < spec->nnics; i++) {
        item = json_pack("{s:s, s:s, s:o}", "networkId", spec->nics[i].network_id, "macAddress",
                         spec->nics[i].mac, "ipAddress",
                         agent_wire__nullable_string(spec->nics[i].ip));
        if (json_array_append_new(nics, item))
            goto fail;
    }
    return j;
fail:
    json_decref(j);
    return NULL;
}

static int
read_dynamic_memory(const json_t *j, agent_wire_spec_t *out, agent_err_t *err)
{
    json_t *dyn = json_object_get(j, "dynamicMemory");

    out->spec.memory_min_mb = 0;
    out->spec.memory_max_mb = 0;
    if (dyn == NULL || json_is_null(dyn))
        return 0;
    if (agent_wire__check_object(dyn, "dynamicMemory", dynmem_keys, err) ||
        agent_wire__read_small_int(dyn, "dynamicMemory", "minimumMB", 1, INT_MAX,
                                   &out->spec.memory_min_mb, err) ||
        agent_wire__read_small_int(dyn, "dynamicMemory", "maximumMB", 1, INT_MAX,
                                   &out->spec.memory_max_mb, err))
        return -1;
    if (out->spec.memory_min_mb > out->spec.memory_max_mb)
        return agent_fail(err, AGENT_ERR_PERMANENT,
                          "field 'dynamicMemory.minimumMB' must not be above maximumMB");
    return 0;
}

/* Reads the array field key of 1..max items (min_items may be 0) through fn. */
static int
read_array(const json_t *j, const char *key, size_t min_items, size_t max_items,
           int (*fn)(const json_t *, const char *, agent_wire_spec_t *, int, agent_err_t *),
           agent_wire_spec_t *out, int *count, agent_err_t *err)
{
    json_t *arr = json_object_get(j, key);
    char where[32];
    size_t i;

    if (!json_is_array(arr) || json_array_size(arr) < min_items || json_array_size(arr) > max_items)
        return agent_fail(err, AGENT_ERR_PERMANENT,
                          "field '%s' must be an array of %zu to %zu items", key, min_items,
                          max_items);
    for (i = 0; i < json_array_size(arr); i++) {
        snprintf(where, sizeof(where), "%s[%zu]", key, i);
        if (fn(json_array_get(arr, i), where, out, (int) i, err))
            return -1;
    }
    *count = (int) json_array_size(arr);
    return 0;
}

int
agent_wire_spec_from_json(const json_t *j, agent_wire_spec_t *out, agent_err_t *err)
{
    assert(out != NULL && err != NULL);
    memset(out, 0, sizeof(*out));
    if (agent_wire__check_object(j, "", spec_keys, err) ||
        agent_wire__read_str(j, "", "id", false, out->vm_id, AGENT_ID_MAX, NULL, err) ||
        agent_wire__read_str(j, "", "name", false, out->name, AGENT_NAME_MAX, NULL, err) ||
        agent_wire__read_small_int(j, "", "cores", 1, 4096, &out->spec.cores, err) ||
        agent_wire__read_small_int(j, "", "memoryMB", 1, INT_MAX, &out->spec.memory_mb, err) ||
        read_dynamic_memory(j, out, err) ||
        agent_wire__read_small_int(j, "", "generation", 1, 2, &out->spec.generation, err) ||
        read_array(j, "disks", 1, AGENT_MAX_DISKS, read_spec_disk, out, &out->spec.ndisks, err) ||
        read_array(j, "nics", 0, AGENT_MAX_NICS, read_nic, out, &out->spec.nnics, err))
        return -1;
    out->spec.vm_id = out->vm_id;
    out->spec.name = out->name;
    out->spec.disks = out->disks;
    out->spec.nics = out->nics;
    return 0;
}

/* ---- disk attach ---- */

json_t *
agent_wire_disk_to_json(const agent_disk_spec_t *disk)
{
    assert(disk != NULL);
    return disk_to_json(disk, false);
}

int
agent_wire_disk_from_json(const json_t *j, int lun, agent_wire_disk_t *out, agent_err_t *err)
{
    assert(out != NULL && err != NULL && lun >= 0 && lun <= AGENT_WIRE_LUN_MAX);
    memset(out, 0, sizeof(*out));
    out->disk.lun = lun;
    if (agent_wire__check_object(j, "", attach_keys, err) ||
        read_disk_common(j, "", &out->disk, out->volume_id, err))
        return -1;
    return 0;
}
