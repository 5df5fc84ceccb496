/*
 * wire_internal.h: the field readers the wapd-agent protocol's decoders share (wire.c,
 * wire_spec.c); not for other modules.
 *
 * Each reader names the field it reads in its error as WHERE.KEY ("disks[1].sizeGB"; where "" for
 * the body's own keys), refuses a value of another type or out of its bounds with a permanent
 * error, and writes its out-param only on success (read_str clears it first).
 */
#ifndef WAPD_AGENT_WIRE_INTERNAL_H
#define WAPD_AGENT_WIRE_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "wire.h"

/* 0 when j is an object whose keys are all in known (NULL-terminated). */
int agent_wire__check_object(const json_t *j, const char *where, const char *const *known,
                             agent_err_t *err);
/* A required integer field in [min, max]. */
int agent_wire__read_int(const json_t *o, const char *where, const char *key, int64_t min,
                         int64_t max, int64_t *out, agent_err_t *err);
int agent_wire__read_small_int(const json_t *o, const char *where, const char *key, int min,
                               int max, int *out, agent_err_t *err);
/* A string field of 1..cap-1 bytes into out; when nullable, missing or null reads as "" (*present
 * false). */
int agent_wire__read_str(const json_t *o, const char *where, const char *key, bool nullable,
                         char *out, size_t cap, bool *present, agent_err_t *err);
/* A JSON string of s, or null when s is NULL (a new reference; NULL when out of memory). */
json_t *agent_wire__nullable_string(const char *s);

#endif
