/*
 * backend_util.c: the helpers every store backend shares (backend_util.h).
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "backend_util.h"

void
sqlbuf_add(sqlbuf_t *b, const char *fmt, ...)
{
    va_list ap;
    int n;

    if (b->overflow)
        return;
    va_start(ap, fmt);
    n = vsnprintf(b->buf + b->len, sizeof(b->buf) - b->len, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t) n >= sizeof(b->buf) - b->len)
        b->overflow = 1;
    else
        b->len += (size_t) n;
}

void
sqlbuf_columns(sqlbuf_t *b, const store_kind_t *kind)
{
    size_t i;

    for (i = 0; i < kind->ncols; i++)
        sqlbuf_add(b, "%s%s", i ? ", " : "", kind->cols[i].column);
}

unsigned
store__sql_hash(const char *s)
{
    size_t n = strlen(s), i, k = n < 48 ? n : 48;
    unsigned h = 2166136261u ^ (unsigned) n;

    for (i = 0; i < k; i++)
        h = (h ^ (unsigned char) s[i]) * 16777619u;
    for (i = n - k; i < n; i++)
        h = (h ^ (unsigned char) s[i]) * 16777619u;
    return h;
}

void
store__wap_number(double v, char out[40])
{
    size_t n;

    if (v == (double) (long long) v) {
        snprintf(out, 40, "%lld", (long long) v);
        return;
    }
    snprintf(out, 40, "%.3f", v);
    n = strlen(out);
    while (n > 0 && out[n - 1] == '0')
        out[--n] = '\0';
    if (n > 0 && out[n - 1] == '.')
        out[--n] = '\0';
}

void
store__vm_metered(const json_t *vm, store_vm_metered_t *m)
{
    json_t *assigned = json_object_get(vm, "_assignedMemoryMB");

    m->power = json_string_value(json_object_get(vm, "powerState"));
    m->size = json_string_value(json_object_get(vm, "size"));
    m->type = json_string_value(json_object_get(vm, "_resourceType"));
    m->cores = json_integer_value(json_object_get(vm, "cores"));
    m->mem = json_integer_value(json_object_get(vm, "memoryMB"));
    m->assigned = json_is_integer(assigned) ? json_integer_value(assigned) : m->mem;
    m->storage = json_integer_value(json_object_get(vm, "_storageGB"));
    m->hc = json_is_true(json_object_get(vm, "_holdsCompute"));
    m->hs = json_is_true(json_object_get(vm, "_holdsStorage"));
}

bool
store__vm_metered_same(const char *event, const char *last_event, const store_vm_metered_t *last,
                       const store_vm_metered_t *now)
{
    return strcmp(event, "changed") == 0 && strcmp(last_event, "deleted") != 0 &&
           strcmp(last->power, now->power ? now->power : "") == 0 &&
           strcmp(last->size, now->size ? now->size : "") == 0 && last->cores == now->cores &&
           last->mem == now->mem && last->storage == now->storage && last->hc == now->hc &&
           last->hs == now->hs && last->assigned == now->assigned;
}
