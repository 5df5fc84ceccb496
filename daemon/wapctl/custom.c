/*
 * custom.c: the verbs whose paths do not follow their noun's path: jobs wait, hooks redeliver,
 * checkpoints delete, the two kinds of tokens, and the hand-off to the streaming verbs of export.c.
 *
 * tokens speaks of admin tokens (/v1/admin/tokens) unless --user-id names a user, when it speaks of that
 * user's tenant tokens (/v1/admin/users/U/tokens). Each verb checks its arguments with the same parser as
 * the generic verbs, so an unknown option or a missing ID is a usage error here too.
 */
#include "nouns.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#define USERS_PATH "/v1/admin/users"

static const wapctl_field_t no_fields[] = {{NULL, 0, NULL, NULL}};
static const wapctl_field_t user_only[] = {{"userId", WAPCTL_F_STR, NULL, NULL}, {NULL, 0, NULL, NULL}};
static const wapctl_field_t token_create[] = {{"userId", WAPCTL_F_STR, NULL, NULL},
                                              {"name", WAPCTL_F_STR, NULL, NULL},
                                              {"scope", WAPCTL_F_STR, NULL, NULL},
                                              {"expiresInDays", WAPCTL_F_INT, NULL, NULL},
                                              {NULL, 0, NULL, NULL}};
static const char *const tenant_token_cols[] = {"id", "userId", "expiresAt", "revokedAt", "createdAt",
                                                NULL};

int
wapctl_jobs_wait(const wapctl_t *c, const wapctl_noun_t *noun, int argc, char **argv)
{
    char *pos[1], *path = NULL;
    json_t *job = NULL;
    int rc;

    assert(c != NULL && noun != NULL);
    rc = wapctl_args_parse(noun->name, "wait", no_fields, argc, argv, 1, pos, NULL);
    if (rc != WAPCTL_OK)
        return rc;
    if (asprintf(&path, "%s/%s", noun->path, pos[0]) < 0)
        return WAPCTL_CONNECT;
    rc = wapctl_job_wait(c, path, &job);
    wapctl_print(c, job, NULL);
    json_decref(job);
    free(path);
    return rc;
}

/* POSTs or DELETEs path, then prints the answer or waits for its job. */
static int
write_finish(const wapctl_t *c, const char *method, const char *path, const json_t *body)
{
    wapctl_reply_t reply = {0};
    int rc = wapctl_request(c, method, path, body, NULL, &reply);

    if (rc == WAPCTL_OK)
        rc = wapctl_finish(c, &reply, NULL);
    wapctl_reply_free(&reply);
    return rc;
}

int
wapctl_hooks_redeliver(const wapctl_t *c, const wapctl_noun_t *noun, int argc, char **argv)
{
    char *pos[2], *path = NULL;
    int rc;

    assert(c != NULL && noun != NULL);
    rc = wapctl_args_parse(noun->name, "redeliver", no_fields, argc, argv, 2, pos, NULL);
    if (rc != WAPCTL_OK)
        return rc;
    if (asprintf(&path, "%s/%s/deliveries/%s/redeliver", noun->path, pos[0], pos[1]) < 0)
        return WAPCTL_CONNECT;
    rc = write_finish(c, "POST", path, NULL);
    free(path);
    return rc;
}

int
wapctl_checkpoints_delete(const wapctl_t *c, const wapctl_noun_t *noun, int argc, char **argv)
{
    const wapctl_noun_t *vms = wapctl_noun_find("vms");
    char *pos[1], *id = NULL, *path = NULL;
    int rc;

    assert(c != NULL && noun != NULL && vms != NULL);
    rc = wapctl_args_parse(noun->name, "delete", no_fields, argc, argv, 1, pos, NULL);
    if (rc == WAPCTL_OK)
        rc = wapctl_resolve_id(c, vms, pos[0], &id);
    if (rc != WAPCTL_OK)
        return rc;
    if (asprintf(&path, "%s/%s/checkpoint", vms->path, id) < 0)
        path = NULL;
    rc = path != NULL ? write_finish(c, "DELETE", path, NULL) : WAPCTL_CONNECT;
    free(path);
    free(id);
    return rc;
}

/* Takes "userId" out of body. When it was there: *user receives the user's id (a name or email given is
 * resolved) and *path that user's tokens path, both malloc'd; otherwise both stay NULL. Returns a WAPCTL_*
 * status. */
static int
user_take(const wapctl_t *c, json_t *body, char **user, char **path)
{
    const char *given = json_string_value(json_object_get(body, "userId"));
    int rc = WAPCTL_OK;

    *user = *path = NULL;
    if (given != NULL)
        rc = wapctl_resolve_id(c, wapctl_noun_find("users"), given, user);
    json_object_del(body, "userId");
    if (rc == WAPCTL_OK && *user != NULL && asprintf(path, "%s/%s/tokens", USERS_PATH, *user) < 0) {
        *path = NULL;
        rc = WAPCTL_CONNECT;
    }
    return rc;
}

int
wapctl_tokens_list(const wapctl_t *c, const wapctl_noun_t *noun, int argc, char **argv)
{
    json_t *body = NULL, *all = NULL;
    char *user = NULL, *path = NULL;
    int rc;

    assert(c != NULL && noun != NULL);
    rc = wapctl_args_parse(noun->name, "list", user_only, argc, argv, 0, NULL, &body);
    if (rc == WAPCTL_OK)
        rc = user_take(c, body, &user, &path);
    if (rc == WAPCTL_OK)
        rc = wapctl_list_all(c, path != NULL ? path : noun->path, &all);
    if (rc == WAPCTL_OK)
        wapctl_print(c, all, user != NULL ? tenant_token_cols : noun->columns);
    json_decref(all);
    json_decref(body);
    free(path);
    free(user);
    return rc;
}

int
wapctl_tokens_create(const wapctl_t *c, const wapctl_noun_t *noun, int argc, char **argv)
{
    json_t *body = NULL;
    char *user = NULL, *path = NULL;
    int rc;

    assert(c != NULL && noun != NULL);
    rc = wapctl_args_parse(noun->name, "create", token_create, argc, argv, 0, NULL, &body);
    if (rc == WAPCTL_OK)
        rc = user_take(c, body, &user, &path);
    if (rc == WAPCTL_OK && user != NULL &&
        (json_object_get(body, "name") != NULL || json_object_get(body, "scope") != NULL)) {
        fprintf(stderr, "wapctl tokens create: a tenant token (--user-id) has no --name or --scope\n");
        rc = WAPCTL_USAGE;
    }
    if (rc == WAPCTL_OK)
        rc = write_finish(c, "POST", path != NULL ? path : noun->path, body);
    json_decref(body);
    free(path);
    free(user);
    return rc;
}

int
wapctl_tokens_delete(const wapctl_t *c, const wapctl_noun_t *noun, int argc, char **argv)
{
    static const wapctl_verb_t del = {"delete", WAPCTL_V_DELETE, NULL, NULL, NULL, NULL, "ID", ""};
    char dashes[] = "--";
    json_t *body = NULL;
    char *pos[1], *args[2], *user = NULL, *tokens = NULL, *path = NULL;
    int rc;

    assert(c != NULL && noun != NULL);
    rc = wapctl_args_parse(noun->name, "delete", user_only, argc, argv, 1, pos, &body);
    if (rc == WAPCTL_OK)
        rc = user_take(c, body, &user, &tokens);
    json_decref(body);
    if (rc == WAPCTL_OK && user == NULL) {
        /* An admin token: the generic delete (by id or name, If-Match its ETag). */
        args[0] = dashes;
        args[1] = pos[0];
        rc = wapctl_verb_run(c, noun, &del, 2, args);
    } else if (rc == WAPCTL_OK) {
        rc = asprintf(&path, "%s/%s", tokens, pos[0]) < 0 ? WAPCTL_CONNECT
                                                          : write_finish(c, "DELETE", path, NULL);
    }
    free(path);
    free(tokens);
    free(user);
    return rc;
}

int
wapctl_usage_export_verb(const wapctl_t *c, const wapctl_noun_t *noun, int argc, char **argv)
{
    assert(noun != NULL);
    return wapctl_usage_export(c, argc, argv);
}

int
wapctl_backup_noun(const wapctl_t *c, const wapctl_noun_t *noun, int argc, char **argv)
{
    assert(noun != NULL);
    return wapctl_backup(c, argc, argv);
}
