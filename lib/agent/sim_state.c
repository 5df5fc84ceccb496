/*
 * sim_state.c: the simulator's durable state (see sim_internal.h).
 *
 * Each VM lives in STATE_DIR/sim/<host id>/<hypervisor id>.json, with the answers of the last calls that
 * changed it (_ops); a deleted VM leaves a small tombstone ({deleted, _ops}) so that its answers survive it.
 * A call's change and its answer are written together, atomically (a temp file, then rename), so that, like
 * a real host, the simulator has its VMs after the daemon restarts, crash included, and never applies a
 * call twice. A host opened without a state directory keeps everything in memory.
 *
 * Invariants: s->vms holds every live VM; a VM's file is rewritten only by the call that changed it, with
 * the host's lock held.
 */
#include "sim_internal.h"

#include <assert.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../util.h"

int
agent_sim__save(sim_t *s, agent_err_t *err)
{
    char file[PATH_MAX + AGENT_ID_MAX + 16], tmp[PATH_MAX + AGENT_ID_MAX + 24];
    json_t *vm, *doc;
    char *text;
    FILE *f;
    int ok;

    assert(agent_sim__locked(s));
    if (s->path[0] == '\0' || s->dirty[0] == '\0')
        return 0;
    vm = json_object_get(s->vms, s->dirty);
    doc = vm ? json_incref(vm) : json_pack("{s:b, s:O}", "deleted", 1, "_ops",
                                           json_object_get(s->graveyard, s->dirty));
    snprintf(file, sizeof(file), "%s/%s.json", s->path, s->dirty);
    snprintf(tmp, sizeof(tmp), "%s.tmp", file);
    text = doc ? util_json_dumps(doc, JSON_COMPACT) : NULL;
    json_decref(doc);
    f = text ? fopen(tmp, "w") : NULL;
    ok = f && fputs(text, f) >= 0;
    if (f && fclose(f) != 0)
        ok = 0;
    free(text);
    json_object_del(s->graveyard, s->dirty);
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
    const char *key;
    json_t *doc, *ans;
    DIR *d;
    size_t n;

    s->vms = json_object();
    s->ops = json_object();
    s->op_order = json_array();
    s->graveyard = json_object();
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
        json_object_foreach(json_object_get(doc, "_ops"), key, ans)
            agent_sim__remember_op(s, key, json_incref(ans));
        if (!json_is_true(json_object_get(doc, "deleted")))
            json_object_set(s->vms, json_string_value(json_object_get(doc, "hypervisorId")), doc);
        json_decref(doc);
    }
    closedir(d);
    return 0;
}

void
agent_sim__state_free(sim_t *s)
{
    json_decref(s->vms);
    json_decref(s->ops);
    json_decref(s->op_order);
    json_decref(s->graveyard);
}
