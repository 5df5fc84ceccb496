/*
 * wire_volume.c: the bodies of the wapd-agent protocol's volume and migration calls (see wire.h): a
 * disk's snapshot (POST /v1/vms/{hyp}/disks/{lun|os}/snapshot {volumeId} -> {sizeGB}), a volume's
 * copy (PUT /v1/volumes/{volumeId} {source}) and a VM's import (POST /v1/vms/import, a VmSpec with
 * its source).
 *
 * As everywhere in the protocol, decoding refuses an unknown key at every level and names the field
 * at fault ("source.checkpoints[1]"); a volume id, in a body as in a path, is a path id (1..63
 * characters of [A-Za-z0-9._:-]), so that every volume a snapshot or copy makes can be named in the
 * path of its delete. A decoded value points only into the struct it was decoded into, and encodes
 * back to the same body.
 */
#include "wire_internal.h"

#include <assert.h>
#include <stdio.h>
#include <string.h>

#define VOLUME_GB_MAX 65536 /* a volume is a copy of one disk: a disk's largest size */

/* ---- the disk segment of a snapshot's path ---- */

int
agent_wire_disk_parse(const char *s, int *lun)
{
    assert(lun != NULL);
    if (s != NULL && strcmp(s, AGENT_WIRE_OS_DISK) == 0) {
        *lun = -1;
        return 0;
    }
    return agent_wire_lun_parse(s, lun);
}

void
agent_wire_disk_segment(int lun, char out[16])
{
    assert(lun >= -1 && lun <= AGENT_WIRE_LUN_MAX);
    if (lun < 0)
        snprintf(out, 16, "%s", AGENT_WIRE_OS_DISK);
    else
        snprintf(out, 16, "%d", lun);
}

/* A volume id field: a string that is a path id. */
static int
read_volume_id(const json_t *o, const char *where, char out[AGENT_ID_MAX], agent_err_t *err)
{
    if (agent_wire__read_str(o, where, "volumeId", false, out, AGENT_ID_MAX, NULL, err))
        return -1;
    if (!agent_wire_path_id_valid(out))
        return agent_fail(err, AGENT_ERR_PERMANENT,
                          "field '%s%svolumeId' may hold only the characters [A-Za-z0-9._:-]",
                          where, where[0] ? "." : "");
    return 0;
}

/* ---- a snapshot and its answer ---- */

static const char *const snapshot_keys[] = {"volumeId", NULL};
/* progress: a long snapshot's final answer may carry it (read by the transport, not here) */
static const char *const size_keys[] = {"sizeGB", "progress", NULL};

json_t *
agent_wire_snapshot_to_json(const char *volume_id)
{
    assert(volume_id != NULL);
    return json_pack("{s:s}", "volumeId", volume_id);
}

int
agent_wire_snapshot_from_json(const json_t *j, char out[AGENT_ID_MAX], agent_err_t *err)
{
    assert(out != NULL && err != NULL);
    if (agent_wire__check_object(j, "", snapshot_keys, err) || read_volume_id(j, "", out, err))
        return -1;
    return 0;
}

json_t *
agent_wire_size_to_json(int64_t size_gb)
{
    return json_pack("{s:I}", "sizeGB", (json_int_t) size_gb);
}

int
agent_wire_size_from_json(const json_t *j, int64_t *size_gb, agent_err_t *err)
{
    int64_t v;

    assert(size_gb != NULL && err != NULL);
    if (agent_wire__check_object(j, "", size_keys, err) ||
        agent_wire__read_int(j, "", "sizeGB", 1, VOLUME_GB_MAX, &v, err))
        return -1;
    *size_gb = v;
    return 0;
}

/* ---- a copy ---- */

static const char *const copy_keys[] = {"source", NULL};
static const char *const copy_source_keys[] = {"hostId", "volumeId", "sizeGB", NULL};

json_t *
agent_wire_copy_to_json(const agent_volume_src_t *src)
{
    assert(src != NULL && src->host_id != NULL && src->volume_id != NULL);
    return json_pack("{s:{s:s, s:s, s:I}}", "source", "hostId", src->host_id, "volumeId",
                     src->volume_id, "sizeGB", (json_int_t) src->size_gb);
}

int
agent_wire_copy_from_json(const json_t *j, agent_wire_copy_t *out, agent_err_t *err)
{
    json_t *s = json_object_get(j, "source");

    assert(out != NULL && err != NULL);
    memset(out, 0, sizeof(*out));
    if (agent_wire__check_object(j, "", copy_keys, err) ||
        agent_wire__check_object(s, "source", copy_source_keys, err) ||
        agent_wire__read_str(s, "source", "hostId", false, out->host_id, AGENT_ID_MAX, NULL, err) ||
        read_volume_id(s, "source", out->volume_id, err) ||
        agent_wire__read_int(s, "source", "sizeGB", 1, VOLUME_GB_MAX, &out->src.size_gb, err))
        return -1;
    out->src.host_id = out->host_id;
    out->src.volume_id = out->volume_id;
    return 0;
}

/* ---- an import ---- */

static const char *const import_source_keys[] = {"hostId", "hypervisorId", "powerState",
                                                 "checkpoints", NULL};

json_t *
agent_wire_import_to_json(const agent_vm_spec_t *spec, const agent_vm_source_t *src)
{
    json_t *j = agent_wire_spec_to_json(spec), *names = json_array();
    int i;

    assert(src != NULL && src->host_id != NULL && src->hypervisor_id != NULL);
    assert(src->ncheckpoints >= 0 && src->ncheckpoints <= AGENT_MAX_CHECKPOINTS);
    for (i = 0; names != NULL && i < src->ncheckpoints; i++)
        if (json_array_append_new(names, json_string(src->checkpoints[i])) != 0) {
            json_decref(names);
            names = NULL;
        }
    if (j == NULL || names == NULL ||
        json_object_set_new(j, "source",
                            json_pack("{s:s, s:s, s:s, s:O}", "hostId", src->host_id,
                                      "hypervisorId", src->hypervisor_id, "powerState",
                                      agent_vm_power_name(src->power), "checkpoints", names)) !=
            0) {
        json_decref(j);
        j = NULL;
    }
    json_decref(names);
    return j;
}

/* Reads source.checkpoints: an array of at most AGENT_MAX_CHECKPOINTS distinct names, each a
 * string of 1..AGENT_NAME_MAX-1 bytes. */
static int
read_checkpoint_names(const json_t *s, agent_wire_import_t *out, agent_err_t *err)
{
    json_t *arr = json_object_get(s, "checkpoints"), *v;
    size_t i, k, n;

    if (!json_is_array(arr) || json_array_size(arr) > AGENT_MAX_CHECKPOINTS)
        return agent_fail(err, AGENT_ERR_PERMANENT,
                          "field 'source.checkpoints' must be an array of 0 to %d names",
                          AGENT_MAX_CHECKPOINTS);
    json_array_foreach(arr, i, v)
    {
        n = json_is_string(v) ? json_string_length(v) : 0;
        if (n == 0 || n >= AGENT_NAME_MAX || strlen(json_string_value(v)) != n)
            return agent_fail(err, AGENT_ERR_PERMANENT,
                              "field 'source.checkpoints[%zu]' must be a string of 1 to %d "
                              "characters",
                              i, AGENT_NAME_MAX - 1);
        memcpy(out->checkpoints[i], json_string_value(v), n + 1);
        for (k = 0; k < i; k++)
            if (strcmp(out->checkpoints[k], out->checkpoints[i]) == 0)
                return agent_fail(err, AGENT_ERR_PERMANENT,
                                  "field 'source.checkpoints[%zu]': '%s' is named twice", i,
                                  out->checkpoints[i]);
        out->checkpoint_names[i] = out->checkpoints[i];
    }
    out->src.ncheckpoints = (int) json_array_size(arr);
    return 0;
}

/* Reads the source of an import into out->src. */
static int
read_import_source(const json_t *s, agent_wire_import_t *out, agent_err_t *err)
{
    const char *power;

    if (agent_wire__check_object(s, "source", import_source_keys, err) ||
        agent_wire__read_str(s, "source", "hostId", false, out->host_id, AGENT_ID_MAX, NULL, err) ||
        agent_wire__read_str(s, "source", "hypervisorId", false, out->hypervisor_id, AGENT_ID_MAX,
                             NULL, err))
        return -1;
    power = json_string_value(json_object_get(s, "powerState"));
    if (agent_vm_power_parse(power, &out->src.power) != 0 || out->src.power == AGENT_VM_UNKNOWN)
        return agent_fail(err, AGENT_ERR_PERMANENT,
                          "field 'source.powerState' must be one of running, stopped, deallocated");
    if (read_checkpoint_names(s, out, err))
        return -1;
    out->src.host_id = out->host_id;
    out->src.hypervisor_id = out->hypervisor_id;
    out->src.checkpoints = out->checkpoint_names;
    return 0;
}

int
agent_wire_import_from_json(const json_t *j, agent_wire_import_t *out, agent_err_t *err)
{
    json_t *spec;
    int rc;

    assert(out != NULL && err != NULL);
    memset(out, 0, sizeof(*out));
    if (!json_is_object(j))
        return agent_fail(err, AGENT_ERR_PERMANENT, "the body must be a JSON object");
    if (json_object_get(j, "source") == NULL)
        return agent_fail(err, AGENT_ERR_PERMANENT, "field 'source' is required");
    /* the rest is a VmSpec: read it by the spec's own decoder (a shallow copy without source) */
    if ((spec = json_copy((json_t *) j)) == NULL || json_object_del(spec, "source") != 0) {
        json_decref(spec);
        return agent_fail(err, AGENT_ERR_TRANSIENT, "Out of memory reading the import.");
    }
    rc = agent_wire_spec_from_json(spec, &out->spec, err);
    json_decref(spec);
    if (rc == 0)
        rc = read_import_source(json_object_get(j, "source"), out, err);
    return rc;
}
