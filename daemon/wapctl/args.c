/*
 * args.c: turns a verb's command-line arguments into its positional arguments and its JSON body,
 * following the verb's field table; and a list's filters (parsed the same way) into a query string.
 *
 * An option is "--name VALUE" or "--name=VALUE", where name is a field's kebab-case option; a list field
 * also answers to its singular ("--image-id" for imageIds). Values take the field's JSON type: whole
 * numbers, true/false, "null" for a field that may be null, lists (repeatable, and each value may hold
 * several, comma-separated; an empty value gives []), and "--quota KEY=N" into "quotas". Anything else (an
 * unknown option, a value of the wrong type, too many or too few positional arguments) is a usage error:
 * one message on stderr and WAPCTL_USAGE, with nothing written to the out-parameters.
 */
#include "nouns.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const char *noun;
    const char *verb;
} args_ctx_t;

static int
usage_error(const args_ctx_t *a, const char *what, const char *arg)
{
    fprintf(stderr, "wapctl %s %s: %s%s\n(see wapctl %s --help)\n", a->noun, a->verb, what, arg, a->noun);
    return WAPCTL_USAGE;
}

/* The field whose option is name, or NULL. */
static const wapctl_field_t *
field_find(const wapctl_field_t *fields, const char *name, size_t len)
{
    const wapctl_field_t *f;
    char opt[64];
    size_t n;

    for (f = fields; f != NULL && f->path != NULL; f++) {
        wapctl_field_option(f, opt, sizeof(opt));
        n = strlen(opt);
        if (n == len && strncmp(opt, name, len) == 0)
            return f;
        if (f->type == WAPCTL_F_LIST && n == len + 1 && opt[n - 1] == 's' && strncmp(opt, name, len) == 0)
            return f;
    }
    return NULL;
}

static bool
parse_int(const char *s, json_int_t *out)
{
    char *end;
    long long v;

    errno = 0;
    v = strtoll(s, &end, 10);
    if (*s == '\0' || *end != '\0' || errno != 0)
        return false;
    *out = (json_int_t) v;
    return true;
}

int
wapctl_path_next(const char **path, char *key, size_t size)
{
    const char *dot = strchr(*path, '.');
    size_t n;

    assert(path != NULL && *path != NULL && key != NULL);
    if (dot == NULL)
        return 0;
    n = (size_t) (dot - *path);
    if (n >= size)
        return -1;
    memcpy(key, *path, n);
    key[n] = '\0';
    *path = dot + 1;
    return 1;
}

/* The object that holds the last segment of path (created as needed); *leaf points at that segment. */
static json_t *
parent_of(json_t *body, const char *path, const char **leaf)
{
    char key[64];
    json_t *child;
    int more;

    while ((more = wapctl_path_next(&path, key, sizeof(key))) > 0) {
        child = json_object_get(body, key);
        if (!json_is_object(child)) {
            child = json_object();
            json_object_set_new(body, key, child);
        }
        body = child;
    }
    *leaf = path;
    return more == 0 ? body : NULL;
}

/* Appends each comma-separated piece of value to the list at key of parent. */
static int
list_add(json_t *parent, const char *key, const char *value)
{
    json_t *list = json_object_get(parent, key);
    const char *p = value, *comma;
    json_t *s;

    if (!json_is_array(list)) {
        list = json_array();
        json_object_set_new(parent, key, list);
    }
    while (*p != '\0') {
        comma = strchr(p, ',');
        if (comma == NULL)
            comma = p + strlen(p);
        if (comma > p) {
            if ((s = json_stringn(p, (size_t) (comma - p))) == NULL)
                return -1;
            json_array_append_new(list, s);
        }
        p = *comma == ',' ? comma + 1 : comma;
    }
    return 0;
}

/* The JSON value of a scalar field, new, or NULL when value does not fit its type. */
static json_t *
scalar_of(const wapctl_field_t *f, const char *value)
{
    json_int_t n;

    if ((f->type == WAPCTL_F_STRN || f->type == WAPCTL_F_INTN) && strcmp(value, "null") == 0)
        return json_null();
    switch (f->type) {
    case WAPCTL_F_STR:
    case WAPCTL_F_STRN:
        return json_string(value);
    case WAPCTL_F_INT:
    case WAPCTL_F_INTN:
        return parse_int(value, &n) ? json_integer(n) : NULL;
    case WAPCTL_F_BOOL:
        if (strcmp(value, "true") == 0 || strcmp(value, "false") == 0)
            return json_boolean(strcmp(value, "true") == 0);
        return NULL;
    default:
        return NULL;
    }
}

/* Sets field f in body from value. Returns WAPCTL_OK or a usage error. */
static int
field_set(const args_ctx_t *a, json_t *body, const wapctl_field_t *f, const char *value)
{
    const char *leaf, *eq;
    json_t *parent = parent_of(body, f->path, &leaf), *v;
    json_int_t n = 0;
    char opt[128] = "--", *key;

    if (parent == NULL)
        return usage_error(a, "field path too long: ", f->path);
    if (f->type == WAPCTL_F_LIST)
        return list_add(parent, leaf, value) == 0 ? WAPCTL_OK : usage_error(a, "not UTF-8: ", value);
    if (f->type == WAPCTL_F_QUOTA) {
        eq = strchr(value, '=');
        if (eq == NULL || eq == value || (strcmp(eq + 1, "null") != 0 && !parse_int(eq + 1, &n)))
            return usage_error(a, "--quota wants KEY=N (or KEY=null), not ", value);
        if (!json_is_object(json_object_get(parent, leaf)))
            json_object_set_new(parent, leaf, json_object());
        key = strndup(value, (size_t) (eq - value));
        json_object_set_new(json_object_get(parent, leaf), key,
                            strcmp(eq + 1, "null") == 0 ? json_null() : json_integer(n));
        free(key);
        return WAPCTL_OK;
    }
    if ((v = scalar_of(f, value)) == NULL) {
        wapctl_field_option(f, opt + 2, sizeof(opt) - 2);
        strcat(opt, f->type == WAPCTL_F_BOOL                               ? " wants true or false, not "
                    : f->type == WAPCTL_F_STR || f->type == WAPCTL_F_STRN ? " is not UTF-8: "
                                                                           : " wants a whole number, not ");
        return usage_error(a, opt, value);
    }
    json_object_set_new(parent, leaf, v);
    return WAPCTL_OK;
}

/* Appends "k=v" (v percent-encoded) to the query string in *q. */
static int
query_add(char **q, const char *key, const char *value)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = *q != NULL ? strlen(*q) : 0, k = strlen(key), vlen = strlen(value), i;
    char *grown = realloc(*q, n + k + 3 * vlen + 3);
    char sep = n == 0 ? '?' : '&';
    unsigned char ch;

    if (grown == NULL)
        return -1;
    *q = grown;
    grown[n++] = sep;
    memcpy(grown + n, key, k);
    n += k;
    grown[n++] = '=';
    for (i = 0; i < vlen; i++) {
        ch = (unsigned char) value[i];
        if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
            strchr("-._~", ch) != NULL) {
            grown[n++] = (char) ch;
        } else {
            grown[n++] = '%';
            grown[n++] = hex[ch >> 4];
            grown[n++] = hex[ch & 15];
        }
    }
    grown[n] = '\0';
    return 0;
}

/* Handles the option at argv[*i]; advances *i past its value. */
static int
option_take(const args_ctx_t *a, const wapctl_field_t *fields, int argc, char **argv, int *i, json_t *b)
{
    const char *name = argv[*i] + 2, *eq = strchr(name, '='), *value;
    size_t len = eq != NULL ? (size_t) (eq - name) : strlen(name);
    const wapctl_field_t *f = field_find(fields, name, len);

    if (f == NULL)
        return usage_error(a, "unknown option ", argv[*i]);
    if (eq != NULL) {
        value = eq + 1;
    } else if (*i + 1 < argc) {
        value = argv[++*i];
    } else {
        return usage_error(a, "this option needs a value: ", argv[*i]);
    }
    return field_set(a, b, f, value);
}

int
wapctl_query_of(const json_t *body, char **query)
{
    const char *key;
    json_t *v;
    char *q = NULL, *text;
    int rc = 0;

    assert(query != NULL);
    json_object_foreach ((json_t *) body, key, v) {
        text = json_is_string(v) ? strdup(json_string_value(v)) : json_dumps(v, JSON_ENCODE_ANY);
        if (text == NULL || query_add(&q, key, text) != 0)
            rc = -1;
        free(text);
    }
    if (rc != 0) {
        free(q);
        return -1;
    }
    *query = q;
    return 0;
}

int
wapctl_args_parse(const char *noun, const char *verb, const wapctl_field_t *fields, int argc,
                  char **argv, int npos, char **pos, json_t **body)
{
    args_ctx_t a = {noun, verb};
    json_t *b = json_object();
    int got = 0, i, rc = WAPCTL_OK;
    bool options = true;

    assert(noun != NULL && verb != NULL && (npos == 0 || pos != NULL));
    for (i = 0; i < argc && rc == WAPCTL_OK; i++) {
        if (options && strcmp(argv[i], "--") == 0) {
            options = false;
        } else if (options && strncmp(argv[i], "--", 2) == 0) {
            rc = option_take(&a, fields, argc, argv, &i, b);
        } else if (got < npos) {
            pos[got++] = argv[i];
        } else {
            rc = usage_error(&a, "unexpected argument ", argv[i]);
        }
    }
    if (rc == WAPCTL_OK && got < npos)
        rc = usage_error(&a, npos == 1 ? "an ID is missing" : "arguments are missing", "");
    if (rc != WAPCTL_OK) {
        json_decref(b);
        return rc;
    }
    if (body != NULL)
        *body = b;
    else
        json_decref(b);
    return WAPCTL_OK;
}
