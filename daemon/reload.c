/*
 * reload.c: the settings a SIGHUP applies (see reload.h).
 *
 * Invariants: a file that does not load changes nothing (the new config_t is built whole first, then
 * compared); only rows marked live in the table are moved into the running config_t, by swapping the
 * field's value with the new config's (which is then freed), so every string stays owned exactly once;
 * a secret's value never reaches a log line; every changed setting gets one line, the "setting changed"
 * lines written at the more verbose of the old and new log levels so that a change of the level itself
 * is seen.
 */
#include "reload.h"

#include <assert.h>
#include <stdbool.h>
#include <string.h>

#include <jansson.h>

#include "../lib/log.h"

static void *
field_of(const config_t *cfg, const config_setting_t *s)
{
    return (char *) cfg + s->offset;
}

static bool
same_value(const config_setting_t *s, const config_t *a, const config_t *b)
{
    const char *x, *y;

    switch (s->type) {
    case CONFIG_INT:
        return *(const int *) field_of(a, s) == *(const int *) field_of(b, s);
    case CONFIG_BOOL:
        return *(const bool *) field_of(a, s) == *(const bool *) field_of(b, s);
    case CONFIG_STRING:
    case CONFIG_PATH:
    case CONFIG_ADDRESS:
        break;
    }
    x = *(char *const *) field_of(a, s);
    y = *(char *const *) field_of(b, s);
    if (x == NULL || y == NULL)
        return x == y;
    return strcmp(x, y) == 0;
}

/* A setting's value as JSON: a number, a boolean, a string, or null when unset. */
static json_t *
value_json(const config_setting_t *s, const config_t *cfg)
{
    const char *str;

    if (s->type == CONFIG_INT)
        return json_integer(*(const int *) field_of(cfg, s));
    if (s->type == CONFIG_BOOL)
        return json_boolean(*(const bool *) field_of(cfg, s));
    str = *(char *const *) field_of(cfg, s);
    return str ? json_string(str) : json_null();
}

/* Moves the value of setting s from next into cfg (and cfg's old value into next, which is freed). */
static void
swap_value(const config_setting_t *s, config_t *cfg, config_t *next)
{
    char tmp[sizeof(char *) > sizeof(int) ? sizeof(char *) : sizeof(int)];
    size_t size = s->type == CONFIG_INT ? sizeof(int) : s->type == CONFIG_BOOL ? sizeof(bool)
                                                                               : sizeof(char *);

    memcpy(tmp, field_of(cfg, s), size);
    memcpy(field_of(cfg, s), field_of(next, s), size);
    memcpy(field_of(next, s), tmp, size);
}

static void
log_change(const config_setting_t *s, const config_t *old, const config_t *next)
{
    json_t *fields;

    fields = json_pack("{s:s, s:b}", "setting", s->name, "applied", s->live);
    if (fields && !s->secret) {
        json_object_set_new(fields, "old", value_json(s, old));
        json_object_set_new(fields, "new", value_json(s, next));
    }
    if (fields && !s->live)
        json_object_set_new(fields, "detail", json_string("it takes effect at the next start"));
    log_line(s->live ? "info" : "warn", "setting changed", fields);
}

void
reload_apply(const config_t *cfg, api_ctx_t *ctx)
{
    int rc;

    assert(cfg != NULL && ctx != NULL && cfg->log_level != NULL);
    rc = log_set_level(cfg->log_level);
    assert(rc == 0); /* config_set lets only a level's name through */
    (void) rc;
    ctx->rate_limit = cfg->rate_limit;
    ctx->log_requests = cfg->log_requests;
}

int
reload_settings(config_t *cfg, api_ctx_t *ctx, int argc, char **argv)
{
    config_t next;
    char msg[512];
    const config_setting_t *t;
    size_t n, i;
    int applied = 0, old_level, new_level;

    assert(cfg != NULL && ctx != NULL && argc >= 1 && argv != NULL);
    if (config_load(&next, argc, argv, msg, sizeof(msg)) != 0) {
        log_line("error", "the settings could not be read again; every setting keeps its value",
                 json_pack("{s:s}", "detail", msg));
        config_free(&next);
        return -1;
    }
    /* The lines below are written at the more verbose of the two levels, then the new one holds. */
    old_level = log_get_level();
    new_level = log_level_parse(next.log_level);
    assert(new_level >= 0);
    if (new_level < old_level)
        log_set_level(next.log_level);
    t = config_settings(&n);
    for (i = 0; i < n; i++) {
        if (same_value(&t[i], cfg, &next))
            continue;
        log_change(&t[i], cfg, &next);
        if (!t[i].live)
            continue;
        swap_value(&t[i], cfg, &next);
        applied++;
    }
    reload_apply(cfg, ctx);
    log_line("info", "settings reloaded", json_pack("{s:i}", "applied", applied));
    config_free(&next);
    return applied;
}
