/*
 * image.h: what lib/vm's image modules share (capture.c makes private images, image.c serves and deletes
 * them, create.c and disk.c make disks from them and from snapshots). Not for api/.
 *
 * A private image keeps each captured disk as a volume on its host (_hostId), named after the image:
 * "<imageId>-os" for the OS disk and "<imageId>-lun<N>" for the data disk at lun N. A snapshot is the
 * volume named by its own id. A job that reads a volume (a clone into a new VM or disk) holds a lease on
 * the record that owns it from the request to the job's end (lib/lease.h).
 */
#ifndef WAPD_VM_IMAGE_H
#define WAPD_VM_IMAGE_H

#include <stdbool.h>

#include <jansson.h>

#include "../err.h"
#include "../job.h"
#include "../store.h"
#include "vmrec.h"

#define VM_VOLUME_ID_MAX 64

/* The volume id of disk lun (-1: the OS disk) of private image image_id, into out. */
void vm_image__volume_id(const char *image_id, int lun, char out[VM_VOLUME_ID_MAX]);
/* The volumes of a private image record (borrowed): a new array of {lun (null: the OS disk), volumeId},
 * the OS disk first; NULL when out of memory. */
json_t *vm_image__volumes(const json_t *rec);
/* A private image record's view (a new reference; NULL when out of memory): the API's fields and
 * "visibility": "private"; no key starts with '_'. */
json_t *vm_image__view(const json_t *rec);
/* Deletes every volume of volumes (as vm_image__volumes makes them) from host host_id; one that is gone,
 * or a host that is gone, counts as done. op prefixes the agent calls' operation ids. */
job_step_result_t vm_image__delete_volumes(store_t *st, const char *host_id, const json_t *volumes,
                                           const char *op, err_t *err);

/* The sources a new VM or disk is cloned from, collected by the request: a JSON object kept in the job's
 * params, {"volumes": {"<lun>" or "os": volumeId}, "leases": [{"kind": "image"|"snapshot", "id"}]}. */
/* Looks up the ready private image id of subscription sid in cloud cloud_id: 1 with the record (a new
 * reference) in *out, 0 when there is none that fits (err untouched), -1 with err. */
int vm_image__lookup_usable(store_t *st, const char *sid, const char *cloud_id, const char *id,
                            json_t **out, err_t *err);
/* Checks that snapshot id is a ready snapshot of subscription sid in cloud cloud_id (else 400 naming
 * target), takes a lease on it in the caller's transaction and records it in sources as the volume of lun
 * (-1: the OS disk). Writes its size to *size_gb. */
int vm_image__use_snapshot(store_t *st, const char *sid, const char *cloud_id, const char *id, int lun,
                           const char *target, json_t *sources, int64_t *size_gb, err_t *err);
/* Takes a lease on private image id (in the caller's transaction) and records its volumes in sources. */
int vm_image__use_image(store_t *st, const json_t *image, json_t *sources, err_t *err);
/* Gives back every lease recorded in sources (a job's params; NULL: none), in the caller's transaction. */
int vm_image__give_leases(store_t *st, const json_t *sources, err_t *err);
/* The volume recorded in sources for lun (-1: the OS disk), or NULL. */
const char *vm_image__source_volume(const json_t *sources, int lun);
/* The cloud of host host_id into out ("" when it has none): 0, or -1 with err. */
int vm_image__host_cloud(store_t *st, const char *host_id, char out[VM_REC_ID_MAX], err_t *err);

/* For a subscription's delete, once it has no VM: removes every private image of sid that nothing holds,
 * in the caller's transaction, as a DELETE does. 1 when none is left, 0 when some must be waited for (being
 * made, or leased), -1 with err. */
int vm_image__remove_all(store_t *st, const char *sid, err_t *err);

/* The kinds of capture.c and image.c; vm_jobs_register registers them. */
int vm_capture_kinds_register(void);
int vm_image_kinds_register(void);

#endif
