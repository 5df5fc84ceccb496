/*
 * output.c: prints an answer as the API's JSON or as a table within 100 columns.
 *
 * -o json prints the value exactly as the API gave it (indented; the same keys, in the same order, with the
 * same values). A table is either a list ({"value": [...]}: one row per item, one column per field named)
 * or one item (one "key  value" row per field). Widths are counted in characters (UTF-8 code points);
 * a cell too wide for its column ends in "…", so no line is ever longer than WAPCTL_COLUMNS.
 */
#include "nouns.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#define WAPCTL_COLUMNS 100
#define WAPCTL_GAP 2      /* spaces between columns */
#define WAPCTL_MIN_CELL 4 /* a column is never cut narrower */

static const char *const default_columns[] = {"id", "name", "state", "createdAt", NULL};

/* Characters (code points) in a UTF-8 string. */
static size_t
width_of(const char *s)
{
    size_t n = 0;

    for (; *s != '\0'; s++)
        if (((unsigned char) *s & 0xC0) != 0x80)
            n++;
    return n;
}

/* Prints s in exactly width characters: padded with spaces (unless last), or cut with "…". */
static void
cell_print(const char *s, size_t width, int last, FILE *out)
{
    size_t w = width_of(s), n = 0;
    const char *p = s;

    if (w <= width) {
        fputs(s, out);
        if (!last)
            for (; w < width; w++)
                fputc(' ', out);
        return;
    }
    /* Keep width - 1 characters, then the ellipsis. */
    while (*p != '\0') {
        if (((unsigned char) *p & 0xC0) != 0x80) {
            if (n == width - 1)
                break;
            n++;
        }
        p++;
    }
    fwrite(s, 1, (size_t) (p - s), out);
    fputs("…", out);
}

/* The field at a dotted path ("capacity.cores"), borrowed, or NULL. */
static const json_t *
field_at(const json_t *item, const char *path)
{
    char key[128];
    int more;

    while ((more = wapctl_path_next(&path, key, sizeof(key))) > 0)
        item = json_object_get(item, key);
    return more == 0 ? json_object_get(item, path) : NULL;
}

/* A cell's text: a string as is, null or absent as "-", anything else as compact JSON. Malloc'd. */
static char *
cell_text(const json_t *v)
{
    if (v == NULL || json_is_null(v))
        return strdup("-");
    if (json_is_string(v))
        return strdup(json_string_value(v));
    return json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
}

/* Narrows the widest columns until the row fits; widths[] are the natural widths on entry. An "id"
 * column is cut last: it is what the next command needs. */
static void
widths_fit(size_t *widths, const char *const *columns, size_t ncols)
{
    size_t total, i, widest;
    int pass;

    for (pass = 0; pass < 2; pass++) {
        for (;;) {
            total = 0;
            widest = ncols;
            for (i = 0; i < ncols; i++) {
                total += widths[i] + (i > 0 ? WAPCTL_GAP : 0);
                if ((pass == 1 || strcmp(columns[i], "id") != 0) &&
                    (widest == ncols || widths[i] > widths[widest]))
                    widest = i;
            }
            if (total <= WAPCTL_COLUMNS)
                return;
            if (widest == ncols || widths[widest] <= WAPCTL_MIN_CELL)
                break;
            widths[widest]--;
        }
    }
}

static void
list_print(const json_t *items, const char *const *columns, FILE *out)
{
    size_t ncols = 0, nrows = json_array_size(items), i, j;
    size_t *widths;
    char **cells;

    while (columns[ncols] != NULL)
        ncols++;
    widths = calloc(ncols, sizeof(*widths));
    cells = calloc((nrows + 1) * ncols, sizeof(*cells));
    if (widths == NULL || cells == NULL)
        goto cleanup;
    for (j = 0; j < ncols; j++) {
        cells[j] = strdup(columns[j]);
        for (i = 0; i < nrows; i++)
            cells[(i + 1) * ncols + j] = cell_text(field_at(json_array_get(items, i), columns[j]));
        for (i = 0; i <= nrows; i++)
            if (cells[i * ncols + j] != NULL && width_of(cells[i * ncols + j]) > widths[j])
                widths[j] = width_of(cells[i * ncols + j]);
    }
    widths_fit(widths, columns, ncols);
    for (i = 0; i <= nrows; i++) {
        for (j = 0; j < ncols; j++) {
            if (j > 0)
                fprintf(out, "%*s", WAPCTL_GAP, "");
            cell_print(cells[i * ncols + j] != NULL ? cells[i * ncols + j] : "", widths[j], j + 1 == ncols,
                       out);
        }
        fputc('\n', out);
    }
cleanup:
    for (i = 0; cells != NULL && i < (nrows + 1) * ncols; i++)
        free(cells[i]);
    free(cells);
    free(widths);
}

static void
item_print(const json_t *item, FILE *out)
{
    const char *key;
    const json_t *v;
    size_t kw = 0, vw;
    char *text;

    json_object_foreach ((json_t *) item, key, v)
        if (width_of(key) > kw)
            kw = width_of(key);
    if (kw > WAPCTL_COLUMNS / 2)
        kw = WAPCTL_COLUMNS / 2;
    vw = WAPCTL_COLUMNS - kw - WAPCTL_GAP;
    json_object_foreach ((json_t *) item, key, v) {
        text = cell_text(v);
        cell_print(key, kw, 0, out);
        fprintf(out, "%*s", WAPCTL_GAP, "");
        cell_print(text != NULL ? text : "", vw, 1, out);
        fputc('\n', out);
        free(text);
    }
}

void
wapctl_print(const wapctl_t *c, const json_t *value, const char *const *columns)
{
    const json_t *items;

    assert(c != NULL);
    if (value == NULL)
        return;
    if (c->output == WAPCTL_OUT_JSON) {
        json_dumpf(value, stdout, JSON_INDENT(2) | JSON_ENCODE_ANY);
        fputc('\n', stdout);
        return;
    }
    items = json_object_get(value, "value");
    if (json_is_array(items)) {
        list_print(items, columns != NULL ? columns : default_columns, stdout);
    } else if (json_is_object(value)) {
        item_print(value, stdout);
    } else {
        json_dumpf(value, stdout, JSON_INDENT(2) | JSON_ENCODE_ANY);
        fputc('\n', stdout);
    }
}
