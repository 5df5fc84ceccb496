/*
 * config.h: wapd's settings, from defaults, then the config file (--config, INI), then the command line.
 * The admin token comes from --admin-token, else WAPD_ADMIN_TOKEN, else DIR/admin.token (see main.c).
 */
#ifndef WAPD_CONFIG_H
#define WAPD_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

typedef struct {
    char *state_dir;
    char *admin_listen;
    char *tenant_listen;
    char *admin_token; /* from the command line or the environment; NULL: use or make DIR/admin.token */
    char *config_file;
    int workers;
    int http_threads;
    int usage_period_seconds;
    int retention_sweep_seconds;
    int inventory_sync_seconds; /* 0: only on request */
    int usage_retention_seconds;
    int hook_max_age_seconds; /* a delivery is retried this long, then marked failed */
    int hook_timeout_seconds; /* one hook request */
    int event_retention_seconds; /* events older than this go, once no delivery refers to them */
    bool log_requests;
    bool demo;
    bool help;
    bool version;
} config_t;

/* Fills cfg. Returns 0, or -1 with a message in msg (of size n). cfg is owned by the caller: config_free. */
int config_load(config_t *cfg, int argc, char **argv, char *msg, size_t n);
void config_free(config_t *cfg);
void config_usage(FILE *out);

#endif
