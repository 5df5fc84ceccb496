/*
 * backend_util.h: what every store backend's files share and nothing outside lib/store uses: a growing SQL
 * text (the statements built from a kind's columns and a list's filters), the hash of a statement's text
 * for a backend's statement cache, the metered state of a VM record and when it changed, and the text of
 * a WAP usage counter.
 */
#ifndef WAPD_STORE_BACKEND_UTIL_H
#define WAPD_STORE_BACKEND_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "kind.h"

/* A growing SQL text; on overflow further appends are ignored and overflow is set: the statement is then
 * refused by its builder. Start one as {.len = 0}. */
typedef struct {
    char buf[4096];
    size_t len;
    int overflow;
} sqlbuf_t;

void sqlbuf_add(sqlbuf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The kind's columns, comma-separated, in its order. */
void sqlbuf_columns(sqlbuf_t *b, const store_kind_t *kind);

/* Hot: every statement a backend runs looks itself up by this. The length and the text's two ends tell
 * statements apart well enough for a bucket; the comparison on lookup decides. */
unsigned store__sql_hash(const char *sql);

/* A WAP counter as text into out: a whole number as such, else with up to 3 decimals (no trailing
 * zeros). */
void store__wap_number(double v, char out[40]);

/* What the VM timeline keeps of a VM record (store_timeline_append's vm): its metered state. The strings
 * are borrowed from the record (NULL when it has none). */
typedef struct {
    const char *power, *size, *type;
    int64_t cores, mem, assigned, storage, hc, hs;
} store_vm_metered_t;

void store__vm_metered(const json_t *vm, store_vm_metered_t *m);
/* A timeline row is written on a change only: true when event adds nothing to the VM's last row (its
 * event last_event, its state last; last's strings never NULL). */
bool store__vm_metered_same(const char *event, const char *last_event, const store_vm_metered_t *last,
                            const store_vm_metered_t *now);

#endif
