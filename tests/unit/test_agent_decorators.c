/*
 * Unit tests of the agent decorators: the operation-id journal (lib/agent/journal.c: replay, conflict,
 * which answers it keeps, durability, a torn last line, compaction) and the chaos decorator
 * (lib/agent/chaos.c: its options and the faults it injects), the volume calls and imports included. Both
 * wrap a counting driver (test_agent_decorators_counter.h), so that every call that reaches the host is
 * seen.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "../../lib/agent.h"
#include "test_agent_decorators_counter.h"
#include "test_agent_tmp.h"

/* ---- fixture ---- */

typedef agent_tmp_t tmp_t; /* path: the journal's file */

static int
setup(void **state)
{
    tmp_t *t = agent_tmp_new();

    snprintf(t->path, sizeof(t->path), "%s/journal/h.log", t->dir);
    assert_int_equal(agent_register(&counter_driver), 0);
    memset(&host, 0, sizeof(host));
    *state = t;
    return 0;
}

static agent_t *
open_counter(const char *uri)
{
    agent_conf_t conf = {.host_id = "h", .uri = uri};
    agent_err_t err;
    agent_t *a = agent_open("counter", &conf, &err);

    assert_non_null(a);
    return a;
}

/* The counting host wrapped in the journal (path NULL: in memory). */
static agent_t *
journaled(const char *path)
{
    agent_err_t err;
    agent_t *a = agent_journal_wrap(open_counter("counter://"), path, &err);

    assert_non_null(a);
    return a;
}

static agent_call_t
call(const char *op, int timeout_ms)
{
    agent_call_t c = {op, timeout_ms, NULL};

    return c;
}

static const agent_disk_spec_t os_disk = {-1, 40, AGENT_CACHING_READ_WRITE, "img-1", NULL};

static agent_vm_spec_t
spec_named(const char *name)
{
    agent_vm_spec_t s = {"vm-1", name, 2, 2048, 0, 0, 2, &os_disk, 1, NULL, 0};

    return s;
}

static size_t
file_lines(const char *path)
{
    FILE *f = fopen(path, "r");
    size_t n = 0;
    int ch;

    assert_non_null(f);
    while ((ch = fgetc(f)) != EOF)
        n += ch == '\n';
    fclose(f);
    return n;
}

/* Journals one create ("create-1", answered "hyp-1") in the file at path, and closes the journal. */
static void
journal_one_create(const char *path)
{
    agent_t *a = journaled(path);
    agent_vm_spec_t spec = spec_named("web01");
    agent_call_t c = call("create-1", 1000);
    char hyp[AGENT_ID_MAX];
    agent_err_t err;

    assert_int_equal(agent_vm_create(a, &c, &spec, hyp, &err), 0);
    assert_string_equal(hyp, "hyp-1");
    agent_close(a);
}

/* ---- the journal ---- */

static void
journal_replays_and_refuses_other_arguments(void **state)
{
    agent_t *a = journaled(NULL);
    agent_vm_spec_t spec = spec_named("web01"), other = spec_named("web02");
    agent_call_t c = call("create-1", 1000);
    char h1[AGENT_ID_MAX], h2[AGENT_ID_MAX] = "untouched", cp[AGENT_ID_MAX];
    agent_err_t err;

    (void) state;
    assert_int_equal(agent_vm_create(a, &c, &spec, h1, &err), 0);
    assert_int_equal(agent_vm_create(a, &c, &spec, h2, &err), 0);
    assert_string_equal(h1, "hyp-1");
    assert_string_equal(h2, "hyp-1");
    assert_int_equal(host.creates, 1);
    /* The same id with another spec: a conflict, nothing done, nothing written. */
    strcpy(h2, "untouched");
    assert_int_equal(agent_vm_create(a, &c, &other, h2, &err), -1);
    assert_int_equal(err.status, AGENT_ERR_CONFLICT);
    assert_string_equal(h2, "untouched");
    /* ... or another operation. */
    assert_int_equal(agent_vm_delete(a, &c, "hyp-1", &err), -1);
    assert_int_equal(err.status, AGENT_ERR_CONFLICT);
    assert_int_equal(host.creates + host.deletes, 1);
    /* Result ids replay too. */
    c = call("cp-1", 1000);
    assert_int_equal(agent_checkpoint_create(a, &c, "hyp-1", "before", cp, &err), 0);
    assert_int_equal(agent_checkpoint_create(a, &c, "hyp-1", "before", cp, &err), 0);
    assert_string_equal(cp, "cp-1");
    assert_int_equal(host.checkpoints, 1);
    /* Reads pass through every time. */
    {
        agent_vm_list_t vms = {0};
        c = call("inv", 1000);
        assert_int_equal(agent_inventory(a, &c, &vms, &err), 0);
        assert_int_equal(agent_inventory(a, &c, &vms, &err), 0);
        agent_vm_list_free(&vms);
        assert_int_equal(host.reads, 2);
    }
    agent_close(a);
}

static void
journal_keeps_final_answers_only(void **state)
{
    static const agent_status_t retried[] = {AGENT_ERR_TRANSIENT, AGENT_ERR_TIMEOUT,
                                             AGENT_ERR_UNREACHABLE, AGENT_PENDING};
    static const agent_status_t kept[] = {AGENT_ERR_PERMANENT, AGENT_ERR_NOT_FOUND};
    agent_t *a = journaled(NULL);
    agent_call_t c;
    agent_err_t err;
    char op[32];
    size_t i;

    (void) state;
    for (i = 0; i < sizeof(retried) / sizeof(retried[0]); i++) {
        host.next = retried[i];
        host.deletes = 0;
        snprintf(op, sizeof(op), "retried-%zu", i);
        c = call(op, 1000);
        assert_int_equal(agent_vm_delete(a, &c, "hyp-1", &err), -1);
        assert_int_equal(err.status, retried[i]);
        host.next = AGENT_OK;
        assert_int_equal(agent_vm_delete(a, &c, "hyp-1", &err), 0);
        assert_int_equal(host.deletes, 2); /* the retry reached the host */
    }
    for (i = 0; i < sizeof(kept) / sizeof(kept[0]); i++) {
        host.next = kept[i];
        host.deletes = 0;
        snprintf(op, sizeof(op), "kept-%zu", i);
        c = call(op, 1000);
        assert_int_equal(agent_vm_delete(a, &c, "hyp-1", &err), -1);
        host.next = AGENT_OK;
        memset(&err, 0, sizeof(err));
        assert_int_equal(agent_vm_delete(a, &c, "hyp-1", &err), -1);
        assert_int_equal(err.status, kept[i]);
        assert_string_equal(err.message, "The host said no.");
        assert_int_equal(host.deletes, 1); /* answered from the journal */
    }
    agent_close(a);
}

static void
journal_survives_a_restart_and_a_torn_line(void **state)
{
    tmp_t *t = *state;
    agent_vm_spec_t spec = spec_named("web01");
    agent_call_t c = call("create-1", 1000);
    char hyp[AGENT_ID_MAX];
    agent_err_t err;
    struct stat before, after;
    agent_t *a;
    FILE *f;

    journal_one_create(t->path);
    assert_int_equal(stat(t->path, &before), 0);
    /* A crash in the middle of the next append leaves half a line. */
    f = fopen(t->path, "a");
    assert_non_null(f);
    fputs("{\"fingerprint\":\"ab", f);
    fclose(f);
    a = journaled(t->path);
    assert_int_equal(stat(t->path, &after), 0);
    assert_int_equal(after.st_size, before.st_size); /* the torn line is cut off */
    assert_int_equal(agent_vm_create(a, &c, &spec, hyp, &err), 0);
    assert_string_equal(hyp, "hyp-1");
    assert_int_equal(host.creates, 1);
    /* Operation ids are not hypervisor ids: a long one is kept and read back too. */
    c = call("delete-1:0123456789abcdef0123456789abcdef:0123456789abcdef0123456789abcdef:"
             "0123456789abcdef0123456789abcdef",
             1000);
    assert_int_equal(agent_vm_delete(a, &c, hyp, &err), 0);
    agent_close(a);
    assert_int_equal(file_lines(t->path), 2);
    a = journaled(t->path);
    assert_int_equal(agent_vm_delete(a, &c, hyp, &err), 0);
    assert_int_equal(host.deletes, 1);
    agent_close(a);
}

static void
journal_refuses_a_damaged_file(void **state)
{
    tmp_t *t = *state;
    agent_err_t err;
    FILE *f;

    journal_one_create(t->path);
    /* Damage in the middle is not a torn append: the journal will not guess. */
    f = fopen(t->path, "r+");
    assert_non_null(f);
    fputs("garbage", f);
    fclose(f);
    f = fopen(t->path, "a");
    fputs("{}\n", f);
    fclose(f);
    assert_null(agent_journal_wrap(open_counter("counter://"), t->path, &err));
    assert_int_equal(err.status, AGENT_ERR_PERMANENT);
}

static void
journal_compacts_to_the_kept_answers(void **state)
{
    tmp_t *t = *state;
    char dir[160], hyp[AGENT_ID_MAX];
    agent_call_t c;
    agent_err_t err;
    agent_t *a;
    FILE *f;
    int i;

    snprintf(dir, sizeof(dir), "%s/journal", t->dir);
    assert_int_equal(mkdir(dir, 0700), 0);
    f = fopen(t->path, "w");
    assert_non_null(f);
    for (i = 0; i < 2 * AGENT_JOURNAL_KEPT - 1; i++)
        fprintf(f,
                "{\"fingerprint\":\"%064d\",\"message\":\"\",\"opId\":\"old-%d\","
                "\"result\":\"\",\"status\":\"ok\"}\n",
                0, i);
    fclose(f);
    a = journaled(t->path);
    /* The next answer makes 2 x AGENT_JOURNAL_KEPT lines: the file is rewritten with the kept ones. */
    c = call("new", 1000);
    assert_int_equal(agent_vm_delete(a, &c, "hyp-1", &err), 0);
    assert_int_equal(file_lines(t->path), AGENT_JOURNAL_KEPT);
    agent_close(a);
    a = journaled(t->path);
    assert_int_equal(agent_vm_delete(a, &c, "hyp-1", &err), 0);
    assert_int_equal(host.deletes, 1);
    /* The newest old answer is kept (another call under its id conflicts), the oldest forgotten. */
    snprintf(hyp, sizeof(hyp), "old-%d", 2 * AGENT_JOURNAL_KEPT - 2);
    c = call(hyp, 1000);
    assert_int_equal(agent_vm_delete(a, &c, "hyp-1", &err), -1);
    assert_int_equal(err.status, AGENT_ERR_CONFLICT);
    c = call("old-0", 1000);
    assert_int_equal(agent_vm_delete(a, &c, "hyp-1", &err), 0);
    assert_int_equal(host.deletes, 2);
    agent_close(a);
}

/* ---- chaos ---- */

static void
chaos_options_from_the_uri(void **state)
{
    static const struct {
        const char *uri, *key;
    } bad[] = {
        {"sim://?failRate=2", "failRate"},       {"sim://?hangRate=-0.1", "hangRate"},
        {"sim://?latencyMs=abc", "latencyMs"},   {"sim://?latencyMs=1.5", "latencyMs"},
        {"sim://?jitterMs=", "jitterMs"},        {"sim://?x=1&failRate", "failRate"},
        {"sim://?latencyMs=600001", "latencyMs"}, {"x://?hangRate=0.5x", "hangRate"},
    };
    agent_chaos_t o;
    agent_err_t err;
    size_t i;

    (void) state;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        memset(&err, 0, sizeof(err));
        assert_int_equal(agent_chaos_parse(bad[i].uri, &o, &err), -1);
        assert_int_equal(err.status, AGENT_ERR_PERMANENT);
        assert_non_null(strstr(err.message, bad[i].key));
    }
    assert_int_equal(agent_chaos_parse("sim://?latencyMs=200&jitterMs=50&failRate=0.05&"
                                       "hangRate=1&diffGBPerHour=3&other",
                                       &o, &err),
                     0);
    assert_int_equal(o.latency_ms, 200);
    assert_int_equal(o.jitter_ms, 50);
    assert_true(o.fail_rate == 0.05);
    assert_true(o.hang_rate == 1);
    assert_int_equal(agent_chaos_parse(NULL, &o, &err), 0);
    assert_int_equal(o.latency_ms + o.jitter_ms, 0);
    assert_true(o.fail_rate == 0 && o.hang_rate == 0);
}

static void
chaos_injects_faults(void **state)
{
    agent_chaos_t fail = {0, 0, 1, 0}, hang = {0, 0, 0, 1}, slow = {50, 0, 0, 0}, none = {0};
    agent_vm_spec_t spec = spec_named("web01");
    agent_vm_list_t vms = {0};
    char hyp[AGENT_ID_MAX], op[32];
    agent_err_t err;
    agent_call_t c = call("c1", 1000);
    agent_t *a = agent_chaos_wrap(open_counter("counter://"), &fail, &err), *other = journaled(NULL);
    agent_conf_t conf = {.host_id = "h", .uri = "counter://?failRate=1"};
    int i;

    (void) state;
    assert_non_null(a);
    assert_int_equal(agent_chaos_set(other, &none), -1); /* not a chaos agent */
    agent_close(other);
    /* failRate=1: a change fails permanently and never reaches the host; a read fails transiently. */
    assert_int_equal(agent_vm_create(a, &c, &spec, hyp, &err), -1);
    assert_int_equal(err.status, AGENT_ERR_PERMANENT);
    assert_int_equal(agent_inventory(a, &c, &vms, &err), -1);
    assert_int_equal(err.status, AGENT_ERR_TRANSIENT);
    assert_int_equal(host.creates + host.reads, 0);
    /* Latency past the call's timeout: a timeout, nothing done. */
    assert_int_equal(agent_chaos_set(a, &slow), 0);
    c = call("c2", 10);
    assert_int_equal(agent_vm_create(a, &c, &spec, hyp, &err), -1);
    assert_int_equal(err.status, AGENT_ERR_TIMEOUT);
    assert_int_equal(host.creates, 0);
    /* hangRate=1: every call times out; some changes were carried out first. */
    assert_int_equal(agent_chaos_set(a, &hang), 0);
    for (i = 0; i < 8; i++) {
        snprintf(op, sizeof(op), "hang-%d", i);
        c = call(op, 5);
        assert_int_equal(agent_vm_create(a, &c, &spec, hyp, &err), -1);
        assert_int_equal(err.status, AGENT_ERR_TIMEOUT);
    }
    assert_true(host.creates <= 8);
    /* Healthy again. */
    assert_int_equal(agent_chaos_set(a, &none), 0);
    c = call("c3", 1000);
    assert_int_equal(agent_vm_create(a, &c, &spec, hyp, &err), 0);
    /* A changed uri changes the options. */
    assert_int_equal(agent_reconfigure(a, &conf, &err), 0);
    c = call("c4", 1000);
    assert_int_equal(agent_vm_create(a, &c, &spec, hyp, &err), -1);
    assert_int_equal(err.status, AGENT_ERR_PERMANENT);
    agent_close(a);
}

/* The volume calls and imports: replayed by id and arguments, polls of a copy reaching the host until it
 * ends, its final progress answered again after a reopen; other arguments conflict; chaos fails them. */
static void
journal_and_chaos_take_the_volume_calls(void **state)
{
    tmp_t *t = *state;
    agent_t *a = journaled(t->path), *c_a;
    agent_vm_spec_t spec = spec_named("moved");
    const char *names[] = {"one"}, *others[] = {"two"};
    agent_vm_source_t src = {"h2", "hyp-9", AGENT_VM_RUNNING, names, 1};
    agent_volume_src_t vsrc = {"h2", "vol-src", 5};
    agent_progress_t p = {0};
    agent_call_t c = {"copy-1", 1000, &p};
    agent_chaos_t fail = {0, 0, 1, 0};
    char hyp[AGENT_ID_MAX] = "";
    agent_err_t err;
    int64_t size = 0;
    int i;

    for (i = 0; i < 2; i++) {
        assert_int_equal(agent_volume_copy(a, &c, &vsrc, "vol-1", &err), -1);
        assert_int_equal(err.status, AGENT_PENDING); /* not kept: the next poll reaches the host */
        assert_int_equal(p.bytes_copied, i + 1);
    }
    assert_int_equal(agent_volume_copy(a, &c, &vsrc, "vol-1", &err), 0);
    agent_close(a);
    a = journaled(t->path);
    p = (agent_progress_t){0};
    assert_int_equal(agent_volume_copy(a, &c, &vsrc, "vol-1", &err), 0);
    assert_int_equal(p.bytes_copied, 3);
    assert_int_equal(p.bytes_total, 3);
    assert_int_equal(host.volumes, 3);
    vsrc.size_gb = 6;
    assert_int_equal(agent_volume_copy(a, &c, &vsrc, "vol-1", &err), -1);
    assert_int_equal(err.status, AGENT_ERR_CONFLICT);
    c = call("snap-1", 1000);
    for (i = 0; i < 2; i++) {
        assert_int_equal(agent_volume_snapshot(a, &c, "hyp-1", 0, "vol-2", &size, &err), 0);
        assert_int_equal(size, 7);
    }
    assert_int_equal(agent_volume_snapshot(a, &c, "hyp-1", -1, "vol-2", &size, &err), -1);
    assert_int_equal(err.status, AGENT_ERR_CONFLICT);
    c = call("delete-1", 1000);
    assert_int_equal(agent_volume_delete(a, &c, "vol-2", &err), 0);
    assert_int_equal(agent_volume_delete(a, &c, "vol-2", &err), 0);
    c = call("import-1", 1000);
    assert_int_equal(agent_vm_import(a, &c, &spec, &src, hyp, &err), 0);
    assert_string_equal(hyp, "imp-6");
    assert_int_equal(agent_vm_import(a, &c, &spec, &src, hyp, &err), 0);
    assert_string_equal(hyp, "imp-6");
    assert_int_equal(host.volumes, 6); /* each reached the host once */
    src.checkpoints = others;
    assert_int_equal(agent_vm_import(a, &c, &spec, &src, hyp, &err), -1);
    assert_int_equal(err.status, AGENT_ERR_CONFLICT);
    agent_close(a);
    c_a = agent_chaos_wrap(open_counter("counter://"), &fail, &err);
    assert_non_null(c_a);
    c = call("chaos-1", 1000);
    assert_int_equal(agent_volume_snapshot(c_a, &c, "hyp-1", 0, "vol-3", &size, &err), -1);
    assert_int_equal(err.status, AGENT_ERR_PERMANENT);
    assert_int_equal(agent_volume_copy(c_a, &c, &vsrc, "vol-3", &err), -1);
    assert_int_equal(agent_volume_delete(c_a, &c, "vol-3", &err), -1);
    assert_int_equal(agent_vm_import(c_a, &c, &spec, &src, hyp, &err), -1);
    assert_int_equal(err.status, AGENT_ERR_PERMANENT);
    assert_int_equal(host.volumes, 6); /* none reached the host */
    agent_close(c_a);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(journal_replays_and_refuses_other_arguments, setup,
                                        agent_tmp_teardown),
        cmocka_unit_test_setup_teardown(journal_keeps_final_answers_only, setup, agent_tmp_teardown),
        cmocka_unit_test_setup_teardown(journal_survives_a_restart_and_a_torn_line, setup,
                                        agent_tmp_teardown),
        cmocka_unit_test_setup_teardown(journal_refuses_a_damaged_file, setup, agent_tmp_teardown),
        cmocka_unit_test_setup_teardown(journal_compacts_to_the_kept_answers, setup, agent_tmp_teardown),
        cmocka_unit_test_setup_teardown(chaos_options_from_the_uri, setup, agent_tmp_teardown),
        cmocka_unit_test_setup_teardown(chaos_injects_faults, setup, agent_tmp_teardown),
        cmocka_unit_test_setup_teardown(journal_and_chaos_take_the_volume_calls, setup,
                                        agent_tmp_teardown),
    };

    return cmocka_run_group_tests_name("agent_decorators", tests, NULL, NULL);
}
