/*
 * applog.c: the append-only log with group commit (see applog.h).
 *
 * State under l->lock: the descriptor, the physical size of the file, the logical positions written (bytes
 * ever appended) and synced (the prefix known durable), the line count, and whether a sync is running.
 * Only one thread runs fdatasync at a time (l->syncing), with the lock released; the others wait on
 * l->synced_cond and find their end covered, or take the next turn. Compaction holds the lock and runs
 * only when no sync does, so the descriptor a syncer uses is never closed under it.
 *
 * Invariants: synced <= written; the file ends with a whole line (a failed append is cut back off); once a
 * fdatasync has failed the log refuses every later append and sync (a failed fdatasync may have dropped
 * the dirty pages, so a later one succeeding would prove nothing).
 */
#include "applog.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../sysio.h"

struct applog {
    char path[PATH_MAX];
    pthread_mutex_t lock;
    pthread_cond_t synced_cond;
    int fd;          /* the file, opened for appending; under lock */
    uint64_t size;   /* bytes in the file; under lock */
    uint64_t written; /* logical end of what was appended; under lock */
    uint64_t synced;  /* logical end of what is durable; under lock */
    size_t lines;    /* lines in the file; under lock */
    uint64_t syncs;  /* fdatasyncs made by applog_sync; under lock */
    bool syncing;    /* a thread is in fdatasync; under lock */
    bool failed;     /* a fdatasync failed: the log refuses everything; under lock */
};

static int
write_all(int fd, const char *text, size_t n)
{
    ssize_t w;

    while (n > 0) {
        w = write(fd, text, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        text += w;
        n -= (size_t) w;
    }
    return 0;
}

/* Reads the file back through replay; cuts a torn last line off. Not shared yet. */
static int
replay_file(applog_t *l, applog_replay_fn replay, void *ctx)
{
    FILE *f = fopen(l->path, "r");
    char *line = NULL;
    size_t cap = 0;
    uint64_t good = 0;
    ssize_t n;
    int rc = 0;

    if (f == NULL)
        return APPLOG_ERR_IO;
    while ((n = getline(&line, &cap, f)) > 0) {
        if (line[n - 1] != '\n')
            break; /* torn: the append never finished */
        line[n - 1] = '\0';
        if (replay(ctx, line, (size_t) n - 1) != 0) {
            if (getline(&line, &cap, f) > 0) /* not the last line: damaged, not torn */
                rc = APPLOG_ERR_DAMAGED;
            break;
        }
        good += (uint64_t) n;
        l->lines++;
    }
    if (rc == 0 && ferror(f))
        rc = APPLOG_ERR_IO;
    free(line);
    fclose(f);
    if (rc == 0 && (ftruncate(l->fd, (off_t) good) != 0 || fdatasync(l->fd) != 0))
        rc = APPLOG_ERR_IO;
    l->size = good;
    return rc;
}

int
applog_open(const char *path, applog_replay_fn replay, void *ctx, applog_t **out)
{
    applog_t *l;
    int rc;

    assert(path != NULL && replay != NULL && out != NULL);
    if (strlen(path) >= PATH_MAX - 8) {
        errno = ENAMETOOLONG;
        return APPLOG_ERR_IO;
    }
    l = calloc(1, sizeof(*l));
    if (l == NULL)
        return APPLOG_ERR_IO;
    snprintf(l->path, sizeof(l->path), "%s", path);
    pthread_mutex_init(&l->lock, NULL);
    pthread_cond_init(&l->synced_cond, NULL);
    l->fd = open(path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (l->fd < 0 || sysio_fsync_dir_of(path) != 0)
        rc = APPLOG_ERR_IO;
    else
        rc = replay_file(l, replay, ctx);
    if (rc != 0) {
        applog_close(l);
        return rc;
    }
    *out = l;
    return 0;
}

void
applog_close(applog_t *l)
{
    if (l == NULL)
        return;
    assert(!l->syncing);
    if (l->fd >= 0)
        close(l->fd);
    pthread_cond_destroy(&l->synced_cond);
    pthread_mutex_destroy(&l->lock);
    free(l);
}

int
applog_append(applog_t *l, const char *line, size_t len, uint64_t *end)
{
    char stack[1024], *buf = stack;
    int rc = -1;

    assert(l != NULL && line != NULL && end != NULL);
    assert(memchr(line, '\n', len) == NULL);
    if (len + 1 > sizeof(stack) && (buf = malloc(len + 1)) == NULL)
        return -1;
    memcpy(buf, line, len);
    buf[len] = '\n';
    pthread_mutex_lock(&l->lock);
    if (!l->failed) {
        if (write_all(l->fd, buf, len + 1) == 0) {
            l->size += len + 1;
            l->written += len + 1;
            l->lines++;
            *end = l->written;
            rc = 0;
        } else if (ftruncate(l->fd, (off_t) l->size) != 0) {
            l->failed = true; /* a partial line stays: nothing more may follow it */
        }
    }
    pthread_mutex_unlock(&l->lock);
    if (buf != stack)
        free(buf);
    return rc;
}

uint64_t
applog_end(applog_t *l)
{
    uint64_t end;

    pthread_mutex_lock(&l->lock);
    end = l->written;
    pthread_mutex_unlock(&l->lock);
    return end;
}

int
applog_sync(applog_t *l, uint64_t end)
{
    uint64_t target;
    int fd, rc = 0;

    assert(l != NULL);
    pthread_mutex_lock(&l->lock);
    assert(end <= l->written);
    while (l->synced < end && rc == 0) {
        if (l->failed) {
            rc = -1;
        } else if (l->syncing) {
            pthread_cond_wait(&l->synced_cond, &l->lock);
        } else {
            /* This thread's turn: one fdatasync covers everything written so far. */
            l->syncing = true;
            target = l->written;
            fd = l->fd;
            pthread_mutex_unlock(&l->lock);
            rc = fdatasync(fd);
            pthread_mutex_lock(&l->lock);
            l->syncing = false;
            l->syncs++;
            if (rc == 0 && target > l->synced)
                l->synced = target;
            else if (rc != 0)
                l->failed = true;
            pthread_cond_broadcast(&l->synced_cond);
        }
    }
    pthread_mutex_unlock(&l->lock);
    return rc == 0 ? 0 : -1;
}

int
applog_needs_compact(applog_t *l, size_t live, size_t floor)
{
    int needs;

    pthread_mutex_lock(&l->lock);
    needs = l->lines >= 2 * live + floor;
    pthread_mutex_unlock(&l->lock);
    return needs;
}

typedef struct {
    FILE *f;
    size_t lines;
} compact_out_t;

static int
emit_line(void *emit_ctx, const char *line, size_t len)
{
    compact_out_t *o = emit_ctx;

    assert(memchr(line, '\n', len) == NULL);
    if (fwrite(line, 1, len, o->f) != len || fputc('\n', o->f) == EOF)
        return -1;
    o->lines++;
    return 0;
}

int
applog_compact(applog_t *l, applog_records_fn records, void *ctx)
{
    char tmp[PATH_MAX + 8];
    compact_out_t o = {NULL, 0};
    struct stat st;
    int fd = -1, dup_fd, ok, rc = -1;

    assert(l != NULL && records != NULL);
    snprintf(tmp, sizeof(tmp), "%s.tmp", l->path);
    pthread_mutex_lock(&l->lock);
    while (l->syncing)
        pthread_cond_wait(&l->synced_cond, &l->lock);
    if (l->failed)
        goto cleanup;
    /* fd stays open on the new file: after the rename it is the log's descriptor. */
    fd = open(tmp, O_RDWR | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0600);
    dup_fd = fd >= 0 ? dup(fd) : -1;
    o.f = dup_fd >= 0 ? fdopen(dup_fd, "a") : NULL;
    if (o.f == NULL) {
        if (dup_fd >= 0)
            close(dup_fd);
        goto cleanup;
    }
    ok = records(ctx, emit_line, &o) == 0 && fflush(o.f) == 0 && fsync(fd) == 0 &&
         fstat(fd, &st) == 0;
    if (fclose(o.f) != 0 || !ok || rename(tmp, l->path) != 0) {
        unlink(tmp);
        goto cleanup;
    }
    close(l->fd);
    l->fd = fd;
    fd = -1;
    l->size = (uint64_t) st.st_size;
    l->lines = o.lines;
    if (sysio_fsync_dir_of(l->path) != 0) {
        l->failed = true; /* the rename may not last: what was appended before is not known durable */
        goto cleanup;
    }
    l->synced = l->written; /* every record appended before is in the new file, durably */
    pthread_cond_broadcast(&l->synced_cond);
    rc = 0;
cleanup:
    if (fd >= 0)
        close(fd);
    pthread_mutex_unlock(&l->lock);
    return rc;
}

void
applog_counts(applog_t *l, size_t *lines, uint64_t *syncs)
{
    pthread_mutex_lock(&l->lock);
    if (lines != NULL)
        *lines = l->lines;
    if (syncs != NULL)
        *syncs = l->syncs;
    pthread_mutex_unlock(&l->lock);
}
