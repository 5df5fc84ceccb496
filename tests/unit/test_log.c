/*
 * Unit tests of lib/log: the level names, the filter (a line below the level is dropped, its fields
 * released all the same), the shape of a line (one JSON object with ts, level, msg and the fields), and a
 * level changed by one thread while others log (every line whole).
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "../../lib/log.h"

/* stderr sent to a temporary file while a test logs; restored by captured(). */
typedef struct {
    char path[64];
    int saved;
} capture_t;

static void
capture_start(capture_t *c)
{
    int fd;

    snprintf(c->path, sizeof(c->path), "/tmp/wapd-log-XXXXXX");
    fd = mkstemp(c->path);
    assert_true(fd >= 0);
    fflush(stderr);
    c->saved = dup(STDERR_FILENO);
    assert_true(c->saved >= 0);
    assert_true(dup2(fd, STDERR_FILENO) >= 0);
    close(fd);
}

/* Restores stderr; returns what was written, as a string to free. */
static char *
captured(capture_t *c)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f;

    fflush(stderr);
    assert_true(dup2(c->saved, STDERR_FILENO) >= 0);
    close(c->saved);
    f = fopen(c->path, "r");
    assert_non_null(f);
    if (getdelim(&text, &len, '\0', f) < 0) {
        free(text);
        text = strdup("");
    }
    fclose(f);
    unlink(c->path);
    return text;
}

static void
levels_have_names(void **state)
{
    (void) state;
    assert_int_equal(log_level_parse("debug"), LOG_LEVEL_DEBUG);
    assert_int_equal(log_level_parse("info"), LOG_LEVEL_INFO);
    assert_int_equal(log_level_parse("warn"), LOG_LEVEL_WARN);
    assert_int_equal(log_level_parse("error"), LOG_LEVEL_ERROR);
    assert_int_equal(log_level_parse("warning"), -1);
    assert_int_equal(log_level_parse(""), -1);
    assert_string_equal(log_level_name(LOG_LEVEL_WARN), "warn");
    assert_int_equal(log_set_level("info"), 0);
    assert_int_equal(log_set_level("loud"), -1);
    assert_int_equal(log_get_level(), LOG_LEVEL_INFO); /* a bad name changes nothing */
}

static void
lines_below_the_level_are_dropped(void **state)
{
    capture_t c;
    char *text;

    (void) state;
    assert_int_equal(log_set_level("warn"), 0);
    capture_start(&c);
    log_line("debug", "d-line", json_pack("{s:i}", "n", 1)); /* dropped: its fields freed (ASan) */
    log_line("info", "i-line", NULL);
    log_line("warn", "w-line", json_pack("{s:s}", "detail", "x"));
    log_line("error", "e-line", NULL);
    text = captured(&c);
    assert_null(strstr(text, "d-line"));
    assert_null(strstr(text, "i-line"));
    assert_non_null(strstr(text, "w-line"));
    assert_non_null(strstr(text, "e-line"));
    free(text);
    assert_int_equal(log_set_level("debug"), 0);
    capture_start(&c);
    log_line("debug", "d-line", NULL);
    text = captured(&c);
    assert_non_null(strstr(text, "d-line"));
    free(text);
    assert_int_equal(log_set_level("info"), 0);
}

static void
a_line_is_one_json_object(void **state)
{
    capture_t c;
    char *text;
    json_t *line;
    json_error_t jerr;

    (void) state;
    assert_int_equal(log_set_level("info"), 0);
    capture_start(&c);
    log_line("info", "hello", json_pack("{s:s, s:i}", "setting", "rate-limit", "new", 5));
    text = captured(&c);
    assert_ptr_equal(strchr(text, '\n'), text + strlen(text) - 1); /* one line, ended */
    line = json_loads(text, 0, &jerr);
    assert_non_null(line);
    assert_string_equal(json_string_value(json_object_get(line, "msg")), "hello");
    assert_string_equal(json_string_value(json_object_get(line, "level")), "info");
    assert_string_equal(json_string_value(json_object_get(line, "setting")), "rate-limit");
    assert_int_equal(json_integer_value(json_object_get(line, "new")), 5);
    assert_int_equal(strlen(json_string_value(json_object_get(line, "ts"))), 24);
    json_decref(line);
    free(text);
}

#define LOGGERS 4
#define LINES 500

static void *
logger(void *arg)
{
    int i;

    (void) arg;
    for (i = 0; i < LINES; i++)
        log_line("warn", "from a thread", json_pack("{s:i}", "i", i));
    return NULL;
}

/* The level changes while threads log: every line that is written is whole, and warnings are never lost
 * (the level only moves between debug and warn). */
static void
level_changes_while_threads_log(void **state)
{
    pthread_t t[LOGGERS];
    capture_t c;
    char *text, *line, *save = NULL;
    int i, n = 0;

    (void) state;
    capture_start(&c);
    for (i = 0; i < LOGGERS; i++)
        assert_int_equal(pthread_create(&t[i], NULL, logger, NULL), 0);
    for (i = 0; i < 1000; i++)
        assert_int_equal(log_set_level(i % 2 ? "debug" : "warn"), 0);
    for (i = 0; i < LOGGERS; i++)
        assert_int_equal(pthread_join(t[i], NULL), 0);
    text = captured(&c);
    for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        json_t *j = json_loads(line, 0, NULL);

        assert_non_null(j);
        json_decref(j);
        n++;
    }
    assert_int_equal(n, LOGGERS * LINES);
    free(text);
    assert_int_equal(log_set_level("info"), 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(levels_have_names),
        cmocka_unit_test(lines_below_the_level_are_dropped),
        cmocka_unit_test(a_line_is_one_json_object),
        cmocka_unit_test(level_changes_while_threads_log),
    };

    return cmocka_run_group_tests_name("log", tests, NULL, NULL);
}
