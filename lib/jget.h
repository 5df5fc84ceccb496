/*
 * jget.h: the two reads every module makes of a JSON object: a string field and an integer field.
 *
 * Both borrow: the string belongs to the object and lives as long as the field does. A missing field, or
 * one of another type, reads as NULL (strings) or 0 (integers), as jansson's own getters do; callers that
 * must tell a missing field from a zero test with json_is_integer first.
 */
#ifndef WAPD_JGET_H
#define WAPD_JGET_H

#include <stdint.h>

#include <jansson.h>

static inline const char *
jget_str(const json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

static inline int64_t
jget_int(const json_t *o, const char *k)
{
    return json_integer_value(json_object_get(o, k));
}

#endif
