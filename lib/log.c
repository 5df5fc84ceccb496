/*
 * log.c: the daemon's JSON log lines and their level filter.
 *
 * Invariants: a line is written whole with one fprintf of one buffer, so that lines of different threads
 * never interleave within a line; the current level is an atomic int, so that a change (SIGHUP, on the
 * main loop) reaches every thread without a lock; fields are always released, whether the line is written
 * or dropped.
 */
#include "log.h"

#include <assert.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

static const char *const names[] = {
    [LOG_LEVEL_DEBUG] = "debug",
    [LOG_LEVEL_INFO] = "info",
    [LOG_LEVEL_WARN] = "warn",
    [LOG_LEVEL_ERROR] = "error",
};

#define NLEVELS ((int) (sizeof(names) / sizeof(names[0])))

static atomic_int current = LOG_LEVEL_INFO;

int
log_level_parse(const char *name)
{
    int i;

    assert(name != NULL);
    for (i = 0; i < NLEVELS; i++)
        if (strcmp(names[i], name) == 0)
            return i;
    return -1;
}

const char *
log_level_name(log_level_t level)
{
    assert((int) level >= 0 && (int) level < NLEVELS);
    return names[level];
}

int
log_set_level(const char *name)
{
    int level = log_level_parse(name);

    if (level < 0)
        return -1;
    atomic_store(&current, level);
    return 0;
}

log_level_t
log_get_level(void)
{
    return (log_level_t) atomic_load(&current);
}

void
log_line(const char *level, const char *msg, json_t *fields)
{
    char now[UTIL_TIME_LEN + 1];
    json_t *line;
    char *text;
    int l;

    assert(level != NULL && msg != NULL);
    l = log_level_parse(level);
    assert(l >= 0); /* callers name one of the levels */
    if (l < atomic_load(&current)) {
        json_decref(fields);
        return;
    }
    line = fields ? fields : json_object();
    if (line == NULL)
        return;
    util_time_format(util_now_ms(), now);
    json_object_set_new(line, "ts", json_string(now));
    json_object_set_new(line, "level", json_string(level));
    json_object_set_new(line, "msg", json_string(msg));
    text = util_json_dumps(line, JSON_COMPACT | JSON_SORT_KEYS);
    if (text)
        fprintf(stderr, "%s\n", text);
    free(text);
    json_decref(line);
}
