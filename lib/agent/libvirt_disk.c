/*
 * libvirt_disk.c: the libvirt driver's data disks: attach and detach, keyed by lun.
 *
 * A disk is a volume of the host's pool (libvirt_vm.c makes and deletes volumes) plugged into the
 * domain's devices at the target its lun names (vdb for lun 0, ...), and an entry (lun, size) in
 * the domain's wapd metadata, which is written last: an attach or detach cut short is finished by
 * its repeat, since each step first looks whether it is done (the volume there, the target in the
 * config).
 *
 * A detach of a lun the config does not name still deletes that lun's volume when there is one (what
 * a revert to a snapshot taken before the attach leaves behind), and answers NOT_FOUND.
 *
 * Where the connection's driver lacks device hot-plug (libvirt's test driver), a disk is attached
 * or detached by redefining the domain's persistent config with the disk added or removed; a
 * running domain then sees it at its next start.
 */
#include "libvirt_internal.h"

#include <assert.h>
#include <stdlib.h>

/* Adds or removes the disk at lun in the domain's devices: hot-plugged as well when it runs, or,
 * where the driver has no hot-plug, by redefining its persistent config. Nothing is done when the
 * config already is so. */
static int
plug_disk(virDomainPtr d, const char *pool, const char *uuid, const agent_disk_spec_t *disk,
          bool add, agent_err_t *err)
{
    char dev[8], *cfg = NULL, *xml = NULL, *edited = NULL;
    unsigned int flags = VIR_DOMAIN_AFFECT_CONFIG;
    virDomainPtr redefined;
    int rc = -1;

    agent_libvirt__target_dev(disk->lun, dev);
    if ((cfg = virDomainGetXMLDesc(d, VIR_DOMAIN_XML_INACTIVE | VIR_DOMAIN_XML_SECURE)) == NULL) {
        agent_libvirt__fail(err, "reading the VM's config");
        goto cleanup;
    }
    if (agent_libvirt__xml_has_target(cfg, dev) == add) {
        rc = 0;
        goto cleanup;
    }
    if ((xml = agent_libvirt__disk_xml(pool, uuid, disk)) == NULL) {
        agent_fail(err, AGENT_ERR_TRANSIENT, "Out of memory.");
        goto cleanup;
    }
    if (virDomainIsActive(d) == 1)
        flags |= VIR_DOMAIN_AFFECT_LIVE;
    if ((add ? virDomainAttachDeviceFlags(d, xml, flags)
             : virDomainDetachDeviceFlags(d, xml, flags)) == 0) {
        rc = 0;
        goto cleanup;
    }
    if (agent_libvirt__last_code() != VIR_ERR_NO_SUPPORT) {
        agent_libvirt__fail(err, add ? "attaching the disk" : "detaching the disk");
        goto cleanup;
    }
    edited = add ? agent_libvirt__xml_add_disk(cfg, xml) : agent_libvirt__xml_remove_disk(cfg, dev);
    if (edited == NULL) {
        agent_fail(err, AGENT_ERR_PERMANENT, "The VM's config has no devices to change.");
        goto cleanup;
    }
    if ((redefined = virDomainDefineXML(virDomainGetConnect(d), edited)) == NULL) {
        agent_libvirt__fail(err, add ? "attaching the disk" : "detaching the disk");
        goto cleanup;
    }
    virDomainFree(redefined);
    rc = 0;
cleanup:
    free(cfg);
    free(xml);
    free(edited);
    return rc;
}

static int
find_lun(const lv_meta_t *m, int lun)
{
    for (int i = 0; i < m->ndisks; i++)
        if (m->disks[i].lun == lun)
            return i;
    return -1;
}

/* What a disk call works on, beyond the domain: its metadata, its UUID and the pool. */
typedef struct {
    lv_call_t x;
    lv_meta_t m;
    char uuid[VIR_UUID_STRING_BUFLEN];
    virStoragePoolPtr pool;
} disk_call_t;

static int
disk_call_open(lv_t *lv, const char *hypervisor_id, disk_call_t *dc, agent_err_t *err)
{
    dc->pool = NULL;
    if (agent_libvirt__call_open(lv, hypervisor_id, &dc->x, err) < 0 ||
        agent_libvirt__meta_get(dc->x.d, &dc->m, err) < 0)
        return -1;
    if (virDomainGetUUIDString(dc->x.d, dc->uuid) < 0)
        return agent_libvirt__fail(err, "reading the VM's UUID");
    dc->pool = agent_libvirt__pool(lv, dc->x.c, err);
    return dc->pool != NULL ? 0 : -1;
}

static void
disk_call_close(disk_call_t *dc)
{
    if (dc->pool != NULL)
        virStoragePoolFree(dc->pool);
    agent_libvirt__call_close(&dc->x);
}

int
agent_libvirt__disk_attach(void *priv, const agent_call_t *call, const char *hypervisor_id,
                           const agent_disk_spec_t *disk, agent_err_t *err)
{
    disk_call_t dc;
    int rc = -1;

    assert(call != NULL && disk != NULL && disk->lun >= 0);
    if (disk_call_open(priv, hypervisor_id, &dc, err) < 0)
        goto cleanup;
    if (find_lun(&dc.m, disk->lun) >= 0) { /* keyed by lun: attached before */
        rc = 0;
        goto cleanup;
    }
    if (dc.m.ndisks == AGENT_MAX_DISKS) {
        agent_fail(err, AGENT_ERR_PERMANENT, "The VM has %d disks already.", AGENT_MAX_DISKS);
        goto cleanup;
    }
    if (agent_libvirt__volume_make(dc.pool, dc.uuid, disk, err) < 0 ||
        plug_disk(dc.x.d, virStoragePoolGetName(dc.pool), dc.uuid, disk, true, err) < 0)
        goto cleanup;
    dc.m.disks[dc.m.ndisks].lun = disk->lun;
    dc.m.disks[dc.m.ndisks].size_gb = disk->size_gb;
    dc.m.ndisks++;
    rc = agent_libvirt__meta_set(dc.x.d, &dc.m, err);
cleanup:
    disk_call_close(&dc);
    return rc;
}

int
agent_libvirt__disk_detach(void *priv, const agent_call_t *call, const char *hypervisor_id, int lun,
                           agent_err_t *err)
{
    disk_call_t dc;
    agent_disk_spec_t disk = {.lun = lun};
    int rc = -1, i;

    assert(call != NULL && lun >= 0);
    if (disk_call_open(priv, hypervisor_id, &dc, err) < 0)
        goto cleanup;
    if ((i = find_lun(&dc.m, lun)) < 0) {
        /* Not in the config: its volume may still be there (the domain reverted to a snapshot taken
         * before the disk was attached), and it goes too. */
        if (agent_libvirt__disk_volume_delete(dc.pool, dc.uuid, lun, err) == 0)
            agent_fail(err, AGENT_ERR_NOT_FOUND, "The VM has no disk at lun %d.", lun);
        goto cleanup;
    }
    if (plug_disk(dc.x.d, virStoragePoolGetName(dc.pool), dc.uuid, &disk, false, err) < 0 ||
        agent_libvirt__disk_volume_delete(dc.pool, dc.uuid, lun, err) < 0)
        goto cleanup;
    dc.m.disks[i] = dc.m.disks[--dc.m.ndisks];
    rc = agent_libvirt__meta_set(dc.x.d, &dc.m, err);
cleanup:
    disk_call_close(&dc);
    return rc;
}
