/*
 * reload.h: what a SIGHUP does to the settings. The settings are read again exactly as at the start
 * (defaults, --config, the environment, then the command line, which still wins) into a new config_t;
 * the settings marked live in the table (config.c) that changed are moved into the running one, and the
 * rest stay as they were until the next start. Everything runs on the main loop's thread, the one that
 * reads the running config_t; what other threads read (the log level, ctx->rate_limit,
 * ctx->log_requests) is written with single stores they read without a lock.
 */
#ifndef WAPD_RELOAD_H
#define WAPD_RELOAD_H

#include "../api/api.h"
#include "config.h"

/* Makes the live settings of cfg (borrowed) take effect where other threads read them: the log level,
 * ctx->rate_limit and ctx->log_requests. Called at the start and after each reload. */
void reload_apply(const config_t *cfg, api_ctx_t *ctx);

/* Reads the settings again from argc/argv (the process's own, as config_load had them) and the files and
 * environment they name. On success, each live setting that changed is moved into cfg (owned by the
 * caller), logged as {"msg": "setting changed", "setting", "old", "new"} and applied (reload_apply); each
 * other setting that changed is logged as a warning that it takes effect at the next start. Returns the
 * number of settings applied, or -1 when the settings cannot be read: an error line is logged and cfg is
 * unchanged. */
int reload_settings(config_t *cfg, api_ctx_t *ctx, int argc, char **argv);

#endif
