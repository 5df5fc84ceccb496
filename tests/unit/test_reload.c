/*
 * Unit tests of daemon/reload: a SIGHUP's settings. A changed live setting is moved into the running
 * config and reaches the api context and the log level; a changed setting that is not live stays as it
 * was; the command line still wins over the file; a file that does not load changes nothing; strings
 * moved between the configs are freed once (ASan).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "../../daemon/reload.h"
#include "../../lib/log.h"

typedef struct {
    char path[64];
    config_t cfg;
    api_ctx_t ctx;
} world_t;

static void
write_conf(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");

    assert_non_null(f);
    fprintf(f, "[wapd]\n%s", text);
    assert_int_equal(fclose(f), 0);
}

/* argv: "wapd --config PATH" and the flags given; loads it into w->cfg and applies it as main does. */
static void
start(world_t *w, const char *text, char **argv, int argc)
{
    char msg[256];
    int fd;

    snprintf(w->path, sizeof(w->path), "/tmp/wapd-reload-XXXXXX");
    fd = mkstemp(w->path);
    assert_true(fd >= 0);
    close(fd);
    write_conf(w->path, text);
    argv[2] = w->path;
    unsetenv("WAPD_ADMIN_TOKEN");
    assert_int_equal(config_load(&w->cfg, argc, argv, msg, sizeof(msg)), 0);
    memset(&w->ctx, 0, sizeof(w->ctx));
    reload_apply(&w->cfg, &w->ctx);
}

static void
finish(world_t *w)
{
    config_free(&w->cfg);
    unlink(w->path);
    assert_int_equal(log_set_level("info"), 0);
}

static void
live_settings_are_applied_and_others_kept(void **state)
{
    char *argv[] = {"wapd", "--config", NULL, NULL};
    world_t w;

    (void) state;
    start(&w, "rate_limit = 1\nworkers = 4\nlog_level = info\n", argv, 3);
    assert_int_equal(w.ctx.rate_limit, 1);
    assert_true(w.ctx.log_requests);
    write_conf(w.path, "rate_limit = 5\nworkers = 9\nlog_level = error\nlog_requests = false\n"
                       "event_retention_seconds = 60\n");
    assert_int_equal(reload_settings(&w.cfg, &w.ctx, 3, argv), 4);
    assert_int_equal(w.cfg.rate_limit, 5);
    assert_int_equal(w.ctx.rate_limit, 5);
    assert_false(w.cfg.log_requests);
    assert_false(w.ctx.log_requests);
    assert_string_equal(w.cfg.log_level, "error");
    assert_int_equal(log_get_level(), LOG_LEVEL_ERROR);
    assert_int_equal(w.cfg.event_retention_seconds, 60);
    assert_int_equal(w.cfg.workers, 4); /* not live: at the next start */
    /* The same file again: nothing more to apply. */
    assert_int_equal(reload_settings(&w.cfg, &w.ctx, 3, argv), 0);
    finish(&w);
}

static void
command_line_still_wins(void **state)
{
    char *argv[] = {"wapd", "--config", NULL, "--rate-limit", "3", NULL};
    world_t w;

    (void) state;
    start(&w, "rate_limit = 1\n", argv, 5);
    assert_int_equal(w.ctx.rate_limit, 3);
    write_conf(w.path, "rate_limit = 8\n");
    assert_int_equal(reload_settings(&w.cfg, &w.ctx, 5, argv), 0);
    assert_int_equal(w.ctx.rate_limit, 3);
    finish(&w);
}

static void
bad_file_changes_nothing(void **state)
{
    char *argv[] = {"wapd", "--config", NULL, NULL};
    world_t w;

    (void) state;
    start(&w, "rate_limit = 2\nlog_level = warn\n", argv, 3);
    write_conf(w.path, "rate_limit = 7\nlog_level = loud\n");
    assert_int_equal(reload_settings(&w.cfg, &w.ctx, 3, argv), -1);
    assert_int_equal(w.cfg.rate_limit, 2);
    assert_int_equal(w.ctx.rate_limit, 2);
    assert_string_equal(w.cfg.log_level, "warn");
    assert_int_equal(log_get_level(), LOG_LEVEL_WARN);
    unlink(w.path);
    assert_int_equal(reload_settings(&w.cfg, &w.ctx, 3, argv), -1); /* a missing file too */
    assert_int_equal(w.ctx.rate_limit, 2);
    write_conf(w.path, "rate_limit = 4\n"); /* and the log level back to its default, info */
    assert_int_equal(reload_settings(&w.cfg, &w.ctx, 3, argv), 2);
    assert_int_equal(w.ctx.rate_limit, 4);
    assert_int_equal(log_get_level(), LOG_LEVEL_INFO);
    finish(&w);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(live_settings_are_applied_and_others_kept),
        cmocka_unit_test(command_line_still_wins),
        cmocka_unit_test(bad_file_changes_nothing),
    };

    return cmocka_run_group_tests_name("reload", tests, NULL, NULL);
}
