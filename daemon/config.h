/*
 * config.h: wapd's settings, from defaults, then the config file (--config, INI), then the environment, then
 * the command line. Every setting is one row of a table (config.c): its flag, type, default, range, help
 * text, config key and whether it could change without a restart. The flags, the INI keys, --help,
 * --print-config and the range checks all come from that table, so a setting is written once.
 * The admin token comes from --admin-token, else WAPD_ADMIN_TOKEN, else $CREDENTIALS_DIRECTORY/admin-token
 * (systemd's LoadCredential), else DIR/admin.token (see main.c); it is never echoed in a message nor
 * printed. The rows marked live are applied again by a SIGHUP (reload.c).
 */
#ifndef WAPD_CONFIG_H
#define WAPD_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

typedef struct {
    char *state_dir;
    char *store; /* a PostgreSQL URI (libpq); NULL: SQLite in DIR/wapd.db */
    char *admin_listen;
    char *tenant_listen;
    char *admin_token; /* from the command line or the environment; NULL: use or make DIR/admin.token */
    char *config_file;
    int workers;
    int http_threads;
    int usage_period_seconds;
    int retention_sweep_seconds;
    int inventory_sync_seconds; /* 0: only on request */
    int reconcile_seconds;      /* quota usage and host allocation are recomputed this often; 0: never */
    int usage_retention_seconds;
    int hook_max_age_seconds; /* a delivery is retried this long, then marked failed */
    int hook_timeout_seconds; /* one hook request */
    int event_retention_seconds; /* events older than this go, once no delivery refers to them */
    int job_retention_seconds;   /* ended jobs older than this (from their end) are purged */
    int connection_limit;        /* open connections per listener */
    int per_address_limit;       /* open connections per listener from one client address */
    int request_timeout_seconds; /* a whole request (headers and body) must arrive within this */
    int idle_timeout_seconds;    /* a silent connection is closed after this */
    int host_heartbeat_seconds; /* remote hosts are asked how they are this often; 0: never */
    int job_deadline_seconds;   /* every job's deadline; 0: each kind's own */
    char *tls_cert;     /* PEM certificate chain; with tls_key, both listeners serve HTTPS only */
    char *tls_key;      /* PEM private key */
    char *cacert;       /* CA bundle wapd's own clients (hooks, http agents) trust; NULL: the system's */
    char *public_url;   /* base of the links wapd writes (nextLink, Location) behind a proxy; NULL: Host */
    char *log_level;    /* "debug", "info", "warn" or "error" */
    int rate_limit;     /* tenant requests per second per token (bucket of twice that); 0: off */
    bool log_requests;
    bool demo;
    bool help;
    bool version;
    bool print_config;
} config_t;

typedef enum {
    CONFIG_INT,     /* an int field, from min to max */
    CONFIG_STRING,  /* a char * field, at least min characters long */
    CONFIG_PATH,    /* a char * field naming a file or directory */
    CONFIG_ADDRESS, /* a char * field, "HOST:PORT" or "[V6]:PORT", port 0 to 65535 */
    CONFIG_BOOL,    /* a bool field; its flag takes no value and sets flag_value */
} config_type_t;

/* One setting. Strings are static; a NULL key means the setting has no place in the config file. */
typedef struct {
    const char *name;    /* the long flag, without "--" */
    const char *key;     /* the INI key under [wapd], or NULL */
    const char *env;     /* an environment variable read after the file, or NULL */
    config_type_t type;
    size_t offset;       /* of the field in config_t */
    const char *def;     /* the default as the file would spell it; NULL: unset */
    long min, max;       /* CONFIG_INT: the range; CONFIG_STRING: min is the least length */
    bool flag_value;     /* CONFIG_BOOL: what the flag sets */
    bool secret;         /* never echoed in a message nor printed */
    bool live;           /* applied by a SIGHUP (daemon/reload.c); else read once, at the start */
    const char *const *choices; /* CONFIG_STRING: the values allowed (NULL-terminated), or NULL: any */
    const char *metavar; /* how --help names the value */
    const char *help;    /* a phrase, lower case, no final period */
} config_setting_t;

/* The table, in --help order; *n receives its length. */
const config_setting_t *config_settings(size_t *n);

/* The setting with that flag name, or NULL. */
const config_setting_t *config_setting_find(const char *name);

/* The longest line of a config file, in bytes, not counting its end ("\n" or "\r\n"): inih reads a line
 * into a buffer of INI_MAX_LINE (200) bytes, fixed when libinih is built, and that buffer must also hold
 * the line's end and a '\0'. A longer line is refused, naming it. */
#define CONFIG_LINE_MAX 197

/* The longest value a setting with a config key may have: what fits on one line as "key = value"
 * (CONFIG_LINE_MAX less the key and " = "); 0 for a setting without a key (its value has no limit). */
size_t config_value_max(const config_setting_t *s);

/* Sets one setting in cfg from text, checking its type and range; the one place a value is checked.
 * A string value of a setting with a key must be one --print-config can write and the file read back:
 * at most config_value_max bytes, no control character, no leading or trailing space, and no ';' at its
 * start or after a space (the file would read that as a comment).
 * Returns 0, or -1 with a message naming the setting and what it allows in msg (of size n). */
int config_set(config_t *cfg, const config_setting_t *s, const char *value, char *msg, size_t n);

/* Fills cfg. Returns 0, or -1 with a message in msg (of size n). cfg is owned by the caller: config_free,
 * also after a failure. argv may be permuted (getopt_long). */
int config_load(config_t *cfg, int argc, char **argv, char *msg, size_t n);
void config_free(config_t *cfg);

/* config_load's step between the defaults and the environment: the settings of cfg->config_file, each key
 * set by config_set (config_file.c). Returns 0, or -1 with a message naming the file and the line at fault
 * in msg (of size n). */
int config_load_file(config_t *cfg, char *msg, size_t n);

/* --help: a synopsis and one entry per setting of the table. */
void config_usage(FILE *out);

/* --print-config: cfg as a config file with every setting that has a key, each with its help, flag and
 * default; deploy/wapd.conf is this output. */
void config_print(FILE *out, const config_t *cfg);

/* Splits "HOST:PORT" or "[V6]:PORT" (HOST may be empty: every address). Returns 0, or -1 when spec is not
 * of that form or the port is not a number from 0 to 65535. */
int config_split_hostport(const char *spec, char *host, size_t hn, char *port, size_t pn);

#endif
