/* Unit tests of the append log (lib/agent/applog.c) and of the simulator's state kept in it
 * (lib/agent/sim_state.c): lines read back after a reopen, a torn last line cut off and damage refused,
 * compaction to exactly the live records, concurrent appenders made durable with fewer fdatasyncs than
 * appends, the simulator's VMs across a reopen, and the migration of the old per-VM directory. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "../../lib/agent.h"
#include "../../lib/agent/applog.h"
#include "test_agent_tmp.h"

typedef agent_tmp_t tmp_t; /* path: the log's file */

#define MAX_LINES 512

static size_t
lines_of(applog_t *l)
{
    size_t n;

    applog_counts(l, &n, NULL);
    return n;
}

static uint64_t
syncs_of(applog_t *l)
{
    uint64_t n;

    applog_counts(l, NULL, &n);
    return n;
}

/* What a replay read back: the lines, in order; refuse: the line (1-based) the callback refuses. */
typedef struct {
    char *lines[MAX_LINES];
    size_t n;
    size_t refuse;
} seen_t;

static int
collect(void *ctx, const char *line, size_t len)
{
    seen_t *s = ctx;

    assert_int_equal(strlen(line), len);
    if (s->n + 1 == s->refuse)
        return -1;
    assert_true(s->n < MAX_LINES);
    s->lines[s->n] = strdup(line);
    assert_non_null(s->lines[s->n]);
    s->n++;
    return 0;
}

static void
seen_free(seen_t *s)
{
    size_t i;

    for (i = 0; i < s->n; i++)
        free(s->lines[i]);
    memset(s, 0, sizeof(*s));
}

static int
setup(void **state)
{
    tmp_t *t = agent_tmp_new();

    snprintf(t->path, sizeof(t->path), "%s/a.log", t->dir);
    *state = t;
    return 0;
}

static applog_t *
open_log(const char *path, seen_t *seen)
{
    applog_t *l = NULL;

    memset(seen, 0, sizeof(*seen));
    assert_int_equal(applog_open(path, collect, seen, &l), 0);
    assert_non_null(l);
    return l;
}

static void
put(applog_t *l, const char *line)
{
    uint64_t end = 0;

    assert_int_equal(applog_append(l, line, strlen(line), &end), 0);
    assert_true(end > 0);
    assert_int_equal(applog_sync(l, end), 0);
}

static off_t
file_size(const char *path)
{
    struct stat st;

    assert_int_equal(stat(path, &st), 0);
    return st.st_size;
}

static void
append_raw(const char *path, const char *text)
{
    FILE *f = fopen(path, "a");

    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

/* ---- the log ---- */

static void
lines_are_read_back_after_a_reopen(void **state)
{
    tmp_t *t = *state;
    seen_t seen;
    applog_t *l = open_log(t->path, &seen);

    assert_int_equal(seen.n, 0);
    put(l, "one");
    put(l, "{\"two\": 2}");
    put(l, "three");
    assert_int_equal(lines_of(l), 3);
    applog_close(l);
    l = open_log(t->path, &seen);
    assert_int_equal(seen.n, 3);
    assert_string_equal(seen.lines[0], "one");
    assert_string_equal(seen.lines[1], "{\"two\": 2}");
    assert_string_equal(seen.lines[2], "three");
    assert_int_equal(lines_of(l), 3);
    seen_free(&seen);
    /* Appends after a reopen follow the old lines. */
    put(l, "four");
    applog_close(l);
    l = open_log(t->path, &seen);
    assert_int_equal(seen.n, 4);
    assert_string_equal(seen.lines[3], "four");
    seen_free(&seen);
    applog_close(l);
}

static void
a_torn_last_line_is_cut_and_damage_refused(void **state)
{
    tmp_t *t = *state;
    seen_t seen;
    applog_t *l = open_log(t->path, &seen);
    off_t good;

    put(l, "one");
    put(l, "two");
    applog_close(l);
    good = file_size(t->path);
    /* A crash in the middle of an append leaves half a line. */
    append_raw(t->path, "thr");
    l = open_log(t->path, &seen);
    assert_int_equal(seen.n, 2);
    assert_int_equal(file_size(t->path), good);
    seen_free(&seen);
    put(l, "three");
    applog_close(l);
    l = open_log(t->path, &seen);
    assert_int_equal(seen.n, 3);
    assert_string_equal(seen.lines[2], "three");
    seen_free(&seen);
    applog_close(l);
    /* A last line the reader refuses is cut off as torn... */
    good = file_size(t->path);
    append_raw(t->path, "garbage\n");
    memset(&seen, 0, sizeof(seen));
    seen.refuse = 4;
    l = NULL;
    assert_int_equal(applog_open(t->path, collect, &seen, &l), 0);
    assert_int_equal(seen.n, 3);
    assert_int_equal(file_size(t->path), good);
    seen_free(&seen);
    applog_close(l);
    /* ... one before the last is damage: the log will not guess. */
    seen.refuse = 2;
    l = NULL;
    assert_int_equal(applog_open(t->path, collect, &seen, &l), APPLOG_ERR_DAMAGED);
    assert_null(l);
    assert_int_equal(file_size(t->path), good);
    seen_free(&seen);
}

/* The live records of the compaction test: key i holds value vals[i]. */
typedef struct {
    int vals[5];
} live_t;

static int
live_records(void *ctx, applog_emit_fn emit, void *emit_ctx)
{
    live_t *live = ctx;
    char line[32];
    int i;

    for (i = 0; i < 5; i++) {
        snprintf(line, sizeof(line), "k%d=%d", i, live->vals[i]);
        if (emit(emit_ctx, line, strlen(line)) != 0)
            return -1;
    }
    return 0;
}

static void
compaction_keeps_exactly_the_live_records(void **state)
{
    tmp_t *t = *state;
    live_t live = {{0}};
    char line[32], want[32];
    seen_t seen;
    applog_t *l = open_log(t->path, &seen);
    uint64_t end = 0;
    int round, i;

    for (round = 1; round <= 3; round++)
        for (i = 0; i < 5; i++) {
            live.vals[i] = round * 10 + i;
            snprintf(line, sizeof(line), "k%d=%d", i, live.vals[i]);
            assert_int_equal(applog_append(l, line, strlen(line), &end), 0);
        }
    assert_int_equal(lines_of(l), 15);
    assert_false(applog_needs_compact(l, 5, 6));
    assert_true(applog_needs_compact(l, 5, 5));
    /* Not synced before: the compaction makes every line appended so far durable. */
    assert_int_equal(applog_compact(l, live_records, &live), 0);
    assert_int_equal(lines_of(l), 5);
    assert_int_equal(applog_sync(l, end), 0);
    put(l, "k0=99");
    applog_close(l);
    l = open_log(t->path, &seen);
    assert_int_equal(seen.n, 6);
    for (i = 0; i < 5; i++) {
        snprintf(want, sizeof(want), "k%d=%d", i, 30 + i);
        assert_string_equal(seen.lines[i], want);
    }
    assert_string_equal(seen.lines[5], "k0=99");
    seen_free(&seen);
    applog_close(l);
}

/* ---- group commit ---- */

static void
a_sync_covers_everything_appended_before_it_once(void **state)
{
    tmp_t *t = *state;
    seen_t seen;
    applog_t *l = open_log(t->path, &seen);
    uint64_t first = 0, second = 0;

    assert_int_equal(applog_end(l), 0);
    assert_int_equal(applog_sync(l, 0), 0);
    assert_int_equal(syncs_of(l), 0); /* nothing to make durable: no fdatasync */
    assert_int_equal(applog_append(l, "a", 1, &first), 0);
    assert_int_equal(applog_append(l, "b", 1, &second), 0);
    assert_true(first < second);
    /* A reader that saw "b" syncs to the log's end: one fdatasync covers both lines... */
    assert_int_equal(applog_end(l), second);
    assert_int_equal(applog_sync(l, applog_end(l)), 0);
    assert_int_equal(syncs_of(l), 1);
    /* ... and the writer of "a", syncing after, finds its line covered. */
    assert_int_equal(applog_sync(l, first), 0);
    assert_int_equal(applog_sync(l, second), 0);
    assert_int_equal(syncs_of(l), 1);
    applog_close(l);
}

#define WRITERS 8
#define PER_WRITER 40

typedef struct {
    applog_t *log;
    pthread_barrier_t *start;
    int id;
    int failures;
} writer_t;

static void *
writer(void *arg)
{
    writer_t *w = arg;
    char line[32];
    uint64_t end;
    int i;

    pthread_barrier_wait(w->start);
    for (i = 0; i < PER_WRITER; i++) {
        snprintf(line, sizeof(line), "w%d-%d", w->id, i);
        if (applog_append(w->log, line, strlen(line), &end) != 0 || applog_sync(w->log, end) != 0)
            w->failures++;
    }
    return NULL;
}

static void
concurrent_appenders_share_fdatasyncs(void **state)
{
    tmp_t *t = *state;
    pthread_t threads[WRITERS];
    writer_t w[WRITERS];
    pthread_barrier_t start;
    bool found[WRITERS][PER_WRITER] = {{false}};
    seen_t seen;
    applog_t *l = open_log(t->path, &seen);
    int i, id, k;

    pthread_barrier_init(&start, NULL, WRITERS);
    for (i = 0; i < WRITERS; i++) {
        w[i] = (writer_t){l, &start, i, 0};
        assert_int_equal(pthread_create(&threads[i], NULL, writer, &w[i]), 0);
    }
    for (i = 0; i < WRITERS; i++) {
        pthread_join(threads[i], NULL);
        assert_int_equal(w[i].failures, 0);
    }
    pthread_barrier_destroy(&start);
    assert_int_equal(lines_of(l), WRITERS * PER_WRITER);
    /* Every append was synced by someone, and writers waiting together shared a sync. */
    assert_true(syncs_of(l) > 0);
    assert_true(syncs_of(l) < WRITERS * PER_WRITER);
    applog_close(l);
    l = open_log(t->path, &seen);
    assert_int_equal(seen.n, WRITERS * PER_WRITER);
    for (i = 0; i < (int) seen.n; i++) {
        assert_int_equal(sscanf(seen.lines[i], "w%d-%d", &id, &k), 2);
        assert_false(found[id][k]);
        found[id][k] = true;
    }
    seen_free(&seen);
    applog_close(l);
}

/* ---- the simulator's state in its log ---- */

static agent_t *
open_sim(tmp_t *t)
{
    agent_conf_t conf = {.host_id = "h", .uri = "sim://", .state_dir = t->dir};
    agent_err_t err;
    agent_t *a;

    assert_int_equal(agent_builtin_register(), 0);
    a = agent_open("sim", &conf, &err);
    assert_non_null(a);
    return a;
}

static const agent_disk_spec_t os_disk = {-1, 40, AGENT_CACHING_READ_WRITE, "img-1", NULL};

static void
create(agent_t *a, const char *vm_id, char hyp[AGENT_ID_MAX])
{
    agent_vm_spec_t spec = {vm_id, vm_id, 2, 2048, 0, 0, 2, &os_disk, 1, NULL, 0};
    char op[64];
    agent_call_t c = {op, 1000, NULL};
    agent_err_t err;

    snprintf(op, sizeof(op), "create-%s", vm_id);
    assert_int_equal(agent_vm_create(a, &c, &spec, hyp, &err), 0);
}

/* The power state of the VM of that hypervisor id, "" when the host has none. */
static const char *
power_of(agent_t *a, const char *hyp, size_t *count)
{
    agent_call_t c = {"inv", 1000, NULL};
    agent_vm_list_t vms = {0};
    const agent_vm_info_t *vm;
    const char *ps = "";
    agent_err_t err;

    assert_int_equal(agent_inventory(a, &c, &vms, &err), 0);
    vm = agent_vm_list_find(&vms, hyp);
    if (vm != NULL)
        ps = agent_vm_power_name(vm->power);
    if (count != NULL)
        *count = vms.n;
    agent_vm_list_free(&vms);
    return ps;
}

static void
sim_vms_survive_a_reopen(void **state)
{
    tmp_t *t = *state;
    char h1[AGENT_ID_MAX], h2[AGENT_ID_MAX], h3[AGENT_ID_MAX], again[AGENT_ID_MAX], dir[160];
    agent_call_t c = {"start-1", 1000, NULL};
    agent_err_t err;
    agent_t *a = open_sim(t);
    struct stat st;
    size_t n;

    create(a, "vm-1", h1);
    create(a, "vm-2", h2);
    create(a, "vm-3", h3);
    assert_int_equal(agent_vm_power(a, &c, h1, AGENT_POWER_START, &err), 0);
    c.op_id = "delete-2";
    assert_int_equal(agent_vm_delete(a, &c, h2, &err), 0);
    agent_close(a);
    /* One log for the host, no file per VM. */
    snprintf(dir, sizeof(dir), "%s/sim/h.log", t->dir);
    assert_int_equal(stat(dir, &st), 0);
    snprintf(dir, sizeof(dir), "%s/sim/h", t->dir);
    assert_int_not_equal(stat(dir, &st), 0);
    a = open_sim(t);
    assert_string_equal(power_of(a, h1, &n), "running");
    assert_int_equal(n, 2);
    assert_string_equal(power_of(a, h3, NULL), "stopped");
    assert_string_equal(power_of(a, h2, NULL), "");
    /* A create keyed by a VM made before the reopen answers that VM (a new operation id: not the
     * journal's answer). */
    {
        agent_vm_spec_t spec = {"vm-3", "vm-3", 2, 2048, 0, 0, 2, &os_disk, 1, NULL, 0};
        c.op_id = "create-vm-3-again";
        assert_int_equal(agent_vm_create(a, &c, &spec, again, &err), 0);
        assert_string_equal(again, h3);
    }
    agent_close(a);
}

/* Writes one file of the old per-VM directory. */
static void
old_file(const char *dir, const char *name, const char *text)
{
    char path[256];
    FILE *f;

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void
an_old_per_vm_directory_is_migrated(void **state)
{
    tmp_t *t = *state;
    char dir[160];
    agent_call_t c = {"delete-b", 1000, NULL};
    agent_err_t err;
    struct stat st;
    agent_t *a;
    size_t n;

    snprintf(dir, sizeof(dir), "%s/sim", t->dir);
    assert_int_equal(mkdir(dir, 0700), 0);
    snprintf(dir, sizeof(dir), "%s/sim/h", t->dir);
    assert_int_equal(mkdir(dir, 0700), 0);
    old_file(dir, "sim-a.json",
             "{\"hypervisorId\":\"sim-a\",\"vmId\":\"vm-a\",\"name\":\"a\",\"powerState\":\"running\","
             "\"cores\":1,\"memoryMB\":512,\"disks\":[],\"nics\":[],\"checkpoints\":{},"
             "\"runningSinceMs\":1,\"_ops\":{\"x\":{}}}");
    old_file(dir, "sim-b.json",
             "{\"hypervisorId\":\"sim-b\",\"vmId\":\"vm-b\",\"name\":\"b\",\"powerState\":\"stopped\","
             "\"cores\":1,\"memoryMB\":512,\"disks\":[],\"nics\":[],\"checkpoints\":{}}");
    old_file(dir, "sim-gone.json", "{\"hypervisorId\":\"sim-gone\",\"deleted\":true}");
    old_file(dir, "sim-b.json.tmp", "{\"half");
    a = open_sim(t);
    assert_int_not_equal(stat(dir, &st), 0); /* read once, then removed */
    assert_string_equal(power_of(a, "sim-a", &n), "running");
    assert_int_equal(n, 2);
    assert_string_equal(power_of(a, "sim-b", NULL), "stopped");
    assert_string_equal(power_of(a, "sim-gone", NULL), "");
    assert_int_equal(agent_vm_delete(a, &c, "sim-b", &err), 0);
    agent_close(a);
    /* The migrated VMs are in the log: a reopen has them, and the deletion since. */
    a = open_sim(t);
    assert_string_equal(power_of(a, "sim-a", &n), "running");
    assert_int_equal(n, 1);
    agent_close(a);
}

static void
an_unreadable_old_file_refuses_the_open(void **state)
{
    tmp_t *t = *state;
    agent_conf_t conf = {.host_id = "h", .uri = "sim://", .state_dir = t->dir};
    char dir[160];
    agent_err_t err;
    struct stat st;

    snprintf(dir, sizeof(dir), "%s/sim", t->dir);
    assert_int_equal(mkdir(dir, 0700), 0);
    snprintf(dir, sizeof(dir), "%s/sim/h", t->dir);
    assert_int_equal(mkdir(dir, 0700), 0);
    old_file(dir, "sim-a.json", "{\"hypervisorId\":");
    assert_int_equal(agent_builtin_register(), 0);
    assert_null(agent_open("sim", &conf, &err));
    assert_int_equal(err.status, AGENT_ERR_PERMANENT);
    assert_int_equal(stat(dir, &st), 0); /* nothing removed: the VMs are still there to recover */
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(lines_are_read_back_after_a_reopen, setup, agent_tmp_teardown),
        cmocka_unit_test_setup_teardown(a_torn_last_line_is_cut_and_damage_refused, setup,
                                        agent_tmp_teardown),
        cmocka_unit_test_setup_teardown(compaction_keeps_exactly_the_live_records, setup,
                                        agent_tmp_teardown),
        cmocka_unit_test_setup_teardown(a_sync_covers_everything_appended_before_it_once, setup,
                                        agent_tmp_teardown),
        cmocka_unit_test_setup_teardown(concurrent_appenders_share_fdatasyncs, setup,
                                        agent_tmp_teardown),
        cmocka_unit_test_setup_teardown(sim_vms_survive_a_reopen, setup, agent_tmp_teardown),
        cmocka_unit_test_setup_teardown(an_old_per_vm_directory_is_migrated, setup, agent_tmp_teardown),
        cmocka_unit_test_setup_teardown(an_unreadable_old_file_refuses_the_open, setup,
                                        agent_tmp_teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
