/*
 * wire.h: the JSON codecs of the wapd-agent protocol (schemas/agent.yaml), shared by the two ends
 * that speak it: wapd's http driver and the wapd-agent daemon.
 *
 * It turns the typed values of lib/agent.h into the bodies of the protocol and back (the VM spec, a
 * disk to attach, a resize, a checkpoint name, the host's description, the progress of a long
 * operation, an error, a disk's snapshot, a volume's copy, a VM's import), maps agent_status_t to
 * HTTP statuses and back (one table), and checks the syntax of the Operation-Id and
 * Request-Timeout-Ms headers and of ids in paths. A VM's inventory
 * entry is agent_vm_info_to_json/from_json of lib/agent.h.
 *
 * Invariants: the encoders answer a new reference (NULL only when memory runs out) and never fail
 * on a value the decoders accept; the decoders are strict (an unknown key, a missing required key,
 * a value of the wrong type or out of range is a permanent error whose message names the field, and
 * *out is then unspecified); a decoded value round-trips through its encoder unchanged. Nothing
 * here keeps state: every function is safe from any thread.
 */
#ifndef WAPD_AGENT_WIRE_H
#define WAPD_AGENT_WIRE_H

#include <stdbool.h>

#include <jansson.h>

#include "../agent.h"

#define AGENT_WIRE_BODY_MAX (64 * 1024)        /* larger bodies are 413 */
#define AGENT_WIRE_OP_ID_HEADER "Operation-Id" /* 1..64 chars of [A-Za-z0-9._:-] */
#define AGENT_WIRE_OP_ID_MAX 64
#define AGENT_WIRE_TIMEOUT_HEADER "Request-Timeout-Ms" /* 1..600000 */
#define AGENT_WIRE_TIMEOUT_MAX_MS 600000
#define AGENT_WIRE_LUN_MAX 63 /* data disks use luns 0..63 */

/* ---- statuses and errors ---- */

/* The HTTP status and error code the agent answers for a backend status: AGENT_OK 200 (code NULL),
 * AGENT_PENDING 202 (code NULL), not found 404, conflict 409, a permanent refusal 422 HostFailed,
 * unsupported 501, transient and unreachable (the backend, e.g. libvirtd, is down) 503 Unavailable,
 * timeout 504. *code (optional) is a static string. */
int agent_wire_http_of_status(agent_status_t status, const char **code);
/* The agent_status_t an HTTP status stands for, per the protocol's table: 200-299 but 202 AGENT_OK,
 * 202 AGENT_PENDING, a 4xx or 5xx of the table its status, any other 5xx transient, anything else
 * permanent. */
agent_status_t agent_wire_status_of_http(int http);
/* The error code of the table for an HTTP status ("BadRequest", …), or NULL when it has none. */
const char *agent_wire_code_of_http(int http);

/* {"error": {"code", "message"}}: a new reference, NULL when out of memory; borrows both. */
json_t *agent_wire_error_json(const char *code, const char *message);
/* Sets *err from an HTTP answer that was not 2xx: the status from the table, the message from
 * body's error.message when body (borrowed, may be NULL) carries one, else a sentence naming the
 * status (a 401: "the agent refused the token"). Returns -1. */
int agent_wire_error_from_http(int http, const json_t *body, agent_err_t *err);

/* ---- headers and path segments ---- */

/* True when s is an Operation-Id: 1..AGENT_WIRE_OP_ID_MAX chars of [A-Za-z0-9._:-]. */
bool agent_wire_op_id_valid(const char *s);
/* True when s may name a VM or checkpoint in a path: 1..AGENT_ID_MAX-1 chars of [A-Za-z0-9._:-]. */
bool agent_wire_path_id_valid(const char *s);
/* Parses a Request-Timeout-Ms value (digits, 1..AGENT_WIRE_TIMEOUT_MAX_MS) into *ms; 0 or -1. */
int agent_wire_timeout_parse(const char *s, int *ms);
/* The path segment of a power action: "start", "stop", "shutdown", "restart" (POST
 * /v1/vms/{hyp}/<it>); releasing a VM's compute is AGENT_WIRE_RELEASE_ACTION. */
const char *agent_wire_power_action(agent_power_op_t op);
#define AGENT_WIRE_RELEASE_ACTION "deallocate"
/* Parses a lun of a path (digits only, 0..AGENT_WIRE_LUN_MAX) into *lun; 0 or -1. */
int agent_wire_lun_parse(const char *s, int *lun);

/* ---- the VM spec (POST /v1/vms) ---- */

/* A decoded VmSpec: spec points into the buffers beside it, so the whole lives and moves as one
 * value (copying it by value is not allowed: spec would point into the original; use
 * agent_wire_spec_from_json again). */
typedef struct {
    agent_vm_spec_t spec;
    agent_disk_spec_t disks[AGENT_MAX_DISKS];
    agent_nic_spec_t nics[AGENT_MAX_NICS];
    char vm_id[AGENT_ID_MAX];
    char name[AGENT_NAME_MAX];
    char image_ids[AGENT_MAX_DISKS][AGENT_ID_MAX];
    char volume_ids[AGENT_MAX_DISKS][AGENT_ID_MAX];
    char network_ids[AGENT_MAX_NICS][AGENT_ID_MAX];
    char macs[AGENT_MAX_NICS][AGENT_MAC_MAX];
    char ips[AGENT_MAX_NICS][AGENT_ADDR_MAX];
} agent_wire_spec_t;

/* {"id", "name", "cores", "memoryMB", "dynamicMemory": null|{"minimumMB", "maximumMB"},
 * "generation", "disks": [{"lun": null|N, "sizeGB", "caching", "imageId", "volumeId"}], "nics":
 * [{"networkId", "macAddress", "ipAddress"}]}. Borrows spec. */
json_t *agent_wire_spec_to_json(const agent_vm_spec_t *spec);
/* Reads a VmSpec (borrowed) into *out: disks[0] is the OS disk (lun null), the others data disks
 * with distinct luns; dynamicMemory, imageId, volumeId and ipAddress may be missing or null. 0,
 * or -1 with a permanent error naming the field. */
int agent_wire_spec_from_json(const json_t *j, agent_wire_spec_t *out, agent_err_t *err);

/* ---- a disk to attach (PUT /v1/vms/{hyp}/disks/{lun}) ---- */

typedef struct {
    agent_disk_spec_t disk;
    char volume_id[AGENT_ID_MAX];
} agent_wire_disk_t;

/* {"sizeGB", "caching", "volumeId": s|null}: the lun is in the path, a data disk has no image. */
json_t *agent_wire_disk_to_json(const agent_disk_spec_t *disk);
/* Reads the body of a disk attach for the lun of the path into *out (volumeId may be missing). */
int agent_wire_disk_from_json(const json_t *j, int lun, agent_wire_disk_t *out, agent_err_t *err);

/* ---- resize and checkpoint bodies ---- */

/* {"cores", "memoryMB"}, both >= 1. */
json_t *agent_wire_resize_to_json(int cores, int memory_mb);
int agent_wire_resize_from_json(const json_t *j, int *cores, int *memory_mb, agent_err_t *err);
/* {"name"}: 1..AGENT_NAME_MAX-1 chars; out holds AGENT_NAME_MAX. */
json_t *agent_wire_checkpoint_to_json(const char *name);
int agent_wire_checkpoint_from_json(const json_t *j, char out[AGENT_NAME_MAX], agent_err_t *err);

/* ---- the host (GET /v1/host) ---- */

/* {"name", "backend", "version", "capacity": {"cores", "memoryMB", "storageGB"}, "vms",
 * "used": {"cores", "memoryMB"}}. */
json_t *agent_wire_host_to_json(const agent_host_info_t *host);
int agent_wire_host_from_json(const json_t *j, agent_host_info_t *out, agent_err_t *err);

/* ---- volumes (wire_volume.c) ----
 *
 * A volume id travels in paths (PUT and DELETE /v1/volumes/{volumeId}) and in bodies: in both it is
 * 1..AGENT_ID_MAX-1 characters of [A-Za-z0-9._:-] (agent_wire_path_id_valid). */

/* The disk segment of a snapshot's path (POST /v1/vms/{hyp}/disks/{disk}/snapshot): the OS disk. */
#define AGENT_WIRE_OS_DISK "os"
/* Parses that segment: AGENT_WIRE_OS_DISK (-1) or a lun (agent_wire_lun_parse); 0 or -1. */
int agent_wire_disk_parse(const char *s, int *lun);
/* Writes the segment of lun (-1: the OS disk) into out[16]. */
void agent_wire_disk_segment(int lun, char out[16]);

/* A snapshot's body {"volumeId"}; out holds AGENT_ID_MAX. */
json_t *agent_wire_snapshot_to_json(const char *volume_id);
int agent_wire_snapshot_from_json(const json_t *j, char out[AGENT_ID_MAX], agent_err_t *err);
/* A snapshot's answer {"sizeGB"} (1..65536 GB), which may also carry the final "progress" of a
 * long snapshot (agent_wire_progress_from_json reads that). */
json_t *agent_wire_size_to_json(int64_t size_gb);
int agent_wire_size_from_json(const json_t *j, int64_t *size_gb, agent_err_t *err);

/* A decoded copy body: src points into the buffers beside it (do not copy it by value). */
typedef struct {
    agent_volume_src_t src;
    char host_id[AGENT_ID_MAX];
    char volume_id[AGENT_ID_MAX];
} agent_wire_copy_t;

/* A copy's body (PUT /v1/volumes/{volumeId}): {"source": {"hostId", "volumeId", "sizeGB"}}.
 * Borrows src. */
json_t *agent_wire_copy_to_json(const agent_volume_src_t *src);
int agent_wire_copy_from_json(const json_t *j, agent_wire_copy_t *out, agent_err_t *err);

/* A decoded import body: spec and src point into the buffers beside them (do not copy it by
 * value; it is large: allocate it). */
typedef struct {
    agent_wire_spec_t spec;
    agent_vm_source_t src;
    char host_id[AGENT_ID_MAX];
    char hypervisor_id[AGENT_ID_MAX];
    char checkpoints[AGENT_MAX_CHECKPOINTS][AGENT_NAME_MAX];
    const char *checkpoint_names[AGENT_MAX_CHECKPOINTS];
} agent_wire_import_t;

/* An import's body (POST /v1/vms/import): a VmSpec with one more field, "source": {"hostId",
 * "hypervisorId", "powerState" (running, stopped or deallocated), "checkpoints": [name, …] (at most
 * AGENT_MAX_CHECKPOINTS distinct names)}. Borrows spec and src. */
json_t *agent_wire_import_to_json(const agent_vm_spec_t *spec, const agent_vm_source_t *src);
int agent_wire_import_from_json(const json_t *j, agent_wire_import_t *out, agent_err_t *err);

/* ---- long operations (202) ---- */

/* {"status": "Running", "progress": {"bytesCopied", "bytesTotal"}}; NULL progress: zeros. */
json_t *agent_wire_pending_json(const agent_progress_t *progress);
/* {"bytesCopied", "bytesTotal"}: the progress member of a 202, and of the 200 that ends a long
 * operation (the bytes it copied, beside the answer's other members). */
json_t *agent_wire_progress_json(const agent_progress_t *progress);
/* Reads the progress member of a 202 or 200 body (zeros when it has none); -1 with a permanent
 * error when malformed. */
int agent_wire_progress_from_json(const json_t *j, agent_progress_t *out, agent_err_t *err);

#endif
