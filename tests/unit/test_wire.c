/* Unit tests of lib/agent/wire: the wapd-agent protocol's codecs round-trip every value they
 * accept, refuse every malformed body naming the field at fault, and map statuses both ways as the
 * protocol's table says. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <jansson.h>

#include "../../lib/agent/wire.h"

/* Parses a test body (the test's own text: it must be JSON). */
static json_t *
load(const char *text)
{
    json_error_t jerr;
    json_t *j = json_loads(text, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);

    if (j == NULL)
        fail_msg("test body does not parse: %s: %s", text, jerr.text);
    return j;
}

static void
full_spec(agent_vm_spec_t *spec, agent_disk_spec_t disks[3], agent_nic_spec_t nics[2])
{
    memset(spec, 0, sizeof(*spec));
    disks[0] = (agent_disk_spec_t){-1, 40, AGENT_CACHING_READ_WRITE, "img-1", NULL};
    disks[1] = (agent_disk_spec_t){0, 10, AGENT_CACHING_NONE, NULL, NULL};
    disks[2] = (agent_disk_spec_t){5, 20, AGENT_CACHING_READ_ONLY, NULL, "vol-9"};
    nics[0] = (agent_nic_spec_t){"net-a", "00:15:5d:01:02:03", "10.0.0.4"};
    nics[1] = (agent_nic_spec_t){"net-b", "00:15:5D:aa:bb:cc", NULL};
    spec->vm_id = "0b6e6c1e-7b57-4b2a-9d43-3f1f7f6a2a10";
    spec->name = "web-1";
    spec->cores = 2;
    spec->memory_mb = 2048;
    spec->memory_min_mb = 512;
    spec->memory_max_mb = 4096;
    spec->generation = 2;
    spec->disks = disks;
    spec->ndisks = 3;
    spec->nics = nics;
    spec->nnics = 2;
}

static void
spec_round_trips(void **state)
{
    agent_vm_spec_t spec;
    agent_disk_spec_t disks[3];
    agent_nic_spec_t nics[2];
    agent_wire_spec_t *w = calloc(1, sizeof(*w));
    agent_err_t err = {0};
    json_t *j, *again;
    char *text;

    (void) state;
    full_spec(&spec, disks, nics);
    j = agent_wire_spec_to_json(&spec);
    assert_non_null(j);
    text = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    j = load(text);
    free(text);
    assert_int_equal(agent_wire_spec_from_json(j, w, &err), 0);
    assert_string_equal(w->spec.vm_id, spec.vm_id);
    assert_string_equal(w->spec.name, "web-1");
    assert_int_equal(w->spec.cores, 2);
    assert_int_equal(w->spec.memory_mb, 2048);
    assert_int_equal(w->spec.memory_min_mb, 512);
    assert_int_equal(w->spec.memory_max_mb, 4096);
    assert_int_equal(w->spec.generation, 2);
    assert_int_equal(w->spec.ndisks, 3);
    assert_int_equal(w->spec.disks[0].lun, -1);
    assert_string_equal(w->spec.disks[0].image_id, "img-1");
    assert_null(w->spec.disks[0].volume_id);
    assert_int_equal(w->spec.disks[0].caching, AGENT_CACHING_READ_WRITE);
    assert_int_equal(w->spec.disks[1].lun, 0);
    assert_null(w->spec.disks[1].image_id);
    assert_int_equal(w->spec.disks[2].lun, 5);
    assert_int_equal(w->spec.disks[2].size_gb, 20);
    assert_string_equal(w->spec.disks[2].volume_id, "vol-9");
    assert_int_equal(w->spec.nnics, 2);
    assert_string_equal(w->spec.nics[0].network_id, "net-a");
    assert_string_equal(w->spec.nics[0].ip, "10.0.0.4");
    assert_string_equal(w->spec.nics[1].mac, "00:15:5D:aa:bb:cc");
    assert_null(w->spec.nics[1].ip);
    again = agent_wire_spec_to_json(&w->spec);
    assert_true(json_equal(j, again));
    json_decref(again);
    json_decref(j);
    free(w);
}

static void
spec_static_memory_is_null_and_optional_fields_may_be_missing(void **state)
{
    agent_wire_spec_t *w = calloc(1, sizeof(*w));
    agent_err_t err = {0};
    json_t *j, *again;

    (void) state;
    j = load("{\"id\": \"v1\", \"name\": \"n\", \"cores\": 1, \"memoryMB\": 512, \"generation\": 1,"
             " \"disks\": [{\"sizeGB\": 1, \"caching\": \"None\"}], \"nics\": []}");
    assert_int_equal(agent_wire_spec_from_json(j, w, &err), 0);
    assert_int_equal(w->spec.memory_min_mb, 0);
    assert_int_equal(w->spec.memory_max_mb, 0);
    assert_int_equal(w->spec.ndisks, 1);
    assert_int_equal(w->spec.disks[0].lun, -1);
    assert_null(w->spec.disks[0].image_id);
    assert_int_equal(w->spec.nnics, 0);
    again = agent_wire_spec_to_json(&w->spec);
    assert_true(json_is_null(json_object_get(again, "dynamicMemory")));
    assert_true(
        json_is_null(json_object_get(json_array_get(json_object_get(again, "disks"), 0), "lun")));
    json_decref(again);
    json_decref(j);
    free(w);
}

/* Each malformed body with a word its error must contain. */
static const struct {
    const char *text;
    const char *needle;
} bad_specs[] = {
    {"[]", "JSON object"},
    {"{\"id\": \"v\", \"name\": \"n\", \"cores\": 1, \"memoryMB\": 1, \"generation\": 1, "
     "\"disks\": "
     "[{\"sizeGB\": 1, \"caching\": \"None\"}], \"nics\": [], \"extra\": 1}",
     "extra"},
    {"{\"name\": \"n\", \"cores\": 1, \"memoryMB\": 1, \"generation\": 1, \"disks\": [{\"sizeGB\": "
     "1, \"caching\": \"None\"}], \"nics\": []}",
     "'id'"},
    {"{\"id\": \"\", \"name\": \"n\", \"cores\": 1, \"memoryMB\": 1, \"generation\": 1, \"disks\": "
     "[{\"sizeGB\": 1, \"caching\": \"None\"}], \"nics\": []}",
     "'id'"},
    {"{\"id\": \"0123456789012345678901234567890123456789012345678901234567890123\", \"name\": "
     "\"n\", \"cores\": 1, \"memoryMB\": 1, \"generation\": 1, \"disks\": [{\"sizeGB\": 1, "
     "\"caching\": \"None\"}], \"nics\": []}",
     "'id'"},
    {"{\"id\": 7, \"name\": \"n\", \"cores\": 1, \"memoryMB\": 1, \"generation\": 1, \"disks\": "
     "[{\"sizeGB\": 1, \"caching\": \"None\"}], \"nics\": []}",
     "'id'"},
    {"{\"id\": \"v\", \"name\": null, \"cores\": 1, \"memoryMB\": 1, \"generation\": 1, \"disks\": "
     "[{\"sizeGB\": 1, \"caching\": \"None\"}], \"nics\": []}",
     "'name'"},
    {"{\"id\": \"v\", \"name\": \"n\", \"cores\": 0, \"memoryMB\": 1, \"generation\": 1, "
     "\"disks\": "
     "[{\"sizeGB\": 1, \"caching\": \"None\"}], \"nics\": []}",
     "'cores'"},
    {"{\"id\": \"v\", \"name\": \"n\", \"cores\": \"2\", \"memoryMB\": 1, \"generation\": 1, "
     "\"disks\": [{\"sizeGB\": 1, \"caching\": \"None\"}], \"nics\": []}",
     "'cores'"},
    {"{\"id\": \"v\", \"name\": \"n\", \"cores\": 1, \"memoryMB\": 1.5, \"generation\": 1, "
     "\"disks\": [{\"sizeGB\": 1, \"caching\": \"None\"}], \"nics\": []}",
     "'memoryMB'"},
    {"{\"id\": \"v\", \"name\": \"n\", \"cores\": 1, \"memoryMB\": 1, \"generation\": 3, "
     "\"disks\": "
     "[{\"sizeGB\": 1, \"caching\": \"None\"}], \"nics\": []}",
     "'generation'"},
    {"{\"id\": \"v\", \"name\": \"n\", \"cores\": 1, \"memoryMB\": 1, \"generation\": 1, "
     "\"dynamicMemory\": {\"minimumMB\": 9, \"maximumMB\": 8}, \"disks\": [{\"sizeGB\": 1, "
     "\"caching\": \"None\"}], \"nics\": []}",
     "minimumMB"},
    {"{\"id\": \"v\", \"name\": \"n\", \"cores\": 1, \"memoryMB\": 1, \"generation\": 1, "
     "\"dynamicMemory\": {\"minimumMB\": 1}, \"disks\": [{\"sizeGB\": 1, \"caching\": \"None\"}], "
     "\"nics\": []}",
     "dynamicMemory.maximumMB"},
    {"{\"id\": \"v\", \"name\": \"n\", \"cores\": 1, \"memoryMB\": 1, \"generation\": 1, "
     "\"dynamicMemory\": 5, \"disks\": [{\"sizeGB\": 1, \"caching\": \"None\"}], \"nics\": []}",
     "dynamicMemory"},
    {"{\"id\": \"v\", \"name\": \"n\", \"cores\": 1, \"memoryMB\": 1, \"generation\": 1, "
     "\"dynamicMemory\": {\"minimumMB\": 1, \"maximumMB\": 2, \"x\": 1}, \"disks\": [{\"sizeGB\": "
     "1, "
     "\"caching\": \"None\"}], \"nics\": []}",
     "dynamicMemory.x"},
    {"{\"id\": \"v\", \"name\": \"n\", \"cores\": 1, \"memoryMB\": 1, \"generation\": 1, "
     "\"disks\": "
     "[], \"nics\": []}",
     "'disks'"},
    {"{\"id\": \"v\", \"name\": \"n\", \"cores\": 1, \"memoryMB\": 1, \"generation\": 1, "
     "\"disks\": "
     "{}, \"nics\": []}",
     "'disks'"},
    {"{\"id\": \"v\", \"name\": \"n\", \"cores\": 1, \"memoryMB\": 1, \"generation\": 1, "
     "\"disks\": "
     "[{\"lun\": 0, \"sizeGB\": 1, \"caching\": \"None\"}], \"nics\": []}",
     "disks[0].lun"},
    {"{\"id\": \"v\", \"name\": \"n\", \"cores\": 1, \"memoryMB\": 1, \"generation\": 1, "
     "\"disks\": "
     "[{\"sizeGB\": 1, \"caching\": \"None\"}, {\"sizeGB\": 1, \"caching\": \"None\"}], \"nics\": "
     "[]}",
     "disks[1].lun"},
    {"{\"id\": \"v\", \"name\": \"n\", \"cores\": 1, \"memoryMB\": 1, \"generation\": 1, "
     "\"disks\": "
     "[{\"sizeGB\": 1, \"caching\": \"None\"}, {\"lun\": 64, \"sizeGB\": 1, \"caching\": "
     "\"None\"}], "
     "\"nics\": []}",
     "disks[1].lun"},
    {"{\"id\": \"v\", \"name\": \"n\", \"cores\": 1, \"memoryMB\": 1, \"generation\": 1, "
     "\"disks\": "
     "[{\"sizeGB\": 1, \"caching\": \"None\"}, {\"lun\": 3, \"sizeGB\": 1, \"caching\": \"None\"}, "
     "{\"lun\": 3, \"sizeGB\": 2, \"caching\": \"None\"}], \"nics\": []}",
     "used twice"},
    {"{\"id\": \"v\", \"name\": \"n\", \"cores\": 1, \"memoryMB\": 1, \"generation\": 1, "
     "\"disks\": "
     "[{\"sizeGB\": 0, \"caching\": \"None\"}], \"nics\": []}",
     "disks[0].sizeGB"},
    {"{\"id\": \"v\", \"name\": \"n\", \"cores\": 1, \"memoryMB\": 1, \"generation\": 1, "
     "\"disks\": "
     "[{\"sizeGB\": 1, \"caching\": \"Fast\"}], \"nics\": []}",
     "disks[0].caching"},
    {"{\"id\": \"v\", \"name\": \"n\", \"cores\": 1, \"memoryMB\": 1, \"generation\": 1, "
     "\"disks\": "
     "[{\"sizeGB\": 1, \"caching\": \"None\", \"imageId\": 3}], \"nics\": []}",
     "disks[0].imageId"},
    {"{\"id\": \"v\", \"name\": \"n\", \"cores\": 1, \"memoryMB\": 1, \"generation\": 1, "
     "\"disks\": "
     "[{\"sizeGB\": 1, \"caching\": \"None\", \"bus\": \"scsi\"}], \"nics\": []}",
     "disks[0].bus"},
    {"{\"id\": \"v\", \"name\": \"n\", \"cores\": 1, \"memoryMB\": 1, \"generation\": 1, "
     "\"disks\": "
     "[1], \"nics\": []}",
     "disks[0]"},
    {"{\"id\": \"v\", \"name\": \"n\", \"cores\": 1, \"memoryMB\": 1, \"generation\": 1, "
     "\"disks\": "
     "[{\"sizeGB\": 1, \"caching\": \"None\"}]}",
     "'nics'"},
    {"{\"id\": \"v\", \"name\": \"n\", \"cores\": 1, \"memoryMB\": 1, \"generation\": 1, "
     "\"disks\": "
     "[{\"sizeGB\": 1, \"caching\": \"None\"}], \"nics\": [{\"macAddress\": "
     "\"00:15:5d:00:00:01\"}]}",
     "nics[0].networkId"},
    {"{\"id\": \"v\", \"name\": \"n\", \"cores\": 1, \"memoryMB\": 1, \"generation\": 1, "
     "\"disks\": "
     "[{\"sizeGB\": 1, \"caching\": \"None\"}], \"nics\": [{\"networkId\": \"a\", \"macAddress\": "
     "\"00-15-5d-00-00-01\"}]}",
     "nics[0].macAddress"},
    {"{\"id\": \"v\", \"name\": \"n\", \"cores\": 1, \"memoryMB\": 1, \"generation\": 1, "
     "\"disks\": "
     "[{\"sizeGB\": 1, \"caching\": \"None\"}], \"nics\": [{\"networkId\": \"a\", \"macAddress\": "
     "\"00:15:5d:00:00:01\", \"ipAddress\": \"10.0.0.256\"}]}",
     "nics[0].ipAddress"},
    {"{\"id\": \"v\", \"name\": \"n\", \"cores\": 1, \"memoryMB\": 1, \"generation\": 1, "
     "\"disks\": "
     "[{\"sizeGB\": 1, \"caching\": \"None\"}], \"nics\": [{\"networkId\": \"a\", \"macAddress\": "
     "\"00:15:5d:00:00:01\", \"vlan\": 4}]}",
     "nics[0].vlan"},
};

static void
spec_refuses_every_malformed_body(void **state)
{
    agent_wire_spec_t *w = calloc(1, sizeof(*w));
    agent_err_t err;
    json_t *j;
    size_t i;

    (void) state;
    for (i = 0; i < sizeof(bad_specs) / sizeof(bad_specs[0]); i++) {
        memset(&err, 0, sizeof(err));
        j = load(bad_specs[i].text);
        if (agent_wire_spec_from_json(j, w, &err) != -1)
            fail_msg("case %zu was accepted: %s", i, bad_specs[i].text);
        assert_int_equal(err.status, AGENT_ERR_PERMANENT);
        if (strstr(err.message, bad_specs[i].needle) == NULL)
            fail_msg("case %zu: '%s' does not name %s", i, err.message, bad_specs[i].needle);
        json_decref(j);
    }
    free(w);
}

static void
disk_round_trips_and_refuses_malformed(void **state)
{
    agent_disk_spec_t d = {7, 30, AGENT_CACHING_READ_ONLY, NULL, "vol-1"};
    agent_wire_disk_t w;
    agent_err_t err = {0};
    json_t *j, *again, *bad;
    static const char *const bad_texts[] = {
        "{\"caching\": \"None\"}",
        "{\"sizeGB\": 1}",
        "{\"sizeGB\": 1, \"caching\": \"None\", \"lun\": 2}",
        "{\"sizeGB\": 1, \"caching\": \"None\", \"imageId\": \"x\"}",
        "{\"sizeGB\": 1, \"caching\": \"None\", \"volumeId\": \"\"}",
        "{\"sizeGB\": -1, \"caching\": \"None\"}",
        "\"disk\"",
    };
    size_t i;

    (void) state;
    j = agent_wire_disk_to_json(&d);
    assert_non_null(j);
    assert_null(json_object_get(j, "lun"));
    assert_int_equal(agent_wire_disk_from_json(j, 7, &w, &err), 0);
    assert_int_equal(w.disk.lun, 7);
    assert_int_equal(w.disk.size_gb, 30);
    assert_int_equal(w.disk.caching, AGENT_CACHING_READ_ONLY);
    assert_string_equal(w.disk.volume_id, "vol-1");
    assert_null(w.disk.image_id);
    again = agent_wire_disk_to_json(&w.disk);
    assert_true(json_equal(j, again));
    json_decref(again);
    json_decref(j);
    for (i = 0; i < sizeof(bad_texts) / sizeof(bad_texts[0]); i++) {
        bad = load(bad_texts[i]);
        if (agent_wire_disk_from_json(bad, 0, &w, &err) != -1)
            fail_msg("disk case %zu was accepted", i);
        assert_int_equal(err.status, AGENT_ERR_PERMANENT);
        json_decref(bad);
    }
}

static void
resize_and_checkpoint_bodies(void **state)
{
    agent_err_t err = {0};
    char name[AGENT_NAME_MAX];
    int cores = 0, mem = 0;
    json_t *j;
    char longname[AGENT_NAME_MAX + 8];

    (void) state;
    j = agent_wire_resize_to_json(4, 8192);
    assert_int_equal(agent_wire_resize_from_json(j, &cores, &mem, &err), 0);
    assert_int_equal(cores, 4);
    assert_int_equal(mem, 8192);
    json_decref(j);
    j = load("{\"cores\": 4}");
    assert_int_equal(agent_wire_resize_from_json(j, &cores, &mem, &err), -1);
    assert_non_null(strstr(err.message, "memoryMB"));
    json_decref(j);
    j = load("{\"cores\": 0, \"memoryMB\": 1}");
    cores = 99;
    assert_int_equal(agent_wire_resize_from_json(j, &cores, &mem, &err), -1);
    assert_int_equal(cores, 99); /* out-params untouched on failure */
    json_decref(j);
    j = load("{\"cores\": 1, \"memoryMB\": 1, \"disks\": 1}");
    assert_int_equal(agent_wire_resize_from_json(j, &cores, &mem, &err), -1);
    json_decref(j);

    j = agent_wire_checkpoint_to_json("before-upgrade");
    assert_int_equal(agent_wire_checkpoint_from_json(j, name, &err), 0);
    assert_string_equal(name, "before-upgrade");
    json_decref(j);
    memset(longname, 'a', sizeof(longname) - 1);
    longname[sizeof(longname) - 1] = '\0';
    j = agent_wire_checkpoint_to_json(longname);
    assert_int_equal(agent_wire_checkpoint_from_json(j, name, &err), -1);
    json_decref(j);
    j = load("{\"name\": \"a\", \"vm\": \"b\"}");
    assert_int_equal(agent_wire_checkpoint_from_json(j, name, &err), -1);
    json_decref(j);
    j = load("{}");
    assert_int_equal(agent_wire_checkpoint_from_json(j, name, &err), -1);
    assert_int_equal(err.status, AGENT_ERR_PERMANENT);
    json_decref(j);
}

static void
host_round_trips_and_refuses_malformed(void **state)
{
    agent_host_info_t h = {.name = "hv-01",
                           .backend = "sim",
                           .version = "0.1.0",
                           .cores = 64,
                           .memory_mb = 262144,
                           .storage_gb = 10000,
                           .vms = 3,
                           .used_cores = 6,
                           .used_memory_mb = 12288};
    agent_host_info_t back;
    agent_err_t err = {0};
    json_t *j, *again;

    (void) state;
    j = agent_wire_host_to_json(&h);
    assert_non_null(j);
    assert_int_equal(agent_wire_host_from_json(j, &back, &err), 0);
    assert_memory_equal(&h, &back, sizeof(h));
    again = agent_wire_host_to_json(&back);
    assert_true(json_equal(j, again));
    json_decref(again);
    json_object_del(json_object_get(j, "capacity"), "storageGB");
    assert_int_equal(agent_wire_host_from_json(j, &back, &err), -1);
    assert_non_null(strstr(err.message, "capacity.storageGB"));
    json_object_set_new(json_object_get(j, "capacity"), "storageGB", json_integer(-1));
    assert_int_equal(agent_wire_host_from_json(j, &back, &err), -1);
    json_object_set_new(json_object_get(j, "capacity"), "storageGB", json_integer(1));
    assert_int_equal(agent_wire_host_from_json(j, &back, &err), 0);
    json_object_set_new(j, "used", json_string("none"));
    assert_int_equal(agent_wire_host_from_json(j, &back, &err), -1);
    assert_non_null(strstr(err.message, "used"));
    json_decref(j);
}

static void
progress_of_pending_answers(void **state)
{
    agent_progress_t p = {1024, 4096}, back = {9, 9};
    agent_err_t err = {0};
    json_t *j;

    (void) state;
    j = agent_wire_pending_json(&p);
    assert_string_equal(json_string_value(json_object_get(j, "status")), "Running");
    assert_int_equal(agent_wire_progress_from_json(j, &back, &err), 0);
    assert_int_equal(back.bytes_copied, 1024);
    assert_int_equal(back.bytes_total, 4096);
    json_decref(j);
    j = agent_wire_pending_json(NULL);
    assert_int_equal(agent_wire_progress_from_json(j, &back, &err), 0);
    assert_int_equal(back.bytes_total, 0);
    json_decref(j);
    j = load(
        "{\"status\": \"Running\", \"progress\": {\"bytesCopied\": \"1\", \"bytesTotal\": 2}}");
    assert_int_equal(agent_wire_progress_from_json(j, &back, &err), -1);
    assert_non_null(strstr(err.message, "progress.bytesCopied"));
    json_decref(j);
}

static void
status_table_maps_both_ways(void **state)
{
    static const agent_status_t round[] = {
        AGENT_OK,           AGENT_PENDING,         AGENT_ERR_NOT_FOUND,
        AGENT_ERR_CONFLICT, AGENT_ERR_UNSUPPORTED, AGENT_ERR_TRANSIENT,
        AGENT_ERR_TIMEOUT,  AGENT_ERR_PERMANENT};
    const char *code = "x";
    size_t i;

    (void) state;
    for (i = 0; i < sizeof(round) / sizeof(round[0]); i++)
        assert_int_equal(agent_wire_status_of_http(agent_wire_http_of_status(round[i], NULL)),
                         round[i]);
    assert_int_equal(agent_wire_http_of_status(AGENT_OK, &code), 200);
    assert_null(code);
    assert_int_equal(agent_wire_http_of_status(AGENT_ERR_PERMANENT, &code), 422);
    assert_string_equal(code, "HostFailed");
    assert_int_equal(agent_wire_http_of_status(AGENT_ERR_UNREACHABLE, &code), 503);
    assert_string_equal(code, "Unavailable");
    assert_int_equal(agent_wire_http_of_status(AGENT_ERR_TIMEOUT, &code), 504);
    assert_string_equal(code, "Timeout");
    assert_int_equal(agent_wire_status_of_http(204), AGENT_OK);
    assert_int_equal(agent_wire_status_of_http(400), AGENT_ERR_PERMANENT);
    assert_int_equal(agent_wire_status_of_http(401), AGENT_ERR_PERMANENT);
    assert_int_equal(agent_wire_status_of_http(405), AGENT_ERR_PERMANENT);
    assert_int_equal(agent_wire_status_of_http(413), AGENT_ERR_PERMANENT);
    assert_int_equal(agent_wire_status_of_http(418), AGENT_ERR_PERMANENT);
    assert_int_equal(agent_wire_status_of_http(500), AGENT_ERR_TRANSIENT);
    assert_int_equal(agent_wire_status_of_http(502), AGENT_ERR_TRANSIENT);
    assert_int_equal(agent_wire_status_of_http(301), AGENT_ERR_PERMANENT);
    assert_string_equal(agent_wire_code_of_http(400), "BadRequest");
    assert_string_equal(agent_wire_code_of_http(413), "PayloadTooLarge");
    assert_null(agent_wire_code_of_http(500));
}

static void
errors_read_from_answers(void **state)
{
    agent_err_t err = {0};
    json_t *body = agent_wire_error_json("NotFound", "no VM 'x'");

    (void) state;
    assert_string_equal(json_string_value(json_object_get(json_object_get(body, "error"), "code")),
                        "NotFound");
    assert_int_equal(agent_wire_error_from_http(404, body, &err), -1);
    assert_int_equal(err.status, AGENT_ERR_NOT_FOUND);
    assert_string_equal(err.message, "no VM 'x'");
    assert_int_equal(agent_wire_error_from_http(401, body, &err), -1);
    assert_int_equal(err.status, AGENT_ERR_PERMANENT);
    assert_string_equal(err.message, "the agent refused the token");
    assert_int_equal(agent_wire_error_from_http(502, NULL, &err), -1);
    assert_int_equal(err.status, AGENT_ERR_TRANSIENT);
    assert_non_null(strstr(err.message, "502"));
    assert_int_equal(agent_wire_error_from_http(200, NULL, &err), -1);
    assert_int_equal(err.status, AGENT_ERR_PERMANENT);
    json_decref(body);
}

static void
header_and_path_syntax(void **state)
{
    char id64[AGENT_WIRE_OP_ID_MAX + 2];
    int v = -5;

    (void) state;
    assert_true(agent_wire_op_id_valid("job-1:step.2_a"));
    assert_false(agent_wire_op_id_valid(""));
    assert_false(agent_wire_op_id_valid(NULL));
    assert_false(agent_wire_op_id_valid("a b"));
    assert_false(agent_wire_op_id_valid("a/b"));
    memset(id64, 'x', AGENT_WIRE_OP_ID_MAX);
    id64[AGENT_WIRE_OP_ID_MAX] = '\0';
    assert_true(agent_wire_op_id_valid(id64));
    assert_false(agent_wire_path_id_valid(id64)); /* ids in paths fit AGENT_ID_MAX */
    id64[AGENT_WIRE_OP_ID_MAX] = 'x';
    id64[AGENT_WIRE_OP_ID_MAX + 1] = '\0';
    assert_false(agent_wire_op_id_valid(id64));
    assert_int_equal(agent_wire_timeout_parse("1500", &v), 0);
    assert_int_equal(v, 1500);
    assert_int_equal(agent_wire_timeout_parse("0", &v), -1);
    assert_int_equal(agent_wire_timeout_parse("600001", &v), -1);
    assert_int_equal(agent_wire_timeout_parse("-5", &v), -1);
    assert_int_equal(agent_wire_timeout_parse("1e3", &v), -1);
    assert_int_equal(agent_wire_timeout_parse(NULL, &v), -1);
    assert_int_equal(v, 1500);
    assert_string_equal(agent_wire_power_action(AGENT_POWER_START), "start");
    assert_string_equal(agent_wire_power_action(AGENT_POWER_STOP), "stop");
    assert_string_equal(agent_wire_power_action(AGENT_POWER_SHUTDOWN), "shutdown");
    assert_string_equal(agent_wire_power_action(AGENT_POWER_RESTART), "restart");
    assert_int_equal(agent_wire_lun_parse("63", &v), 0);
    assert_int_equal(v, 63);
    assert_int_equal(agent_wire_lun_parse("64", &v), -1);
    assert_int_equal(agent_wire_lun_parse("+1", &v), -1);
    assert_int_equal(agent_wire_lun_parse("", &v), -1);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(spec_round_trips),
        cmocka_unit_test(spec_static_memory_is_null_and_optional_fields_may_be_missing),
        cmocka_unit_test(spec_refuses_every_malformed_body),
        cmocka_unit_test(disk_round_trips_and_refuses_malformed),
        cmocka_unit_test(resize_and_checkpoint_bodies),
        cmocka_unit_test(host_round_trips_and_refuses_malformed),
        cmocka_unit_test(progress_of_pending_answers),
        cmocka_unit_test(status_table_maps_both_ways),
        cmocka_unit_test(errors_read_from_answers),
        cmocka_unit_test(header_and_path_syntax),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
