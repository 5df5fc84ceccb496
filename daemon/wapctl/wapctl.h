/*
 * wapctl.h: the admin CLI's parts, as its files see each other.
 *
 * wapctl is one request loop over the admin API: main.c reads the global options (where the admin listener
 * is, the token, --cacert, -o, --wait) and picks the noun's handler; http.c makes the requests (libcurl) and
 * classifies their outcome; output.c prints an answer as a table (within 100 columns) or as the API's JSON;
 * nouns.c maps each noun's verbs to paths; export.c holds the verbs that stream (usage export, backup).
 * Exit statuses are the contract's: WAPCTL_OK, WAPCTL_API (the API answered an error, or the awaited job
 * failed or was canceled), WAPCTL_USAGE (bad command line), WAPCTL_CONNECT (no answer at all).
 */
#ifndef WAPCTL_H
#define WAPCTL_H

#include <stdbool.h>
#include <stdio.h>

#include <jansson.h>

enum {
    WAPCTL_OK = 0,
    WAPCTL_API = 1,
    WAPCTL_USAGE = 2,
    WAPCTL_CONNECT = 3,
};

typedef enum {
    WAPCTL_OUT_TABLE,
    WAPCTL_OUT_JSON,
} wapctl_output_t;

/* Where and how to reach the admin API, and how to print; filled by main.c from the command line and the
 * environment, read-only afterwards. */
typedef struct {
    char *url;    /* the admin listener's base, "http[s]://HOST:PORT", no trailing '/' */
    char *token;  /* the bearer token (never printed) */
    char *cacert; /* CA bundle for https, or NULL */
    wapctl_output_t output;
    bool wait;    /* --wait: a verb that starts a job waits for it */
} wapctl_t;

/* One answer of the API. */
typedef struct {
    long status;      /* HTTP status; 0 when no answer came */
    json_t *body;     /* parsed JSON body, or NULL (empty or not JSON) */
    char *etag;       /* ETag header or NULL */
    char *location;   /* Location header or NULL */
} wapctl_reply_t;

/* Makes one request to c->url + path (path starts with "/v1/admin/" or is a full URL from a nextLink);
 * body (borrowed, may be NULL) is sent as JSON; if_match (may be NULL) as If-Match. Fills *reply (which the
 * caller frees with wapctl_reply_free). Returns WAPCTL_OK when an HTTP answer came (whatever its status),
 * WAPCTL_CONNECT with a message on stderr when none did. */
int wapctl_request(const wapctl_t *c, const char *method, const char *path, const json_t *body,
                   const char *if_match, wapctl_reply_t *reply);
void wapctl_reply_free(wapctl_reply_t *reply);

/* Streams a GET of path into out (raw bytes, for backup). Returns a WAPCTL_* status; on an error answer
 * prints its code and message. */
int wapctl_download(const wapctl_t *c, const char *path, FILE *out);

/* For an answer of status >= 400: prints "CODE: message" (and the target) on stderr; returns WAPCTL_API. */
int wapctl_fail(const wapctl_reply_t *reply);

/* GETs path and every nextLink after it; *items receives {"value": [all items]}. Returns a WAPCTL_* status. */
int wapctl_list_all(const wapctl_t *c, const char *path, json_t **items);

/* Polls the job at job_path (a Location or "/v1/admin/jobs/ID") until it ends; *job receives it (may be
 * NULL). Returns WAPCTL_OK when it succeeded, WAPCTL_API (its error code and message on stderr) when it
 * failed or was canceled. */
int wapctl_job_wait(const wapctl_t *c, const char *job_path, json_t **job);

/* Prints value (an item, or {"value": [...]}) per c->output: the API's JSON unchanged, or a table of the
 * given columns (field names, dotted for nested; NULL: a default set) within 100 columns. */
void wapctl_print(const wapctl_t *c, const json_t *value, const char *const *columns);

/* The streaming verbs (export.c): `usage export --out FILE [--ack]` and `backup --out FILE`; argv holds the
 * verb's arguments after the noun and verb. Return a WAPCTL_* status. */
int wapctl_usage_export(const wapctl_t *c, int argc, char **argv);
int wapctl_backup(const wapctl_t *c, int argc, char **argv);

#endif
