/*
 * Unit tests of daemon/config: the settings table, and what is made from it: defaults, flags, the INI file,
 * their precedence, the range and type checks with their messages, --help and --print-config, and the
 * shipped example config (deploy/wapd.conf), which must be what --print-config prints for the systemd
 * unit's settings. Every test loops over the table where it can, so a setting added to the table is tested
 * without a new line here.
 */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "../../daemon/config.h"
#include "../../lib/log.h"

/* The shipped example and man pages, relative to the repository's root (where make runs the tests). */
#define EXAMPLE_CONF "deploy/wapd.conf"
#define MAN_CONF "deploy/man/wapd.conf.5"
#define MAN_WAPD "deploy/man/wapd.8"

static int
load_argv(config_t *cfg, char *msg, size_t n, char **argv)
{
    int argc = 0;

    while (argv[argc])
        argc++;
    return config_load(cfg, argc, argv, msg, n);
}

/* LOAD(cfg, msg, "--flag", "value", ...): config_load with that command line after "wapd". */
#define LOAD(cfg, msg, ...) load_argv((cfg), (msg), sizeof(msg), (char *[]){"wapd", __VA_ARGS__, NULL})

static void *
field(config_t *cfg, const config_setting_t *s)
{
    return (char *) cfg + s->offset;
}

/* Writes text to a new temporary file; path receives its name (the caller unlinks it). */
static void
write_temp(char *path, size_t n, const char *text)
{
    FILE *f;
    int fd;

    snprintf(path, n, "/tmp/wapd-config-XXXXXX");
    fd = mkstemp(path);
    assert_true(fd >= 0);
    f = fdopen(fd, "w");
    assert_non_null(f);
    fputs(text, f);
    assert_int_equal(fclose(f), 0);
}

/* The text a function writes to a FILE, as a string to free. */
static char *
capture(void (*print)(FILE *, const config_t *), const config_t *cfg)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&buf, &len);

    assert_non_null(out);
    print(out, cfg);
    assert_int_equal(fclose(out), 0);
    return buf;
}

static void
usage_of(FILE *out, const config_t *cfg)
{
    (void) cfg;
    config_usage(out);
}

static void
table_is_well_formed(void **state)
{
    size_t n, i, j;
    const config_setting_t *t = config_settings(&n);
    /* main.c reads these once, at the start: they can never change live. The metering period neither:
     * a period being closed must end where it began to. */
    static const char *start_only[] = {"state-dir", "admin-listen", "tenant-listen", "admin-token",
                                       "workers", "http-threads", "hook-max-age-seconds",
                                       "hook-timeout-seconds", "config", "usage-period-seconds"};

    (void) state;
    assert_true(n > 0);
    for (i = 0; i < n; i++) {
        assert_non_null(t[i].name);
        assert_non_null(t[i].help);
        assert_true(strlen(t[i].help) < 400); /* what --help and --print-config hold of it, uncut */
        assert_true(t[i].offset < sizeof(config_t));
        assert_ptr_equal(config_setting_find(t[i].name), &t[i]);
        assert_true((t[i].type == CONFIG_BOOL) == (t[i].metavar == NULL));
        if (t[i].type == CONFIG_INT)
            assert_true(t[i].min <= t[i].max && t[i].min >= INT_MIN && t[i].max <= INT_MAX);
        assert_false(t[i].secret && t[i].key != NULL); /* a secret is never written in a file */
        for (j = i + 1; j < n; j++) {
            assert_string_not_equal(t[i].name, t[j].name);
            assert_true(t[i].offset != t[j].offset);
            if (t[i].key && t[j].key)
                assert_string_not_equal(t[i].key, t[j].key);
        }
    }
    for (i = 0; i < sizeof(start_only) / sizeof(start_only[0]); i++) {
        assert_non_null(config_setting_find(start_only[i]));
        assert_false(config_setting_find(start_only[i])->live);
    }
    assert_null(config_setting_find("no-such-setting"));
}

static void
defaults_are_the_tables(void **state)
{
    config_t cfg;
    char msg[256];
    size_t n, i;
    const config_setting_t *t = config_settings(&n);

    (void) state;
    unsetenv("WAPD_ADMIN_TOKEN");
    assert_int_equal(load_argv(&cfg, msg, sizeof(msg), (char *[]){"wapd", NULL}), 0);
    for (i = 0; i < n; i++) {
        void *f = field(&cfg, &t[i]);

        switch (t[i].type) {
        case CONFIG_INT:
            assert_int_equal(*(int *) f, t[i].def ? atoi(t[i].def) : 0);
            break;
        case CONFIG_BOOL:
            assert_int_equal(*(bool *) f, t[i].def ? strcmp(t[i].def, "true") == 0 : false);
            break;
        default:
            if (t[i].def)
                assert_string_equal(*(char **) f, t[i].def);
            else
                assert_null(*(char **) f);
        }
    }
    /* The defaults wapd has always had: the table must keep them. */
    assert_string_equal(cfg.state_dir, "./wapd-state");
    assert_string_equal(cfg.admin_listen, "127.0.0.1:30004");
    assert_string_equal(cfg.tenant_listen, "127.0.0.1:30005");
    assert_null(cfg.admin_token);
    assert_null(cfg.config_file);
    assert_int_equal(cfg.workers, 32);
    assert_int_equal(cfg.http_threads, 2);
    assert_int_equal(cfg.usage_period_seconds, 3600);
    assert_int_equal(cfg.retention_sweep_seconds, 60);
    assert_int_equal(cfg.inventory_sync_seconds, 300);
    assert_int_equal(cfg.usage_retention_seconds, 90 * 86400);
    assert_int_equal(cfg.hook_max_age_seconds, 86400);
    assert_int_equal(cfg.hook_timeout_seconds, 10);
    assert_int_equal(cfg.event_retention_seconds, 30 * 86400);
    assert_true(cfg.log_requests);
    assert_false(cfg.demo || cfg.help || cfg.version || cfg.print_config);
    config_free(&cfg);
}

static void
flags_set_every_kind(void **state)
{
    config_t cfg;
    char msg[256];

    (void) state;
    unsetenv("WAPD_ADMIN_TOKEN");
    assert_int_equal(LOAD(&cfg, msg, "--state-dir", "/srv/w", "--admin-listen", "[::1]:0",
                          "--tenant-listen=:8080", "--admin-token", "tok", "--workers", "8",
                          "--inventory-sync-seconds", "0", "--no-request-log", "--demo", "--version"),
                     0);
    assert_string_equal(msg, "");
    assert_string_equal(cfg.state_dir, "/srv/w");
    assert_string_equal(cfg.admin_listen, "[::1]:0");
    assert_string_equal(cfg.tenant_listen, ":8080");
    assert_string_equal(cfg.admin_token, "tok");
    assert_int_equal(cfg.workers, 8);
    assert_int_equal(cfg.inventory_sync_seconds, 0);
    assert_false(cfg.log_requests);
    assert_true(cfg.demo && cfg.version);
    assert_false(cfg.help || cfg.print_config);
    config_free(&cfg);
    /* A flag given twice: the last wins. */
    assert_int_equal(LOAD(&cfg, msg, "--workers", "2", "--workers", "3"), 0);
    assert_int_equal(cfg.workers, 3);
    config_free(&cfg);
}

static void
file_sets_and_flags_override(void **state)
{
    config_t cfg;
    char msg[512], path[64];

    (void) state;
    unsetenv("WAPD_ADMIN_TOKEN");
    write_temp(path, sizeof(path),
               "; a comment\n[wapd]\nworkers = 2\nhttp-threads = 3\nusage_period_seconds = 60\n"
               "log_requests = no\nstate_dir = /from/file\ntenant_listen = 0.0.0.0:30005\n");
    assert_int_equal(LOAD(&cfg, msg, "--config", path), 0);
    assert_string_equal(cfg.config_file, path);
    assert_int_equal(cfg.workers, 2);
    assert_int_equal(cfg.http_threads, 3); /* the long option's spelling is a key too */
    assert_int_equal(cfg.usage_period_seconds, 60);
    assert_false(cfg.log_requests);
    assert_string_equal(cfg.state_dir, "/from/file");
    assert_string_equal(cfg.tenant_listen, "0.0.0.0:30005");
    assert_int_equal(cfg.hook_timeout_seconds, 10); /* not in the file: the default */
    config_free(&cfg);
    /* The command line wins over the file, wherever --config stands on it. */
    assert_int_equal(LOAD(&cfg, msg, "--workers", "7", "--config", path, "--state-dir", "/from/flag"), 0);
    assert_int_equal(cfg.workers, 7);
    assert_string_equal(cfg.state_dir, "/from/flag");
    assert_int_equal(cfg.http_threads, 3);
    config_free(&cfg);
    /* A key may be spelled as its flag is, with '-' for '_'. */
    unlink(path);
    write_temp(path, sizeof(path), "[wapd]\nrate-limit = 5\nlog-level = warn\nhttp_threads = 3\n");
    assert_int_equal(LOAD(&cfg, msg, "--config", path), 0);
    assert_int_equal(cfg.rate_limit, 5);
    assert_string_equal(cfg.log_level, "warn");
    config_free(&cfg);
    /* The environment is between the file and the flags. */
    setenv("WAPD_ADMIN_TOKEN", "from-env", 1);
    assert_int_equal(LOAD(&cfg, msg, "--config", path), 0);
    assert_string_equal(cfg.admin_token, "from-env");
    config_free(&cfg);
    assert_int_equal(LOAD(&cfg, msg, "--admin-token", "from-flag"), 0);
    assert_string_equal(cfg.admin_token, "from-flag");
    config_free(&cfg);
    setenv("WAPD_ADMIN_TOKEN", "", 1); /* empty: as if unset */
    assert_int_equal(LOAD(&cfg, msg, "--workers", "1"), 0);
    assert_null(cfg.admin_token);
    config_free(&cfg);
    unsetenv("WAPD_ADMIN_TOKEN");
    unlink(path);
}

/* Every int setting refuses min - 1, max + 1 and a word, from a flag and from the file, with a message
 * naming the setting and its range; it takes min and max. */
static void
ranges_are_checked_with_clear_messages(void **state)
{
    config_t cfg;
    char msg[512], path[64], arg[64], text[128], range[64];
    size_t n, i;
    const config_setting_t *t = config_settings(&n);
    long bad[3];
    int b;

    (void) state;
    for (i = 0; i < n; i++) {
        if (t[i].type != CONFIG_INT)
            continue;
        snprintf(range, sizeof(range), "from %ld to %ld", t[i].min, t[i].max);
        snprintf(arg, sizeof(arg), "--%s=%ld", t[i].name, t[i].min);
        assert_int_equal(LOAD(&cfg, msg, arg), 0);
        assert_int_equal(*(int *) field(&cfg, &t[i]), t[i].min);
        config_free(&cfg);
        snprintf(arg, sizeof(arg), "--%s=%ld", t[i].name, t[i].max);
        assert_int_equal(LOAD(&cfg, msg, arg), 0);
        assert_int_equal(*(int *) field(&cfg, &t[i]), t[i].max);
        config_free(&cfg);
        bad[0] = t[i].min - 1;
        bad[1] = t[i].max + 1;
        bad[2] = 0;
        for (b = 0; b < 3; b++) {
            if (b < 2)
                snprintf(arg, sizeof(arg), "--%s=%ld", t[i].name, bad[b]);
            else
                snprintf(arg, sizeof(arg), "--%s=12abc", t[i].name);
            assert_int_equal(LOAD(&cfg, msg, arg), -1);
            assert_non_null(strstr(msg, t[i].name));
            assert_non_null(strstr(msg, range));
            assert_non_null(strstr(msg, strchr(arg, '=') + 1)); /* the value refused */
            config_free(&cfg);
        }
        snprintf(text, sizeof(text), "[wapd]\n\n%s = %ld\n", t[i].key, t[i].max + 1);
        write_temp(path, sizeof(path), text);
        assert_int_equal(LOAD(&cfg, msg, "--config", path), -1);
        assert_non_null(strstr(msg, path));
        assert_non_null(strstr(msg, ":3: ")); /* the line */
        assert_non_null(strstr(msg, t[i].key));
        assert_non_null(strstr(msg, range));
        config_free(&cfg);
        unlink(path);
    }
}

static void
expect_refused(const char *needle, char **argv)
{
    config_t cfg;
    char msg[512];

    assert_int_equal(load_argv(&cfg, msg, sizeof(msg), argv), -1);
    if (strstr(msg, needle) == NULL)
        fail_msg("'%s' not in the message: %s", needle, msg);
    config_free(&cfg);
}

static void
malformed_values_are_refused(void **state)
{
    char path[64];

    (void) state;
    unsetenv("WAPD_ADMIN_TOKEN");
    expect_refused("--workers", (char *[]){"wapd", "--workers", "zero", NULL});
    expect_refused("--workers", (char *[]){"wapd", "--workers", "", NULL});
    expect_refused("--workers needs a value", (char *[]){"wapd", "--workers", NULL});
    expect_refused("--demo takes no value", (char *[]){"wapd", "--demo=1", NULL});
    expect_refused("option --nope; see wapd --help", (char *[]){"wapd", "--nope", NULL});
    expect_refused("unexpected argument: stray", (char *[]){"wapd", "stray", NULL});
    expect_refused("--admin-listen", (char *[]){"wapd", "--admin-listen", "nocolon", NULL});
    expect_refused("HOST:PORT", (char *[]){"wapd", "--admin-listen", "h:99999", NULL});
    expect_refused("--tenant-listen", (char *[]){"wapd", "--tenant-listen", "[::1:80", NULL});
    expect_refused("--tenant-listen", (char *[]){"wapd", "--tenant-listen", "h:http", NULL});
    expect_refused("--state-dir", (char *[]){"wapd", "--state-dir", "", NULL});
    expect_refused("--admin-token", (char *[]){"wapd", "--admin-token", "", NULL});
    expect_refused("cannot read config file /nonexistent/wapd.conf",
                   (char *[]){"wapd", "--config", "/nonexistent/wapd.conf", NULL});
    write_temp(path, sizeof(path), "[wapd]\nlog_requests = maybe\n");
    expect_refused("'maybe' for --no-request-log (config key log_requests)",
                   (char *[]){"wapd", "--config", path, NULL});
    unlink(path);
    write_temp(path, sizeof(path), "[wapd]\nno_such_setting = 1\nworkers = 0\n");
    expect_refused(":2: unknown setting 'no_such_setting'", (char *[]){"wapd", "--config", path, NULL});
    unlink(path);
    write_temp(path, sizeof(path), "[wapd]\nadmin_token = x\n"); /* never in a file */
    expect_refused("unknown setting 'admin_token'", (char *[]){"wapd", "--config", path, NULL});
    unlink(path);
    write_temp(path, sizeof(path), "[other]\nworkers = 2\n");
    expect_refused("unknown section [other]", (char *[]){"wapd", "--config", path, NULL});
    unlink(path);
    write_temp(path, sizeof(path), "[wapd]\nthis line has no equals sign\n");
    expect_refused(":2: not a valid INI line", (char *[]){"wapd", "--config", path, NULL});
    unlink(path);
}

/* A secret in a refused environment value or flag is not repeated in the message. */
static void
secrets_stay_out_of_messages(void **state)
{
    config_t cfg;
    char msg[512];
    const config_setting_t *s = config_setting_find("admin-token");

    (void) state;
    assert_non_null(s);
    assert_true(s->secret);
    memset(&cfg, 0, sizeof(cfg));
    assert_int_equal(config_set(&cfg, s, "", msg, sizeof(msg)), -1);
    assert_non_null(strstr(msg, "--admin-token"));
    assert_null(strstr(msg, "''"));
    assert_int_equal(config_set(&cfg, s, "s3cret-value", msg, sizeof(msg)), 0);
    assert_string_equal(cfg.admin_token, "s3cret-value");
    config_free(&cfg);
}

static void
help_lists_every_setting(void **state)
{
    char *text, *line, *save = NULL, flag[80];
    size_t n, i;
    const config_setting_t *t = config_settings(&n);

    (void) state;
    text = capture(usage_of, NULL);
    for (i = 0; i < n; i++) {
        snprintf(flag, sizeof(flag), "  --%s", t[i].name); /* its own entry, not just the synopsis */
        if (strstr(text, flag) == NULL)
            fail_msg("--help has no entry for --%s", t[i].name);
        snprintf(flag, sizeof(flag), "[--%s", t[i].name);
        assert_non_null(strstr(text, flag));
        if (t[i].key) {
            snprintf(flag, sizeof(flag), "config key %s", t[i].key);
            assert_non_null(strstr(text, flag));
        }
        if (t[i].key && t[i].type != CONFIG_INT && t[i].type != CONFIG_BOOL && !t[i].choices) {
            snprintf(flag, sizeof(flag), "at most %zu bytes; ", config_value_max(&t[i])); /* its limit */
            assert_non_null(strstr(text, flag));
        }
    }
    for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
        assert_true(strlen(line) <= 100);
    free(text);
}

/* --print-config prints every setting that has a key, and reading that output back gives the same
 * settings. */
static void
printed_config_reads_back_the_same(void **state)
{
    config_t a, b;
    char msg[512], path[64], *text, key[80];
    size_t n, i;
    const config_setting_t *t = config_settings(&n);

    (void) state;
    unsetenv("WAPD_ADMIN_TOKEN");
    assert_int_equal(LOAD(&a, msg, "--workers", "9", "--no-request-log", "--state-dir", "/a b/c",
                          "--admin-listen", "[::]:1", "--event-retention-seconds", "5"),
                     0);
    text = capture(config_print, &a);
    for (i = 0; i < n; i++) {
        if (t[i].key == NULL)
            continue;
        snprintf(key, sizeof(key), "\n%s = ", t[i].key);
        if (strstr(text, key) == NULL) /* an unset string is printed commented out */
            snprintf(key, sizeof(key), "\n# %s = ", t[i].key);
        if (strstr(text, key) == NULL)
            fail_msg("--print-config has no line for %s", t[i].key);
    }
    write_temp(path, sizeof(path), text);
    free(text);
    assert_int_equal(LOAD(&b, msg, "--config", path), 0);
    for (i = 0; i < n; i++) {
        if (t[i].key == NULL)
            continue;
        if (t[i].type == CONFIG_INT)
            assert_int_equal(*(int *) field(&a, &t[i]), *(int *) field(&b, &t[i]));
        else if (t[i].type == CONFIG_BOOL)
            assert_int_equal(*(bool *) field(&a, &t[i]), *(bool *) field(&b, &t[i]));
        else if (*(char **) field(&a, &t[i]) == NULL)
            assert_null(*(char **) field(&b, &t[i]));
        else
            assert_string_equal(*(char **) field(&a, &t[i]), *(char **) field(&b, &t[i]));
    }
    config_free(&a);
    config_free(&b);
    unlink(path);
}

/* The longest value of a string setting that config_set takes: max bytes of the kind the setting allows
 * (an address ends in a port, a URL has its scheme, a path is absolute), in buf. */
static void
longest_value(const config_setting_t *s, size_t max, char *buf)
{
    const char *head = s->type == CONFIG_PATH ? "/" : strcmp(s->name, "public-url") == 0 ? "https://"
                       : strcmp(s->name, "store") == 0                               ? "postgresql://"
                                                                                     : "";
    const char *tail = s->type == CONFIG_ADDRESS ? ":65535" : "";
    size_t i, used = strlen(head);

    assert_true(max > strlen(head) + strlen(tail) + 1);
    memcpy(buf, head, used);
    for (i = 0; used < max - strlen(tail); i++, used++)
        buf[used] = (char) ('a' + (int) (i % 26));
    memcpy(buf + used, tail, strlen(tail) + 1);
    assert_int_equal(strlen(buf), max);
}

/* Every setting at its longest (string) or its extremes (int), given on the command line, is printed by
 * --print-config as lines of at most CONFIG_LINE_MAX bytes that load back to the same settings and print
 * the same again; one byte more is refused, from the command line and from the file, with a message naming
 * the setting and the limit. */
static void
longest_values_load_back(void **state)
{
    config_t a, b;
    char msg[512], path[64], *text, *again, *line, *save = NULL, *argv[128], vals[64][256], want[96];
    size_t n, i, max;
    int argc, ends;
    const config_setting_t *t = config_settings(&n);

    (void) state;
    unsetenv("WAPD_ADMIN_TOKEN");
    assert_true(n < 60);
    for (ends = 0; ends < 2; ends++) { /* ints at their minimum, then at their maximum */
        argc = 0;
        argv[argc++] = "wapd";
        for (i = 0; i < n; i++) {
            if (t[i].key == NULL || t[i].type == CONFIG_BOOL || t[i].choices)
                continue;
            if (t[i].type == CONFIG_INT) {
                snprintf(vals[i], sizeof(vals[i]), "--%s=%ld", t[i].name, ends ? t[i].max : t[i].min);
            } else {
                max = config_value_max(&t[i]);
                assert_true(max > 0 && max + strlen(t[i].name) + 4 < sizeof(vals[i]));
                snprintf(vals[i], sizeof(vals[i]), "--%s=", t[i].name);
                longest_value(&t[i], max, vals[i] + strlen(vals[i]));
            }
            argv[argc++] = vals[i];
        }
        argv[argc++] = ends ? "--no-request-log" : "--log-level=error";
        argv[argc] = NULL;
        if (load_argv(&a, msg, sizeof(msg), argv) != 0)
            fail_msg("the longest values are refused: %s", msg);
        text = capture(config_print, &a);
        write_temp(path, sizeof(path), text);
        if (LOAD(&b, msg, "--config", path) != 0)
            fail_msg("the printed config does not load back: %s\n%s", msg, text);
        again = capture(config_print, &b);
        assert_string_equal(text, again);
        for (i = 0; i < n; i++) {
            if (t[i].key == NULL)
                continue;
            if (t[i].type == CONFIG_INT)
                assert_int_equal(*(int *) field(&a, &t[i]), *(int *) field(&b, &t[i]));
            else if (t[i].type == CONFIG_BOOL)
                assert_int_equal(*(bool *) field(&a, &t[i]), *(bool *) field(&b, &t[i]));
            else
                assert_string_equal(*(char **) field(&a, &t[i]), *(char **) field(&b, &t[i]));
        }
        for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
            if (strlen(line) > CONFIG_LINE_MAX)
                fail_msg("a printed line of %zu bytes: %s", strlen(line), line);
        free(text);
        free(again);
        config_free(&a);
        config_free(&b);
        unlink(path);
    }
    /* One byte more: refused, naming the setting and the limit, from a flag and from the file. */
    for (i = 0; i < n; i++) {
        if (t[i].key == NULL || t[i].type == CONFIG_INT || t[i].type == CONFIG_BOOL || t[i].choices)
            continue;
        max = config_value_max(&t[i]);
        snprintf(vals[0], sizeof(vals[0]), "--%s=", t[i].name);
        longest_value(&t[i], max + 1, vals[0] + strlen(vals[0]));
        assert_int_equal(LOAD(&a, msg, vals[0]), -1);
        snprintf(want, sizeof(want), "--%s (config key %s) is %zu bytes long; allowed: at most %zu",
                 t[i].name, t[i].key, max + 1, max);
        if (strstr(msg, want) == NULL)
            fail_msg("'%s' not in: %s", want, msg);
        config_free(&a);
        /* "key=VALUE" fits on a line, but "key = VALUE" would not: config_set refuses it. */
        snprintf(vals[1], sizeof(vals[1]), "[wapd]\n%s=%s\n", t[i].key, strchr(vals[0], '=') + 1);
        write_temp(path, sizeof(path), vals[1]);
        assert_int_equal(LOAD(&a, msg, "--config", path), -1);
        assert_non_null(strstr(msg, ":2: value for"));
        if (strstr(msg, want) == NULL)
            fail_msg("'%s' not in: %s", want, msg);
        config_free(&a);
        unlink(path);
    }
}

/* A config file line longer than CONFIG_LINE_MAX is refused, naming that line, whatever it holds (inih
 * would read its rest as a line of its own, and keep a value cut short); one of CONFIG_LINE_MAX is read,
 * with "\n" or "\r\n" after it. An error on an earlier line is the one named. */
static void
long_lines_are_named(void **state)
{
    config_t cfg;
    char msg[512], path[64], text[1024], fill[CONFIG_LINE_MAX + 2], want[96];
    size_t len;

    (void) state;
    unsetenv("WAPD_ADMIN_TOKEN");
    /* A comment of exactly CONFIG_LINE_MAX bytes, with either line end. */
    memset(fill, 'x', sizeof(fill));
    fill[0] = '#';
    fill[CONFIG_LINE_MAX] = '\0';
    snprintf(text, sizeof(text), "[wapd]\n%s\nworkers = 3\n%s\r\nhttp_threads = 4\r\n", fill, fill);
    write_temp(path, sizeof(path), text);
    if (LOAD(&cfg, msg, "--config", path) != 0)
        fail_msg("lines of %d bytes refused: %s", CONFIG_LINE_MAX, msg);
    assert_int_equal(cfg.workers, 3);
    assert_int_equal(cfg.http_threads, 4);
    config_free(&cfg);
    unlink(path);
    /* One byte more, a comment or a setting, with or without a line end after it. */
    snprintf(want, sizeof(want), ":3: line longer than %d bytes", CONFIG_LINE_MAX);
    fill[CONFIG_LINE_MAX] = 'x';
    fill[CONFIG_LINE_MAX + 1] = '\0';
    snprintf(text, sizeof(text), "[wapd]\nworkers = 3\n%s\n", fill);
    write_temp(path, sizeof(path), text);
    expect_refused(want, (char *[]){"wapd", "--config", path, NULL});
    unlink(path);
    snprintf(text, sizeof(text), "[wapd]\nworkers = 3\n%s", fill); /* the last line, no line end */
    write_temp(path, sizeof(path), text);
    expect_refused(want, (char *[]){"wapd", "--config", path, NULL});
    unlink(path);
    /* A long value whose rest looks like a setting: nothing of it is applied. */
    len = (size_t) snprintf(text, sizeof(text), "[wapd]\nworkers = 3\nstate_dir = /");
    memset(text + len, 'd', 300);
    snprintf(text + len + 300, sizeof(text) - len - 300, " workers = 5\nhttp_threads = 4\n");
    write_temp(path, sizeof(path), text);
    expect_refused(want, (char *[]){"wapd", "--config", path, NULL});
    unlink(path);
    /* The first error is named, not the long line after it; nor a bad value after a malformed line. */
    snprintf(text, sizeof(text), "[wapd]\nworkers = 0\n%s\n", fill);
    write_temp(path, sizeof(path), text);
    expect_refused(":2: bad value '0' for --workers", (char *[]){"wapd", "--config", path, NULL});
    unlink(path);
    write_temp(path, sizeof(path), "[wapd]\nno equals sign\nworkers = 0\n");
    expect_refused(":2: not a valid INI line", (char *[]){"wapd", "--config", path, NULL});
    unlink(path);
    write_temp(path, sizeof(path), "[wapd]\nworkers = 0\nno equals sign\n");
    expect_refused(":2: bad value '0' for --workers", (char *[]){"wapd", "--config", path, NULL});
    unlink(path);
    /* A NUL byte would end the value where it stands ("debug" of "debug\0junk"): the line is named. */
    {
        static const char nul_text[] = "[wapd]\nworkers = 3\nlog_level = debug\0junk\n";
        FILE *f;

        write_temp(path, sizeof(path), "");
        f = fopen(path, "w");
        assert_non_null(f);
        assert_int_equal(fwrite(nul_text, 1, sizeof(nul_text) - 1, f), sizeof(nul_text) - 1);
        assert_int_equal(fclose(f), 0);
        expect_refused(":3: a NUL byte", (char *[]){"wapd", "--config", path, NULL});
        unlink(path);
    }
}

/* inih reads an indented line after a key as a continuation of its value, handing the key over again with
 * that line alone: refused, naming the line, rather than the value above silently replaced. An indented
 * key right after a section, and indented comments, are read as they always were. */
static void
continuation_lines_are_refused(void **state)
{
    config_t cfg;
    char msg[512], path[64];

    (void) state;
    unsetenv("WAPD_ADMIN_TOKEN");
    write_temp(path, sizeof(path), "[wapd]\nstate_dir = /a\n\n  tls_cert = /x\n");
    expect_refused(":4: this line begins with white space, so it would continue the value of 'state_dir'",
                   (char *[]){"wapd", "--config", path, NULL});
    unlink(path);
    write_temp(path, sizeof(path), "[wapd]\nworkers = 2\n\thttp_threads = 4\n");
    expect_refused(":3: this line begins with white space", (char *[]){"wapd", "--config", path, NULL});
    unlink(path);
    write_temp(path, sizeof(path), "[wapd]\n  workers = 2\n  # a comment\nhttp_threads = 4\n[wapd]\n"
                                   "  workers = 5\n");
    assert_int_equal(LOAD(&cfg, msg, "--config", path), 0);
    assert_int_equal(cfg.workers, 5);
    assert_int_equal(cfg.http_threads, 4);
    config_free(&cfg);
    unlink(path);
}

/* A string value the file could not hold as "key = value" is refused from the command line too, naming the
 * setting; a setting without a key (never in the file) has no such limit. */
static void
values_the_file_cannot_hold_are_refused(void **state)
{
    static const char *bad[] = {" /lead", "/trail ", "/a ;comment", ";x", "/a\nb", "/a\tb", "/a\rb"};
    static const char *good[] = {"/a;b", "/a b/c", "/a=b:c", "/#x", "/ä"};
    config_t cfg;
    char msg[512], token[2000];
    size_t i;

    (void) state;
    unsetenv("WAPD_ADMIN_TOKEN");
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        expect_refused("value for --state-dir (config key state_dir) has ",
                       (char *[]){"wapd", "--state-dir", (char *) bad[i], NULL});
    for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        assert_int_equal(LOAD(&cfg, msg, "--state-dir", (char *) good[i]), 0);
        assert_string_equal(cfg.state_dir, good[i]);
        config_free(&cfg);
    }
    memset(token, 't', sizeof(token) - 1);
    token[sizeof(token) - 1] = '\0';
    assert_int_equal(LOAD(&cfg, msg, "--admin-token", token), 0);
    assert_int_equal(strlen(cfg.admin_token), sizeof(token) - 1);
    config_free(&cfg);
    assert_int_equal(config_value_max(config_setting_find("admin-token")), 0);
    assert_int_equal(config_value_max(config_setting_find("store")), CONFIG_LINE_MAX - strlen("store = "));
}

/* deploy/wapd.conf is --print-config for the systemd unit's settings, so it never drifts from the table. */
static void
shipped_example_is_printed_config(void **state)
{
    config_t cfg;
    char msg[256], *printed, *shipped = NULL;
    size_t len = 0;
    FILE *f;

    (void) state;
    unsetenv("WAPD_ADMIN_TOKEN");
    assert_int_equal(LOAD(&cfg, msg, "--state-dir", "/var/lib/wapd", "--tenant-listen", "0.0.0.0:30005"), 0);
    printed = capture(config_print, &cfg);
    f = fopen(EXAMPLE_CONF, "r");
    assert_non_null(f);
    assert_int_equal(getdelim(&shipped, &len, '\0', f) > 0, 1);
    fclose(f);
    if (strcmp(printed, shipped) != 0)
        fail_msg(EXAMPLE_CONF " differs from the printed config; make it with: wapd --state-dir "
                 "/var/lib/wapd --tenant-listen 0.0.0.0:30005 --print-config > " EXAMPLE_CONF);
    free(printed);
    free(shipped);
    config_free(&cfg);
}

/* --public-url is a scheme, a host and a port: no path, query or fragment; one trailing '/' is dropped. */
static void
public_url_is_a_base_url(void **state)
{
    const char *good[][2] = {{"https://wapd.example.com:8443", "https://wapd.example.com:8443"},
                             {"http://10.0.0.5/", "http://10.0.0.5"},
                             {"https://[2001:db8::1]:443", "https://[2001:db8::1]:443"}};
    const char *bad[] = {"wapd.example.com", "ftp://wapd.example.com", "https://", "https:///",
                         "https://wapd.example.com/api", "https://wapd.example.com?x=1",
                         "https://wapd.example.com#top", "https://user@wapd.example.com",
                         "https://wapd example.com", "https://wapd.example.com:"};
    config_t cfg;
    char msg[512];
    size_t i;

    (void) state;
    unsetenv("WAPD_ADMIN_TOKEN");
    for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        assert_int_equal(LOAD(&cfg, msg, "--public-url", (char *) good[i][0]), 0);
        assert_string_equal(cfg.public_url, good[i][1]);
        config_free(&cfg);
    }
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        expect_refused("--public-url (config key public_url); allowed: an http:// or https:// URL",
                       (char *[]){"wapd", "--public-url", (char *) bad[i], NULL});
}

/* The log level is one of the levels lib/log knows, and nothing else starts. */
static void
log_level_is_one_of_the_levels(void **state)
{
    const config_setting_t *s = config_setting_find("log-level");
    static const char *levels[] = {"debug", "info", "warn", "error"};
    config_t cfg;
    char msg[256];
    size_t i;

    (void) state;
    assert_non_null(s);
    assert_non_null(s->choices);
    assert_true(s->live);
    for (i = 0; s->choices[i]; i++)
        assert_true(log_level_parse(s->choices[i]) >= 0);
    assert_int_equal(i, 4);
    for (i = 0; i < 4; i++) {
        assert_int_equal(LOAD(&cfg, msg, "--log-level", (char *) levels[i]), 0);
        assert_string_equal(cfg.log_level, levels[i]);
        config_free(&cfg);
    }
    assert_int_equal(LOAD(&cfg, msg, "--log-level", "loud"), -1);
    assert_non_null(strstr(msg, "'loud'"));
    assert_non_null(strstr(msg, "--log-level (config key log_level)"));
    assert_non_null(strstr(msg, "one of debug, info, warn, error"));
    config_free(&cfg);
    assert_int_equal(LOAD(&cfg, msg, "--log-level", "INFO"), -1);
    config_free(&cfg);
}

/* The whole of a file, as a string to free. */
static char *
slurp(const char *path)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = fopen(path, "r");

    assert_non_null(f);
    assert_true(getdelim(&text, &len, '\0', f) > 0);
    fclose(f);
    return text;
}

/* Whether text names the flag (roff spells its dashes "\-"), not only a longer flag it begins. */
static bool
names_flag(const char *text, const char *name)
{
    char want[128], *o = want + snprintf(want, sizeof(want), "\\-\\-");
    const char *p, *hit;

    for (p = name; *p && o < want + sizeof(want) - 3; p++) {
        if (*p == '-')
            *o++ = '\\';
        *o++ = *p;
    }
    *o = '\0';
    for (hit = strstr(text, want); hit; hit = strstr(hit + 1, want))
        if (hit[strlen(want)] == ' ' || hit[strlen(want)] == '\n' || hit[strlen(want)] == '"')
            return true;
    return false;
}

/* wapd.conf(5) has an entry for every key of the table, and wapd(8) names every flag. */
static void
man_pages_name_every_setting(void **state)
{
    char *conf = slurp(MAN_CONF), *wapd = slurp(MAN_WAPD), want[128];
    size_t n, i;
    const config_setting_t *t = config_settings(&n);

    (void) state;
    for (i = 0; i < n; i++) {
        snprintf(want, sizeof(want), "\n.B %s\n", t[i].key ? t[i].key : "");
        if (t[i].key && strstr(conf, want) == NULL)
            fail_msg(MAN_CONF " has no entry \".B %s\"", t[i].key);
        if (!names_flag(wapd, t[i].name))
            fail_msg(MAN_WAPD " does not name --%s", t[i].name);
    }
    free(conf);
    free(wapd);
}

static void
hostport_split(void **state)
{
    char host[64], port[16];

    (void) state;
    assert_int_equal(config_split_hostport("127.0.0.1:30004", host, sizeof(host), port, sizeof(port)), 0);
    assert_string_equal(host, "127.0.0.1");
    assert_string_equal(port, "30004");
    assert_int_equal(config_split_hostport("[::1]:0", host, sizeof(host), port, sizeof(port)), 0);
    assert_string_equal(host, "::1");
    assert_string_equal(port, "0");
    assert_int_equal(config_split_hostport(":65535", host, sizeof(host), port, sizeof(port)), 0);
    assert_string_equal(host, "");
    assert_int_equal(config_split_hostport("h:65536", host, sizeof(host), port, sizeof(port)), -1);
    assert_int_equal(config_split_hostport("h:", host, sizeof(host), port, sizeof(port)), -1);
    assert_int_equal(config_split_hostport("h:-1", host, sizeof(host), port, sizeof(port)), -1);
    assert_int_equal(config_split_hostport("[::1]80", host, sizeof(host), port, sizeof(port)), -1);
    assert_int_equal(config_split_hostport("nocolon", host, sizeof(host), port, sizeof(port)), -1);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(table_is_well_formed),
        cmocka_unit_test(defaults_are_the_tables),
        cmocka_unit_test(flags_set_every_kind),
        cmocka_unit_test(file_sets_and_flags_override),
        cmocka_unit_test(ranges_are_checked_with_clear_messages),
        cmocka_unit_test(malformed_values_are_refused),
        cmocka_unit_test(secrets_stay_out_of_messages),
        cmocka_unit_test(help_lists_every_setting),
        cmocka_unit_test(printed_config_reads_back_the_same),
        cmocka_unit_test(longest_values_load_back),
        cmocka_unit_test(long_lines_are_named),
        cmocka_unit_test(values_the_file_cannot_hold_are_refused),
        cmocka_unit_test(continuation_lines_are_refused),
        cmocka_unit_test(shipped_example_is_printed_config),
        cmocka_unit_test(log_level_is_one_of_the_levels),
        cmocka_unit_test(man_pages_name_every_setting),
        cmocka_unit_test(hostport_split),
        cmocka_unit_test(public_url_is_a_base_url),
    };

    return cmocka_run_group_tests_name("config", tests, NULL, NULL);
}
