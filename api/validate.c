/*
 * validate.c: shape checks of JSON request bodies against a field table.
 *
 * A body passes when every field it has is in the table with the right type and range, and every required
 * field is present. The first fault found is reported as 400 InvalidRequest with `target` as a JSON path
 * ("capacity.cores", "imageIds[2]"). Nothing here looks at the state.
 */
#include "internal.h"

#include <stdio.h>
#include <string.h>

#define JV_STRING_MAX_DEFAULT 256

const jv_field_t api_dynmem_fields[] = {
    {"enabled", JV_BOOL, JV_REQUIRED, 0, 0, NULL, NULL},
    {"minimumMB", JV_INT, JV_NULLABLE, 1, 16LL * 1024 * 1024, NULL, NULL},
    {"maximumMB", JV_INT, JV_NULLABLE, 1, 16LL * 1024 * 1024, NULL, NULL},
    {NULL, 0, 0, 0, 0, NULL, NULL},
};

static int
check_string(const json_t *v, const jv_field_t *f, const char *path, err_t *err)
{
    const char *s = json_string_value(v);
    size_t len = json_string_length(v), i;
    int64_t max = f->max > 0 ? f->max : JV_STRING_MAX_DEFAULT;
    const char *at;

    if ((int64_t) len < f->min || (int64_t) len > max)
        return err_set(err, ERR_INVALID_REQUEST, path, "%s must be %lld to %lld characters long.",
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
            return err_set(err, ERR_INVALID_REQUEST, path, "%s must be one of: %s.", path, list);
        }
    }
    if ((f->flags & JV_UUID) && !util_uuid_valid(s))
        return err_set(err, ERR_INVALID_REQUEST, path, "%s must be a UUID.", path);
    if (f->flags & JV_EMAIL) {
        at = strchr(s, '@');
        if (at == NULL || at == s || at[1] == '\0' || strchr(at + 1, '@') || strchr(s, ' '))
            return err_set(err, ERR_INVALID_REQUEST, path, "%s must be an email address.", path);
    }
    for (i = 0; i < len; i++)
        if ((unsigned char) s[i] < 0x20)
            return err_set(err, ERR_INVALID_REQUEST, path,
                           "%s must not contain control characters.", path);
    return 0;
}

static int check_object(const json_t *obj, const jv_field_t *spec, bool partial, const char *prefix,
                        err_t *err);

static int
check_value(const json_t *v, const jv_field_t *f, bool partial, const char *path, err_t *err)
{
    char item[ERR_TARGET_MAX];
    const json_t *e;
    size_t i;
    int64_t n;

    if (json_is_null(v)) {
        if (f->flags & JV_NULLABLE)
            return 0;
        return err_set(err, ERR_INVALID_REQUEST, path, "%s must not be null.", path);
    }
    switch (f->type) {
    case JV_STRING:
        if (!json_is_string(v))
            return err_set(err, ERR_INVALID_REQUEST, path, "%s must be a string.", path);
        return check_string(v, f, path, err);
    case JV_INT:
        if (!json_is_integer(v))
            return err_set(err, ERR_INVALID_REQUEST, path, "%s must be a whole number.", path);
        n = json_integer_value(v);
        if (n < f->min || n > f->max)
            return err_set(err, ERR_INVALID_REQUEST, path, "%s must be from %lld to %lld.", path,
                           (long long) f->min, (long long) f->max);
        return 0;
    case JV_BOOL:
        if (!json_is_boolean(v))
            return err_set(err, ERR_INVALID_REQUEST, path, "%s must be true or false.", path);
        return 0;
    case JV_OBJECT:
        if (!json_is_object(v))
            return err_set(err, ERR_INVALID_REQUEST, path, "%s must be an object.", path);
        return check_object(v, f->fields, partial, path, err);
    case JV_OBJECT_ARRAY:
        if (!json_is_array(v))
            return err_set(err, ERR_INVALID_REQUEST, path, "%s must be an array of objects.", path);
        if ((int64_t) json_array_size(v) > (f->max > 0 ? f->max : 1000))
            return err_set(err, ERR_INVALID_REQUEST, path, "%s has too many items.", path);
        json_array_foreach(v, i, e) {
            snprintf(item, sizeof(item), "%s[%zu]", path, i);
            if (!json_is_object(e))
                return err_set(err, ERR_INVALID_REQUEST, item, "%s must be an object.", item);
            if (check_object(e, f->fields, partial, item, err))
                return -1;
        }
        return 0;
    case JV_STRING_ARRAY:
        if (!json_is_array(v))
            return err_set(err, ERR_INVALID_REQUEST, path, "%s must be an array of strings.", path);
        if (json_array_size(v) > 1000)
            return err_set(err, ERR_INVALID_REQUEST, path, "%s has more than 1000 items.", path);
        json_array_foreach(v, i, e) {
            jv_field_t one = *f;
            one.type = JV_STRING;
            one.flags &= ~JV_NULLABLE;
            snprintf(item, sizeof(item), "%s[%zu]", path, i);
            if (check_value(e, &one, partial, item, err))
                return -1;
        }
        return 0;
    }
    return err_set(err, ERR_INTERNAL, path, "The field table is broken at %s.", path);
}

static int
check_object(const json_t *obj, const jv_field_t *spec, bool partial, const char *prefix,
             err_t *err)
{
    char path[ERR_TARGET_MAX];
    const jv_field_t *f;
    const char *key;
    json_t *v;

    json_object_foreach((json_t *) obj, key, v) {
        snprintf(path, sizeof(path), "%s%s%s", prefix, *prefix ? "." : "", key);
        for (f = spec; f->name; f++)
            if (strcmp(f->name, key) == 0)
                break;
        if (f->name == NULL)
            return err_set(err, ERR_INVALID_REQUEST, path, "%s is not a field of this request.",
                           path);
        if (check_value(v, f, partial, path, err))
            return -1;
    }
    if (partial)
        return 0;
    for (f = spec; f->name; f++) {
        if ((f->flags & JV_REQUIRED) && json_object_get(obj, f->name) == NULL) {
            snprintf(path, sizeof(path), "%s%s%s", prefix, *prefix ? "." : "", f->name);
            return err_set(err, ERR_INVALID_REQUEST, path, "%s is required.", path);
        }
    }
    return 0;
}

int
api_json_validate(const json_t *obj, const jv_field_t *spec, bool partial, err_t *err)
{
    if (!json_is_object(obj))
        return err_set(err, ERR_INVALID_REQUEST, NULL, "The body must be a JSON object.");
    return check_object(obj, spec, partial, "", err);
}
