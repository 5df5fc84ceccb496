/*
 * nouns.h: the table of wapctl's nouns and verbs, and the generic verbs that run them.
 *
 * Every noun is one row of a static table (nouns.c): its path under /v1/admin, the fields that name an item
 * (for IDs given as names), its table columns and its verbs. A verb is a kind (what request it makes), an
 * optional path suffix and preset body, and the fields it takes as --options. From these rows follow the
 * argument parsing, the requests and the --help text; nothing else knows a noun's paths. A field is a
 * camelCase JSON path ("agent.caFile") whose option is its kebab-case ("--agent-ca-file").
 */
#ifndef WAPCTL_NOUNS_H
#define WAPCTL_NOUNS_H

#include "wapctl.h"

typedef enum {
    WAPCTL_F_STR,   /* a string */
    WAPCTL_F_STRN,  /* a string, or null given as "null" */
    WAPCTL_F_INT,   /* a whole number */
    WAPCTL_F_INTN,  /* a whole number, or null given as "null" */
    WAPCTL_F_BOOL,  /* true or false */
    WAPCTL_F_LIST,  /* a list of strings: repeatable, each value may hold several, comma-separated */
    WAPCTL_F_QUOTA, /* --quota KEY=N (repeatable; N may be null): the object of quotas */
} wapctl_ftype_t;

typedef struct {
    const char *path;   /* camelCase JSON path, dotted for nested objects */
    wapctl_ftype_t type;
    const char *option; /* the option's name without "--", or NULL: the kebab-case of path */
    const char *ref;    /* the noun whose ids this field holds (a name given is resolved), or NULL */
} wapctl_field_t;

typedef struct wapctl_noun wapctl_noun_t;

typedef enum {
    WAPCTL_V_LIST,    /* GET path (its fields are query filters), every page */
    WAPCTL_V_FEED,    /* GET path?after=, following nextCursor until a page is empty */
    WAPCTL_V_SHOW,    /* GET path/ID */
    WAPCTL_V_CREATE,  /* POST path */
    WAPCTL_V_UPDATE,  /* GET path/ID for its ETag, then PATCH with If-Match */
    WAPCTL_V_DELETE,  /* GET path/ID for its ETag, then DELETE with If-Match */
    WAPCTL_V_ACTION,  /* POST path/ID/suffix */
    WAPCTL_V_SUBLIST, /* GET path/ID/suffix, every page */
    WAPCTL_V_POST,    /* POST path/suffix, no ID */
    WAPCTL_V_CUSTOM,  /* run() does it all */
} wapctl_vkind_t;

/* A custom verb: argv holds the arguments after the verb. Returns a WAPCTL_* status. */
typedef int (*wapctl_run_fn)(const wapctl_t *c, const wapctl_noun_t *noun, int argc, char **argv);

typedef struct {
    const char *name;
    wapctl_vkind_t kind;
    const char *suffix;            /* path suffix after ID (ACTION, SUBLIST) or after the path (POST) */
    const wapctl_field_t *fields;  /* terminated by {NULL}; may be NULL */
    const char *preset;            /* JSON object merged into the body before the fields, or NULL */
    wapctl_run_fn run;             /* CUSTOM only */
    const char *args;              /* the positional arguments, for --help ("ID", "ID ATTEMPT") */
    const char *help;
} wapctl_verb_t;

struct wapctl_noun {
    const char *name;
    const char *path;                 /* "/v1/admin/clouds" */
    const char *const *name_fields;   /* fields that may stand for the ID, NULL-terminated; NULL: ids only */
    const char *const *columns;       /* list table columns, NULL-terminated */
    const wapctl_verb_t *verbs;       /* terminated by {NULL} */
    wapctl_run_fn run;                /* a noun without verbs (backup): takes every argument */
    const char *help;
};

/* The nouns, terminated by {NULL}. */
extern const wapctl_noun_t wapctl_nouns[];

const wapctl_noun_t *wapctl_noun_find(const char *name);

/* Runs verb of noun on argv (the arguments after the verb). Returns a WAPCTL_* status. */
int wapctl_verb_run(const wapctl_t *c, const wapctl_noun_t *noun, const wapctl_verb_t *verb, int argc,
                    char **argv);

/* Prints the --help of one noun (its verbs, their arguments and options) to out. */
void wapctl_noun_help(const wapctl_noun_t *noun, FILE *out);

/* Writes the option name of a field (kebab-case of its path, or its explicit option) into buf. */
void wapctl_field_option(const wapctl_field_t *f, char *buf, size_t size);

/* Resolves arg (an id, or the unique value of one of the noun's name fields) to an id, malloc'd into *id.
 * Returns WAPCTL_OK, or WAPCTL_API with a message when no item or several match. */
int wapctl_resolve_id(const wapctl_t *c, const wapctl_noun_t *noun, const char *arg, char **id);

/* Replaces each value of a ref field in body (a string, or a list of them) that is not an id by the id of
 * the one item of the field's noun so named. Returns WAPCTL_OK, or the error printed. */
int wapctl_refs_resolve(const wapctl_t *c, const wapctl_field_t *fields, json_t *body);

/* Handles an answer to a write: an error (printed, WAPCTL_API), 204 (nothing printed), a 202 or, with
 * c->wait, a job answered at once (waited for when c->wait; resource_path, which may be NULL, is then read
 * back and printed), or any other answer (printed). */
int wapctl_finish(const wapctl_t *c, wapctl_reply_t *reply, const char *resource_path);

/* The custom verbs (custom.c). */
int wapctl_jobs_wait(const wapctl_t *c, const wapctl_noun_t *noun, int argc, char **argv);
int wapctl_hooks_redeliver(const wapctl_t *c, const wapctl_noun_t *noun, int argc, char **argv);
int wapctl_checkpoints_delete(const wapctl_t *c, const wapctl_noun_t *noun, int argc, char **argv);
int wapctl_tokens_list(const wapctl_t *c, const wapctl_noun_t *noun, int argc, char **argv);
int wapctl_tokens_create(const wapctl_t *c, const wapctl_noun_t *noun, int argc, char **argv);
int wapctl_tokens_delete(const wapctl_t *c, const wapctl_noun_t *noun, int argc, char **argv);
int wapctl_usage_export_verb(const wapctl_t *c, const wapctl_noun_t *noun, int argc, char **argv);
int wapctl_backup_noun(const wapctl_t *c, const wapctl_noun_t *noun, int argc, char **argv);

/* Steps through a dotted path: copies the segment before the next '.' into key[size] and moves *path past
 * the dot (1); 0 when *path is the last segment; -1 when a segment does not fit key. */
int wapctl_path_next(const char **path, char *key, size_t size);

/* Parses argv against fields: npos positional arguments go to pos[] (exactly npos, else a usage error),
 * each --option to the body. Returns WAPCTL_OK, or WAPCTL_USAGE with a message on stderr. *body (new) is
 * set on success only; body may be NULL when not wanted. */
int wapctl_args_parse(const char *noun, const char *verb, const wapctl_field_t *fields, int argc,
                      char **argv, int npos, char **pos, json_t **body);

/* The query string "?k=v&..." (values percent-encoded) of a flat object, malloc'd into *query (NULL for an
 * empty object). Returns 0, or -1 when out of memory. */
int wapctl_query_of(const json_t *body, char **query);

#endif
