/* Unit tests of lib/agent/wire_volume.c: the wapd-agent protocol's bodies for a disk's snapshot, a
 * volume's copy and a VM's import round-trip every value they accept, refuse every malformed body
 * naming the field at fault, and read the disk segment of a snapshot's path ("os" or a lun). */
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

/* A body and a word its error must contain. */
typedef struct {
    const char *text;
    const char *needle;
} bad_body_t;

/* The decoders under test. */
typedef enum { BODY_SNAPSHOT, BODY_SIZE, BODY_COPY, BODY_IMPORT } body_t;

static int
decode(body_t which, const json_t *j, void *out, agent_err_t *err)
{
    switch (which) {
    case BODY_SNAPSHOT:
        return agent_wire_snapshot_from_json(j, out, err);
    case BODY_SIZE:
        return agent_wire_size_from_json(j, out, err);
    case BODY_COPY:
        return agent_wire_copy_from_json(j, out, err);
    case BODY_IMPORT:
    default:
        return agent_wire_import_from_json(j, out, err);
    }
}

/* Runs the decoder over a body that is not an object, then over every case: each must be refused,
 * permanently, naming its needle. */
static void
refuses_each(const bad_body_t *cases, size_t n, body_t which, void *out)
{
    agent_err_t err = {0};
    json_t *j = json_array();
    size_t i;

    assert_int_equal(decode(which, j, out, &err), -1);
    assert_int_equal(err.status, AGENT_ERR_PERMANENT);
    assert_non_null(strstr(err.message, "JSON object"));
    json_decref(j);
    for (i = 0; i < n; i++) {
        memset(&err, 0, sizeof(err));
        j = load(cases[i].text);
        if (decode(which, j, out, &err) != -1)
            fail_msg("case %zu was accepted: %s", i, cases[i].text);
        json_decref(j);
        if (err.status != AGENT_ERR_PERMANENT)
            fail_msg("case %zu: status %d, not permanent", i, err.status);
        if (strstr(err.message, cases[i].needle) == NULL)
            fail_msg("case %zu: '%s' does not name %s", i, err.message, cases[i].needle);
    }
}

/* ---- the disk segment ---- */

static void
disk_segment_is_os_or_a_lun(void **state)
{
    char seg[16];
    int lun = 99;

    (void) state;
    assert_int_equal(agent_wire_disk_parse("os", &lun), 0);
    assert_int_equal(lun, -1);
    assert_int_equal(agent_wire_disk_parse("0", &lun), 0);
    assert_int_equal(lun, 0);
    assert_int_equal(agent_wire_disk_parse("63", &lun), 0);
    assert_int_equal(lun, 63);
    assert_int_equal(agent_wire_disk_parse("64", &lun), -1);
    assert_int_equal(agent_wire_disk_parse("-1", &lun), -1);
    assert_int_equal(agent_wire_disk_parse("OS", &lun), -1);
    assert_int_equal(agent_wire_disk_parse("", &lun), -1);
    assert_int_equal(agent_wire_disk_parse(NULL, &lun), -1);
    assert_int_equal(lun, 63); /* untouched by a refusal */
    agent_wire_disk_segment(-1, seg);
    assert_string_equal(seg, "os");
    agent_wire_disk_segment(7, seg);
    assert_string_equal(seg, "7");
    assert_int_equal(agent_wire_disk_parse(seg, &lun), 0);
    assert_int_equal(lun, 7);
}

/* ---- a snapshot and its answer ---- */

static const bad_body_t bad_snapshots[] = {
    {"{}", "'volumeId'"},
    {"{\"volumeId\": null}", "'volumeId'"},
    {"{\"volumeId\": \"\"}", "'volumeId'"},
    {"{\"volumeId\": 5}", "'volumeId'"},
    {"{\"volumeId\": \"a/b\"}", "volumeId"},
    {"{\"volumeId\": \"has space\"}", "volumeId"},
    {"{\"volumeId\": \"0123456789012345678901234567890123456789012345678901234567890123\"}",
     "'volumeId'"},
    {"{\"volumeId\": \"v\", \"lun\": 1}", "'lun'"},
};

static const bad_body_t bad_sizes[] = {
    {"{}", "'sizeGB'"},
    {"{\"sizeGB\": 0}", "'sizeGB'"},
    {"{\"sizeGB\": 65537}", "'sizeGB'"},
    {"{\"sizeGB\": \"10\"}", "'sizeGB'"},
    {"{\"sizeGB\": 1.5}", "'sizeGB'"},
    {"{\"sizeGB\": 10, \"volumeId\": \"v\"}", "'volumeId'"},
};

static void
snapshot_bodies_round_trip_and_refuse_malformed(void **state)
{
    char vol[AGENT_ID_MAX];
    agent_err_t err = {0};
    agent_progress_t p;
    int64_t size = 0;
    json_t *j, *again;

    (void) state;
    j = agent_wire_snapshot_to_json("4f1c2b7e-8a1d-4e55-9d1b-2c3e4f5a6b7c-lun3");
    assert_int_equal(agent_wire_snapshot_from_json(j, vol, &err), 0);
    assert_string_equal(vol, "4f1c2b7e-8a1d-4e55-9d1b-2c3e4f5a6b7c-lun3");
    again = agent_wire_snapshot_to_json(vol);
    assert_true(json_equal(j, again));
    json_decref(again);
    json_decref(j);

    j = agent_wire_size_to_json(65536);
    assert_int_equal(agent_wire_size_from_json(j, &size, &err), 0);
    assert_int_equal(size, 65536);
    json_decref(j);
    /* the final answer of a long snapshot carries its progress beside the size */
    j = agent_wire_size_to_json(3);
    p = (agent_progress_t){3 * 1024 * 1024 * 1024LL, 3 * 1024 * 1024 * 1024LL};
    json_object_set_new(j, "progress", agent_wire_progress_json(&p));
    assert_int_equal(agent_wire_size_from_json(j, &size, &err), 0);
    assert_int_equal(size, 3);
    p = (agent_progress_t){0, 0};
    assert_int_equal(agent_wire_progress_from_json(j, &p, &err), 0);
    assert_int_equal(p.bytes_total, 3 * 1024 * 1024 * 1024LL);
    assert_int_equal(p.bytes_copied, p.bytes_total);
    json_decref(j);

    refuses_each(bad_snapshots, sizeof(bad_snapshots) / sizeof(bad_snapshots[0]), BODY_SNAPSHOT,
                 vol);
    size = 7;
    refuses_each(bad_sizes, sizeof(bad_sizes) / sizeof(bad_sizes[0]), BODY_SIZE, &size);
    assert_int_equal(size, 7); /* written only on success */
}

/* ---- a copy ---- */

static const bad_body_t bad_copies[] = {
    {"{}", "source"},
    {"{\"source\": null}", "source"},
    {"{\"source\": []}", "source"},
    {"{\"source\": {\"hostId\": \"h\", \"volumeId\": \"v\", \"sizeGB\": 1}, \"x\": 1}", "'x'"},
    {"{\"source\": {\"hostId\": \"h\", \"volumeId\": \"v\", \"sizeGB\": 1, \"x\": 1}}",
     "source.x"},
    {"{\"source\": {\"volumeId\": \"v\", \"sizeGB\": 1}}", "source.hostId"},
    {"{\"source\": {\"hostId\": \"\", \"volumeId\": \"v\", \"sizeGB\": 1}}", "source.hostId"},
    {"{\"source\": {\"hostId\": 3, \"volumeId\": \"v\", \"sizeGB\": 1}}", "source.hostId"},
    {"{\"source\": {\"hostId\": \"h\", \"sizeGB\": 1}}", "source.volumeId"},
    {"{\"source\": {\"hostId\": \"h\", \"volumeId\": \"v?\", \"sizeGB\": 1}}", "source.volumeId"},
    {"{\"source\": {\"hostId\": \"h\", \"volumeId\": \"v\"}}", "source.sizeGB"},
    {"{\"source\": {\"hostId\": \"h\", \"volumeId\": \"v\", \"sizeGB\": 0}}", "source.sizeGB"},
    {"{\"source\": {\"hostId\": \"h\", \"volumeId\": \"v\", \"sizeGB\": \"1\"}}",
     "source.sizeGB"},
};

static void
copy_round_trips_and_refuses_malformed(void **state)
{
    agent_volume_src_t src = {"host-a", "snap-1", 40};
    agent_wire_copy_t *w = calloc(1, sizeof(*w));
    agent_err_t err = {0};
    json_t *j, *again;

    (void) state;
    assert_non_null(w);
    j = agent_wire_copy_to_json(&src);
    assert_non_null(j);
    assert_int_equal(agent_wire_copy_from_json(j, w, &err), 0);
    assert_string_equal(w->src.host_id, "host-a");
    assert_string_equal(w->src.volume_id, "snap-1");
    assert_int_equal(w->src.size_gb, 40);
    assert_ptr_equal(w->src.host_id, w->host_id); /* points into the struct, not the JSON */
    again = agent_wire_copy_to_json(&w->src);
    assert_true(json_equal(j, again));
    json_decref(again);
    json_decref(j);
    refuses_each(bad_copies, sizeof(bad_copies) / sizeof(bad_copies[0]), BODY_COPY, w);
    free(w);
}

/* ---- an import ---- */

/* A valid VmSpec's keys, to which each case adds its source (or breaks the spec). */
#define SPEC                                                                                       \
    "\"id\": \"vm-1\", \"name\": \"n\", \"cores\": 1, \"memoryMB\": 512, \"generation\": 1, "     \
    "\"disks\": [{\"sizeGB\": 1, \"caching\": \"None\"}], \"nics\": []"
#define SOURCE(power, cps)                                                                         \
    "\"source\": {\"hostId\": \"h\", \"hypervisorId\": \"hv\", \"powerState\": " power             \
    ", \"checkpoints\": " cps "}"

static const bad_body_t bad_imports[] = {
    {"{" SPEC "}", "'source'"},
    {"{" SPEC ", \"source\": null}", "source"},
    {"{" SPEC ", \"source\": 5}", "source"},
    {"{\"id\": \"vm-1\", \"name\": \"n\", \"cores\": 0, \"memoryMB\": 512, \"generation\": 1, "
     "\"disks\": [{\"sizeGB\": 1, \"caching\": \"None\"}], \"nics\": [], " SOURCE("\"running\"", "[]") "}",
     "'cores'"},
    {"{" SPEC ", " SOURCE("\"running\"", "[]") ", \"extra\": 1}", "extra"},
    {"{" SPEC ", \"source\": {\"hostId\": \"h\", \"hypervisorId\": \"hv\", \"powerState\": "
     "\"running\", \"checkpoints\": [], \"x\": 1}}",
     "source.x"},
    {"{" SPEC ", \"source\": {\"hypervisorId\": \"hv\", \"powerState\": \"running\", "
     "\"checkpoints\": []}}",
     "source.hostId"},
    {"{" SPEC ", \"source\": {\"hostId\": \"h\", \"powerState\": \"running\", \"checkpoints\": "
     "[]}}",
     "source.hypervisorId"},
    {"{" SPEC ", \"source\": {\"hostId\": \"h\", \"hypervisorId\": \"hv\", \"checkpoints\": []}}",
     "source.powerState"},
    {"{" SPEC ", " SOURCE("\"unknown\"", "[]") "}", "source.powerState"},
    {"{" SPEC ", " SOURCE("\"paused\"", "[]") "}", "source.powerState"},
    {"{" SPEC ", " SOURCE("1", "[]") "}", "source.powerState"},
    {"{" SPEC ", \"source\": {\"hostId\": \"h\", \"hypervisorId\": \"hv\", \"powerState\": "
     "\"stopped\"}}",
     "source.checkpoints"},
    {"{" SPEC ", " SOURCE("\"stopped\"", "{}") "}", "source.checkpoints"},
    {"{" SPEC ", " SOURCE("\"stopped\"", "[\"a\", \"b\", \"c\", \"d\", \"e\"]") "}",
     "source.checkpoints"},
    {"{" SPEC ", " SOURCE("\"stopped\"", "[\"a\", \"\"]") "}", "source.checkpoints[1]"},
    {"{" SPEC ", " SOURCE("\"stopped\"", "[\"a\", 2]") "}", "source.checkpoints[1]"},
    {"{" SPEC ", " SOURCE("\"stopped\"", "[\"a\", null]") "}", "source.checkpoints[1]"},
    {"{" SPEC ", " SOURCE("\"stopped\"", "[\"a\", \"b\", \"a\"]") "}", "named twice"},
};

static void
import_round_trips_and_refuses_malformed(void **state)
{
    static const agent_disk_spec_t disks[] = {
        {-1, 40, AGENT_CACHING_READ_WRITE, NULL, NULL},
        {2, 10, AGENT_CACHING_NONE, NULL, NULL},
    };
    static const agent_nic_spec_t nics[] = {{"net-a", "00:15:5d:01:02:03", "10.0.0.4"}};
    static const char *const cps[] = {"before-upgrade", "nightly"};
    agent_vm_spec_t spec = {"vm-7", "web-7", 2, 2048, 0, 0, 2, disks, 2, nics, 1};
    agent_vm_source_t src = {"host-a", "hv-77", AGENT_VM_RUNNING, cps, 2};
    agent_wire_import_t *w = calloc(1, sizeof(*w));
    agent_err_t err = {0};
    json_t *j, *again;

    (void) state;
    assert_non_null(w);
    j = agent_wire_import_to_json(&spec, &src);
    assert_non_null(j);
    assert_int_equal(agent_wire_import_from_json(j, w, &err), 0);
    assert_string_equal(w->spec.spec.vm_id, "vm-7");
    assert_int_equal(w->spec.spec.ndisks, 2);
    assert_int_equal(w->spec.spec.disks[1].lun, 2);
    assert_string_equal(w->src.host_id, "host-a");
    assert_string_equal(w->src.hypervisor_id, "hv-77");
    assert_int_equal(w->src.power, AGENT_VM_RUNNING);
    assert_int_equal(w->src.ncheckpoints, 2);
    assert_string_equal(w->src.checkpoints[0], "before-upgrade");
    assert_string_equal(w->src.checkpoints[1], "nightly");
    assert_ptr_equal(w->src.checkpoints[1], w->checkpoints[1]);
    again = agent_wire_import_to_json(&w->spec.spec, &w->src);
    assert_true(json_equal(j, again));
    json_decref(again);
    json_decref(j);

    /* no checkpoints, stopped */
    src.power = AGENT_VM_DEALLOCATED;
    src.ncheckpoints = 0;
    j = agent_wire_import_to_json(&spec, &src);
    assert_int_equal(json_array_size(json_object_get(json_object_get(j, "source"), "checkpoints")),
                     0);
    assert_int_equal(agent_wire_import_from_json(j, w, &err), 0);
    assert_int_equal(w->src.power, AGENT_VM_DEALLOCATED);
    assert_int_equal(w->src.ncheckpoints, 0);
    json_decref(j);

    refuses_each(bad_imports, sizeof(bad_imports) / sizeof(bad_imports[0]), BODY_IMPORT, w);
    free(w);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(disk_segment_is_os_or_a_lun),
        cmocka_unit_test(snapshot_bodies_round_trip_and_refuse_malformed),
        cmocka_unit_test(copy_round_trips_and_refuses_malformed),
        cmocka_unit_test(import_round_trips_and_refuses_malformed),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
