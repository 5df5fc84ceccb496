/*
 * validate.c: shape checks of JSON request bodies against a field table.
 *
 * A body passes when every field it has is in the table with the right type and range, and every required
 * field is present. Every fault is reported, not only the first: each field at fault (an unknown one, one of
 * the wrong type or out of range, a missing required one; each item of an array) gives one
 * {code, message, target} in the error's details[], in the order of the body, then the missing fields in
 * the order of the table. The error itself (400 InvalidRequest, `target` a JSON path such as
 * "capacity.cores" or "imageIds[2]") is the first of them, so a client that reads only it sees what it saw
 * before details existed. At most JV_DETAILS_MAX details are kept; counting goes on past them. Nothing here
 * looks at the state.
 */
#include "internal.h"

#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define JV_STRING_MAX_DEFAULT 256
#define JV_DETAILS_MAX 100

/* Where the faults of one body go: the first into err, each (up to JV_DETAILS_MAX) into details (NULL:
 * only the first is wanted). */
typedef struct {
    err_t *err;
    json_t *details;
    int count;
} jv_report_t;

/* Reports one fault of the field at path; returns -1 for `return fault(...)`. */
static int __attribute__((format(printf, 4, 5)))
fault(jv_report_t *rep, err_code_t code, const char *path, const char *fmt, ...)
{
    char message[ERR_MESSAGE_MAX];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(message, sizeof(message), fmt, ap);
    va_end(ap);
    if (rep->count++ == 0)
        err_set(rep->err, code, path, "%s", message);
    if (rep->details != NULL && rep->count <= JV_DETAILS_MAX)
        json_array_append_new(rep->details, json_pack("{s:s, s:s, s:s?}", "code", err_code_name(code),
                                                      "message", message, "target",
                                                      path && *path ? path : NULL));
    return -1;
}

const jv_field_t api_dynmem_fields[] = {
    {"enabled", JV_BOOL, JV_REQUIRED, 0, 0, NULL, NULL},
    {"minimumMB", JV_INT, JV_NULLABLE, 1, 16LL * 1024 * 1024, NULL, NULL},
    {"maximumMB", JV_INT, JV_NULLABLE, 1, 16LL * 1024 * 1024, NULL, NULL},
    {NULL, 0, 0, 0, 0, NULL, NULL},
};

static int
check_string(const json_t *v, const jv_field_t *f, const char *path, jv_report_t *rep)
{
    const char *s = json_string_value(v);
    size_t len = json_string_length(v), i;
    int64_t max = f->max > 0 ? f->max : JV_STRING_MAX_DEFAULT;
    const char *at;

    if ((int64_t) len < f->min || (int64_t) len > max)
        return fault(rep, ERR_INVALID_REQUEST, path, "%s must be %lld to %lld characters long.",
                       path, (long long) f->min, (long long) max);
    if (f->choices) {
        for (i = 0; f->choices[i]; i++)
            if (strcmp(f->choices[i], s) == 0)
                break;
        if (f->choices[i] == NULL) {
            char list[200] = "";
            for (i = 0; f->choices[i]; i++) {
                strncat(list, i ? ", " : "", sizeof(list) - strlen(list) - 1);
                strncat(list, f->choices[i], sizeof(list) - strlen(list) - 1);
            }
            return fault(rep, ERR_INVALID_REQUEST, path, "%s must be one of: %s.", path, list);
        }
    }
    if ((f->flags & JV_UUID) && !util_uuid_valid(s))
        return fault(rep, ERR_INVALID_REQUEST, path, "%s must be a UUID.", path);
    if (f->flags & JV_EMAIL) {
        at = strchr(s, '@');
        if (at == NULL || at == s || at[1] == '\0' || strchr(at + 1, '@') || strchr(s, ' '))
            return fault(rep, ERR_INVALID_REQUEST, path, "%s must be an email address.", path);
    }
    for (i = 0; i < len; i++)
        if ((unsigned char) s[i] < 0x20)
            return fault(rep, ERR_INVALID_REQUEST, path,
                           "%s must not contain control characters.", path);
    return 0;
}

static int check_object(const json_t *obj, const jv_field_t *spec, bool partial, const char *prefix,
                        jv_report_t *rep);

static int
check_value(const json_t *v, const jv_field_t *f, bool partial, const char *path, jv_report_t *rep)
{
    char item[ERR_TARGET_MAX];
    const json_t *e;
    size_t i;
    int64_t n;
    int before = rep->count;

    if (json_is_null(v)) {
        if (f->flags & JV_NULLABLE)
            return 0;
        return fault(rep, ERR_INVALID_REQUEST, path, "%s must not be null.", path);
    }
    switch (f->type) {
    case JV_STRING:
        if (!json_is_string(v))
            return fault(rep, ERR_INVALID_REQUEST, path, "%s must be a string.", path);
        return check_string(v, f, path, rep);
    case JV_INT:
        if (!json_is_integer(v))
            return fault(rep, ERR_INVALID_REQUEST, path, "%s must be a whole number.", path);
        n = json_integer_value(v);
        if (n < f->min || n > f->max)
            return fault(rep, ERR_INVALID_REQUEST, path, "%s must be from %lld to %lld.", path,
                           (long long) f->min, (long long) f->max);
        return 0;
    case JV_BOOL:
        if (!json_is_boolean(v))
            return fault(rep, ERR_INVALID_REQUEST, path, "%s must be true or false.", path);
        return 0;
    case JV_OBJECT:
        if (!json_is_object(v))
            return fault(rep, ERR_INVALID_REQUEST, path, "%s must be an object.", path);
        return check_object(v, f->fields, partial, path, rep);
    case JV_OBJECT_ARRAY:
        if (!json_is_array(v))
            return fault(rep, ERR_INVALID_REQUEST, path, "%s must be an array of objects.", path);
        if ((int64_t) json_array_size(v) > (f->max > 0 ? f->max : 1000))
            return fault(rep, ERR_INVALID_REQUEST, path, "%s has too many items.", path);
        json_array_foreach(v, i, e) {
            snprintf(item, sizeof(item), "%s[%zu]", path, i);
            if (!json_is_object(e))
                fault(rep, ERR_INVALID_REQUEST, item, "%s must be an object.", item);
            else
                check_object(e, f->fields, partial, item, rep);
        }
        return rep->count > before ? -1 : 0;
    case JV_STRING_ARRAY:
        if (!json_is_array(v))
            return fault(rep, ERR_INVALID_REQUEST, path, "%s must be an array of strings.", path);
        if (json_array_size(v) > 1000)
            return fault(rep, ERR_INVALID_REQUEST, path, "%s has more than 1000 items.", path);
        json_array_foreach(v, i, e) {
            jv_field_t one = *f;
            one.type = JV_STRING;
            one.flags &= ~JV_NULLABLE;
            snprintf(item, sizeof(item), "%s[%zu]", path, i);
            check_value(e, &one, partial, item, rep);
        }
        return rep->count > before ? -1 : 0;
    }
    return fault(rep, ERR_INTERNAL, path, "The field table is broken at %s.", path);
}

static int
check_object(const json_t *obj, const jv_field_t *spec, bool partial, const char *prefix,
             jv_report_t *rep)
{
    char path[ERR_TARGET_MAX];
    const jv_field_t *f;
    const char *key;
    json_t *v;
    int before = rep->count;

    json_object_foreach((json_t *) obj, key, v) {
        snprintf(path, sizeof(path), "%s%s%s", prefix, *prefix ? "." : "", key);
        for (f = spec; f->name; f++)
            if (strcmp(f->name, key) == 0)
                break;
        if (f->name == NULL)
            fault(rep, ERR_INVALID_REQUEST, path, "%s is not a field of this request.", path);
        else
            check_value(v, f, partial, path, rep);
    }
    for (f = spec; !partial && f->name; f++) {
        if ((f->flags & JV_REQUIRED) && json_object_get(obj, f->name) == NULL) {
            snprintf(path, sizeof(path), "%s%s%s", prefix, *prefix ? "." : "", f->name);
            fault(rep, ERR_INVALID_REQUEST, path, "%s is required.", path);
        }
    }
    return rep->count > before ? -1 : 0;
}

int
api_json_check(const json_t *obj, const jv_field_t *spec, bool partial, err_t *err, json_t **details)
{
    jv_report_t rep = {err, NULL, 0};

    assert(obj != NULL && spec != NULL);
    if (!json_is_object(obj))
        return fault(&rep, ERR_INVALID_REQUEST, NULL, "The body must be a JSON object.");
    if (details != NULL && (rep.details = json_array()) == NULL)
        return err_set(err, ERR_INTERNAL, NULL, "Out of memory while checking the body.");
    if (check_object(obj, spec, partial, "", &rep) == 0) {
        json_decref(rep.details);
        return 0;
    }
    if (details != NULL)
        *details = rep.details;
    return -1;
}

int
api_json_validate(const json_t *obj, const jv_field_t *spec, bool partial, err_t *err)
{
    return api_json_check(obj, spec, partial, err, NULL);
}
