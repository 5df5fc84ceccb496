/*
 * applog.h: an append-only log of text lines with group commit, private to the agent layer (the
 * simulator's state, sim_state.c, and the operation-id journal, journal.c); not for other modules.
 *
 * A log is one file of lines, each a whole record ending in '\n'. Opening it reads every complete line
 * back through a callback; a torn last line (a crash in the middle of an append, whose caller was never
 * answered) is cut off, and a line the callback refuses anywhere but at the end is damage: the open fails.
 *
 * Durability is in two steps so that concurrent writers share one fdatasync (group commit):
 * applog_append writes a line and answers its end position; applog_sync(end) returns once everything up to
 * end is on disk. A caller that syncs while another sync is in progress waits for it, then syncs only if
 * its end is not covered yet: N writers that append together pay for about one fdatasync. No lock is held
 * across the fdatasync, so appends go on while it runs. Positions are logical (bytes ever appended) and
 * survive compaction.
 *
 * Compaction: when the file holds many more lines than the caller has live records
 * (applog_needs_compact), applog_compact rewrites it from the caller's live records (a temporary file,
 * fsync, rename, fsync of the directory); a failed compaction leaves the old file as it was.
 *
 * Thread safety: append, sync, needs_compact and counts may be called from any thread. The caller keeps
 * its own records and the lines it appends in the same order (it appends under its own lock), and holds
 * that lock across applog_compact, so that the live records it writes include every line appended before.
 */
#ifndef WAPD_AGENT_APPLOG_H
#define WAPD_AGENT_APPLOG_H

#include <stddef.h>
#include <stdint.h>

typedef struct applog applog_t;

/* applog_open's answers besides 0. */
#define APPLOG_ERR_IO (-1)      /* the file could not be opened, read or repaired (errno set) */
#define APPLOG_ERR_DAMAGED (-2) /* a line before the last one was refused: not a torn append */

/* Reads one line back at open: line (borrowed, NUL-terminated, without its '\n') of len bytes. Answers 0,
 * or -1 when the line is not a record. */
typedef int (*applog_replay_fn)(void *ctx, const char *line, size_t len);

/* Writes one live record during compaction (line without '\n', borrowed); 0 or -1. */
typedef int (*applog_emit_fn)(void *emit_ctx, const char *line, size_t len);
/* Calls emit for every live record of the caller; 0 or -1 (the compaction is abandoned). */
typedef int (*applog_records_fn)(void *ctx, applog_emit_fn emit, void *emit_ctx);

/* Opens (creating it when missing, and fsyncing its directory) the log at path (borrowed) and replays
 * it. On 0, *out is the open log (owned by the caller: applog_close). */
int applog_open(const char *path, applog_replay_fn replay, void *ctx, applog_t **out);
/* Closes the log (NULL: no-op). Lines appended but not synced may be lost, as in a crash. */
void applog_close(applog_t *l);

/* Appends one record: line (borrowed, len bytes, no '\n' in it) and a newline. Writes *end, the position
 * to pass to applog_sync. -1 on a failed write (nothing of the line counts). */
int applog_append(applog_t *l, const char *line, size_t len, uint64_t *end);
/* The position of the last line appended so far: syncing to it makes durable everything a caller may
 * have seen (an answer read from state whose line another thread appended but has not synced yet). */
uint64_t applog_end(applog_t *l);
/* Returns once everything appended up to end is durable (group fdatasync); -1 when the sync failed. */
int applog_sync(applog_t *l, uint64_t end);

/* True when the file holds at least 2 x live + floor lines. */
int applog_needs_compact(applog_t *l, size_t live, size_t floor);
/* Rewrites the file with the caller's live records (records(ctx, ...)); every line appended before is
 * durable on success. -1 on failure, the old file kept. */
int applog_compact(applog_t *l, applog_records_fn records, void *ctx);

/* Writes the lines in the file and the fdatasyncs made by applog_sync since open (either may be NULL;
 * for tests and benchmarks). */
void applog_counts(applog_t *l, size_t *lines, uint64_t *syncs);


#endif
