/* Unit tests of lib/usage: closing metering periods from the VM timeline (each period once, prorated from
 * the real times of the changes, every disk counted, failed creations never billed), paging the records
 * for billing collectors and for the WAP contract, purging only what is acknowledged and old, and a
 * subscription's totals.
 *
 * The timeline takes its times from the wall clock, so a test reads the times back from the store (and
 * checks each lies within the bounds taken around its append) and computes what each period should hold
 * from them, in a way of its own (test_usage.h). Waits poll the clock; periods are closed with the "now"
 * the test gives.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fixture.h"
#include "test_usage.h"

/* ---- closing: once per (resource, meter, period), every period that ended and none that has not ---- */

static void
close_due_closes_each_ended_period_once(void **state)
{
    fixture_t *f = *state;
    store_t *st = f->st;
    int64_t p0;
    err_t err = {0};
    json_t *recs;
    rows_t a;
    size_t k;

    append(st, "vm-a", "sub-1", "created", &running_s, NULL, NULL);
    append(st, "vm-b", "sub-1", "created", &running_s, NULL, NULL);
    p0 = first_period(st, HOUR);
    /* The first period has not ended a millisecond before its end. */
    assert_int_equal(usage_close_due(st, HOUR, p0 + HOUR - 1, &err), 0);
    recs = all_records(st);
    assert_int_equal(json_array_size(recs), 0);
    json_decref(recs);
    /* Three have ended, the fourth has not. */
    assert_int_equal(usage_close_due(st, HOUR, p0 + 3 * HOUR + HOUR / 2, &err), 3);
    recs = all_records(st);
    assert_int_equal(json_array_size(recs), 2 * 3 * 3);
    read_rows(st, "vm-a", &a);
    assert_int_equal(a.n, 1);
    for (k = 0; k < 3; k++) {
        assert_true(check_period(recs, &a, p0 + (int64_t) k * HOUR, HOUR));
        assert_non_null(find(recs, "vm-b", "compute.hours", p0 + (int64_t) k * HOUR));
    }
    assert_null(find(recs, "vm-a", "compute.hours", p0 + 3 * HOUR));
    /* Whole periods count whole hours; the first is partial, from the creation on. */
    assert_float_equal(quantity(find(recs, "vm-a", "compute.hours", p0 + HOUR)), 1.0, 1e-12);
    assert_float_equal(quantity(find(recs, "vm-a", "storage.gbHours", p0 + 2 * HOUR)), 30.0, 1e-9);
    assert_float_equal(quantity(find(recs, "vm-a", "compute.hours", p0)),
                       (double) (p0 + HOUR - a.at[0]) / HOUR, 1e-12);
    json_decref(recs);
    /* Again at the same time: nothing more; an hour later: the fourth period only. */
    assert_int_equal(usage_close_due(st, HOUR, p0 + 3 * HOUR + HOUR / 2, &err), 0);
    recs = all_records(st);
    assert_int_equal(json_array_size(recs), 18);
    json_decref(recs);
    assert_int_equal(usage_close_due(st, HOUR, p0 + 4 * HOUR, &err), 1);
    assert_int_equal(usage_close_due(st, HOUR, p0 + 4 * HOUR, &err), 0);
    recs = all_records(st);
    assert_int_equal(json_array_size(recs), 24);
    assert_true(check_period(recs, &a, p0 + 3 * HOUR, HOUR));
    assert_null(find(recs, "vm-a", "compute.hours", p0 + 4 * HOUR));
    json_decref(recs);
}

/* A period is closed a chunk of VMs per transaction (chunks sized by the time they take, up to 5000):
 * across the chunks' seams no VM is skipped nor metered twice. */
/* n running VMs, vm-00000 on, created in one transaction. */
static void
append_running(store_t *st, int n)
{
    char id[32];
    err_t err = {0};
    int k;

    assert_int_equal(store_tx_begin(st, &err), 0);
    for (k = 0; k < n; k++) {
        snprintf(id, sizeof(id), "vm-%05d", k);
        append(st, id, "sub-1", "created", &running_s, NULL, NULL);
    }
    assert_int_equal(store_tx_commit(st, &err), 0);
}

static void
close_due_meters_every_vm_across_chunks(void **state)
{
    fixture_t *f = *state;
    store_t *st = f->st;
    const int n = 5003;
    int64_t p0;
    err_t err = {0};
    json_t *recs, *seen = json_object(), *r;
    size_t i;

    append_running(st, n);
    p0 = first_period(st, HOUR);
    assert_int_equal(usage_close_due(st, HOUR, p0 + HOUR, &err), 1);
    recs = all_records(st);
    assert_int_equal(json_array_size(recs), 3 * (size_t) n);
    json_array_foreach(recs, i, r) {
        if (strcmp(json_string_value(json_object_get(r, "meter")), "compute.hours") != 0)
            continue;
        assert_null(json_object_get(seen, json_string_value(json_object_get(r, "resourceId"))));
        json_object_set_new(seen, json_string_value(json_object_get(r, "resourceId")), json_true());
    }
    assert_int_equal(json_object_size(seen), (size_t) n);
    json_decref(seen);
    json_decref(recs);
}

/* A close within a budget stops after the chunk that ends past it; the next goes on from that VM, and the
 * period ends with one record per VM and meter, none twice. */
static void
close_within_a_budget_goes_on_where_it_stopped(void **state)
{
    fixture_t *f = *state;
    store_t *st = f->st;
    const int n = 5003; /* one chunk and three VMs */
    int64_t p0;
    err_t err = {0};
    json_t *recs;

    usage__close_chunks(5000, 5000);
    append_running(st, n);
    p0 = first_period(st, HOUR);
    /* Out of time after the first chunk: no period closed whole, that chunk's records written. */
    assert_int_equal(usage_close_due_within(st, HOUR, p0 + 2 * HOUR, 0, &err), 0);
    recs = all_records(st);
    assert_int_equal(json_array_size(recs), 3 * 5000);
    json_decref(recs);
    /* The next goes on with the three left, and does not start the second period. */
    assert_int_equal(usage_close_due_within(st, HOUR, p0 + 2 * HOUR, 0, &err), 1);
    recs = all_records(st);
    assert_int_equal(json_array_size(recs), 3 * (size_t) n);
    json_decref(recs);
    /* Without a budget: the second period, whole. */
    assert_int_equal(usage_close_due(st, HOUR, p0 + 2 * HOUR, &err), 1);
    recs = all_records(st);
    assert_int_equal(json_array_size(recs), 2 * 3 * (size_t) n);
    assert_non_null(find(recs, "vm-05002", "compute.hours", p0));
    assert_non_null(find(recs, "vm-00000", "compute.hours", p0 + HOUR));
    json_decref(recs);
    usage__close_chunks(0, 0);
}

/* A close of many VMs is many transactions: with chunks of at most 100 VMs, a period of 2,000 VMs takes at
 * least 20 commits, and a crash between them (a close stopped with its budget spent, then forgotten as a
 * restart forgets it) closes the period again from its start with every record once. */
static void
close_commits_in_chunks(void **state)
{
    fixture_t *f = *state;
    store_t *st = f->st;
    const int n = 2000;
    uint64_t before;
    int64_t p0;
    err_t err = {0};
    json_t *recs;

    usage__close_chunks(100, 100);
    append_running(st, n);
    p0 = first_period(st, HOUR);
    before = store_commits(st);
    assert_int_equal(usage_close_due(st, HOUR, p0 + HOUR, &err), 1);
    assert_true(store_commits(st) - before >= (uint64_t) n / 100);
    recs = all_records(st);
    assert_int_equal(json_array_size(recs), 3 * (size_t) n);
    json_decref(recs);
    usage__close_chunks(0, 0);
}

/* While a long close runs, a write waits for one chunk, not for the whole close: a write made once the
 * close has written its first records returns while the close is still writing (it has not written every
 * VM's records by then). The close has 20,000 VMs in chunks of at most 50, so it lasts hundreds of chunks
 * past the write. */
typedef struct {
    store_t *st;
    int64_t p0;
    int rc;
} closer_arg_t;

static void *
closer_run(void *arg)
{
    closer_arg_t *a = arg;
    err_t err = {0};

    a->rc = usage_close_due(a->st, HOUR, a->p0 + HOUR, &err);
    return NULL;
}

/* How many usage records have been written so far. */
static int64_t
records_written(store_t *st)
{
    err_t err = {0};
    int64_t last = 0;
    json_t *page = store_usage_records(st, NULL, 0, 0, INT64_MAX, 100000, &last, &err);
    int64_t n;

    assert_non_null(page);
    n = (int64_t) json_array_size(page);
    json_decref(page);
    return n;
}

static void
writes_wait_for_a_chunk_not_the_close(void **state)
{
    fixture_t *f = *state;
    const int n = 20000;
    closer_arg_t a = {.st = f->st, .rc = 99};
    pthread_t th;
    int64_t seen = 0;
    int polls = 0;
    err_t err = {0};

    usage__close_chunks(50, 50);
    append_running(f->st, n);
    a.p0 = first_period(f->st, HOUR);
    assert_int_equal(pthread_create(&th, NULL, closer_run, &a), 0);
    while ((seen = records_written(f->st)) == 0 && polls++ < 20000)
        usleep(500); /* up to 10 s */
    assert_true(seen > 0);
    assert_int_equal(store_meta_set(f->st, "test.write", 1, &err), 0);
    assert_true(records_written(f->st) < 3 * (int64_t) n);
    pthread_join(th, NULL);
    assert_int_equal(a.rc, 1);
    assert_int_equal(records_written(f->st), 3 * (int64_t) n);
    usage__close_chunks(0, 0);
}

/* ---- proration from the real times of the changes ---- */

/* Appends the next change of the scenario once the previous one has held long enough to be measured well
 * (many times the uncertainty of its time). */
static void
change_after(store_t *st, const char *id, const char *event, const vm_state_t *s, int64_t *lo,
             int64_t *hi, size_t i)
{
    int64_t held = 10 * (hi[i - 1] - lo[i - 1]);

    wait_until(hi[i - 1] + (held > 40 ? held : 40));
    append(st, id, "sub-1", event, s, &lo[i], &hi[i]);
}

static void
proration_follows_stop_deallocate_resize_and_delete(void **state)
{
    fixture_t *f = *state;
    store_t *st = f->st;
    const int64_t period = 100;
    const vm_state_t stopped = {"stopped", "S", 2, 2048, 30, true, true};
    const vm_state_t deallocated = {"deallocated", "S", 2, 2048, 30, false, true};
    const vm_state_t resized = {"running", "L", 4, 4096, 50, true, true};
    int64_t lo[5], hi[5], p, first, last;
    double compute = 0, running = 0, gb = 0, q;
    size_t i, n = 0, existed = 0;
    err_t err = {0};
    json_t *recs, *props, *rec;
    rows_t r;

    append(st, "vm-p", "sub-1", "created", &running_s, &lo[0], &hi[0]);
    change_after(st, "vm-p", "changed", &stopped, lo, hi, 1);
    change_after(st, "vm-p", "changed", &deallocated, lo, hi, 2);
    change_after(st, "vm-p", "changed", &resized, lo, hi, 3);
    change_after(st, "vm-p", "deleted", &resized, lo, hi, 4);
    read_rows(st, "vm-p", &r);
    assert_int_equal(r.n, 5);
    for (i = 0; i < 5; i++) {
        assert_true(r.at[i] >= lo[i] && r.at[i] <= hi[i]);
        assert_int_equal(r.deleted[i], i == 4);
    }
    /* Wait for the period of the deletion to end, then close everything due. */
    first = r.at[0] / period * period;
    last = r.at[4] / period * period;
    wait_until(last + period);
    assert_true(usage_close_due(st, period, util_now_ms(), &err) >= (int) ((last - first) / period) + 1);
    recs = all_records(st);
    for (p = first - period; p <= last + period; p += period) {
        if (check_period(recs, &r, p, period))
            existed++;
        n += count_records(recs, "vm-p", meters[0], p, &q);
        compute += q;
        n += count_records(recs, "vm-p", meters[1], p, &q);
        running += q;
        n += count_records(recs, "vm-p", meters[2], p, &q);
        gb += q;
    }
    assert_true(existed >= 2); /* the scenario spans several periods: first and last are partial */
    assert_int_equal(json_array_size(recs), n);
    /* Over the VM's life: compute while running or stopped, running time only while running, storage
     * all along (30 GB, then 50 GB from the resize on). */
    assert_float_equal(compute, (double) (r.at[2] - r.at[0] + r.at[4] - r.at[3]) / HOUR, 1e-9);
    assert_float_equal(running, (double) (r.at[1] - r.at[0] + r.at[4] - r.at[3]) / HOUR, 1e-9);
    assert_float_equal(gb, (30.0 * (double) (r.at[3] - r.at[0]) + 50.0 * (double) (r.at[4] - r.at[3])) /
                               HOUR, 1e-9);
    assert_true(running < compute);
    /* The period of the VM's last moment shows the size it ended with (a deletion right at a period's
     * start leaves that period no time to bill). */
    rec = find_size(recs, "vm-p", meters[0], (r.at[4] - 1) / period * period, "L");
    assert_non_null(rec);
    props = json_object_get(rec, "properties");
    assert_string_equal(json_string_value(json_object_get(props, "size")), "L");
    assert_int_equal(json_integer_value(json_object_get(props, "cores")), 4);
    json_decref(recs);
}

/* ---- storage counts every disk ---- */

static void
storage_counts_every_disk_the_record_holds(void **state)
{
    fixture_t *f = *state;
    store_t *st = f->st;
    /* OS disk 30 GB, a data disk 20 GB, then the checkpoint's differencing disk at 5 GB. */
    const vm_state_t disks = {"running", "S", 2, 2048, 50, true, true};
    const vm_state_t with_cp = {"running", "S", 2, 2048, 55, true, true};
    int64_t p0;
    err_t err = {0};
    json_t *recs, *wap;
    rows_t r;

    append(st, "vm-d", "sub-1", "created", &disks, NULL, NULL);
    append(st, "vm-d", "sub-1", "changed", &with_cp, NULL, NULL);
    append(st, "vm-d", "sub-1", "changed", &with_cp, NULL, NULL); /* nothing metered changed */
    read_rows(st, "vm-d", &r);
    assert_int_equal(r.n, 2);
    p0 = first_period(st, HOUR);
    assert_int_equal(usage_close_due(st, HOUR, p0 + 2 * HOUR, &err), 2);
    recs = all_records(st);
    assert_true(check_period(recs, &r, p0, HOUR));
    assert_float_equal(quantity(find(recs, "vm-d", "storage.gbHours", p0 + HOUR)), 55.0, 1e-9);
    assert_float_equal(quantity(find(recs, "vm-d", "storage.gbHours", p0)),
                       (50.0 * (double) (r.at[1] - r.at[0]) + 55.0 * (double) (p0 + HOUR - r.at[1])) /
                           HOUR,
                       1e-9);
    assert_string_equal(json_string_value(json_object_get(find(recs, "vm-d", "storage.gbHours", p0),
                                                          "unit")),
                        "GB-hours");
    json_decref(recs);
    /* The WAP record carries the most the VM had, in bytes. */
    wap = usage_wap(st, "", 10, &err);
    assert_int_equal(json_array_size(wap), 2);
    assert_string_equal(json_string_value(json_object_get(
                            json_object_get(json_array_get(wap, 0), "Resources"),
                            "CrossDiskSizeAllocated-Max")),
                        "59055800320");
    json_decref(wap);
}

/* ---- a VM whose creation failed ---- */

static void
failed_creation_is_never_billed(void **state)
{
    fixture_t *f = *state;
    store_t *st = f->st;
    const vm_state_t released = {"deallocated", "S", 2, 2048, 0, false, false};
    int64_t p0;
    err_t err = {0};
    json_t *recs, *wap, *r;
    size_t i;

    append(st, "vm-ok", "sub-1", "created", &running_s, NULL, NULL);
    append(st, "vm-failed", "sub-1", "created", &running_s, NULL, NULL);
    append(st, "vm-failed", "sub-1", "changed", &released, NULL, NULL);
    assert_int_equal(store_timeline_forget(st, "vm-failed", &err), 0);
    p0 = first_period(st, HOUR);
    assert_int_equal(usage_close_due(st, HOUR, p0 + 2 * HOUR, &err), 2);
    recs = all_records(st);
    assert_int_equal(json_array_size(recs), 6);
    json_array_foreach(recs, i, r)
        assert_string_equal(json_string_value(json_object_get(r, "resourceId")), "vm-ok");
    json_decref(recs);
    wap = usage_wap(st, "", 100, &err);
    assert_int_equal(json_array_size(wap), 2);
    json_array_foreach(wap, i, r)
        assert_string_equal(json_string_value(json_object_get(r, "ResourceId")), "vm-ok");
    json_decref(wap);
}

/* ---- paging, the WAP contract, purging ---- */

/* n VMs created now, and the periods until p0 + periods hours closed; answers p0. */
static int64_t
vms_closed(store_t *st, int n, const char *sid, int periods)
{
    char id[32];
    int64_t p0;
    err_t err = {0};
    int i;

    for (i = 0; i < n; i++) {
        snprintf(id, sizeof(id), "vm-%s-%d", sid, i);
        append(st, id, sid, "created", &running_s, NULL, NULL);
    }
    p0 = first_period(st, HOUR);
    assert_int_equal(usage_close_due(st, HOUR, p0 + periods * HOUR, &err), periods);
    return p0;
}

static void
page_never_repeats_nor_skips(void **state)
{
    fixture_t *f = *state;
    store_t *st = f->st;
    json_t *all, *page, *seen = json_object();
    int64_t after = 0, next = 0;
    size_t i, k = 0;
    err_t err = {0};

    vms_closed(st, 7, "sub-1", 2);
    all = all_records(st);
    assert_int_equal(json_array_size(all), 7 * 3 * 2);
    for (;;) {
        page = usage_page(st, after, 5, &next, &err);
        assert_non_null(page);
        assert_true(json_array_size(page) <= 5);
        if (json_array_size(page) == 0) {
            assert_int_equal(next, after); /* nothing new: the same position */
            json_decref(page);
            break;
        }
        assert_true(next > after);
        for (i = 0; i < json_array_size(page); i++, k++) {
            const char *id = id_of(json_array_get(page, i));
            assert_null(json_object_get(seen, id));
            json_object_set_new(seen, id, json_true());
            assert_string_equal(id, id_of(json_array_get(all, k)));
        }
        after = next;
        json_decref(page);
    }
    assert_int_equal(k, 42);
    /* A record closed later comes after the cursor, once. */
    assert_int_equal(usage_close_due(st, HOUR, first_period(st, HOUR) + 3 * HOUR, &err), 1);
    page = usage_page(st, after, 1000, &next, &err);
    assert_int_equal(json_array_size(page), 21);
    json_decref(page);
    json_decref(seen);
    json_decref(all);
}

static int64_t
event_id(const json_t *list, size_t i)
{
    return json_integer_value(json_object_get(json_array_get(list, i), "EventId"));
}

static void
wap_answers_in_event_order_and_acknowledges(void **state)
{
    fixture_t *f = *state;
    store_t *st = f->st;
    int64_t p0, acked = 0, prev = 0;
    char last[32] = "", start[UTIL_TIME_LEN + 1];
    json_t *b, *r, *res;
    size_t i, total = 0, second = 0;
    err_t err = {0};

    p0 = vms_closed(st, 3, "sub-1", 2);
    util_time_format(p0 + HOUR, start);
    /* "0" starts from the beginning as "" does; nothing is acknowledged by either. */
    b = usage_wap(st, "0", 100, &err);
    assert_int_equal(json_array_size(b), 6);
    json_decref(b);
    assert_int_equal(store_meta_get(st, "usage.wapAckedId", &acked, &err), 1);
    do {
        b = usage_wap(st, last, 4, &err);
        assert_non_null(b);
        assert_true(json_array_size(b) <= 4);
        json_array_foreach(b, i, r) {
            assert_true(event_id(b, i) > prev);
            prev = event_id(b, i);
            assert_string_equal(json_string_value(json_object_get(r, "ServiceType")),
                                "VirtualMachine");
            assert_string_equal(json_string_value(json_object_get(r, "SubscriptionId")), "sub-1");
            assert_non_null(json_string_value(json_object_get(r, "StartTime")));
            assert_non_null(json_string_value(json_object_get(r, "EndTime")));
            assert_string_equal(json_string_value(json_object_get(json_object_get(r, "Properties"),
                                                                  "VMName")),
                                json_string_value(json_object_get(r, "ResourceId")));
            assert_true(json_is_string(json_object_get(json_object_get(r, "Properties"),
                                                       "Subscriber")));
            res = json_object_get(r, "Resources");
            assert_string_equal(json_string_value(json_object_get(res, "CPUAllocationCount-Max")),
                                "2");
            assert_string_equal(json_string_value(json_object_get(res, "MemoryAllocated-Max")),
                                "2048");
            assert_string_equal(
                json_string_value(json_object_get(res, "CrossDiskSizeAllocated-Max")),
                "32212254720");
            second += strcmp(json_string_value(json_object_get(r, "StartTime")), start) == 0;
            total++;
        }
        if (json_array_size(b) > 0)
            snprintf(last, sizeof(last), "%lld", (long long) prev);
        i = json_array_size(b);
        json_decref(b);
    } while (i > 0);
    assert_int_equal(total, 6); /* one record per VM and period, none repeated */
    assert_int_equal(second, 3);
    /* lastID acknowledged what was read; an older lastID does not take it back. */
    assert_int_equal(store_meta_get(st, "usage.wapAckedId", &acked, &err), 0);
    assert_int_equal(acked, prev);
    b = usage_wap(st, "1", 100, &err);
    assert_int_equal(json_array_size(b), 5);
    json_decref(b);
    assert_int_equal(store_meta_get(st, "usage.wapAckedId", &acked, &err), 0);
    assert_int_equal(acked, prev);
    /* A lastID that is not a whole EventId is refused, naming it. */
    assert_null(usage_wap(st, "x1", 100, &err));
    assert_int_equal(err.code, ERR_INVALID_REQUEST);
    assert_string_equal(err.target, "lastID");
}

static size_t
records_count(store_t *st)
{
    json_t *recs = all_records(st);
    size_t n = json_array_size(recs);

    json_decref(recs);
    return n;
}

static void
purge_takes_only_acknowledged_old_records(void **state)
{
    fixture_t *f = *state;
    store_t *st = f->st;
    char id[32];
    int64_t p0, now, acked;
    err_t err = {0};
    json_t *b, *recs, *r;
    size_t i;

    p0 = vms_closed(st, 2, "sub-1", 3); /* 18 usage records, 6 WAP records */
    now = p0 + 3 * HOUR;
    /* Nothing acknowledged: nothing goes, however old. */
    assert_int_equal(usage_purge(st, 0, now + 100 * HOUR, &err), 0);
    assert_int_equal(records_count(st), 18);
    /* Acknowledge the first period's two WAP records. */
    b = usage_wap(st, "", 2, &err);
    assert_int_equal(json_array_size(b), 2);
    acked = event_id(b, 1);
    json_decref(b);
    snprintf(id, sizeof(id), "%lld", (long long) acked);
    json_decref(usage_wap(st, id, 1, &err));
    /* Within the retention: nothing goes. */
    assert_int_equal(usage_purge(st, 10 * HOUR, now, &err), 0);
    assert_int_equal(records_count(st), 18);
    /* Past it, every period ended: only the acknowledged one goes (6 records and 2 WAP records). */
    assert_int_equal(usage_purge(st, 0, now + HOUR, &err), 8);
    recs = all_records(st);
    assert_int_equal(json_array_size(recs), 12);
    json_array_foreach(recs, i, r)
        assert_null(find(recs, json_string_value(json_object_get(r, "resourceId")),
                         "compute.hours", p0));
    json_decref(recs);
    b = usage_wap(st, "", 100, &err);
    assert_int_equal(json_array_size(b), 4);
    assert_true(event_id(b, 0) > acked);
    /* Acknowledge everything: what is older than the retention goes, the last period stays. */
    snprintf(id, sizeof(id), "%lld", (long long) event_id(b, 3));
    json_decref(b);
    json_decref(usage_wap(st, id, 1, &err));
    assert_int_equal(usage_purge(st, HOUR, now + HOUR - 1, &err), 8);
    assert_int_equal(records_count(st), 6);
    assert_int_equal(usage_purge(st, HOUR, now + HOUR - 1, &err), 0);
}

/* ---- a subscription's totals ---- */

static double
meter_total(const json_t *totals, const char *meter)
{
    return json_real_value(json_object_get(json_object_get(totals, "meters"), meter));
}

static void
totals_of_a_subscription_within_a_window(void **state)
{
    fixture_t *f = *state;
    store_t *st = f->st;
    char from[UTIL_TIME_LEN + 1], to[UTIL_TIME_LEN + 1];
    int64_t p0;
    err_t err = {0};
    json_t *t, *r, *recs;
    double compute = 0;
    size_t i;

    append(st, "vm-x", "sub-2", "created", &running_s, NULL, NULL);
    p0 = vms_closed(st, 2, "sub-1", 3);
    /* The whole periods [p0 + 1h, p0 + 3h): two VMs, two hours each. */
    t = usage_totals(st, "sub-1", p0 + HOUR, p0 + 3 * HOUR, &err);
    assert_non_null(t);
    util_time_format(p0 + HOUR, from);
    util_time_format(p0 + 3 * HOUR, to);
    assert_string_equal(json_string_value(json_object_get(t, "from")), from);
    assert_string_equal(json_string_value(json_object_get(t, "to")), to);
    assert_float_equal(meter_total(t, "compute.hours"), 4.0, 1e-9);
    assert_float_equal(meter_total(t, "compute.runningHours"), 4.0, 1e-9);
    assert_float_equal(meter_total(t, "storage.gbHours"), 4 * 30.0, 1e-9);
    assert_int_equal(json_array_size(json_object_get(t, "resources")), 2 * 3);
    json_array_foreach(json_object_get(t, "resources"), i, r) {
        assert_string_not_equal(json_string_value(json_object_get(r, "resourceId")), "vm-x");
        assert_float_equal(quantity(r), strcmp(json_string_value(json_object_get(r, "meter")),
                                               "storage.gbHours") == 0
                                            ? 60.0
                                            : 2.0,
                           1e-9);
        assert_string_equal(json_string_value(json_object_get(r, "unit")),
                            strcmp(json_string_value(json_object_get(r, "meter")),
                                   "storage.gbHours") == 0
                                ? "GB-hours"
                                : "hours");
    }
    json_decref(t);
    /* A period partly outside the window does not count. */
    t = usage_totals(st, "sub-1", p0 + HOUR + 1, p0 + 3 * HOUR, &err);
    assert_float_equal(meter_total(t, "compute.hours"), 2.0, 1e-9);
    json_decref(t);
    /* Unbounded: every record of the subscription, the first partial period included. */
    recs = all_records(st);
    json_array_foreach(recs, i, r) {
        if (strcmp(json_string_value(json_object_get(r, "subscriptionId")), "sub-1") == 0 &&
            strcmp(json_string_value(json_object_get(r, "meter")), "compute.hours") == 0)
            compute += quantity(r);
    }
    json_decref(recs);
    t = usage_totals(st, "sub-1", INT64_MIN, INT64_MAX, &err);
    assert_float_equal(meter_total(t, "compute.hours"), compute, 1e-9);
    assert_true(compute > 4.0);
    json_decref(t);
    /* A subscription with nothing: empty totals. */
    t = usage_totals(st, "sub-none", INT64_MIN, INT64_MAX, &err);
    assert_int_equal(json_object_size(json_object_get(t, "meters")), 0);
    assert_int_equal(json_array_size(json_object_get(t, "resources")), 0);
    json_decref(t);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(close_due_closes_each_ended_period_once, setup, teardown),
        cmocka_unit_test_setup_teardown(close_due_meters_every_vm_across_chunks, setup, teardown),
        cmocka_unit_test_setup_teardown(close_within_a_budget_goes_on_where_it_stopped, setup, teardown),
        cmocka_unit_test_setup_teardown(close_commits_in_chunks, setup, teardown),
        cmocka_unit_test_setup_teardown(writes_wait_for_a_chunk_not_the_close, setup, teardown),
        cmocka_unit_test_setup_teardown(proration_follows_stop_deallocate_resize_and_delete, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(storage_counts_every_disk_the_record_holds, setup, teardown),
        cmocka_unit_test_setup_teardown(failed_creation_is_never_billed, setup, teardown),
        cmocka_unit_test_setup_teardown(page_never_repeats_nor_skips, setup, teardown),
        cmocka_unit_test_setup_teardown(wap_answers_in_event_order_and_acknowledges, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(purge_takes_only_acknowledged_old_records, setup, teardown),
        cmocka_unit_test_setup_teardown(totals_of_a_subscription_within_a_window, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
