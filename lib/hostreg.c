/*
 * hostreg.c: the registry of open host agents (see hostreg.h). A small list under one lock: hosts are
 * few, and the lock is held only to find or open an agent, never during a call.
 */
#include "hostreg.h"

#include <assert.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

typedef struct entry {
    char host_id[UTIL_UUID_LEN + 1];
    char *uri; /* what the agent was made from: uri, token and CA file */
    agent_t *agent;
    struct entry *next;
} entry_t;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static entry_t *entries;
static const char *agents_dir = "";

void
hostreg_init(const char *state_dir)
{
    pthread_mutex_lock(&lock);
    agents_dir = state_dir ? state_dir : "";
    pthread_mutex_unlock(&lock);
}

void
hostreg_shutdown(void)
{
    entry_t *e, *n;

    pthread_mutex_lock(&lock);
    for (e = entries; e; e = n) {
        n = e->next;
        agent_close(e->agent);
        free(e->uri);
        free(e);
    }
    entries = NULL;
    pthread_mutex_unlock(&lock);
}

agent_t *
hostreg_agent(store_t *st, const char *host_id, err_t *err)
{
    json_t *host = store_rec_get_shared(st, &store_kind_host, host_id, NULL, err);
    const json_t *agent_spec;
    agent_conf_t conf = {.host_id = host_id, .state_dir = agents_dir};
    char *made_from = NULL;
    const char *kind;
    agent_err_t aerr = {0};
    agent_t *a = NULL;
    entry_t *e;

    assert(st != NULL && host_id != NULL);
    if (host == NULL)
        return NULL;
    agent_spec = json_object_get(host, "agent");
    kind = json_string_value(json_object_get(agent_spec, "kind"));
    conf.uri = json_string_value(json_object_get(agent_spec, "uri"));
    conf.token = json_string_value(json_object_get(agent_spec, "token"));
    conf.ca_file = json_string_value(json_object_get(agent_spec, "caFile"));
    /* What the open agent was made from: a change of any of it is applied to it. */
    if (asprintf(&made_from, "%s\n%s\n%s", conf.uri ? conf.uri : "", conf.token ? conf.token : "",
                 conf.ca_file ? conf.ca_file : "") < 0) {
        json_decref(host);
        err_set(err, ERR_UNAVAILABLE, NULL, "Out of memory.");
        return NULL;
    }
    pthread_mutex_lock(&lock);
    for (e = entries; e; e = e->next)
        if (strcmp(e->host_id, host_id) == 0)
            break;
    if (e != NULL) {
        if (strcmp(e->uri, made_from) != 0 && agent_reconfigure(e->agent, &conf, &aerr) == 0) {
            free(e->uri);
            e->uri = made_from;
            made_from = NULL;
        }
        a = e->agent;
    } else {
        a = agent_open(kind, &conf, &aerr);
        e = a ? calloc(1, sizeof(*e)) : NULL;
        if (e != NULL) {
            e->uri = made_from;
            made_from = NULL;
            snprintf(e->host_id, sizeof(e->host_id), "%s", host_id);
            e->agent = a;
            e->next = entries;
            entries = e;
        } else {
            agent_close(a);
            a = NULL;
        }
    }
    pthread_mutex_unlock(&lock);
    free(made_from);
    json_decref(host);
    if (a == NULL)
        err_set(err, ERR_UNAVAILABLE, NULL, "The host's agent could not be opened: %s",
                aerr.message[0] ? aerr.message : "out of memory.");
    return a;
}
