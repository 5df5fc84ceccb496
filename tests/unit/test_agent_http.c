/*
 * Unit tests of the http agent (lib/agent/http*.c) against a real wapd-agent process (sim backend):
 * every slot of the driver, the agent's journal answering a repeated operation id, the typed errors
 * (a wrong token, an agent that is not running, a hung backend), reconfigure, and the uri grammar.
 *
 * Each test starts its own agent (agentd_fixture) in its setup and kills it in its teardown, which
 * cmocka runs also when the test failed.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "../../lib/agent.h"
#include "../../lib/util.h"
#include "agentd_fixture.h"

typedef struct {
    agentd_t agentd, second; /* second: started by the test that needs it */
    agent_t *a, *b;          /* b: opened by the test that needs it */
} world_t;

static int
setup(void **state)
{
    world_t *w = calloc(1, sizeof(*w));
    agent_err_t err = {0};

    assert_non_null(w);
    *state = w;
    assert_int_equal(agent_builtin_register(), 0);
    assert_int_equal(agentd_start(&w->agentd, NULL), 0);
    w->a = agentd_open(&w->agentd, NULL, &err);
    assert_non_null(w->a);
    return 0;
}

static int
teardown(void **state)
{
    world_t *w = *state;

    agent_close(w->b);
    agent_close(w->a);
    agentd_stop(&w->second);
    agentd_stop(&w->agentd);
    free(w);
    return 0;
}

static agent_call_t
call(const char *op_id)
{
    agent_call_t c = {op_id, 0, NULL};

    return c;
}

static const agent_disk_spec_t spec_disks[] = {
    {-1, 40, AGENT_CACHING_READ_WRITE, "img-1", NULL},
    {0, 10, AGENT_CACHING_NONE, NULL, NULL},
};
static const agent_nic_spec_t spec_nics[] = {
    {"net-1", "00:15:5d:00:00:01", "10.0.0.5"},
    {"net-2", "00:15:5d:00:00:02", NULL},
};

static agent_vm_spec_t
spec_of(const char *vm_id)
{
    agent_vm_spec_t s = {0};

    s.vm_id = vm_id;
    s.name = "web-1";
    s.cores = 2;
    s.memory_mb = 2048;
    s.memory_min_mb = 1024;
    s.memory_max_mb = 4096;
    s.generation = 2;
    s.disks = spec_disks;
    s.ndisks = 2;
    s.nics = spec_nics;
    s.nnics = 2;
    return s;
}

/* The inventory's entry of hyp, copied into *out; false when the host has no such VM. */
static bool
vm_info(agent_t *a, const char *hyp, agent_vm_info_t *out, size_t *nvms)
{
    agent_call_t c = call("inventory");
    agent_vm_list_t list = {0};
    agent_err_t err = {0};
    const agent_vm_info_t *vm;

    assert_int_equal(agent_inventory(a, &c, &list, &err), 0);
    vm = agent_vm_list_find(&list, hyp);
    if (vm != NULL)
        *out = *vm;
    if (nvms != NULL)
        *nvms = list.n;
    agent_vm_list_free(&list);
    return vm != NULL;
}

/* rc is a failure of that status. */
static void
expect_fail(int rc, const agent_err_t *err, agent_status_t status)
{
    assert_int_equal(rc, -1);
    if (err->status != status)
        fail_msg("expected %s, got %s: %s", agent_status_name(status),
                 agent_status_name(err->status), err->message);
}

static void
create_vm(agent_t *a, const char *op_id, const char *vm_id, char hyp[AGENT_ID_MAX])
{
    agent_vm_spec_t spec = spec_of(vm_id);
    agent_call_t c = call(op_id);
    agent_err_t err = {0};

    assert_int_equal(agent_vm_create(a, &c, &spec, hyp, &err), 0);
    assert_true(hyp[0] != '\0');
}

static void
expect_power(agent_t *a, const char *hyp, agent_vm_power_t power)
{
    agent_vm_info_t vm;

    assert_true(vm_info(a, hyp, &vm, NULL));
    assert_string_equal(agent_vm_power_name(vm.power), agent_vm_power_name(power));
}

/* ---- the slots ---- */

static void
test_create_and_inventory(void **state)
{
    world_t *w = *state;
    char hyp[AGENT_ID_MAX] = "", again[AGENT_ID_MAX] = "";
    agent_vm_info_t vm;
    size_t n;

    create_vm(w->a, "op-create-1", "vm-0001", hyp);
    assert_true(vm_info(w->a, hyp, &vm, &n));
    assert_int_equal(n, 1);
    assert_string_equal(vm.vm_id, "vm-0001");
    assert_string_equal(vm.name, "web-1");
    assert_int_equal(vm.cores, 2);
    assert_int_equal(vm.memory_mb, 2048);
    assert_int_equal(vm.power, AGENT_VM_STOPPED);
    assert_int_equal(vm.ndisks, 2);

    /* keyed by the VM id: a new operation id answers the VM made before */
    create_vm(w->a, "op-create-2", "vm-0001", again);
    assert_string_equal(again, hyp);
    assert_true(vm_info(w->a, hyp, &vm, &n));
    assert_int_equal(n, 1);
}

static void
test_power_actions(void **state)
{
    world_t *w = *state;
    static const struct {
        agent_power_op_t op;
        agent_vm_power_t after;
    } steps[] = {
        {AGENT_POWER_START, AGENT_VM_RUNNING}, {AGENT_POWER_STOP, AGENT_VM_STOPPED},
        {AGENT_POWER_START, AGENT_VM_RUNNING}, {AGENT_POWER_SHUTDOWN, AGENT_VM_STOPPED},
        {AGENT_POWER_START, AGENT_VM_RUNNING}, {AGENT_POWER_RESTART, AGENT_VM_RUNNING},
    };
    char hyp[AGENT_ID_MAX] = "", op[32];
    agent_call_t c;
    agent_err_t err = {0};
    size_t i;

    create_vm(w->a, "op-create", "vm-0002", hyp);
    for (i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
        snprintf(op, sizeof(op), "op-power-%zu", i);
        c = call(op);
        assert_int_equal(agent_vm_power(w->a, &c, hyp, steps[i].op, &err), 0);
        expect_power(w->a, hyp, steps[i].after);
    }
    c = call("op-release");
    assert_int_equal(agent_vm_release(w->a, &c, hyp, &err), 0);
    expect_power(w->a, hyp, AGENT_VM_DEALLOCATED);

    c = call("op-power-missing");
    expect_fail(agent_vm_power(w->a, &c, "no-such-vm", AGENT_POWER_START, &err), &err,
                AGENT_ERR_NOT_FOUND);
}

static void
test_resize_and_disks(void **state)
{
    world_t *w = *state;
    char hyp[AGENT_ID_MAX] = "";
    agent_disk_spec_t disk = {3, 20, AGENT_CACHING_READ_ONLY, NULL, NULL};
    agent_vm_info_t vm;
    agent_call_t c;
    agent_err_t err = {0};

    create_vm(w->a, "op-create", "vm-0003", hyp);
    c = call("op-resize");
    assert_int_equal(agent_vm_reconfigure(w->a, &c, hyp, 4, 8192, &err), 0);
    assert_true(vm_info(w->a, hyp, &vm, NULL));
    assert_int_equal(vm.cores, 4);
    assert_int_equal(vm.memory_mb, 8192);

    c = call("op-attach");
    assert_int_equal(agent_disk_attach(w->a, &c, hyp, &disk, &err), 0);
    assert_true(vm_info(w->a, hyp, &vm, NULL));
    assert_int_equal(vm.ndisks, 3);
    c = call("op-detach");
    assert_int_equal(agent_disk_detach(w->a, &c, hyp, 3, &err), 0);
    assert_true(vm_info(w->a, hyp, &vm, NULL));
    assert_int_equal(vm.ndisks, 2);
    c = call("op-detach-again");
    expect_fail(agent_disk_detach(w->a, &c, hyp, 3, &err), &err, AGENT_ERR_NOT_FOUND);
}

static void
test_checkpoints(void **state)
{
    world_t *w = *state;
    char hyp[AGENT_ID_MAX] = "", cp[AGENT_ID_MAX] = "", again[AGENT_ID_MAX] = "";
    agent_vm_info_t vm;
    agent_call_t c;
    agent_err_t err = {0};

    create_vm(w->a, "op-create", "vm-0004", hyp);
    c = call("op-cp-1");
    assert_int_equal(agent_checkpoint_create(w->a, &c, hyp, "before-upgrade", cp, &err), 0);
    c = call("op-cp-2"); /* keyed by name */
    assert_int_equal(agent_checkpoint_create(w->a, &c, hyp, "before-upgrade", again, &err), 0);
    assert_string_equal(again, cp);
    assert_true(vm_info(w->a, hyp, &vm, NULL));
    assert_int_equal(vm.ncheckpoints, 1);
    assert_string_equal(vm.checkpoints[0].id, cp);
    assert_string_equal(vm.checkpoints[0].name, "before-upgrade");

    c = call("op-cp-restore");
    assert_int_equal(agent_checkpoint_restore(w->a, &c, hyp, cp, &err), 0);
    c = call("op-cp-delete");
    assert_int_equal(agent_checkpoint_delete(w->a, &c, hyp, cp, &err), 0);
    assert_true(vm_info(w->a, hyp, &vm, NULL));
    assert_int_equal(vm.ncheckpoints, 0);
    c = call("op-cp-delete-again");
    expect_fail(agent_checkpoint_delete(w->a, &c, hyp, cp, &err), &err, AGENT_ERR_NOT_FOUND);
}

static void
test_delete_and_host_info(void **state)
{
    world_t *w = *state;
    char hyp[AGENT_ID_MAX] = "";
    agent_host_info_t info;
    agent_vm_info_t vm;
    agent_call_t c = call("host");
    agent_err_t err = {0};
    size_t n;

    create_vm(w->a, "op-create", "vm-0005", hyp);
    assert_int_equal(agent_host_info(w->a, &c, &info, &err), 0);
    assert_string_equal(info.name, "agent-under-test");
    assert_string_equal(info.backend, "sim");
    assert_int_equal(info.vms, 1);
    assert_int_equal(info.used_cores, 2); /* stopped, not deallocated: it holds its compute */
    assert_int_equal(info.used_memory_mb, 2048);

    c = call("op-delete");
    assert_int_equal(agent_vm_delete(w->a, &c, hyp, &err), 0);
    assert_false(vm_info(w->a, hyp, &vm, &n));
    assert_int_equal(n, 0);
    c = call("op-delete-again");
    expect_fail(agent_vm_delete(w->a, &c, hyp, &err), &err, AGENT_ERR_NOT_FOUND);
}

/* ---- several workers on one host ---- */

#define WORKERS 4
#define CREATES_EACH 5

typedef struct {
    agent_t *a;
    int worker, failures;
} worker_t;

static void *
worker_run(void *arg)
{
    worker_t *wk = arg;
    char op[32], vm_id[32], hyp[AGENT_ID_MAX];
    agent_vm_spec_t spec;
    agent_vm_list_t list;
    agent_call_t c;
    agent_err_t err;
    int i;

    for (i = 0; i < CREATES_EACH; i++) {
        snprintf(op, sizeof(op), "op-%d-%d", wk->worker, i);
        snprintf(vm_id, sizeof(vm_id), "vm-%d-%d", wk->worker, i);
        spec = spec_of(vm_id);
        c = call(op);
        if (agent_vm_create(wk->a, &c, &spec, hyp, &err) != 0)
            wk->failures++;
        memset(&list, 0, sizeof(list));
        c = call("inventory");
        if (agent_inventory(wk->a, &c, &list, &err) != 0)
            wk->failures++;
        agent_vm_list_free(&list);
    }
    return NULL;
}

static void
test_concurrent_calls(void **state)
{
    world_t *w = *state;
    pthread_t threads[WORKERS];
    worker_t workers[WORKERS];
    agent_vm_info_t vm;
    size_t n;
    int i;

    for (i = 0; i < WORKERS; i++) {
        workers[i] = (worker_t){w->a, i, 0};
        assert_int_equal(pthread_create(&threads[i], NULL, worker_run, &workers[i]), 0);
    }
    for (i = 0; i < WORKERS; i++) {
        assert_int_equal(pthread_join(threads[i], NULL), 0);
        assert_int_equal(workers[i].failures, 0);
    }
    vm_info(w->a, "none", &vm, &n);
    assert_int_equal(n, WORKERS * CREATES_EACH);
}

/* ---- operation ids ---- */

static void
test_repeated_operation_id(void **state)
{
    world_t *w = *state;
    char hyp[AGENT_ID_MAX] = "", again[AGENT_ID_MAX] = "", cp[AGENT_ID_MAX] = "";
    agent_vm_info_t vm;
    agent_call_t c;
    agent_err_t err = {0};
    size_t n;

    create_vm(w->a, "op-same", "vm-0006", hyp);
    create_vm(w->a, "op-same", "vm-0006", again); /* replayed by the agent */
    assert_string_equal(again, hyp);

    c = call("op-cp");
    assert_int_equal(agent_checkpoint_create(w->a, &c, hyp, "first", cp, &err), 0);
    c = call("op-cp-delete");
    assert_int_equal(agent_checkpoint_delete(w->a, &c, hyp, cp, &err), 0);
    /* the create's answer is replayed: nothing is made again */
    c = call("op-cp");
    assert_int_equal(agent_checkpoint_create(w->a, &c, hyp, "first", again, &err), 0);
    assert_string_equal(again, cp);
    assert_true(vm_info(w->a, hyp, &vm, &n));
    assert_int_equal(vm.ncheckpoints, 0);

    /* an id the header syntax does not allow is sent as its digest: still applied once */
    c = call(
        "job 7 / step 2: the checkpoint of a VM, with an id longer than sixty-four characters");
    assert_int_equal(agent_checkpoint_create(w->a, &c, hyp, "odd", cp, &err), 0);
    c = call("op-cp-delete-odd");
    assert_int_equal(agent_checkpoint_delete(w->a, &c, hyp, cp, &err), 0);
    c = call(
        "job 7 / step 2: the checkpoint of a VM, with an id longer than sixty-four characters");
    assert_int_equal(agent_checkpoint_create(w->a, &c, hyp, "odd", again, &err), 0);
    assert_string_equal(again, cp);
    assert_true(vm_info(w->a, hyp, &vm, &n));
    assert_int_equal(vm.ncheckpoints, 0);
}

static void
test_operation_id_conflict(void **state)
{
    world_t *w = *state;
    char hyp[AGENT_ID_MAX] = "", cp[AGENT_ID_MAX] = "";
    agent_vm_info_t vm;
    agent_call_t c = call("op-cp");
    agent_err_t err = {0};
    size_t n;

    create_vm(w->a, "op-create", "vm-0010", hyp);
    assert_int_equal(agent_checkpoint_create(w->a, &c, hyp, "first", cp, &err), 0);
    /* the same id with other arguments is a conflict and changes nothing */
    expect_fail(agent_checkpoint_create(w->a, &c, hyp, "second", cp, &err), &err,
                AGENT_ERR_CONFLICT);
    assert_true(vm_info(w->a, hyp, &vm, &n));
    assert_int_equal(vm.ncheckpoints, 1);
    assert_string_equal(vm.checkpoints[0].name, "first");
    assert_int_equal(n, 1);
}

/* ---- typed errors ---- */

static void
test_wrong_token(void **state)
{
    world_t *w = *state;
    char hyp[AGENT_ID_MAX] = "";
    agent_vm_spec_t spec = spec_of("vm-0007");
    agent_host_info_t info;
    agent_call_t c = call("host");
    agent_err_t err = {0};
    agent_t *wrong;
    size_t n;
    agent_vm_info_t vm;
    agent_conf_t conf = {0};

    wrong = w->b = agentd_open(&w->agentd, "not-the-token", &err);
    assert_non_null(wrong);
    expect_fail(agent_host_info(wrong, &c, &info, &err), &err, AGENT_ERR_PERMANENT);
    assert_null(strstr(err.message, "not-the-token"));
    c = call("op-create");
    expect_fail(agent_vm_create(wrong, &c, &spec, hyp, &err), &err, AGENT_ERR_PERMANENT);
    assert_false(vm_info(w->a, "anything", &vm, &n));
    assert_int_equal(n, 0);

    /* a new token applies to the next call */
    conf.host_id = "agentd";
    conf.uri = w->agentd.uri;
    conf.token = w->agentd.token;
    assert_int_equal(agent_reconfigure(wrong, &conf, &err), 0);
    c = call("host");
    assert_int_equal(agent_host_info(wrong, &c, &info, &err), 0);
}

static void
test_agent_not_running(void **state)
{
    world_t *w = *state;
    char hyp[AGENT_ID_MAX] = "";
    agent_vm_spec_t spec = spec_of("vm-0008");
    agent_host_info_t info;
    agent_vm_list_t list = {0};
    agent_call_t c = call("host");
    agent_err_t err = {0};

    agentd_kill(&w->agentd); /* its port is free: nothing listens there */
    expect_fail(agent_host_info(w->a, &c, &info, &err), &err, AGENT_ERR_UNREACHABLE);
    c = call("inventory");
    expect_fail(agent_inventory(w->a, &c, &list, &err), &err, AGENT_ERR_UNREACHABLE);
    c = call("op-create");
    expect_fail(agent_vm_create(w->a, &c, &spec, hyp, &err), &err, AGENT_ERR_UNREACHABLE);

    /* started again on the same state dir and port, the same open agent reaches it */
    assert_int_equal(agentd_restart(&w->agentd), 0);
    c = call("op-create");
    assert_int_equal(agent_vm_create(w->a, &c, &spec, hyp, &err), 0);
}

static void
test_hung_backend_times_out(void **state)
{
    world_t *w = *state;
    char hyp[AGENT_ID_MAX] = "";
    agent_vm_spec_t spec = spec_of("vm-0009");
    agent_call_t c = {"op-create-hung", 500, NULL};
    agent_err_t err = {0};
    int64_t start;
    agent_conf_t conf = {0};

    assert_int_equal(agentd_start(&w->second, "sim://?hangRate=1"), 0);
    w->b = agentd_open(&w->second, NULL, &err);
    assert_non_null(w->b);
    start = util_mono_ns();
    expect_fail(agent_vm_create(w->b, &c, &spec, hyp, &err), &err, AGENT_ERR_TIMEOUT);
    /* answered, not waited for forever (a generous bound: this is no timing test) */
    assert_true(util_mono_ns() - start < (int64_t) 20 * 1000 * 1000 * 1000);

    /* reconfigured to the healthy agent, the next call goes there */
    conf.host_id = "agentd";
    conf.uri = w->agentd.uri;
    conf.token = w->agentd.token;
    assert_int_equal(agent_reconfigure(w->b, &conf, &err), 0);
    c = call("op-create-healthy");
    assert_int_equal(agent_vm_create(w->b, &c, &spec, hyp, &err), 0);
}

/* Opens w->b on the agent over https (conf's ca_file as the caller set it) and checks that a call fails on
 * the certificate, as it must with a CA file that cannot be read. */
static void
open_https_refused(world_t *w, agent_conf_t *conf, char *uri, size_t urin)
{
    agent_host_info_t info;
    agent_call_t c = call("host");
    agent_err_t err = {0};

    snprintf(uri, urin, "https://127.0.0.1:%d", w->agentd.port);
    conf->host_id = "agentd";
    conf->uri = uri;
    conf->token = w->agentd.token;
    w->b = agent_open("http", conf, &err);
    assert_non_null(w->b);
    expect_fail(agent_host_info(w->b, &c, &info, &err), &err, AGENT_ERR_PERMANENT);
    assert_non_null(strstr(err.message, "TLS"));
}

static void
test_https_is_verified(void **state)
{
    world_t *w = *state;
    agent_host_info_t info;
    agent_call_t c = call("host");
    agent_err_t err = {0};
    agent_conf_t conf = {0};
    char uri[64];

    /* the agent speaks plain HTTP: over https no call gets through, whatever the CA bundle */
    conf.ca_file = "/nonexistent/ca.pem";
    open_https_refused(w, &conf, uri, sizeof(uri));

    conf.ca_file = NULL; /* the system's CAs */
    assert_int_equal(agent_reconfigure(w->b, &conf, &err), 0);
    c = call("host-again");
    assert_int_equal(agent_host_info(w->b, &c, &info, &err), -1);
}

static void
test_default_ca_file_unless_the_host_has_one(void **state)
{
    world_t *w = *state;
    agent_host_info_t info;
    agent_call_t c = call("host");
    agent_err_t err = {0};
    agent_conf_t conf = {0};
    char uri[64];

    /* The process's CA file (wapd --cacert) is used by a host without its own: an unreadable one fails as
     * a certificate problem. */
    assert_int_equal(agent_http_set_default_ca_file("/nonexistent/default-ca.pem"), 0);
    open_https_refused(w, &conf, uri, sizeof(uri));

    /* A host's own CA file wins: a readable one gets past the CA file (the agent speaks plain HTTP, so
     * the handshake still fails, but not on the bundle). */
    conf.ca_file = "/etc/ssl/certs/ca-certificates.crt";
    if (access(conf.ca_file, R_OK) == 0) {
        assert_int_equal(agent_reconfigure(w->b, &conf, &err), 0);
        c = call("host-own-ca");
        assert_int_equal(agent_host_info(w->b, &c, &info, &err), -1);
        assert_int_not_equal(err.status, AGENT_ERR_PERMANENT);
    }
    assert_int_equal(agent_http_set_default_ca_file(NULL), 0);
}

/* ---- the uri ---- */

static void
test_check_uri(void **state)
{
    static const char *const good[] = {
        "http://10.1.2.3:30010", "https://agent.example.com", "http://host-1:1/",
        "HTTP://h:65535",        "http://[::1]:8080",         "https://[fe80::1]",
    };
    static const struct {
        const char *uri, *says;
    } bad[] = {
        {"", "needs a uri"},
        {"ftp://h:1", "http:// or https://"},
        {"sim://", "http:// or https://"},
        {"http://", "no host"},
        {"http://:80", "no host"},
        {"http://user:pw@h:80", "user"},
        {"http://h:80/?x=1", "query"},
        {"http://h:80/#top", "fragment"},
        {"http://h:80/v1", "path"},
        {"http://h:0", "port"},
        {"http://h:65536", "port"},
        {"http://h:8x", "port"},
        {"http://h h:80", "character"},
        {"http://[zz]:80", "IPv6"},
    };
    agent_err_t err;
    size_t i;

    (void) state;
    assert_int_equal(agent_builtin_register(), 0);
    assert_null(agent_default_uri("http"));
    assert_true(agent_kind_remote("http"));
    for (i = 0; i < sizeof(good) / sizeof(good[0]); i++)
        if (agent_check_uri("http", good[i], &err) != 0)
            fail_msg("%s refused: %s", good[i], err.message);
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        memset(&err, 0, sizeof(err));
        if (agent_check_uri("http", bad[i].uri, &err) == 0)
            fail_msg("%s accepted", bad[i].uri);
        assert_int_equal(err.status, AGENT_ERR_PERMANENT);
        if (strstr(err.message, bad[i].says) == NULL)
            fail_msg("%s: \"%s\" does not say %s", bad[i].uri, err.message, bad[i].says);
    }
}

/* A test with its own agent, started before it and killed after it. */
#define WITH_AGENT(test) cmocka_unit_test_setup_teardown(test, setup, teardown)

int
main(void)
{
    const struct CMUnitTest tests[] = {
        WITH_AGENT(test_create_and_inventory),
        WITH_AGENT(test_power_actions),
        WITH_AGENT(test_resize_and_disks),
        WITH_AGENT(test_checkpoints),
        WITH_AGENT(test_delete_and_host_info),
        WITH_AGENT(test_concurrent_calls),
        WITH_AGENT(test_repeated_operation_id),
        WITH_AGENT(test_operation_id_conflict),
        WITH_AGENT(test_wrong_token),
        WITH_AGENT(test_agent_not_running),
        WITH_AGENT(test_hung_backend_times_out),
        WITH_AGENT(test_https_is_verified),
        WITH_AGENT(test_default_ca_file_unless_the_host_has_one),
        cmocka_unit_test(test_check_uri),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
