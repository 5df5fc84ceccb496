/* Unit tests of the typed VM record: the store's JSON read into a vm_rec_t and written back is the same
 * record, key for key and in order; the view rendered from the struct is, byte for byte, what stripping
 * the store's record used to answer, with no private key at any depth; a record that does not parse is an
 * internal error that leaves the output alone; and load and save against a store: missing is a value, a
 * save raises its events from the record the caller loaded. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fixture.h"
#include "test_vm_world.h"

#include "../../lib/events.h"
#include "../../lib/vm/vmrec.h"

#define UUID(c) "\"" c "0000000-0000-4000-8000-000000000000\""

/* Store records as the store reads them: every column, in order. */
static const char *const records[] = {
    /* running, two data disks, a NIC, a checkpoint without description */
    "{\"id\": " UUID("1") ", \"name\": \"web-1\", \"subscriptionId\": " UUID("2") ", \"size\": \"S\", "
    "\"cores\": 2, \"memoryMB\": 2048, \"dynamicMemory\": {\"enabled\": true, \"minimumMB\": 1024, "
    "\"maximumMB\": 4096, \"_own\": true}, \"imageId\": " UUID("3") ", \"generation\": 2, \"osType\": \"Linux\", "
    "\"osState\": \"specialized\", \"vmRoleId\": null, \"provisioningState\": \"succeeded\", \"powerState\": \"running\", "
    "\"disks\": [{\"lun\": null, \"kind\": \"os\", \"sizeGB\": 30, \"caching\": \"ReadWrite\"}, "
    "{\"lun\": 0, \"kind\": \"data\", \"sizeGB\": 10, \"caching\": \"ReadOnly\"}, "
    "{\"lun\": 5, \"kind\": \"data\", \"sizeGB\": 20, \"caching\": \"None\"}], "
    "\"nics\": [{\"networkId\": " UUID("4") ", \"ipAddress\": \"10.1.0.4\"}], "
    "\"checkpoint\": {\"name\": \"before\", \"description\": null, \"createdAt\": \"2026-11-22T06:17:17.123Z\", "
    "\"sizeGB\": 3, \"_hostId\": \"cp-1\", \"_powerState\": \"running\"}, "
    "\"createdAt\": \"2026-11-22T06:17:17.123Z\", \"updatedAt\": \"2026-11-22T06:18:17.123Z\", "
    "\"hostId\": " UUID("5") ", \"hypervisorId\": \"sim-7\", \"_storageGB\": 63, \"_holdsCompute\": true, "
    "\"_holdsStorage\": true, \"_counted\": true, \"_assignedMemoryMB\": 1024, \"_instanceView\": "
    "{\"provisioningStateAt\": \"2026-11-22T06:17:18.000Z\", \"powerStateAt\": \"2026-11-22T06:17:19.000Z\", "
    "\"guest\": {\"status\": \"ok\", \"at\": \"2026-11-22T06:17:20.000Z\"}, "
    "\"disks\": {\"os\": {\"status\": \"ok\", \"at\": \"2026-11-22T06:17:18.000Z\"}, "
    "\"0\": {\"status\": \"ok\", \"at\": \"2026-11-22T06:17:21.000Z\"}, "
    "\"5\": {\"status\": \"ok\", \"at\": \"2026-11-22T06:17:22.000Z\"}}}}",
    /* deallocated member of a role, a described checkpoint taken stopped */
    "{\"id\": " UUID("6") ", \"name\": \"role-2\", \"subscriptionId\": " UUID("2") ", \"size\": \"L\", "
    "\"cores\": 4, \"memoryMB\": 4096, \"dynamicMemory\": {\"enabled\": false, \"minimumMB\": null, "
    "\"maximumMB\": null}, \"imageId\": " UUID("3") ", \"generation\": 1, \"osType\": \"Windows\", "
    "\"osState\": \"generalized\", \"vmRoleId\": " UUID("7") ", \"provisioningState\": \"succeeded\", \"powerState\": \"deallocated\", "
    "\"disks\": [{\"lun\": null, \"kind\": \"os\", \"sizeGB\": 40, \"caching\": \"ReadWrite\"}], \"nics\": [], "
    "\"checkpoint\": {\"name\": \"cp\", \"description\": \"patch \\u00e9t\\u00e9\", "
    "\"createdAt\": \"2026-11-22T06:17:17.123Z\", \"sizeGB\": 0, \"_hostId\": \"cp-2\", "
    "\"_powerState\": \"stopped\"}, "
    "\"createdAt\": \"2026-11-22T06:17:17.123Z\", \"updatedAt\": \"2026-11-22T06:17:17.123Z\", "
    "\"hostId\": " UUID("5") ", \"hypervisorId\": \"sim-8\", \"_storageGB\": 40, \"_holdsCompute\": false, "
    "\"_holdsStorage\": true, \"_counted\": true, \"_assignedMemoryMB\": null, \"_instanceView\": "
    "{\"provisioningStateAt\": \"2026-11-22T06:17:18.000Z\", \"powerStateAt\": \"2026-11-22T06:17:19.000Z\", "
    "\"guest\": {\"status\": \"noContact\", \"at\": \"2026-11-22T06:17:20.000Z\"}, "
    "\"disks\": {\"os\": {\"status\": \"ok\", \"at\": \"2026-11-22T06:17:18.000Z\"}}}}",
    /* a failed create: no host, no hypervisor, holding nothing */
    "{\"id\": " UUID("8") ", \"name\": \"bad\", \"subscriptionId\": " UUID("2") ", \"size\": \"S\", "
    "\"cores\": 2, \"memoryMB\": 2048, \"dynamicMemory\": null, \"imageId\": " UUID("3") ", "
    "\"generation\": null, \"osType\": null, "
    "\"osState\": \"specialized\", \"vmRoleId\": null, \"provisioningState\": \"failed\", \"powerState\": \"deallocated\", "
    "\"disks\": [{\"lun\": null, \"kind\": \"os\", \"sizeGB\": 30, \"caching\": \"ReadWrite\"}], \"nics\": [], "
    "\"checkpoint\": null, \"createdAt\": \"2026-11-22T06:17:17.123Z\", "
    "\"updatedAt\": \"2026-11-22T06:17:17.123Z\", \"hostId\": null, \"hypervisorId\": null, "
    "\"_storageGB\": 30, \"_holdsCompute\": false, \"_holdsStorage\": false, \"_counted\": false, "
    "\"_assignedMemoryMB\": null, \"_instanceView\": null}",
};

/* The instanceView each record shows: its own times; a guest status only while running; a record from
 * before the instance view (null) shows createdAt and updatedAt. */
static const char *const views[] = {
    "{\"statuses\": [{\"code\": \"ProvisioningState/succeeded\", \"displayStatus\": \"Provisioning succeeded\", "
    "\"time\": \"2026-11-22T06:17:18.000Z\"}, {\"code\": \"PowerState/running\", \"displayStatus\": \"VM running\", "
    "\"time\": \"2026-11-22T06:17:19.000Z\"}, {\"code\": \"GuestAgent/ok\", \"displayStatus\": \"Guest agent ready\", "
    "\"time\": \"2026-11-22T06:17:20.000Z\"}], \"disks\": [{\"lun\": null, \"status\": \"ok\", "
    "\"time\": \"2026-11-22T06:17:18.000Z\"}, {\"lun\": 0, \"status\": \"ok\", \"time\": \"2026-11-22T06:17:21.000Z\"}, "
    "{\"lun\": 5, \"status\": \"ok\", \"time\": \"2026-11-22T06:17:22.000Z\"}]}",
    "{\"statuses\": [{\"code\": \"ProvisioningState/succeeded\", \"displayStatus\": \"Provisioning succeeded\", "
    "\"time\": \"2026-11-22T06:17:18.000Z\"}, {\"code\": \"PowerState/deallocated\", \"displayStatus\": "
    "\"VM deallocated\", \"time\": \"2026-11-22T06:17:19.000Z\"}], \"disks\": [{\"lun\": null, \"status\": \"ok\", "
    "\"time\": \"2026-11-22T06:17:18.000Z\"}]}",
    "{\"statuses\": [{\"code\": \"ProvisioningState/failed\", \"displayStatus\": \"Provisioning failed\", "
    "\"time\": \"2026-11-22T06:17:17.123Z\"}, {\"code\": \"PowerState/deallocated\", \"displayStatus\": "
    "\"VM deallocated\", \"time\": \"2026-11-22T06:17:17.123Z\"}], \"disks\": [{\"lun\": null, \"status\": \"ok\", "
    "\"time\": \"2026-11-22T06:17:17.123Z\"}]}",
};
#define NRECORDS (sizeof(records) / sizeof(records[0]))

static json_t *
load_text(const char *text)
{
    json_error_t e;
    json_t *j = json_loads(text, JSON_REJECT_DUPLICATES, &e);

    if (j == NULL)
        fail_msg("bad test record: %s at %d", e.text, e.position);
    return j;
}

static void
assert_same_text(const json_t *a, const json_t *b)
{
    char *x = json_dumps(a, JSON_COMPACT), *y = json_dumps(b, JSON_COMPACT);

    assert_non_null(x);
    assert_non_null(y);
    assert_string_equal(x, y);
    free(x);
    free(y);
}

/* v with instanceView (the text iview) before createdAt, where the API answers it (v stolen). */
static json_t *
with_instance_view(json_t *v, const char *iview)
{
    json_t *o = json_object(), *val;
    const char *k;

    json_object_foreach(v, k, val) {
        if (strcmp(k, "createdAt") == 0)
            json_object_set_new(o, "instanceView", load_text(iview));
        json_object_set(o, k, val);
    }
    json_decref(v);
    return o;
}

/* What a view was before vm_rec_t: the store's record, copied and stripped in place, and the instanceView
 * the record shows (iview). */
static json_t *
stripped_view(const json_t *rec, bool admin, const char *iview)
{
    static const char *const internal[] = {"_storageGB", "_holdsCompute", "_holdsStorage",
                                           "_counted", "_assignedMemoryMB", "_instanceView", NULL};
    json_t *v = json_deep_copy(rec), *cp = json_object_get(v, "checkpoint");
    bool compute = json_is_true(json_object_get(v, "_holdsCompute"));
    bool storage = json_is_true(json_object_get(v, "_holdsStorage"));
    size_t i;

    if (admin) {
        json_object_set_new(
            v, "allocated",
            json_pack("{s:I, s:I, s:I}", "cores",
                      compute ? json_integer_value(json_object_get(v, "cores")) : 0, "memoryMB",
                      compute ? json_integer_value(json_object_get(v, "memoryMB")) : 0, "storageGB",
                      storage ? json_integer_value(json_object_get(v, "_storageGB")) : 0));
    } else {
        json_object_del(v, "hostId");
        json_object_del(v, "hypervisorId");
    }
    for (i = 0; internal[i]; i++)
        json_object_del(v, internal[i]);
    json_object_del(json_object_get(v, "dynamicMemory"), "_own");
    if (json_is_object(cp)) {
        json_object_del(cp, "_hostId");
        json_object_del(cp, "_powerState");
    }
    return with_instance_view(v, iview);
}

/* No key of j, at any depth, starts with '_'. */
static void
assert_no_private_key(const json_t *j)
{
    const char *key;
    json_t *v;
    size_t i;

    if (json_is_object(j)) {
        json_object_foreach((json_t *) j, key, v) {
            assert_true(key[0] != '_');
            assert_no_private_key(v);
        }
    } else if (json_is_array(j)) {
        json_array_foreach(j, i, v)
            assert_no_private_key(v);
    }
}

static void
round_trip_is_exact(void **state)
{
    err_t err = {0};
    vm_rec_t vm;
    json_t *rec, *back;
    size_t i;

    (void) state;
    for (i = 0; i < NRECORDS; i++) {
        rec = load_text(records[i]);
        assert_int_equal(vmrec_from_store(rec, &vm, &err), 0);
        back = vmrec_to_store(&vm);
        assert_non_null(back);
        assert_same_text(rec, back);
        json_decref(back);
        json_decref(rec);
    }
    /* The fields are typed. */
    rec = load_text(records[0]);
    assert_int_equal(vmrec_from_store(rec, &vm, &err), 0);
    assert_int_equal(vm.power, VM_POWER_RUNNING);
    assert_int_equal(vm.provisioning, VM_PROV_SUCCEEDED);
    assert_int_equal(vm.ndisks, 3);
    assert_int_equal(vm.disks[0].lun, -1);
    assert_int_equal(vm.disks[0].kind, VM_DISK_OS);
    assert_int_equal(vm.disks[2].lun, 5);
    assert_int_equal(vm.disks[1].caching, VM_CACHING_READ_ONLY);
    assert_int_equal(vm.nnics, 1);
    assert_string_equal(vm.nics[0].ip_address, "10.1.0.4");
    assert_true(vm.checkpoint.present);
    assert_false(vm.checkpoint.has_description);
    assert_string_equal(vm.checkpoint.host_id, "cp-1");
    assert_int_equal(vm.checkpoint.power, VM_POWER_RUNNING);
    assert_string_equal(vm.vm_role_id, "");
    assert_int_equal(vm.hold.storage_gb, 63);
    assert_true(vm.hold.holds_compute && vm.hold.holds_storage && vm.hold.counted);
    assert_true(vm.dynamic_memory.present && vm.dynamic_memory.enabled && vm.dynamic_memory_own);
    assert_int_equal(vm.dynamic_memory.minimum_mb, 1024);
    assert_int_equal(vm.dynamic_memory.maximum_mb, 4096);
    assert_int_equal(vm.assigned_memory_mb, 1024);
    json_decref(rec);
}

static void
view_is_what_stripping_answered(void **state)
{
    err_t err = {0};
    vm_rec_t vm;
    json_t *rec, *old, *view;
    size_t i;
    int admin;

    (void) state;
    for (i = 0; i < NRECORDS; i++) {
        rec = load_text(records[i]);
        assert_int_equal(vmrec_from_store(rec, &vm, &err), 0);
        for (admin = 0; admin <= 1; admin++) {
            old = stripped_view(rec, admin, views[i]);
            view = vm_render_view(&vm, admin);
            assert_non_null(view);
            assert_same_text(old, view);
            assert_no_private_key(view);
            assert_true(admin == (json_object_get(view, "hypervisorId") != NULL));
            json_decref(view);
            json_decref(old);
        }
        json_decref(rec);
    }
}

/* The view written as text is, byte for byte, the dump of what stripping answered: for every record and
 * both audiences, with the checkpoint hidden, and with names that need escaping. */
static void
view_text_is_the_dump(void **state)
{
    static const char *const names[] = {"web-1", "q\"uote", "back\\slash\\", "tab\tnl\n\x01\x1f",
                                         "caf\xc3\xa9 \xe2\x82\xac", "sl/ash </script>"};
    util_buf_t b = {0};
    err_t err = {0};
    vm_rec_t vm;
    json_t *rec, *old;
    char *want, *got;
    size_t i, k;
    int admin, hide;

    (void) state;
    for (i = 0; i < NRECORDS; i++) {
        for (k = 0; k < sizeof(names) / sizeof(names[0]); k++) {
            rec = load_text(records[i]);
            json_object_set_new(rec, "name", json_string(names[k]));
            if (json_is_object(json_object_get(rec, "checkpoint")))
                json_object_set_new(json_object_get(rec, "checkpoint"), "description",
                                    json_string(names[k]));
            assert_int_equal(vmrec_from_store(rec, &vm, &err), 0);
            for (admin = 0; admin <= 1; admin++) {
                for (hide = 0; hide <= !admin; hide++) {
                    old = stripped_view(rec, admin, views[i]);
                    if (hide)
                        json_object_set_new(old, "checkpoint", json_null());
                    want = json_dumps(old, JSON_COMPACT);
                    vm_render_view_text(&vm, admin, hide, &b);
                    got = util_buf_take(&b);
                    assert_non_null(got);
                    assert_string_equal(got, want);
                    free(got);
                    free(want);
                    json_decref(old);
                }
            }
            json_decref(rec);
        }
    }
}

/* Sets key of the first record to the JSON text value (at depth one when sub is not NULL). */
static json_t *
mutated(const char *key, const char *sub, const char *value)
{
    json_t *rec = load_text(records[0]), *v = json_loads(value, JSON_DECODE_ANY, NULL);

    assert_non_null(v);
    if (sub != NULL) {
        json_t *o = json_object_get(rec, key);
        json_object_set_new(json_is_array(o) ? json_array_get(o, 1) : o, sub, v);
    } else {
        json_object_set_new(rec, key, v);
    }
    return rec;
}

static void
bad_records_are_internal_errors(void **state)
{
    static const char *const cases[][3] = {
        {"powerState", NULL, "\"paused\""},
        {"provisioningState", NULL, "null"},
        {"cores", NULL, "\"2\""},
        {"id", NULL, "null"},
        {"disks", NULL, "{}"},
        {"nics", NULL, "[1]"},
        {"checkpoint", NULL, "\"x\""},
        {"disks", "lun", "-3"},
        {"disks", "caching", "\"Fast\""},
        {"disks", "kind", "\"tape\""},
        {"checkpoint", "_powerState", "\"asleep\""},
        {"checkpoint", "name", "7"},
        {"_holdsCompute", NULL, "1"},
    };
    char longname[VM_REC_NAME_MAX + 8];
    vm_rec_t vm;
    json_t *rec;
    size_t i;

    (void) state;
    memset(longname, 'a', sizeof(longname));
    longname[0] = '"';
    longname[sizeof(longname) - 2] = '"';
    longname[sizeof(longname) - 1] = '\0';
    for (i = 0; i <= sizeof(cases) / sizeof(cases[0]); i++) {
        err_t err = {0};
        rec = i < sizeof(cases) / sizeof(cases[0]) ? mutated(cases[i][0], cases[i][1], cases[i][2])
                                                   : mutated("name", NULL, longname);
        memset(&vm, 0x5a, sizeof(vm));
        assert_int_equal(vmrec_from_store(rec, &vm, &err), -1);
        assert_int_equal(err.code, ERR_INTERNAL);
        /* Nothing was written. */
        assert_int_equal((unsigned char) vm.id[0], 0x5a);
        json_decref(rec);
    }
}

/* Whether the feed holds a vm.powerStateChanged event for id from `from` to `to`. */
static bool
power_event(store_t *st, const char *id, const char *from, const char *to)
{
    int64_t next = 0;
    err_t err = {0};
    json_t *list = events_page(st, 0, 1000, &next, &err), *e, *d;
    bool found = false;
    size_t i;

    assert_non_null(list);
    json_array_foreach(list, i, e) {
        d = json_object_get(e, "data");
        if (strcmp(json_string_value(json_object_get(e, "type")), "vm.powerStateChanged") == 0 &&
            strcmp(json_string_value(json_object_get(e, "resourceId")), id) == 0 &&
            strcmp(json_string_value(json_object_get(d, "from")), from) == 0 &&
            strcmp(json_string_value(json_object_get(d, "to")), to) == 0)
            found = true;
    }
    json_decref(list);
    return found;
}

/* How many events of type the feed holds for id. */
static int
count_events(store_t *st, const char *id, const char *type)
{
    int64_t next = 0;
    err_t err = {0};
    json_t *list = events_page(st, 0, 1000, &next, &err), *e;
    int n = 0;
    size_t i;

    assert_non_null(list);
    json_array_foreach(list, i, e)
        n += strcmp(json_string_value(json_object_get(e, "type")), type) == 0 &&
             strcmp(json_string_value(json_object_get(e, "resourceId")), id) == 0;
    json_decref(list);
    return n;
}

/* vm.created is raised when a create ends, once: an update that ends (a checkpoint, a disk, a resize
 * job) raises none. */
static void
created_is_raised_once(void **state)
{
    world_t *w = *state;
    store_t *st = w->f->st;
    char id[UTIL_UUID_LEN + 1];
    err_t err = {0};
    vm_rec_t vm;

    world_running_vm(w, "rec-2", id);
    assert_int_equal(count_events(st, id, "vm.created"), 1);
    assert_int_equal(vmrec_load(st, NULL, id, &vm, NULL, &err), 1);
    vm.provisioning = VM_PROV_UPDATING;
    assert_int_equal(store_tx_begin(st, &err), 0);
    assert_int_equal(vmrec_save(st, &vm, &err), 0);
    vm.provisioning = VM_PROV_SUCCEEDED;
    assert_int_equal(vmrec_save(st, &vm, &err), 0);
    assert_int_equal(store_tx_commit(st, &err), 0);
    assert_int_equal(count_events(st, id, "vm.created"), 1);
}

static void
load_and_save(void **state)
{
    world_t *w = *state;
    store_t *st = w->f->st;
    char id[UTIL_UUID_LEN + 1];
    err_t err = {0};
    int64_t rev = 0, rev2 = 0;
    uint64_t reads;
    vm_rec_t was, vm;
    json_t *view;

    world_running_vm(w, "rec-1", id);
    /* Missing is a value: another's VM and no VM answer 0, err untouched. */
    assert_int_equal(vmrec_load(st, id_of(w->plan), id, &vm, NULL, &err), 0);
    assert_int_equal(vmrec_load(st, NULL, id_of(w->plan), &vm, NULL, &err), 0);
    assert_int_equal(err.code, ERR_NONE);
    assert_int_equal(vmrec_load(st, id_of(w->sub), id, &was, &rev, &err), 1);
    assert_true(rev > 0);
    assert_int_equal(was.power, VM_POWER_RUNNING);
    assert_true(was.hold.holds_compute && was.hold.counted);
    assert_false(power_event(st, id, "running", "stopped"));
    /* A save raises its events from the record as the caller loaded it, without reading it again. */
    vm = was;
    vm.power = VM_POWER_STOPPED;
    assert_int_equal(store_tx_begin(st, &err), 0);
    reads = store__reads(st, &store_kind_vm);
    assert_int_equal(vmrec_save(st, &vm, &err), 0);
    assert_int_equal(store__reads(st, &store_kind_vm) - reads, 0);
    assert_int_equal(store_tx_commit(st, &err), 0);
    assert_true(power_event(st, id, "running", "stopped"));
    assert_int_equal(vm.seen.power, VM_POWER_STOPPED);
    assert_int_equal(vmrec_load(st, NULL, id, &vm, &rev2, &err), 1);
    assert_true(rev2 > rev);
    assert_int_equal(vm.power, VM_POWER_STOPPED);
    /* The GET renders the struct. */
    view = vm_get(st, id_of(w->sub), id, false, NULL, &err);
    assert_non_null(view);
    assert_string_equal(json_string_value(json_object_get(view, "powerState")), "stopped");
    assert_null(json_object_get(view, "hostId"));
    assert_no_private_key(view);
    json_decref(view);
    assert_null(vm_get(st, id_of(w->plan), id, false, NULL, &err));
    assert_int_equal(err.code, ERR_NOT_FOUND);
}

/* The views of a page, one by one as GETs answer them, with the page's brackets and commas. */
static char *
page_of_gets(store_t *st, const char *sid, char ids[][UTIL_UUID_LEN + 1], int n, bool admin)
{
    util_buf_t b = {0};
    err_t err = {0};
    int i;

    util_buf_add(&b, "[", 1);
    for (i = 0; i < n; i++) {
        if (i > 0)
            util_buf_add(&b, ",", 1);
        assert_int_equal(vm_get_text(st, admin ? NULL : sid, ids[i], admin, false, &b, NULL, &err), 0);
    }
    util_buf_add(&b, "]", 1);
    return util_buf_take(&b);
}

static char *
listed(store_t *st, const char *sid, int limit, bool admin, int64_t *next)
{
    store_filter_t f = {.field = "subscriptionId", .op = STORE_FILTER_EQ, .value = sid};
    util_buf_t b = {0};
    err_t err = {0};

    assert_int_equal(store_tx_begin_read(st, &err), 0);
    assert_int_equal(vm_list_text(st, &f, 1, 0, limit, admin, false, &b, next, &err), 0);
    assert_int_equal(store_tx_commit(st, &err), 0);
    return util_buf_take(&b);
}

/* A list page is the GETs of its VMs, whether their views were kept or not, and a VM changed since the
 * page was last listed shows its change at once (its revision moved). */
static void
list_page_is_its_gets_and_shows_changes(void **state)
{
    world_t *w = *state;
    store_t *st = w->f->st;
    char ids[3][UTIL_UUID_LEN + 1], *want, *got;
    const char *sid = id_of(w->sub);
    err_t err = {0};
    int64_t next = 0;
    vm_rec_t vm;
    int i, round, admin;

    world_running_vm(w, "page-1", ids[0]);
    world_running_vm(w, "page-2", ids[1]);
    world_running_vm(w, "page-3", ids[2]);
    for (round = 0; round < 3; round++) {
        for (admin = 0; admin <= 1; admin++) {
            for (i = 0; i < 2; i++) { /* the second time from kept views */
                got = listed(st, sid, 3, admin, &next);
                want = page_of_gets(st, sid, ids, 3, admin);
                assert_string_equal(got, want);
                assert_int_equal(next, 0);
                free(got);
                free(want);
            }
        }
        /* A change the list must show: the middle VM stops. */
        assert_int_equal(vmrec_load(st, sid, ids[1], &vm, NULL, &err), 1);
        vm.power = round % 2 ? VM_POWER_RUNNING : VM_POWER_STOPPED;
        assert_int_equal(store_tx_begin(st, &err), 0);
        assert_int_equal(vmrec_save(st, &vm, &err), 0);
        assert_int_equal(store_tx_commit(st, &err), 0);
        got = listed(st, sid, 3, false, &next);
        assert_non_null(strstr(got, round % 2 ? "\"powerState\":\"running\",\"disks\""
                                              : "\"powerState\":\"stopped\",\"disks\""));
        free(got);
    }
    /* A short page says where the next one starts. */
    got = listed(st, sid, 2, false, &next);
    assert_true(next > 0);
    assert_null(strstr(got, ids[2]));
    free(got);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(round_trip_is_exact),
        cmocka_unit_test(view_is_what_stripping_answered),
        cmocka_unit_test(view_text_is_the_dump),
        cmocka_unit_test(bad_records_are_internal_errors),
        cmocka_unit_test_setup_teardown(load_and_save, world_setup, world_teardown),
        cmocka_unit_test_setup_teardown(list_page_is_its_gets_and_shows_changes, world_setup,
                                        world_teardown),
        cmocka_unit_test_setup_teardown(created_is_raised_once, world_setup, world_teardown),
    };

    return cmocka_run_group_tests_name("vmrec", tests, NULL, NULL);
}
