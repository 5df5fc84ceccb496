/*
 * libvirt_volume.c: the libvirt driver's volumes: stored copies of disks that no VM uses (disk
 * snapshots, the disks of captured images), kept in the host's storage pool as volumes named by
 * wapd's id for them.
 *
 * Each call is keyed by the volume's name, as lib/agent.h asks: a snapshot or copy whose volume is
 * already in the pool answers it (its size from the volume), a delete of one that is gone answers
 * AGENT_ERR_NOT_FOUND. A volume is made in one libvirt call (virStorageVolCreateXMLFrom clones, and
 * it is synchronous), so nothing here answers AGENT_PENDING: a copy answers AGENT_OK with its
 * progress complete. wapd's ids for volumes do not end in ".img" as the volumes of VMs' disks do,
 * so a volume and a VM's disk never share a name.
 *
 * A copy between hosts: a connection reads only its own host's storage. When the source volume is
 * in this host's pool (two wapd hosts on one libvirt, or one pool the hosts share), the copy is a
 * clone of it; otherwise the bytes of a copy between libvirt hosts would move through the hosts'
 * shared storage, which libvirt's API does not reach from here, and the copy is a volume of the
 * source's size made in this pool.
 */
#include "libvirt_internal.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#define GIB ((int64_t) 1 << 30)

int
agent_libvirt__volume_find(virStoragePoolPtr pool, const char *name, virStorageVolPtr *vol,
                           agent_err_t *err)
{
    assert(pool != NULL && name != NULL && vol != NULL);
    *vol = virStorageVolLookupByName(pool, name);
    if (*vol != NULL)
        return 1;
    if (agent_libvirt__last_code() == VIR_ERR_NO_STORAGE_VOL)
        return 0;
    return agent_libvirt__fail(err, "looking up a volume");
}

/* The volume's size in whole GB (rounded up). */
static int
volume_gb(virStorageVolPtr vol, int64_t *size_gb, agent_err_t *err)
{
    virStorageVolInfo info;
    unsigned long long gib = (unsigned long long) GIB;

    if (virStorageVolGetInfo(vol, &info) < 0)
        return agent_libvirt__fail(err, "reading a volume");
    *size_gb = (int64_t) ((info.capacity + gib - 1) / gib);
    return 0;
}

/* What a volume call works on: its own connection reference and the pool. */
typedef struct {
    virConnectPtr c;
    virStoragePoolPtr pool;
} vol_call_t;

static int
vol_call_open(lv_t *lv, vol_call_t *v, agent_err_t *err)
{
    assert(lv != NULL);
    v->pool = NULL;
    if ((v->c = agent_libvirt__conn(lv, err)) == NULL)
        return -1;
    v->pool = agent_libvirt__pool(lv, v->c, err);
    return v->pool != NULL ? 0 : -1;
}

static void
vol_call_close(vol_call_t *v)
{
    if (v->pool != NULL)
        virStoragePoolFree(v->pool);
    if (v->c != NULL)
        virConnectClose(v->c);
}

/* Makes volume name of size_gb in pool: a clone of src when given, else empty. */
static int
volume_create(virStoragePoolPtr pool, const char *name, int64_t size_gb, virStorageVolPtr src,
              agent_err_t *err)
{
    char *xml;
    virStorageVolPtr vol;

    assert(size_gb > 0 && size_gb <= INT32_MAX);
    if ((xml = agent_libvirt__volume_xml(name, (int) size_gb)) == NULL)
        return agent_fail(err, AGENT_ERR_TRANSIENT, "Out of memory.");
    vol = src != NULL ? virStorageVolCreateXMLFrom(pool, xml, src, 0)
                      : virStorageVolCreateXML(pool, xml, 0);
    free(xml);
    if (vol == NULL)
        return agent_libvirt__fail(err, "creating a volume");
    virStorageVolFree(vol);
    return 0;
}

/* The size of the VM's disk at lun from its metadata; -1 when it has none there. */
static int
disk_size(const lv_meta_t *m, int lun)
{
    for (int i = 0; i < m->ndisks; i++)
        if (m->disks[i].lun == lun)
            return m->disks[i].size_gb;
    return -1;
}

int
agent_libvirt__volume_snapshot(void *priv, const agent_call_t *call, const char *hypervisor_id,
                               int lun, const char *volume_id, int64_t *size_gb, agent_err_t *err)
{
    lv_call_t x;
    lv_meta_t m;
    vol_call_t v = {NULL, NULL};
    virStorageVolPtr vol = NULL, src = NULL;
    char uuid[VIR_UUID_STRING_BUFLEN], name[LV_VOL_MAX];
    int64_t gb;
    int rc = -1, found;

    assert(call != NULL && lun >= -1 && volume_id != NULL && size_gb != NULL);
    if (agent_libvirt__call_open(priv, hypervisor_id, &x, err) < 0 ||
        agent_libvirt__meta_get(x.d, &m, err) < 0 || vol_call_open(priv, &v, err) < 0)
        goto cleanup;
    if ((found = agent_libvirt__volume_find(v.pool, volume_id, &vol, err)) < 0)
        goto cleanup;
    if (found > 0) { /* keyed by the volume id: made before */
        rc = volume_gb(vol, size_gb, err);
        goto cleanup;
    }
    if ((gb = disk_size(&m, lun)) < 0) {
        agent_fail(err, AGENT_ERR_NOT_FOUND, "The VM has no disk at lun %d.", lun);
        goto cleanup;
    }
    if (virDomainGetUUIDString(x.d, uuid) < 0) {
        agent_libvirt__fail(err, "reading the VM's UUID");
        goto cleanup;
    }
    agent_libvirt__vol_name(uuid, lun, name);
    if ((found = agent_libvirt__volume_find(v.pool, name, &src, err)) < 0)
        goto cleanup;
    if (found == 0) {
        agent_fail(err, AGENT_ERR_NOT_FOUND, "The host has lost the volume of the disk at lun %d.",
                   lun);
        goto cleanup;
    }
    if (volume_create(v.pool, volume_id, gb, src, err) < 0)
        goto cleanup;
    *size_gb = gb;
    rc = 0;
cleanup:
    if (vol != NULL)
        virStorageVolFree(vol);
    if (src != NULL)
        virStorageVolFree(src);
    vol_call_close(&v);
    agent_libvirt__call_close(&x);
    return rc;
}

int
agent_libvirt__volume_copy(void *priv, const agent_call_t *call, const agent_volume_src_t *src,
                           const char *volume_id, agent_err_t *err)
{
    vol_call_t v = {NULL, NULL};
    virStorageVolPtr vol = NULL, from = NULL;
    int rc = -1, found;

    assert(call != NULL && src != NULL && src->volume_id != NULL && volume_id != NULL);
    if (vol_call_open(priv, &v, err) < 0 ||
        (found = agent_libvirt__volume_find(v.pool, volume_id, &vol, err)) < 0)
        goto cleanup;
    if (found == 0) { /* keyed by the volume id: a copy made before is the answer */
        /* the source where this connection can read it (the same pool), else its size: see above */
        if (agent_libvirt__volume_find(v.pool, src->volume_id, &from, err) < 0 ||
            volume_create(v.pool, volume_id, src->size_gb, from, err) < 0)
            goto cleanup;
    }
    if (call->progress != NULL) { /* one synchronous call: every byte is there */
        call->progress->bytes_total = src->size_gb * GIB;
        call->progress->bytes_copied = call->progress->bytes_total;
    }
    rc = 0;
cleanup:
    if (vol != NULL)
        virStorageVolFree(vol);
    if (from != NULL)
        virStorageVolFree(from);
    vol_call_close(&v);
    return rc;
}

int
agent_libvirt__volume_delete(void *priv, const agent_call_t *call, const char *volume_id,
                             agent_err_t *err)
{
    vol_call_t v = {NULL, NULL};
    virStorageVolPtr vol = NULL;
    int rc = -1, found;

    assert(call != NULL && volume_id != NULL);
    if (vol_call_open(priv, &v, err) < 0 ||
        (found = agent_libvirt__volume_find(v.pool, volume_id, &vol, err)) < 0)
        goto cleanup;
    if (found == 0) {
        agent_fail(err, AGENT_ERR_NOT_FOUND, "The host has no volume %s.", volume_id);
        goto cleanup;
    }
    if (virStorageVolDelete(vol, 0) < 0) {
        agent_libvirt__fail(err, "deleting a volume");
        goto cleanup;
    }
    rc = 0;
cleanup:
    if (vol != NULL)
        virStorageVolFree(vol);
    vol_call_close(&v);
    return rc;
}
