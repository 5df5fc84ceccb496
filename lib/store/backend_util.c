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
