/*
 * sim_state.c: the simulator's durable state (see sim_internal.h).
 *
 * Each VM lives in STATE_DIR/sim/<host id>/<hypervisor id>.json; deleting the VM removes its file. A call's
 * change is written atomically (a temporary file, then rename), so that, like a real host, the simulator
 * has its VMs after the daemon restarts, crash included. A host opened without a state directory keeps
 * everything in memory. Files of earlier versions may carry a record of answers (_ops) or be the tombstone
 * of a deleted VM ({deleted}); both are read past.
 *
 * Invariants: s->vms holds every live VM; a VM's file is rewritten only by the call that changed it, with
 * the host's lock held.
 */
#include "sim_internal.h"

#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../util.h"

int
agent_sim__save(sim_t *s, agent_err_t *err)
{
    char file[PATH_MAX + AGENT_ID_MAX + 16], tmp[PATH_MAX + AGENT_ID_MAX + 24];
    json_t *vm;
    char *text;
    FILE *f;
    int ok;

    assert(agent_sim__locked(s));
    if (s->path[0] == '\0' || s->dirty[0] == '\0')
        return 0;
    snprintf(file, sizeof(file), "%s/%s.json", s->path, s->dirty);
    vm = json_object_get(s->vms, s->dirty);
    if (vm == NULL) {
        if (unlink(file) != 0 && errno != ENOENT)
            return agent_fail(err, AGENT_ERR_TRANSIENT, "The simulated host could not save its state.");
        return 0;
    }
    snprintf(tmp, sizeof(tmp), "%s.tmp", file);
    text = util_json_dumps(vm, JSON_COMPACT);
    f = text ? fopen(tmp, "w") : NULL;
    ok = f && fputs(text, f) >= 0;
    if (f && fclose(f) != 0)
        ok = 0;
    free(text);
    if (!ok || rename(tmp, file) != 0)
        return agent_fail(err, AGENT_ERR_TRANSIENT, "The simulated host could not save its state.");
    return 0;
}

int
agent_sim__load(sim_t *s, agent_err_t *err)
{
    char file[PATH_MAX + 300];
    json_error_t jerr;
    struct dirent *de;
    const char *hyp;
    json_t *doc;
    DIR *d;
    size_t n;

    s->vms = json_object();
    if (s->vms == NULL)
        return agent_fail(err, AGENT_ERR_TRANSIENT, "Out of memory.");
    if (s->path[0] == '\0' || (d = opendir(s->path)) == NULL)
        return 0;
    while ((de = readdir(d)) != NULL) {
        n = strlen(de->d_name);
        if (n < 6 || strcmp(de->d_name + n - 5, ".json") != 0)
            continue;
        snprintf(file, sizeof(file), "%s/%s", s->path, de->d_name);
        doc = json_load_file(file, 0, &jerr);
        if (doc == NULL) {
            closedir(d);
            return agent_fail(err, AGENT_ERR_PERMANENT, "A simulated VM's state file is unreadable.");
        }
        json_object_del(doc, "_ops");
        hyp = json_string_value(json_object_get(doc, "hypervisorId"));
        if (!json_is_true(json_object_get(doc, "deleted")) && hyp != NULL)
            json_object_set(s->vms, hyp, doc);
        json_decref(doc);
    }
    closedir(d);
    return 0;
}

void
agent_sim__state_free(sim_t *s)
{
    json_decref(s->vms);
    s->vms = NULL;
}
