/*
 * config.c: settings from defaults, an INI config file (parsed by inih) and the command line, in that order
 * of precedence (the command line wins). Unknown keys and bad values stop the start with a clear message.
 */
#include "config.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ini.h>

#include "../lib/util.h"

enum {
    OPT_STATE_DIR = 1000,
    OPT_ADMIN_LISTEN,
    OPT_TENANT_LISTEN,
    OPT_ADMIN_TOKEN,
    OPT_WORKERS,
    OPT_HTTP_THREADS,
    OPT_USAGE_PERIOD,
    OPT_RETENTION_SWEEP,
    OPT_INVENTORY_SYNC,
    OPT_USAGE_RETENTION,
    OPT_HOOK_MAX_AGE,
    OPT_EVENT_RETENTION,
    OPT_HOOK_TIMEOUT,
    OPT_CONFIG,
    OPT_DEMO,
    OPT_NO_REQUEST_LOG,
    OPT_HELP,
    OPT_VERSION,
};

static const struct option options[] = {
    {"state-dir", required_argument, NULL, OPT_STATE_DIR},
    {"admin-listen", required_argument, NULL, OPT_ADMIN_LISTEN},
    {"tenant-listen", required_argument, NULL, OPT_TENANT_LISTEN},
    {"admin-token", required_argument, NULL, OPT_ADMIN_TOKEN},
    {"workers", required_argument, NULL, OPT_WORKERS},
    {"http-threads", required_argument, NULL, OPT_HTTP_THREADS},
    {"usage-period-seconds", required_argument, NULL, OPT_USAGE_PERIOD},
    {"retention-sweep-seconds", required_argument, NULL, OPT_RETENTION_SWEEP},
    {"inventory-sync-seconds", required_argument, NULL, OPT_INVENTORY_SYNC},
    {"usage-retention-seconds", required_argument, NULL, OPT_USAGE_RETENTION},
    {"hook-max-age-seconds", required_argument, NULL, OPT_HOOK_MAX_AGE},
    {"event-retention-seconds", required_argument, NULL, OPT_EVENT_RETENTION},
    {"hook-timeout-seconds", required_argument, NULL, OPT_HOOK_TIMEOUT},
    {"config", required_argument, NULL, OPT_CONFIG},
    {"demo", no_argument, NULL, OPT_DEMO},
    {"no-request-log", no_argument, NULL, OPT_NO_REQUEST_LOG},
    {"help", no_argument, NULL, OPT_HELP},
    {"version", no_argument, NULL, OPT_VERSION},
    {NULL, 0, NULL, 0},
};

void
config_usage(FILE *out)
{
    fprintf(out,
            "usage: wapd [--state-dir DIR] [--admin-listen HOST:PORT] [--tenant-listen HOST:PORT]\n"
            "            [--admin-token TOKEN] [--workers N] [--http-threads N]\n"
            "            [--usage-period-seconds S] [--retention-sweep-seconds S]\n"
            "            [--inventory-sync-seconds S] [--usage-retention-seconds S]\n"
            "            [--hook-max-age-seconds S] [--hook-timeout-seconds S]\n"
            "            [--event-retention-seconds S] [--config FILE]\n"
            "            [--demo] [--no-request-log]\n"
            "\n"
            "  --state-dir DIR            where wapd.db, ports.json and admin.token live "
            "(./wapd-state)\n"
            "  --admin-listen HOST:PORT   admin API listener (127.0.0.1:30004; port 0 picks one)\n"
            "  --tenant-listen HOST:PORT  tenant API listener (127.0.0.1:30005)\n"
            "  --admin-token TOKEN        admin bearer token (else WAPD_ADMIN_TOKEN, else "
            "DIR/admin.token)\n"
            "  --workers N                job worker threads (4)\n"
            "  --http-threads N           HTTP threads per listener (2)\n"
            "  --usage-period-seconds S   metering period (3600)\n"
            "  --retention-sweep-seconds S  how often checkpoint retention is enforced (60)\n"
            "  --inventory-sync-seconds S   how often hosts' inventories are compared (300; 0: never)\n"
            "  --usage-retention-seconds S  keep acknowledged usage records this long (90 days)\n"
            "  --hook-max-age-seconds S   retry a hook delivery for this long, then mark it failed "
            "(86400)\n"
            "  --hook-timeout-seconds S   time allowed for one hook request (10)\n"
            "  --event-retention-seconds S  keep events this long once delivered (30 days)\n"
            "  --config FILE              INI file with the same settings under [wapd]\n"
            "  --demo                     seed an empty state dir with a demo world and print curl "
            "lines\n");
}

static int
set_str(char **dst, const char *v)
{
    char *copy = strdup(v);

    if (copy == NULL)
        return -1;
    free(*dst);
    *dst = copy;
    return 0;
}

static int
set_int(int *dst, const char *v, int min, int max)
{
    int64_t n;

    if (util_parse_int64(v, false, &n) || n < min || n > max)
        return -1;
    *dst = (int) n;
    return 0;
}

static int
set_bool(bool *dst, const char *v)
{
    if (strcmp(v, "true") == 0 || strcmp(v, "yes") == 0 || strcmp(v, "1") == 0)
        *dst = true;
    else if (strcmp(v, "false") == 0 || strcmp(v, "no") == 0 || strcmp(v, "0") == 0)
        *dst = false;
    else
        return -1;
    return 0;
}

typedef struct {
    config_t *cfg;
    char *msg;
    size_t n;
} ini_ctx_t;

static int
on_ini(void *user, const char *section, const char *name, const char *value)
{
    ini_ctx_t *c = user;
    config_t *cfg = c->cfg;
    int rc = 0;

    if (section[0] != '\0' && strcmp(section, "wapd") != 0) {
        snprintf(c->msg, c->n, "unknown section [%s] (settings go under [wapd])", section);
        return 0;
    }
    if (strcmp(name, "state_dir") == 0)
        rc = set_str(&cfg->state_dir, value);
    else if (strcmp(name, "admin_listen") == 0)
        rc = set_str(&cfg->admin_listen, value);
    else if (strcmp(name, "tenant_listen") == 0)
        rc = set_str(&cfg->tenant_listen, value);
    else if (strcmp(name, "workers") == 0)
        rc = set_int(&cfg->workers, value, 1, 256);
    else if (strcmp(name, "http_threads") == 0)
        rc = set_int(&cfg->http_threads, value, 1, 256);
    else if (strcmp(name, "usage_period_seconds") == 0)
        rc = set_int(&cfg->usage_period_seconds, value, 1, 86400 * 31);
    else if (strcmp(name, "usage_retention_seconds") == 0)
        rc = set_int(&cfg->usage_retention_seconds, value, 1, 86400 * 3650);
    else if (strcmp(name, "hook_max_age_seconds") == 0)
        rc = set_int(&cfg->hook_max_age_seconds, value, 1, 86400 * 30);
    else if (strcmp(name, "event_retention_seconds") == 0)
        rc = set_int(&cfg->event_retention_seconds, value, 1, 86400 * 3650);
    else if (strcmp(name, "hook_timeout_seconds") == 0)
        rc = set_int(&cfg->hook_timeout_seconds, value, 1, 300);
    else if (strcmp(name, "inventory_sync_seconds") == 0)
        rc = set_int(&cfg->inventory_sync_seconds, value, 0, 86400);
    else if (strcmp(name, "retention_sweep_seconds") == 0)
        rc = set_int(&cfg->retention_sweep_seconds, value, 1, 86400);
    else if (strcmp(name, "log_requests") == 0)
        rc = set_bool(&cfg->log_requests, value);
    else {
        snprintf(c->msg, c->n, "unknown setting '%s'", name);
        return 0;
    }
    if (rc) {
        snprintf(c->msg, c->n, "bad value for '%s'", name);
        return 0;
    }
    return 1;
}

static int
apply_option(config_t *cfg, int opt, const char *arg, char *msg, size_t n)
{
    int rc = 0;

    switch (opt) {
    case OPT_STATE_DIR:
        rc = set_str(&cfg->state_dir, arg);
        break;
    case OPT_ADMIN_LISTEN:
        rc = set_str(&cfg->admin_listen, arg);
        break;
    case OPT_TENANT_LISTEN:
        rc = set_str(&cfg->tenant_listen, arg);
        break;
    case OPT_ADMIN_TOKEN:
        rc = set_str(&cfg->admin_token, arg);
        break;
    case OPT_WORKERS:
        rc = set_int(&cfg->workers, arg, 1, 256);
        break;
    case OPT_HTTP_THREADS:
        rc = set_int(&cfg->http_threads, arg, 1, 256);
        break;
    case OPT_USAGE_PERIOD:
        rc = set_int(&cfg->usage_period_seconds, arg, 1, 86400 * 31);
        break;
    case OPT_RETENTION_SWEEP:
        rc = set_int(&cfg->retention_sweep_seconds, arg, 1, 86400);
        break;
    case OPT_INVENTORY_SYNC:
        rc = set_int(&cfg->inventory_sync_seconds, arg, 0, 86400);
        break;
    case OPT_USAGE_RETENTION:
        rc = set_int(&cfg->usage_retention_seconds, arg, 1, 86400 * 3650);
        break;
    case OPT_HOOK_MAX_AGE:
        rc = set_int(&cfg->hook_max_age_seconds, arg, 1, 86400 * 30);
        break;
    case OPT_EVENT_RETENTION:
        rc = set_int(&cfg->event_retention_seconds, arg, 1, 86400 * 3650);
        break;
    case OPT_HOOK_TIMEOUT:
        rc = set_int(&cfg->hook_timeout_seconds, arg, 1, 300);
        break;
    case OPT_CONFIG:
        break; /* read in the first pass */
    case OPT_DEMO:
        cfg->demo = true;
        break;
    case OPT_NO_REQUEST_LOG:
        cfg->log_requests = false;
        break;
    case OPT_HELP:
        cfg->help = true;
        break;
    case OPT_VERSION:
        cfg->version = true;
        break;
    default:
        snprintf(msg, n, "unknown option; see wapd --help");
        return -1;
    }
    if (rc)
        snprintf(msg, n, "bad value '%s' for an option; see wapd --help", arg);
    return rc;
}

int
config_load(config_t *cfg, int argc, char **argv, char *msg, size_t n)
{
    ini_ctx_t ictx = {cfg, msg, n};
    const char *env;
    int opt, rc;

    memset(cfg, 0, sizeof(*cfg));
    msg[0] = '\0';
    cfg->workers = 4;
    cfg->http_threads = 2;
    cfg->usage_period_seconds = 3600;
    cfg->retention_sweep_seconds = 60;
    cfg->inventory_sync_seconds = 300;
    cfg->usage_retention_seconds = 90 * 86400;
    cfg->hook_max_age_seconds = 86400;
    cfg->hook_timeout_seconds = 10;
    cfg->event_retention_seconds = 30 * 86400;
    cfg->log_requests = true;
    if (set_str(&cfg->state_dir, "./wapd-state") || set_str(&cfg->admin_listen, "127.0.0.1:30004") ||
        set_str(&cfg->tenant_listen, "127.0.0.1:30005")) {
        snprintf(msg, n, "out of memory");
        return -1;
    }
    /* First pass: find --config, so that the command line can override the file. */
    opterr = 0;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "", options, NULL)) != -1) {
        if (opt == OPT_CONFIG && set_str(&cfg->config_file, optarg)) {
            snprintf(msg, n, "out of memory");
            return -1;
        }
    }
    if (cfg->config_file) {
        rc = ini_parse(cfg->config_file, on_ini, &ictx);
        if (rc < 0) {
            snprintf(msg, n, "cannot read config file %s", cfg->config_file);
            return -1;
        }
        if (rc > 0 && msg[0] != '\0') {
            char detail[256];
            snprintf(detail, sizeof(detail), "%s", msg);
            snprintf(msg, n, "%s:%d: %s", cfg->config_file, rc, detail);
            return -1;
        }
        if (rc > 0) {
            snprintf(msg, n, "%s:%d: not a valid INI line", cfg->config_file, rc);
            return -1;
        }
    }
    env = getenv("WAPD_ADMIN_TOKEN");
    if (env && *env && set_str(&cfg->admin_token, env)) {
        snprintf(msg, n, "out of memory");
        return -1;
    }
    optind = 1;
    while ((opt = getopt_long(argc, argv, "", options, NULL)) != -1) {
        if (opt == '?') {
            snprintf(msg, n, "unknown option or missing value: %s", argv[optind - 1]);
            return -1;
        }
        if (apply_option(cfg, opt, optarg, msg, n))
            return -1;
    }
    if (optind < argc) {
        snprintf(msg, n, "unexpected argument: %s", argv[optind]);
        return -1;
    }
    if (cfg->admin_token && cfg->admin_token[0] == '\0') {
        snprintf(msg, n, "the admin token must not be empty");
        return -1;
    }
    return 0;
}

void
config_free(config_t *cfg)
{
    free(cfg->state_dir);
    free(cfg->admin_listen);
    free(cfg->tenant_listen);
    if (cfg->admin_token)
        memset(cfg->admin_token, 0, strlen(cfg->admin_token));
    free(cfg->admin_token);
    free(cfg->config_file);
    memset(cfg, 0, sizeof(*cfg));
}
