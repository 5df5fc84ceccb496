/*
 * libvirt_internal.h: what the parts of the libvirt agent driver share; not for other modules.
 *
 * The driver (kind "libvirt", its behaviour is described in libvirt.c) is seven files, one concern
 * each:
 * - libvirt.c: the uri, the connection (lazy, shared, replaced when dead), libvirt's errors mapped
 * to agent statuses, the domain's wapd metadata, open, reconfigure, close, the table;
 * - libvirt_vm.c: the VM operations that change a VM (create, delete, power, release, resize) and
 * the volumes of its disks;
 * - libvirt_disk.c: data disks (attach, detach);
 * - libvirt_read.c: checkpoints (domain snapshots) and the host's reads (inventory, host info);
 * - libvirt_volume.c: volumes kept under wapd's id (snapshot, copy, delete);
 * - libvirt_import.c: a VM taken over from another host (migration);
 * - libvirt_xml.c: the XML the driver writes (domain, disk, volume, metadata) and the few reads of
 * it.
 *
 * Locking: lv_t.lock guards conn, uri, pool and network and is held only to read or replace them,
 * never across a call to the host once connected; each call works on its own reference to the
 * connection (virConnectRef), so a connection replaced under it stays valid until the call ends.
 *
 * Errors: every public libvirt call resets libvirt's (thread-local) last error, so an error is read
 * (agent_libvirt__fail, agent_libvirt__last_code) right after the call that failed, before any
 * other libvirt call.
 */
#ifndef WAPD_AGENT_LIBVIRT_INTERNAL_H
#define WAPD_AGENT_LIBVIRT_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>

#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

#include "../agent.h"

/* The XML namespace of the metadata wapd keeps in each domain it creates, and its element prefix.
 */
#define LV_META_NS "urn:wapd:agent:libvirt:1"
#define LV_META_PREFIX "wapd"

#define LV_VOL_MAX (AGENT_ID_MAX + 24) /* "<vm id>-lun<n>.img" */

/* One open agent (one host). */
typedef struct {
    char host_id[AGENT_ID_MAX];   /* wapd's id of the host ("" when not given); set at open */
    pthread_mutex_t lock;         /* guards the four fields below */
    virConnectPtr conn;           /* the connection, or NULL: connect at the next call */
    char *uri;                    /* the libvirt uri: the host's uri without wapd's query keys */
    char pool[AGENT_NAME_MAX];    /* the storage pool for disks; "": the first active pool */
    char network[AGENT_NAME_MAX]; /* the network of NICs whose network the host does not have */
} lv_t;

/* What wapd keeps in a domain's metadata: the VM id it was created for, the wapd host that holds
 * it (see libvirt.c), whether it is deallocated, and its disks (lun and size; the volume's name
 * follows from the VM id and the lun). */
typedef struct {
    int lun;
    int size_gb;
} lv_disk_t;

typedef struct {
    char vm_id[AGENT_ID_MAX]; /* "": a domain wapd did not create */
    char host_id[AGENT_ID_MAX]; /* "": any host of this libvirt holds it (written before hosts) */
    char from_host[AGENT_ID_MAX]; /* the host it was taken over from, until that host lets it go */
    bool deallocated;
    int ndisks;
    lv_disk_t disks[AGENT_MAX_DISKS];
} lv_meta_t;

/* ---- libvirt.c ---- */

/* Sets *err from libvirt's last error of this thread ("what" names the call) and returns -1. */
int agent_libvirt__fail(agent_err_t *err, const char *what);
/* The code of libvirt's last error of this thread (VIR_ERR_OK when none). */
int agent_libvirt__last_code(void);
/* A new reference to the host's connection (connecting when there is none or it is dead); the
 * caller releases it with virConnectClose. NULL with AGENT_ERR_UNREACHABLE when the host cannot be
 * reached. */
virConnectPtr agent_libvirt__conn(lv_t *lv, agent_err_t *err);
/* The domain of that hypervisor id (a UUID), owned by the caller (virDomainFree); NULL with
 * AGENT_ERR_NOT_FOUND when there is none. */
virDomainPtr agent_libvirt__domain(virConnectPtr c, const char *hypervisor_id, agent_err_t *err);
/* What a call on one VM works on: its own connection reference and the domain. */
typedef struct {
    virConnectPtr c;
    virDomainPtr d;
} lv_call_t;

/* Connects and looks the VM up (NULL fields and -1 with err when either fails; a domain another
 * host holds is AGENT_ERR_NOT_FOUND); release with agent_libvirt__call_close, which takes a zeroed
 * or half-open x as well. */
int agent_libvirt__call_open(lv_t *lv, const char *hypervisor_id, lv_call_t *x, agent_err_t *err);
void agent_libvirt__call_close(lv_call_t *x);
/* The storage pool of the host's disks (the uri's pool, else the first active one), owned by the
 * caller (virStoragePoolFree); NULL with err. */
virStoragePoolPtr agent_libvirt__pool(lv_t *lv, virConnectPtr c, agent_err_t *err);
/* The name of the network a NIC on network_id joins: network_id when the host has such a network,
 * else the uri's network ("default"). Writes out (size AGENT_NAME_MAX). */
void agent_libvirt__network(lv_t *lv, virConnectPtr c, const char *network_id, char *out);
/* True when the metadata says another host (of the same libvirt) holds the domain. */
bool agent_libvirt__held_elsewhere(lv_t *lv, const lv_meta_t *m);
/* Reads the domain's wapd metadata into *m (zeroed, vm_id "", when the domain has none: unmanaged).
 */
int agent_libvirt__meta_get(virDomainPtr d, lv_meta_t *m, agent_err_t *err);
/* Writes *m as the domain's wapd metadata (persistent config). */
int agent_libvirt__meta_set(virDomainPtr d, const lv_meta_t *m, agent_err_t *err);

/* ---- libvirt_xml.c (no libvirt calls; strings returned are malloc'd, NULL when out of memory)
 * ---- */

/* The name of the volume of the VM's disk at lun (-1: the OS disk). */
void agent_libvirt__vol_name(const char *vm_id, int lun, char out[LV_VOL_MAX]);
/* The target device of the disk at lun: vda for the OS disk, vdb for lun 0, ... */
void agent_libvirt__target_dev(int lun, char out[8]);
/* The metadata element; with_ns: it declares its namespace (in a domain's XML; virDomainSetMetadata
 * adds it itself). */
char *agent_libvirt__meta_format(const lv_meta_t *m, bool with_ns);
/* Reads metadata written by agent_libvirt__meta_format (as libvirt gives it back); -1 when
 * malformed. */
int agent_libvirt__meta_parse(const char *xml, lv_meta_t *m);
char *agent_libvirt__volume_xml(const char *name, int size_gb);
/* The <disk> element of the VM's disk, a volume of pool. */
char *agent_libvirt__disk_xml(const char *pool, const char *vm_id, const agent_disk_spec_t *disk);
/* The whole domain: type (libvirt's domain type), name, spec's size, disks and NICs (networks[i] is
 * the network of spec->nics[i]) and the metadata m. */
char *agent_libvirt__domain_xml(const char *type, const char *name, const agent_vm_spec_t *spec,
                                const char *pool, char (*networks)[AGENT_NAME_MAX],
                                const lv_meta_t *m);
/* The id of the checkpoint of that name, which names its snapshot: the name itself when it fits an
 * id and is plain, else "cp-" and a digest of the name. */
void agent_libvirt__checkpoint_id(const char *name, char out[AGENT_ID_MAX]);
/* A domain snapshot named id, the checkpoint's name its description. */
char *agent_libvirt__snapshot_xml(const char *id, const char *name);
/* The description of a snapshot's XML into out (cap bytes, cut short when longer); -1 when none. */
int agent_libvirt__snapshot_description(const char *xml, char *out, size_t cap);
/* True when the domain XML has a disk whose target is dev. */
bool agent_libvirt__xml_has_target(const char *domain_xml, const char *dev);
/* The domain XML with disk_xml added to its devices, or with the disk whose target is dev removed.
 */
char *agent_libvirt__xml_add_disk(const char *domain_xml, const char *disk_xml);
char *agent_libvirt__xml_remove_disk(const char *domain_xml, const char *dev);

/* ---- libvirt_vm.c ---- */

/* Makes the volume of the VM's disk: an empty one, a copy of its catalog image when the pool has a
 * volume of that name (else empty, as a host without the image's file does), or a clone of its
 * volume_id, which the pool must have (AGENT_ERR_NOT_FOUND otherwise). A volume of the disk's name
 * already there is kept. Returns 1 when it made the volume, 0 when it kept one, -1 with err. */
int agent_libvirt__volume_make(virStoragePoolPtr pool, const char *vm_id,
                               const agent_disk_spec_t *disk, agent_err_t *err);
/* Deletes the volume of the VM's disk at lun; one already gone is done. */
int agent_libvirt__disk_volume_delete(virStoragePoolPtr pool, const char *vm_id, int lun,
                                      agent_err_t *err);

/* Looks up the domain whose UUID is the VM id: 1 and *d (owned by the caller) when there, 0 when
 * there is none, -1 with err (a VM id that is no UUID is AGENT_ERR_PERMANENT). */
int agent_libvirt__domain_of_vm(virConnectPtr c, const char *vm_id, virDomainPtr *d,
                                agent_err_t *err);
/* Defines the domain of spec for this host (its volumes made first, metadata naming this host,
 * deallocated as asked); the volumes it made are removed again when the definition surely failed.
 * Owned by the caller (virDomainFree); NULL with err. */
virDomainPtr agent_libvirt__define_vm(lv_t *lv, virConnectPtr c, const agent_vm_spec_t *spec,
                                      bool deallocated, agent_err_t *err);

/* Starts the domain unless active (1) says it runs, and clears its deallocated flag. */
int agent_libvirt__start(virDomainPtr d, int active, agent_err_t *err);

/* ---- libvirt_volume.c ---- */

/* Looks the volume of that name up in pool: 1 and *vol (owned by the caller) when there, 0 when
 * the pool has none, -1 with err. */
int agent_libvirt__volume_find(virStoragePoolPtr pool, const char *name, virStorageVolPtr *vol,
                               agent_err_t *err);

/* ---- libvirt_import.c ---- */

/* What a delete of the domain (whose metadata is m) does about a migration between two hosts of one
 * libvirt: 1 when it is done with it (the source letting a domain go that the target took over:
 * AGENT_ERR_NOT_FOUND in err; the target dropping a takeover not yet final: the domain handed back,
 * 0 in *rc), 0 when the delete goes on as usual. */
int agent_libvirt__delete_handoff(lv_t *lv, virDomainPtr d, lv_meta_t *m, int *rc,
                                  agent_err_t *err);

/* ---- libvirt_vm.c, libvirt_disk.c, libvirt_read.c, libvirt_volume.c, libvirt_import.c: the slots
 * ---- */

int agent_libvirt__vm_create(void *priv, const agent_call_t *call, const agent_vm_spec_t *spec,
                             char hypervisor_id[AGENT_ID_MAX], agent_err_t *err);
int agent_libvirt__vm_delete(void *priv, const agent_call_t *call, const char *hypervisor_id,
                             agent_err_t *err);
int agent_libvirt__vm_power(void *priv, const agent_call_t *call, const char *hypervisor_id,
                            agent_power_op_t op, agent_err_t *err);
int agent_libvirt__vm_release(void *priv, const agent_call_t *call, const char *hypervisor_id,
                              agent_err_t *err);
int agent_libvirt__vm_reconfigure(void *priv, const agent_call_t *call, const char *hypervisor_id,
                                  int cores, int memory_mb, agent_err_t *err);
int agent_libvirt__disk_attach(void *priv, const agent_call_t *call, const char *hypervisor_id,
                               const agent_disk_spec_t *disk, agent_err_t *err);
int agent_libvirt__disk_detach(void *priv, const agent_call_t *call, const char *hypervisor_id,
                               int lun, agent_err_t *err);
int agent_libvirt__checkpoint_create(void *priv, const agent_call_t *call,
                                     const char *hypervisor_id, const char *name,
                                     char checkpoint_id[AGENT_ID_MAX], agent_err_t *err);
int agent_libvirt__checkpoint_delete(void *priv, const agent_call_t *call,
                                     const char *hypervisor_id, const char *checkpoint_id,
                                     agent_err_t *err);
int agent_libvirt__checkpoint_restore(void *priv, const agent_call_t *call,
                                      const char *hypervisor_id, const char *checkpoint_id,
                                      agent_err_t *err);
int agent_libvirt__inventory(void *priv, const agent_call_t *call, agent_vm_list_t *vms,
                             agent_err_t *err);
int agent_libvirt__host_info(void *priv, const agent_call_t *call, agent_host_info_t *info,
                             agent_err_t *err);
int agent_libvirt__volume_snapshot(void *priv, const agent_call_t *call, const char *hypervisor_id,
                                   int lun, const char *volume_id, int64_t *size_gb,
                                   agent_err_t *err);
int agent_libvirt__volume_copy(void *priv, const agent_call_t *call, const agent_volume_src_t *src,
                               const char *volume_id, agent_err_t *err);
int agent_libvirt__volume_delete(void *priv, const agent_call_t *call, const char *volume_id,
                                 agent_err_t *err);
int agent_libvirt__vm_import(void *priv, const agent_call_t *call, const agent_vm_spec_t *spec,
                             const agent_vm_source_t *src, char hypervisor_id[AGENT_ID_MAX],
                             agent_err_t *err);

#endif
