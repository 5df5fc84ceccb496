/*
 * test_agent_decorators_counter.h: the host the decorator tests (test_agent_decorators.c) wrap: a driver
 * that counts the calls that reach it and answers them simply, so that a test sees which calls the journal
 * or the chaos decorator let through. Include once, after <cmocka.h> and lib/agent.h.
 */
#ifndef WAPD_TEST_AGENT_DECORATORS_COUNTER_H
#define WAPD_TEST_AGENT_DECORATORS_COUNTER_H

/* ---- a driver that counts the calls that reach it ---- */

typedef struct {
    int creates, deletes, checkpoints, reads, volumes; /* volumes: volume and import calls */
    agent_status_t next; /* != AGENT_OK: every change fails with it */
} counter_t;

static counter_t host;

static int
counter_check_uri(const char *uri, agent_err_t *err)
{
    (void) uri;
    (void) err;
    return 0;
}

static int
counter_open(const agent_conf_t *conf, void **priv, agent_err_t *err)
{
    (void) conf;
    (void) err;
    *priv = &host;
    return 0;
}

static void
counter_close(void *priv)
{
    (void) priv;
}

static int
counter_reconfigure(void *priv, const agent_conf_t *conf, agent_err_t *err)
{
    (void) priv;
    (void) conf;
    (void) err;
    return 0;
}

static int
counter_vm_create(void *priv, const agent_call_t *call, const agent_vm_spec_t *spec,
                  char hypervisor_id[AGENT_ID_MAX], agent_err_t *err)
{
    counter_t *h = priv;

    (void) call;
    (void) spec;
    h->creates++;
    if (h->next != AGENT_OK)
        return agent_fail(err, h->next, "The host said no (%d).", h->creates);
    snprintf(hypervisor_id, AGENT_ID_MAX, "hyp-%d", h->creates);
    return 0;
}

static int
counter_vm_delete(void *priv, const agent_call_t *call, const char *hyp, agent_err_t *err)
{
    counter_t *h = priv;

    (void) call;
    (void) hyp;
    h->deletes++;
    if (h->next != AGENT_OK)
        return agent_fail(err, h->next, "The host said no.");
    return 0;
}

static int
counter_checkpoint_create(void *priv, const agent_call_t *call, const char *hyp, const char *name,
                          char checkpoint_id[AGENT_ID_MAX], agent_err_t *err)
{
    counter_t *h = priv;

    (void) call;
    (void) hyp;
    (void) name;
    (void) err;
    h->checkpoints++;
    snprintf(checkpoint_id, AGENT_ID_MAX, "cp-%d", h->checkpoints);
    return 0;
}

static int
counter_inventory(void *priv, const agent_call_t *call, agent_vm_list_t *vms, agent_err_t *err)
{
    counter_t *h = priv;

    (void) call;
    (void) err;
    h->reads++;
    vms->n = 0;
    vms->vms = NULL;
    return 0;
}

/* Snapshots answer 7 GB; a copy is PENDING at 1 and 2 of 3 bytes, then done; imports answer "imp-N". */
static int
counter_volume_snapshot(void *priv, const agent_call_t *call, const char *hyp, int lun,
                        const char *volume_id, int64_t *size_gb, agent_err_t *err)
{
    (void) call, (void) hyp, (void) lun, (void) volume_id, (void) err;
    ((counter_t *) priv)->volumes++;
    *size_gb = 7;
    return 0;
}

static int
counter_volume_copy(void *priv, const agent_call_t *call, const agent_volume_src_t *src,
                    const char *volume_id, agent_err_t *err)
{
    int n = ++((counter_t *) priv)->volumes;

    (void) src, (void) volume_id;
    *call->progress = (agent_progress_t){n < 3 ? n : 3, 3};
    return n < 3 ? agent_fail(err, AGENT_PENDING, "Copying.") : 0;
}

static int
counter_volume_delete(void *priv, const agent_call_t *call, const char *volume_id, agent_err_t *err)
{
    (void) call, (void) volume_id, (void) err;
    ((counter_t *) priv)->volumes++;
    return 0;
}

static int
counter_vm_import(void *priv, const agent_call_t *call, const agent_vm_spec_t *spec,
                  const agent_vm_source_t *src, char hypervisor_id[AGENT_ID_MAX], agent_err_t *err)
{
    (void) call, (void) spec, (void) src, (void) err;
    snprintf(hypervisor_id, AGENT_ID_MAX, "imp-%d", ++((counter_t *) priv)->volumes);
    return 0;
}

static const agent_driver_t counter_driver = {
    .name = "counter",
    .default_uri = "counter://",
    .journals = true, /* agent_open leaves it bare: the tests wrap it themselves */
    .check_uri = counter_check_uri,
    .open = counter_open,
    .close = counter_close,
    .reconfigure = counter_reconfigure,
    .vm_create = counter_vm_create,
    .vm_delete = counter_vm_delete,
    .checkpoint_create = counter_checkpoint_create,
    .inventory = counter_inventory,
    .volume_snapshot = counter_volume_snapshot,
    .volume_copy = counter_volume_copy,
    .volume_delete = counter_volume_delete,
    .vm_import = counter_vm_import,
};

#endif
