/*
 * verbs.c: the generic verbs (list, show, create, update, delete, actions), names standing for IDs, and
 * what follows a write: printing the answer, or waiting for its job.
 *
 * Each verb makes the requests its kind in the noun table says, in order, and stops at the first error
 * answer (printed once, by wapctl_fail or wapctl_job_wait). update and delete read the item first and send
 * its ETag as If-Match, so that a change made in between is refused (412) instead of overwritten. An
 * argument that is not a UUID is looked up among the noun's items by its name fields; it must match
 * exactly one item.
 */
#include "nouns.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#define UUID_LEN 36
#define MAX_COLUMNS 8

static bool
is_uuid(const char *s)
{
    size_t i;

    if (strlen(s) != UUID_LEN)
        return false;
    for (i = 0; i < UUID_LEN; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (s[i] != '-')
                return false;
        } else if (!strchr("0123456789abcdefABCDEF", s[i])) {
            return false;
        }
    }
    return true;
}

/* a + "/" + id + suffix (id and suffix may be NULL). Malloc'd. */
static char *
path_of(const char *a, const char *id, const char *suffix)
{
    char *p;

    if (asprintf(&p, "%s%s%s%s", a, id != NULL ? "/" : "", id != NULL ? id : "",
                 suffix != NULL ? suffix : "") < 0)
        return NULL;
    return p;
}

static bool
item_named(const json_t *item, const char *const *fields, const char *name)
{
    const char *v;

    for (; *fields != NULL; fields++) {
        v = json_string_value(json_object_get(item, *fields));
        if (v != NULL && strcmp(v, name) == 0)
            return true;
    }
    return false;
}

int
wapctl_resolve_id(const wapctl_t *c, const wapctl_noun_t *noun, const char *arg, char **id)
{
    json_t *all = NULL, *item, *found = NULL;
    size_t i, matches = 0;
    int rc;

    assert(c != NULL && noun != NULL && arg != NULL && id != NULL);
    if (noun->name_fields == NULL || is_uuid(arg)) {
        *id = strdup(arg);
        return WAPCTL_OK;
    }
    rc = wapctl_list_all(c, noun->path, &all);
    if (rc != WAPCTL_OK)
        return rc;
    json_array_foreach (json_object_get(all, "value"), i, item) {
        if (item_named(item, noun->name_fields, arg)) {
            matches++;
            found = item;
        }
    }
    if (matches == 1) {
        *id = strdup(json_string_value(json_object_get(found, "id")));
    } else {
        fprintf(stderr, matches == 0 ? "NotFound: no item of %s is named '%s'\n"
                                     : "Ambiguous: several items of %s are named '%s'; give the ID\n",
                noun->name, arg);
        rc = WAPCTL_API;
    }
    json_decref(all);
    return rc;
}

/* Resolves one value (a json string) of a ref field in place. */
static int
ref_resolve(const wapctl_t *c, const wapctl_noun_t *noun, json_t *value)
{
    const char *given = json_string_value(value);
    char *id = NULL;
    int rc;

    if (given == NULL || is_uuid(given))
        return WAPCTL_OK;
    rc = wapctl_resolve_id(c, noun, given, &id);
    if (rc == WAPCTL_OK)
        json_string_set(value, id);
    free(id);
    return rc;
}

int
wapctl_refs_resolve(const wapctl_t *c, const wapctl_field_t *fields, json_t *body)
{
    const wapctl_noun_t *noun;
    json_t *value, *each;
    size_t i;
    int rc = WAPCTL_OK;

    assert(c != NULL && body != NULL);
    for (; fields != NULL && fields->path != NULL && rc == WAPCTL_OK; fields++) {
        /* Ref fields are top-level: no dotted path names an id. */
        if (fields->ref == NULL || (value = json_object_get(body, fields->path)) == NULL)
            continue;
        noun = wapctl_noun_find(fields->ref);
        assert(noun != NULL);
        if (json_is_array(value)) {
            json_array_foreach (value, i, each)
                if (rc == WAPCTL_OK)
                    rc = ref_resolve(c, noun, each);
        } else {
            rc = ref_resolve(c, noun, value);
        }
    }
    return rc;
}

/* The path of the job a 202 names: its Location, else the job in its body. Malloc'd, or NULL. */
static char *
job_path_of(const wapctl_reply_t *reply)
{
    const char *id = json_string_value(json_object_get(reply->body, "id"));

    if (reply->location != NULL)
        return strdup(reply->location);
    if (id != NULL && json_object_get(reply->body, "kind") != NULL)
        return path_of("/v1/admin/jobs", id, NULL);
    return NULL;
}

/* Prints the item at path, or fallback when it cannot be read. */
static void
print_current(const wapctl_t *c, const char *path, const json_t *fallback)
{
    wapctl_reply_t reply = {0};

    if (path != NULL && wapctl_request(c, "GET", path, NULL, NULL, &reply) == WAPCTL_OK &&
        reply.status == 200 && reply.body != NULL)
        wapctl_print(c, reply.body, NULL);
    else
        wapctl_print(c, fallback, NULL);
    wapctl_reply_free(&reply);
}

int
wapctl_finish(const wapctl_t *c, wapctl_reply_t *reply, const char *resource_path)
{
    json_t *job = NULL;
    char *job_path;
    int rc;

    assert(c != NULL && reply != NULL);
    if (reply->status >= 400)
        return wapctl_fail(reply);
    if (reply->status == 204)
        return WAPCTL_OK;
    /* A 202 names a job; so does a job answered at once (a restart), which --wait follows too. */
    job_path = reply->status == 202 || (c->wait && json_object_get(reply->body, "steps") != NULL)
                   ? job_path_of(reply)
                   : NULL;
    if (job_path == NULL) {
        wapctl_print(c, reply->body, NULL);
        return WAPCTL_OK;
    }
    if (!c->wait) {
        wapctl_print(c, reply->body, NULL);
        if (c->output == WAPCTL_OUT_TABLE)
            fprintf(stderr, "job: %s (wapctl jobs wait ID, or --wait)\n", job_path);
        free(job_path);
        return WAPCTL_OK;
    }
    rc = wapctl_job_wait(c, job_path, &job);
    free(job_path);
    if (job != NULL && (c->output == WAPCTL_OUT_JSON || rc != WAPCTL_OK))
        wapctl_print(c, job, NULL);
    else if (job != NULL)
        print_current(c, resource_path, job);
    json_decref(job);
    return rc;
}

/* GETs path and keeps its ETag in *etag (may stay NULL). Returns WAPCTL_OK, or the error printed. */
static int
etag_get(const wapctl_t *c, const char *path, char **etag)
{
    wapctl_reply_t reply = {0};
    int rc = wapctl_request(c, "GET", path, NULL, NULL, &reply);

    if (rc == WAPCTL_OK && reply.status >= 400)
        rc = wapctl_fail(&reply);
    if (rc == WAPCTL_OK) {
        *etag = reply.etag;
        reply.etag = NULL;
    }
    wapctl_reply_free(&reply);
    return rc;
}

/* Lists path (every page) and prints it; columns NULL: the first item's keys. */
static int
list_print(const wapctl_t *c, const char *path, const char *const *columns)
{
    const char *keys[MAX_COLUMNS + 1] = {NULL};
    json_t *all = NULL;
    const char *key;
    json_t *v;
    size_t n = 0;
    int rc = wapctl_list_all(c, path, &all);

    if (rc != WAPCTL_OK)
        return rc;
    if (columns == NULL) {
        json_object_foreach (json_array_get(json_object_get(all, "value"), 0), key, v)
            if (n < MAX_COLUMNS)
                keys[n++] = key;
        columns = keys;
    }
    if (c->output == WAPCTL_OUT_JSON || columns[0] != NULL)
        wapctl_print(c, all, columns);
    json_decref(all);
    return WAPCTL_OK;
}

/* Reads a feed (events, usage) from its cursor on until a page comes back empty. */
static int
feed_print(const wapctl_t *c, const wapctl_noun_t *noun, const char *query)
{
    json_t *all = json_array(), *page;
    char *path = path_of(noun->path, NULL, query);
    const char *cursor;
    wapctl_reply_t reply = {0};
    int rc;

    for (;;) {
        rc = wapctl_request(c, "GET", path, NULL, NULL, &reply);
        if (rc == WAPCTL_OK && reply.status >= 400)
            rc = wapctl_fail(&reply);
        if (rc != WAPCTL_OK)
            break;
        page = json_object_get(reply.body, "value");
        cursor = json_string_value(json_object_get(reply.body, "nextCursor"));
        if (json_array_size(page) == 0 || cursor == NULL)
            break;
        json_array_extend(all, page);
        free(path);
        if (asprintf(&path, "%s?after=%s", noun->path, cursor) < 0)
            path = NULL;
        wapctl_reply_free(&reply);
        if (path == NULL)
            break;
    }
    wapctl_reply_free(&reply);
    free(path);
    if (rc == WAPCTL_OK) {
        page = json_pack("{s:O}", "value", all);
        wapctl_print(c, page, noun->columns);
        json_decref(page);
    }
    json_decref(all);
    return rc;
}

/* Merges the verb's preset body under the fields given. */
static void
preset_merge(const wapctl_verb_t *verb, json_t *body)
{
    json_t *preset;

    if (verb->preset == NULL)
        return;
    preset = json_loads(verb->preset, 0, NULL);
    assert(preset != NULL);
    json_object_update_missing(body, preset);
    json_decref(preset);
}

/* The verbs that act on one item: show, update, delete, action, sublist. */
static int
item_verb(const wapctl_t *c, const wapctl_noun_t *noun, const wapctl_verb_t *verb, const char *id,
          json_t *body)
{
    wapctl_reply_t reply = {0};
    char *path = path_of(noun->path, id, NULL), *sub = NULL, *etag = NULL;
    int rc = WAPCTL_OK;

    switch (verb->kind) {
    case WAPCTL_V_SHOW:
        rc = wapctl_request(c, "GET", path, NULL, NULL, &reply);
        if (rc == WAPCTL_OK && reply.status >= 400)
            rc = wapctl_fail(&reply);
        else if (rc == WAPCTL_OK)
            wapctl_print(c, reply.body, NULL);
        break;
    case WAPCTL_V_UPDATE:
    case WAPCTL_V_DELETE:
        rc = etag_get(c, path, &etag);
        if (rc == WAPCTL_OK)
            rc = wapctl_request(c, verb->kind == WAPCTL_V_UPDATE ? "PATCH" : "DELETE", path,
                                verb->kind == WAPCTL_V_UPDATE ? body : NULL, etag, &reply);
        if (rc == WAPCTL_OK)
            rc = wapctl_finish(c, &reply, verb->kind == WAPCTL_V_UPDATE ? path : NULL);
        break;
    case WAPCTL_V_ACTION:
        sub = path_of(noun->path, id, verb->suffix);
        rc = wapctl_request(c, "POST", sub, json_object_size(body) > 0 ? body : NULL, NULL, &reply);
        if (rc == WAPCTL_OK)
            rc = wapctl_finish(c, &reply, path);
        break;
    default:
        sub = path_of(noun->path, id, verb->suffix);
        rc = list_print(c, sub, NULL);
        break;
    }
    wapctl_reply_free(&reply);
    free(etag);
    free(sub);
    free(path);
    return rc;
}

/* create and the POSTs without an ID. */
static int
post_verb(const wapctl_t *c, const wapctl_noun_t *noun, const wapctl_verb_t *verb, json_t *body)
{
    wapctl_reply_t reply = {0};
    char *path = path_of(noun->path, NULL, verb->suffix), *made = NULL;
    const char *id;
    int rc = wapctl_request(c, "POST", path, body, NULL, &reply);

    if (rc == WAPCTL_OK) {
        id = json_string_value(json_object_get(reply.body, "id"));
        if (verb->kind == WAPCTL_V_CREATE && id != NULL)
            made = path_of(noun->path, id, NULL);
        rc = wapctl_finish(c, &reply, made);
    }
    wapctl_reply_free(&reply);
    free(made);
    free(path);
    return rc;
}

int
wapctl_verb_run(const wapctl_t *c, const wapctl_noun_t *noun, const wapctl_verb_t *verb, int argc,
                char **argv)
{
    bool one = verb->kind == WAPCTL_V_SHOW || verb->kind == WAPCTL_V_UPDATE ||
               verb->kind == WAPCTL_V_DELETE || verb->kind == WAPCTL_V_ACTION ||
               verb->kind == WAPCTL_V_SUBLIST;
    bool query = verb->kind == WAPCTL_V_LIST || verb->kind == WAPCTL_V_FEED;
    char *pos[1] = {NULL}, *q = NULL, *path, *id = NULL;
    json_t *body = NULL;
    int rc;

    assert(c != NULL && noun != NULL && verb != NULL);
    if (verb->kind == WAPCTL_V_CUSTOM)
        return verb->run(c, noun, argc, argv);
    rc = wapctl_args_parse(noun->name, verb->name, verb->fields, argc, argv, one ? 1 : 0, pos, &body);
    if (rc != WAPCTL_OK)
        return rc;
    if (verb->kind == WAPCTL_V_UPDATE && json_object_size(body) == 0 && verb->preset == NULL) {
        fprintf(stderr, "wapctl %s update: nothing to change (see wapctl %s --help)\n", noun->name,
                noun->name);
        json_decref(body);
        return WAPCTL_USAGE;
    }
    preset_merge(verb, body);
    rc = wapctl_refs_resolve(c, verb->fields, body);
    if (rc == WAPCTL_OK && query && wapctl_query_of(body, &q) != 0)
        rc = WAPCTL_CONNECT;
    if (rc != WAPCTL_OK) {
        json_decref(body);
        return rc;
    }
    if (verb->kind == WAPCTL_V_LIST) {
        path = path_of(noun->path, NULL, q);
        rc = list_print(c, path, noun->columns);
        free(path);
    } else if (verb->kind == WAPCTL_V_FEED) {
        rc = feed_print(c, noun, q);
    } else if (one) {
        rc = wapctl_resolve_id(c, noun, pos[0], &id);
        if (rc == WAPCTL_OK)
            rc = item_verb(c, noun, verb, id, body);
    } else {
        rc = post_verb(c, noun, verb, body);
    }
    json_decref(body);
    free(id);
    free(q);
    return rc;
}
