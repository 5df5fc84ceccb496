/*
 * log.h: the daemon's log, one JSON object per line on stderr (the journal under systemd), each with
 * "ts", "level" and "msg" and whatever fields the caller adds. A line below the current level is dropped.
 * The level is one process-wide value, read and written atomically, so any thread may log while the main
 * loop changes it (SIGHUP). Other modules keep their own lines; this is the daemon's.
 */
#ifndef WAPD_LOG_H
#define WAPD_LOG_H

#include <jansson.h>

typedef enum {
    LOG_LEVEL_DEBUG,
    LOG_LEVEL_INFO,
    LOG_LEVEL_WARN,
    LOG_LEVEL_ERROR,
} log_level_t;

/* The level named "debug", "info", "warn" or "error"; -1 for any other name. */
int log_level_parse(const char *name);

/* The name of a level ("info"). */
const char *log_level_name(log_level_t level);

/* Sets the least level written. Returns 0, or -1 (nothing changes) when name is not a level. */
int log_set_level(const char *name);

/* The least level written now. */
log_level_t log_get_level(void);

/* Writes one line at level (a level's name) with msg, plus fields (stolen, may be NULL: the line is made of
 * ts, level and msg alone), unless level is below the current one. */
void log_line(const char *level, const char *msg, json_t *fields);

#endif
