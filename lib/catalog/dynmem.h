/*
 * dynmem.h: dynamic memory, as a size and a VM carry it: null, or {enabled, minimumMB, maximumMB}.
 *
 * Invariant of a value that passed catalog_dynmem_check: when enabled, 0 < minimumMB <= startup memory
 * <= maximumMB; when disabled, both bounds are 0 (the API shows them as null). The startup memory is the
 * size's (or the VM's) memoryMB, what quotas and placement count. Not for api/ beyond its parse and check.
 */
#ifndef WAPD_CATALOG_DYNMEM_H
#define WAPD_CATALOG_DYNMEM_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "../err.h"

typedef struct {
    bool present; /* false: null (static memory) */
    bool enabled;
    int64_t minimum_mb, maximum_mb; /* 0 when absent or disabled */
} catalog_dynmem_t;

/* The value of j (borrowed; NULL or null: not present), a body already checked for its shape (enabled a
 * boolean, the bounds integers); with enabled false the bounds are ignored. */
void catalog_dynmem_of(const json_t *j, catalog_dynmem_t *out);
/* 400 InvalidRequest unless an enabled d has both bounds with minimumMB <= startup_mb <= maximumMB: target
 * dynamicMemory.minimumMB (missing, above the startup memory or above maximumMB) or
 * dynamicMemory.maximumMB (missing, or below the startup memory). A value not present or disabled passes. */
int catalog_dynmem_check(const catalog_dynmem_t *d, int64_t startup_mb, err_t *err);
/* The API's form: null, or {enabled, minimumMB, maximumMB} with null bounds when disabled (a new reference;
 * NULL when out of memory). */
json_t *catalog_dynmem_json(const catalog_dynmem_t *d);
/* Reads the stored form back (borrowed; NULL or null: not present): -1 when it is not one. */
int catalog_dynmem_from_json(const json_t *j, catalog_dynmem_t *out);

#endif
