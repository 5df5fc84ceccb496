/*
 * config.c: settings from defaults, an INI config file (read by config_file.c), the environment and the
 * command line, in that order of precedence (the command line wins). Unknown keys and bad values stop the
 * start with a message naming the setting and what it allows.
 *
 * Each setting is written once, as a row of `settings` below. The getopt options, the INI keys
 * (config_file.c), --help, --print-config (config_text.c) and the defaults are made from the rows, and
 * config_set is the one place a value is checked against its type and range (defaults go through it too,
 * so a default outside its own range cannot start). Invariants: every row names a field of config_t of the
 * C type its type needs (checked when compiled); a row with a NULL default leaves its field zero; a secret
 * value never reaches a message or the printed config.
 */
#include "config.h"

#include <assert.h>
#include <ctype.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../lib/util.h"

#define DAY 86400L
#define F(field) offsetof(config_t, field)
/* A row's type and field; a field not of the C type its row's type needs does not compile. */
#define FIELD_OF(ctype, field) _Generic(((config_t *) 0)->field, ctype: F(field))
#define INT_FIELD(field) .type = CONFIG_INT, .offset = FIELD_OF(int, field)
#define BOOL_FIELD(field) .type = CONFIG_BOOL, .offset = FIELD_OF(bool, field)
#define STR_FIELD(t, field) .type = t, .offset = FIELD_OF(char *, field)

static const char *const log_levels[] = {"debug", "info", "warn", "error", NULL};

/* A setting's row: flag name, then the INI key (NULL: command line only). */
static const config_setting_t settings[] = {
    {.name = "state-dir", .key = "state_dir", STR_FIELD(CONFIG_PATH, state_dir), .def = "./wapd-state",
     .min = 1, .metavar = "DIR", .help = "where wapd.db, ports.json and admin.token live"},
    {.name = "store", .key = "store", STR_FIELD(CONFIG_STRING, store), .min = 1,
     .metavar = "URL",
     .help = "keep all state in PostgreSQL instead of DIR/wapd.db: a libpq URI handed to libpq unchanged, "
             "e.g. postgresql://wapd@/wapd?host=/run/postgresql (a password belongs in PGPASSFILE, "
             "not here; options beyond the limit, in a libpq service file named by ?service=NAME); "
             "one daemon per database until job leases come (see the README)"},
    {.name = "admin-listen", .key = "admin_listen", STR_FIELD(CONFIG_ADDRESS, admin_listen),
     .def = "127.0.0.1:30004", .metavar = "HOST:PORT",
     .help = "admin API listener (port 0 picks a free one); keep it on loopback or a management network"},
    {.name = "tenant-listen", .key = "tenant_listen", STR_FIELD(CONFIG_ADDRESS, tenant_listen),
     .def = "127.0.0.1:30005", .metavar = "HOST:PORT",
     .help = "tenant API listener, the address tenant portal backends reach (port 0 picks a free one)"},
    {.name = "admin-token", .env = "WAPD_ADMIN_TOKEN", STR_FIELD(CONFIG_STRING, admin_token), .min = 1,
     .secret = true, .metavar = "TOKEN",
     .help = "admin bearer token; when unset, the systemd credential admin-token, else DIR/admin.token "
             "(generated on first start)"},
    {.name = "workers", .key = "workers", INT_FIELD(workers), .def = "32", .min = 1, .max = 256,
     .metavar = "N", .help = "job worker threads"},
    {.name = "http-threads", .key = "http_threads", INT_FIELD(http_threads), .def = "2", .min = 1,
     .max = 256, .metavar = "N", .help = "HTTP threads per listener"},
    {.name = "usage-period-seconds", .key = "usage_period_seconds", INT_FIELD(usage_period_seconds),
     .def = "3600", .min = 1, .max = 31 * DAY, .metavar = "S",
     .help = "metering period, in seconds"},
    {.name = "retention-sweep-seconds", .key = "retention_sweep_seconds",
     INT_FIELD(retention_sweep_seconds), .def = "60", .min = 1, .max = DAY, .live = true, .metavar = "S",
     .help = "how often plans' checkpointRetentionHours is enforced, in seconds"},
    {.name = "inventory-sync-seconds", .key = "inventory_sync_seconds", INT_FIELD(inventory_sync_seconds),
     .def = "300", .min = 0, .max = DAY, .live = true, .metavar = "S",
     .help = "how often every host's inventory is compared with the records, in seconds (0: only on "
             "request)"},
    {.name = "reconcile-seconds", .key = "reconcile_seconds", INT_FIELD(reconcile_seconds),
     .def = "300", .min = 0, .max = DAY, .live = true, .metavar = "S",
     .help = "how often every subscription's quota usage and every host's allocation are recomputed from "
             "the records, drift corrected, logged and counted in /metrics, in seconds (0: never)"},
    {.name = "usage-retention-seconds", .key = "usage_retention_seconds",
     INT_FIELD(usage_retention_seconds), .def = "7776000", .min = 1, .max = 3650 * DAY, .live = true,
     .metavar = "S",
     .help = "how long acknowledged usage records are kept, in seconds (unacknowledged ones are never "
             "purged)"},
    {.name = "hook-max-age-seconds", .key = "hook_max_age_seconds", INT_FIELD(hook_max_age_seconds),
     .def = "86400", .min = 1, .max = 30 * DAY, .metavar = "S",
     .help = "how long a hook delivery is retried before it is marked failed, in seconds"},
    {.name = "hook-timeout-seconds", .key = "hook_timeout_seconds", INT_FIELD(hook_timeout_seconds),
     .def = "10", .min = 1, .max = 300, .metavar = "S",
     .help = "time allowed for one hook request, in seconds"},
    {.name = "event-retention-seconds", .key = "event_retention_seconds",
     INT_FIELD(event_retention_seconds), .def = "2592000", .min = 1, .max = 3650 * DAY, .live = true,
     .metavar = "S",
     .help = "how long events are kept for the pull feed, in seconds (longer while a hook delivery needs "
             "them)"},
    {.name = "job-retention-seconds", .key = "job_retention_seconds", INT_FIELD(job_retention_seconds),
     .def = "2592000", .min = 1, .max = 3650 * DAY, .live = true, .metavar = "S",
     .help = "how long ended jobs are kept, in seconds, from their end (jobs not ended are never purged)"},
    {.name = "connection-limit", .key = "connection_limit", INT_FIELD(connection_limit), .def = "4096",
     .min = 16, .max = 65536, .metavar = "N",
     .help = "open connections each listener accepts; beyond it new ones are closed at once"},
    {.name = "per-address-limit", .key = "per_address_limit", INT_FIELD(per_address_limit), .def = "256",
     .min = 1, .max = 65536, .metavar = "N",
     .help = "open connections each listener accepts from one client address"},
    {.name = "request-timeout-seconds", .key = "request_timeout_seconds", INT_FIELD(request_timeout_seconds),
     .def = "30", .min = 1, .max = 3600, .metavar = "S",
     .help = "time a client has from the first byte of a request to send all of it, headers and body; "
             "sending slowly does not extend it (between requests the idle timeout applies)"},
    {.name = "idle-timeout-seconds", .key = "idle_timeout_seconds", INT_FIELD(idle_timeout_seconds),
     .def = "15", .min = 1, .max = 3600, .metavar = "S",
     .help = "a connection silent this long is closed, in seconds"},
    {.name = "host-heartbeat-seconds", .key = "host_heartbeat_seconds", INT_FIELD(host_heartbeat_seconds),
     .def = "10", .min = 0, .max = 3600, .metavar = "S",
     .help = "how often every remote host is asked whether it answers, in seconds; 3 failures in a row "
             "make it unreachable (0: never)"},
    {.name = "job-deadline-seconds", .key = "job_deadline_seconds", INT_FIELD(job_deadline_seconds),
     .def = "0", .min = 0, .max = 7 * DAY, .metavar = "S",
     .help = "how long every job may run, from its first step, in seconds (0: each kind's own, from 2 "
             "minutes to 6 hours)"},
    {.name = "tls-cert", .key = "tls_cert", STR_FIELD(CONFIG_PATH, tls_cert), .min = 1, .metavar = "FILE",
     .help = "PEM certificate (chain) of both listeners; with --tls-key they serve HTTPS only, TLS 1.2 or "
             "later (reloaded on SIGHUP); set it whenever a listener is not on loopback, so that bearer "
             "tokens never cross a network in clear, e.g. /etc/wapd/tls/cert.pem"},
    {.name = "tls-key", .key = "tls_key", STR_FIELD(CONFIG_PATH, tls_key), .min = 1, .metavar = "FILE",
     .help = "PEM private key of --tls-cert, readable by wapd alone, e.g. /etc/wapd/tls/key.pem"},
    {.name = "cacert", .key = "cacert", STR_FIELD(CONFIG_PATH, cacert), .min = 1, .metavar = "FILE",
     .help = "CA certificates wapd trusts when it calls hooks and http agents (default: the system's)"},
    {.name = "public-url", .key = "public_url", STR_FIELD(CONFIG_STRING, public_url), .min = 1,
     .metavar = "URL",
     .help = "scheme, host and port tenant clients reach the tenant listener by (behind a proxy), used in its "
             "nextLink and Location (default: from the request; the admin listener's links always are)"},
    {.name = "rate-limit", .key = "rate_limit", INT_FIELD(rate_limit), .def = "0", .min = 0, .max = 1000000,
     .live = true, .metavar = "N",
     .help = "tenant requests per second per token, in bursts of up to 2N; beyond it 429 (0: off)"},
    {.name = "log-level", .key = "log_level", STR_FIELD(CONFIG_STRING, log_level), .def = "info", .min = 1,
     .choices = log_levels, .live = true, .metavar = "LEVEL",
     .help = "least level logged: debug, info, warn or error"},
    {.name = "no-request-log", .key = "log_requests", BOOL_FIELD(log_requests), .def = "true",
     .flag_value = false, .live = true, .help = "log one JSON line per request on stderr (the journal)"},
    {.name = "config", STR_FIELD(CONFIG_PATH, config_file), .min = 1, .metavar = "FILE",
     .help = "an INI file with these settings under [wapd]; the command line overrides it"},
    {.name = "demo", BOOL_FIELD(demo), .flag_value = true,
     .help = "seed an empty state dir with a demo world and print curl lines; not with --store (its hosts "
             "are sim hosts, which a shared store refuses)"},
    {.name = "print-config", BOOL_FIELD(print_config), .flag_value = true,
     .help = "print the settings in effect as a config file, then exit"},
    {.name = "version", BOOL_FIELD(version), .flag_value = true, .help = "print the version, then exit"},
    {.name = "help", BOOL_FIELD(help), .flag_value = true, .help = "print this help, then exit"},
};

#define NSETTINGS (sizeof(settings) / sizeof(settings[0]))
#define OPT_BASE 1000 /* getopt_long returns OPT_BASE + the row's index */

const config_setting_t *
config_settings(size_t *n)
{
    assert(n != NULL);
    *n = NSETTINGS;
    return settings;
}

const config_setting_t *
config_setting_find(const char *name)
{
    size_t i;

    assert(name != NULL);
    for (i = 0; i < NSETTINGS; i++)
        if (strcmp(settings[i].name, name) == 0)
            return &settings[i];
    return NULL;
}

static void *
field_of(const config_t *cfg, const config_setting_t *s)
{
    return (char *) cfg + s->offset;
}

/* Frees a string field, wiping a secret first. */
static void
free_str(char **str, bool secret)
{
    if (*str && secret)
        memset(*str, 0, strlen(*str));
    free(*str);
    *str = NULL;
}

int
config_split_hostport(const char *spec, char *host, size_t hn, char *port, size_t pn)
{
    const char *colon, *p;
    int64_t n;

    assert(spec != NULL && host != NULL && port != NULL);
    if (spec[0] == '[') {
        const char *end = strchr(spec, ']');
        if (end == NULL || end[1] != ':')
            return -1;
        snprintf(host, hn, "%.*s", (int) (end - spec - 1), spec + 1);
        p = end + 2;
    } else {
        colon = strrchr(spec, ':');
        if (colon == NULL)
            return -1;
        snprintf(host, hn, "%.*s", (int) (colon - spec), spec);
        p = colon + 1;
    }
    if (strlen(p) >= pn || util_parse_int64(p, false, &n) || n > 65535)
        return -1;
    snprintf(port, pn, "%s", p);
    return 0;
}

/* Whether v is a --public-url: http:// or https://, then a host (name, IPv4 or [IPv6]) and an optional
 * port, without path, query or fragment (one trailing '/' is allowed; config_set drops it). */
static bool
public_url_ok(const char *v)
{
    const char *a = strncmp(v, "https://", 8) == 0 ? v + 8 : strncmp(v, "http://", 7) == 0 ? v + 7 : NULL;
    size_t n, i;

    if (a == NULL)
        return false;
    n = strlen(a);
    if (n > 0 && a[n - 1] == '/')
        n--;
    for (i = 0; i < n; i++)
        if (!isalnum((unsigned char) a[i]) && strchr(".-:[]", a[i]) == NULL)
            return false;
    return n > 0 && a[0] != ':' && a[n - 1] != ':';
}

/* What a setting allows, as a phrase: "an integer from 1 to 256". */
static void
allowed(const config_setting_t *s, char *buf, size_t n)
{
    if (s->offset == F(public_url)) {
        snprintf(buf, n, "an http:// or https:// URL of a host and port, without path or query");
        return;
    }
    switch (s->type) {
    case CONFIG_INT:
        snprintf(buf, n, "an integer from %ld to %ld", s->min, s->max);
        break;
    case CONFIG_BOOL:
        snprintf(buf, n, "true or false (yes/no, 1/0)");
        break;
    case CONFIG_ADDRESS:
        snprintf(buf, n, "HOST:PORT or [IPV6]:PORT, the port from 0 to 65535");
        break;
    case CONFIG_PATH:
    case CONFIG_STRING:
        if (s->choices) { /* "one of debug, info, warn, error" */
            size_t i, used = (size_t) snprintf(buf, n, "one of");

            for (i = 0; s->choices[i] && used < n; i++)
                used += (size_t) snprintf(buf + used, n - used, "%s %s", i ? "," : "", s->choices[i]);
            break;
        }
        snprintf(buf, n, s->min > 0 ? "a non-empty %s" : "a %s", s->type == CONFIG_PATH ? "path" : "string");
        break;
    }
}

static bool
is_choice(const char *const *choices, const char *value)
{
    size_t i;

    for (i = 0; choices[i]; i++)
        if (strcmp(choices[i], value) == 0)
            return true;
    return false;
}

static int
parse_bool(const char *v, bool *out)
{
    if (strcmp(v, "true") == 0 || strcmp(v, "yes") == 0 || strcmp(v, "1") == 0)
        *out = true;
    else if (strcmp(v, "false") == 0 || strcmp(v, "no") == 0 || strcmp(v, "0") == 0)
        *out = false;
    else
        return -1;
    return 0;
}

size_t
config_value_max(const config_setting_t *s)
{
    assert(s != NULL);
    if (s->key == NULL)
        return 0;
    assert(strlen(s->key) + 3 < CONFIG_LINE_MAX);
    return CONFIG_LINE_MAX - strlen(s->key) - 3; /* "key = value" */
}

/* Why the string value of a setting with a config key could not be written in the file as "key = value"
 * and read back the same (inih drops leading and trailing white space, ends a line at '\n' and a value at a
 * ';' that starts it or follows white space), or NULL when it could. */
static const char *
unwritable(const config_setting_t *s, const char *value)
{
    size_t i, len = strlen(value);

    if (s->key == NULL)
        return NULL;
    for (i = 0; i < len; i++)
        if ((unsigned char) value[i] < 0x20 || value[i] == 0x7f)
            return "a control character";
    if (len > 0 && (value[0] == ' ' || value[len - 1] == ' '))
        return "a leading or trailing space";
    for (i = 0; i < len; i++)
        if (value[i] == ';' && (i == 0 || value[i - 1] == ' '))
            return "';' at its start or after a space, where the file begins a comment";
    return NULL;
}

/* Refuses a string value too long for one line of the config file, or not one the file could hold. */
static int
check_writable(const config_setting_t *s, const char *value, char *msg, size_t n)
{
    size_t len = strlen(value), max = config_value_max(s);
    const char *why;

    if (max > 0 && len > max) {
        snprintf(msg, n,
                 "value for --%s (config key %s) is %zu bytes long; allowed: at most %zu, so that the line "
                 "\"%s = VALUE\" fits in the %d bytes a config file line may have",
                 s->name, s->key, len, max, s->key, CONFIG_LINE_MAX);
        return -1;
    }
    why = unwritable(s, value);
    if (why) {
        snprintf(msg, n, "value for --%s (config key %s) has %s; allowed: a value the config file can hold",
                 s->name, s->key, why);
        return -1;
    }
    return 0;
}

int
config_set(config_t *cfg, const config_setting_t *s, const char *value, char *msg, size_t n)
{
    char host[256], port[16], what[96], key[64] = "";
    void *f;
    int64_t v;
    bool b;
    char *copy;

    assert(cfg != NULL && s != NULL && value != NULL && msg != NULL && n > 0);
    assert(s >= settings && s < settings + NSETTINGS);
    f = field_of(cfg, s);
    switch (s->type) {
    case CONFIG_INT:
        if (util_parse_int64(value, s->min < 0, &v) == 0 && v >= s->min && v <= s->max) {
            *(int *) f = (int) v;
            return 0;
        }
        break;
    case CONFIG_BOOL:
        if (parse_bool(value, &b) == 0) {
            *(bool *) f = b;
            return 0;
        }
        break;
    case CONFIG_ADDRESS:
    case CONFIG_PATH:
    case CONFIG_STRING:
        if (check_writable(s, value, msg, n))
            return -1;
        if (strlen(value) < (size_t) s->min || (s->choices && !is_choice(s->choices, value)))
            break;
        if (s->type == CONFIG_ADDRESS && config_split_hostport(value, host, sizeof(host), port, sizeof(port)))
            break;
        if (s->offset == F(public_url) && !public_url_ok(value))
            break;
        copy = strdup(value);
        if (copy == NULL) {
            snprintf(msg, n, "out of memory");
            return -1;
        }
        if (s->offset == F(public_url) && copy[strlen(copy) - 1] == '/')
            copy[strlen(copy) - 1] = '\0'; /* links append paths that start with '/' */
        free_str(f, s->secret);
        *(char **) f = copy;
        return 0;
    }
    allowed(s, what, sizeof(what));
    if (s->key)
        snprintf(key, sizeof(key), " (config key %s)", s->key);
    if (s->secret)
        snprintf(msg, n, "bad value for --%s%s; allowed: %s", s->name, key, what);
    else
        snprintf(msg, n, "bad value '%s' for --%s%s; allowed: %s", value, s->name, key, what);
    return -1;
}

static void
build_options(struct option *opts)
{
    size_t i;

    for (i = 0; i < NSETTINGS; i++) {
        opts[i].name = settings[i].name;
        opts[i].has_arg = settings[i].type == CONFIG_BOOL ? no_argument : required_argument;
        opts[i].flag = NULL;
        opts[i].val = OPT_BASE + (int) i;
    }
    memset(&opts[NSETTINGS], 0, sizeof(opts[NSETTINGS]));
}

/* A flag getopt_long refused: unknown, missing its value, or given one it does not take. */
static void
refused_option(const char *arg, char *msg, size_t n)
{
    const config_setting_t *s;
    char what[96];

    if (optopt < OPT_BASE || optopt >= OPT_BASE + (int) NSETTINGS) {
        snprintf(msg, n, "unknown or ambiguous option %s; see wapd --help", arg);
        return;
    }
    s = &settings[optopt - OPT_BASE];
    if (s->type == CONFIG_BOOL) {
        snprintf(msg, n, "--%s takes no value", s->name);
        return;
    }
    allowed(s, what, sizeof(what));
    snprintf(msg, n, "--%s needs a value: %s", s->name, what);
}

/* Applies the command line; with only_config, just --config (the first pass, before the file). */
static int
apply_args(config_t *cfg, int argc, char **argv, const struct option *opts, bool only_config, char *msg,
           size_t n)
{
    const config_setting_t *s;
    int opt;

    optind = 0; /* GNU getopt: 0 starts a new scan, resetting its internal state */
    opterr = 0;
    while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (opt < OPT_BASE || opt >= OPT_BASE + (int) NSETTINGS) {
            if (only_config)
                continue;
            refused_option(argv[optind - 1], msg, n);
            return -1;
        }
        s = &settings[opt - OPT_BASE];
        if (only_config != (s->offset == F(config_file)))
            continue;
        if (s->type == CONFIG_BOOL)
            *(bool *) field_of(cfg, s) = s->flag_value;
        else if (config_set(cfg, s, optarg, msg, n))
            return -1;
    }
    if (!only_config && optind < argc) {
        snprintf(msg, n, "unexpected argument: %s", argv[optind]);
        return -1;
    }
    return 0;
}

int
config_load(config_t *cfg, int argc, char **argv, char *msg, size_t n)
{
    struct option opts[NSETTINGS + 1];
    const char *env;
    size_t i;

    assert(cfg != NULL && argc >= 1 && argv != NULL && msg != NULL && n > 0);
    memset(cfg, 0, sizeof(*cfg));
    msg[0] = '\0';
    for (i = 0; i < NSETTINGS; i++)
        if (settings[i].def && config_set(cfg, &settings[i], settings[i].def, msg, n))
            return -1;
    build_options(opts);
    /* First pass: find --config, so that the command line can override the file. */
    if (apply_args(cfg, argc, argv, opts, true, msg, n))
        return -1;
    if (cfg->config_file && config_load_file(cfg, msg, n))
        return -1;
    for (i = 0; i < NSETTINGS; i++) {
        env = settings[i].env ? getenv(settings[i].env) : NULL;
        if (env && *env && config_set(cfg, &settings[i], env, msg, n))
            return -1;
    }
    return apply_args(cfg, argc, argv, opts, false, msg, n);
}

void
config_free(config_t *cfg)
{
    size_t i;

    assert(cfg != NULL);
    for (i = 0; i < NSETTINGS; i++) {
        if (settings[i].type == CONFIG_INT || settings[i].type == CONFIG_BOOL)
            continue;
        free_str(field_of(cfg, &settings[i]), settings[i].secret);
    }
    memset(cfg, 0, sizeof(*cfg));
}
