/*
 * export.c: the verbs that write what they fetch to a file: `usage export` and `backup`.
 *
 *   wapctl usage export --out FILE [--ack] [--limit N]
 *   wapctl backup --out FILE
 *
 * usage export appends each record of GET /v1/admin/usage to FILE as one JSON line, as the API returns it, and
 * keeps its place in FILE.cursor: {"cursor": C, "length": L}, where L is FILE's length once every record
 * before cursor C was written. The invariant: FILE's first L bytes hold every record up to C, each once, and
 * nothing past L counts. So each page goes: records appended and fsynced, then FILE.cursor replaced (written
 * to FILE.cursor.tmp, fsynced, renamed, the directory fsynced); a run starts by cutting FILE back to L. A kill
 * at any moment leaves either the old {C, L} (the records past L are cut and fetched again) or the new one
 * (they stay): every record appears exactly once, whatever the kill point. The first run records FILE's
 * length as it found it (0 when absent) before it fetches anything, so lines already there are kept. An
 * exclusive lock on FILE keeps two exports from writing it at once. With --ack, the saved cursor (never one
 * ahead of what is on disk) is acknowledged after it is saved, so wapd may purge what FILE holds.
 *
 * backup streams GET /v1/admin/backup into FILE.tmp, checks that it is an SQLite database, fsyncs it and
 * renames it to FILE: FILE is either the previous one or a complete copy, never a partial download.
 */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>

#include "wapctl.h"

#define EXPORT_LIMIT_MAX 1000
#define CURSOR_MAX 512

typedef struct {
    const char *out; /* FILE (borrowed from argv) */
    bool ack;
    int limit;       /* records per request */
} export_args_t;

/* Where an export stands: FILE's records up to cursor end at length. */
typedef struct {
    char cursor[CURSOR_MAX]; /* "" before the first record */
    long long length;
} export_mark_t;

/* Reads "--name VALUE" or "--name=VALUE" at argv[*i]; advances *i past it. Returns the value, or NULL when
 * argv[*i] is not that option (or its value is missing, which sets *missing). */
static const char *
option_value(int argc, char **argv, int *i, const char *name, bool *missing)
{
    size_t n = strlen(name);
    const char *arg = argv[*i];

    assert(argv != NULL && i != NULL && name != NULL && missing != NULL);
    if (strncmp(arg, name, n) != 0)
        return NULL;
    if (arg[n] == '=')
        return arg + n + 1;
    if (arg[n] != '\0')
        return NULL;
    if (*i + 1 >= argc) {
        *missing = true;
        return NULL;
    }
    *i += 1;
    return argv[*i];
}

/* Parses the verb's arguments: --out FILE, and --ack and --limit N when allow_more (usage export). Prints why
 * and returns WAPCTL_USAGE when they are bad. */
static int
args_parse(const char *verb, int argc, char **argv, bool allow_more, export_args_t *a)
{
    const char *v;
    char *end;
    bool missing = false;
    long n;
    int i;

    assert(verb != NULL && a != NULL && (argc == 0 || argv != NULL));
    memset(a, 0, sizeof(*a));
    a->limit = EXPORT_LIMIT_MAX;
    for (i = 0; i < argc; i++) {
        if ((v = option_value(argc, argv, &i, "--out", &missing)) != NULL) {
            a->out = v;
        } else if (allow_more && strcmp(argv[i], "--ack") == 0) {
            a->ack = true;
        } else if (allow_more && (v = option_value(argc, argv, &i, "--limit", &missing)) != NULL) {
            errno = 0;
            n = strtol(v, &end, 10);
            if (errno != 0 || end == v || *end != '\0' || n < 1 || n > EXPORT_LIMIT_MAX) {
                fprintf(stderr, "wapctl: %s: --limit must be a whole number from 1 to %d\n", verb,
                        EXPORT_LIMIT_MAX);
                return WAPCTL_USAGE;
            }
            a->limit = (int) n;
        } else {
            fprintf(stderr, "wapctl: %s: %s '%s'\n", verb, missing ? "no value for" : "unknown argument",
                    argv[i]);
            return WAPCTL_USAGE;
        }
    }
    if (a->out == NULL || a->out[0] == '\0') {
        fprintf(stderr, "wapctl: %s: --out FILE is required\n", verb);
        return WAPCTL_USAGE;
    }
    return WAPCTL_OK;
}

/* fsyncs the directory that holds path, so that a rename into it is durable. */
static int
dir_sync(const char *path)
{
    char *copy = strdup(path);
    int fd = -1, rc = -1;

    if (copy == NULL)
        return -1;
    fd = open(dirname(copy), O_RDONLY | O_DIRECTORY);
    if (fd >= 0 && fsync(fd) == 0)
        rc = 0;
    if (fd >= 0)
        close(fd);
    free(copy);
    return rc;
}

/* Writes all of buf to fd. */
static int
write_all(int fd, const char *buf, size_t len)
{
    ssize_t n;

    while (len > 0) {
        n = write(fd, buf, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        buf += n;
        len -= (size_t) n;
    }
    return 0;
}

/* Replaces path with text, durably: path.tmp written and fsynced, renamed over path, the directory fsynced.
 * A kill at any moment leaves path either as it was or as text. */
static int
file_replace(const char *path, const char *text)
{
    char tmp[4096];
    int fd, rc = -1;

    assert(path != NULL && text != NULL);
    if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int) sizeof(tmp))
        return -1;
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return -1;
    if (write_all(fd, text, strlen(text)) == 0 && fsync(fd) == 0)
        rc = 0;
    if (close(fd) != 0)
        rc = -1;
    if (rc == 0 && rename(tmp, path) != 0)
        rc = -1;
    if (rc == 0)
        rc = dir_sync(path);
    return rc;
}

/* Reads FILE.cursor into *m. Returns 1 when it exists, 0 when it does not, -1 (a message on stderr) when it
 * cannot be read or is not one wapctl wrote. */
static int
mark_load(const char *path, export_mark_t *m)
{
    json_error_t jerr;
    json_t *doc;
    const char *cursor = NULL;
    json_int_t length = -1;
    int rc = -1;

    assert(path != NULL && m != NULL);
    doc = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
    if (doc == NULL && access(path, F_OK) != 0 && errno == ENOENT)
        return 0;
    if (json_unpack(doc, "{s:s, s:I}", "cursor", &cursor, "length", &length) == 0 && length >= 0 &&
        strlen(cursor) < sizeof(m->cursor)) {
        snprintf(m->cursor, sizeof(m->cursor), "%s", cursor);
        m->length = length;
        rc = 1;
    } else {
        fprintf(stderr, "wapctl: usage export: %s is not a cursor file of wapctl usage export\n", path);
    }
    json_decref(doc);
    return rc;
}

/* Saves *m as FILE.cursor, durably (see file_replace). */
static int
mark_save(const char *path, const export_mark_t *m)
{
    json_t *doc = json_pack("{s:s, s:I}", "cursor", m->cursor, "length", (json_int_t) m->length);
    char *text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
    int rc = text ? file_replace(path, text) : -1;

    if (rc != 0)
        fprintf(stderr, "wapctl: usage export: cannot save %s: %s\n", path, strerror(errno));
    free(text);
    json_decref(doc);
    return rc;
}

/* Opens FILE for appending and locks it, then reads FILE.cursor into *m (under the lock, so that a run
 * that just ended is seen whole) and cuts FILE back to m->length, the end of the records its cursor covers;
 * when no cursor was saved yet, first records FILE's length as it stands. Returns the fd, or -1 with a
 * message on stderr. */
static int
out_open(const char *out, const char *mark_path, export_mark_t *m)
{
    struct stat sb;
    int fd, ok = 0, had_mark;

    assert(out != NULL && mark_path != NULL && m != NULL);
    fd = open(out, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (fd < 0) {
        fprintf(stderr, "wapctl: usage export: cannot open %s: %s\n", out, strerror(errno));
        return -1;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        fprintf(stderr, "wapctl: usage export: %s is being written by another wapctl usage export\n", out);
        goto cleanup;
    }
    if ((had_mark = mark_load(mark_path, m)) < 0)
        goto cleanup;
    if (fstat(fd, &sb) != 0) {
        fprintf(stderr, "wapctl: usage export: %s: %s\n", out, strerror(errno));
        goto cleanup;
    }
    if (!had_mark) {
        m->cursor[0] = '\0';
        m->length = (long long) sb.st_size;
        ok = mark_save(mark_path, m) == 0;
    } else if ((long long) sb.st_size < m->length) {
        fprintf(stderr, "wapctl: usage export: %s is shorter than %s says (%lld bytes); it was changed "
                        "outside wapctl, so the export cannot go on\n", out, mark_path, m->length);
    } else if ((long long) sb.st_size > m->length &&
               (ftruncate(fd, (off_t) m->length) != 0 || fsync(fd) != 0)) {
        /* (Records written after the saved cursor by a run that was stopped are cut: fetched again.) */
        fprintf(stderr, "wapctl: usage export: cannot cut %s back: %s\n", out, strerror(errno));
    } else {
        ok = 1;
    }
cleanup:
    if (!ok) {
        close(fd);
        fd = -1;
    }
    return fd;
}

/* Appends the records of one page (value, an array) to fd as JSON lines, then fsyncs. Returns the bytes
 * written, or -1. */
static long long
page_append(int fd, const json_t *value)
{
    const json_t *rec;
    char *line;
    size_t i, len;
    long long total = 0;

    assert(fd >= 0 && json_is_array(value));
    json_array_foreach(value, i, rec) {
        line = json_dumps(rec, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY);
        if (line == NULL)
            return -1;
        len = strlen(line);
        line[len] = '\n'; /* json_dumps leaves room for the terminating NUL: that byte is ours */
        if (write_all(fd, line, len + 1) != 0) {
            free(line);
            return -1;
        }
        free(line);
        total += (long long) len + 1;
    }
    if (total > 0 && fsync(fd) != 0)
        return -1;
    return total;
}

/* Fetches one page after m->cursor, appends it to fd and saves the new mark. Sets *count to the records it
 * held. Returns a WAPCTL_* status. */
static int
export_page(const wapctl_t *c, const export_args_t *a, int fd, const char *mark_path, export_mark_t *m,
            size_t *count)
{
    char path[3 * CURSOR_MAX + 64], *escaped;
    wapctl_reply_t reply = {0};
    const json_t *value;
    const char *next;
    long long written;
    int rc;

    assert(c != NULL && a != NULL && fd >= 0 && m != NULL && count != NULL);
    if ((escaped = curl_easy_escape(NULL, m->cursor, 0)) == NULL)
        return WAPCTL_CONNECT;
    snprintf(path, sizeof(path), "/v1/admin/usage?limit=%d%s%s", a->limit, m->cursor[0] ? "&after=" : "",
             escaped);
    curl_free(escaped);
    rc = wapctl_request(c, "GET", path, NULL, NULL, &reply);
    if (rc != WAPCTL_OK)
        goto cleanup;
    if (reply.status >= 400) {
        rc = wapctl_fail(&reply);
        goto cleanup;
    }
    value = json_object_get(reply.body, "value");
    next = json_string_value(json_object_get(reply.body, "nextCursor"));
    if (reply.status != 200 || !json_is_array(value) || next == NULL || strlen(next) >= CURSOR_MAX) {
        fprintf(stderr, "wapctl: usage export: unexpected answer (HTTP %ld) from %s\n", reply.status, path);
        rc = WAPCTL_API;
        goto cleanup;
    }
    *count = json_array_size(value);
    if ((written = page_append(fd, value)) < 0) {
        fprintf(stderr, "wapctl: usage export: cannot write %s: %s\n", a->out, strerror(errno));
        rc = WAPCTL_API;
        goto cleanup;
    }
    /* Only now, with the records on disk, does the mark move. */
    if (written > 0 || strcmp(next, m->cursor) != 0) {
        m->length += written;
        snprintf(m->cursor, sizeof(m->cursor), "%s", next);
        if (mark_save(mark_path, m) != 0)
            rc = WAPCTL_API;
    }
cleanup:
    wapctl_reply_free(&reply);
    return rc;
}

/* POSTs /v1/admin/usage/ack with the saved cursor. Returns a WAPCTL_* status. */
static int
export_ack(const wapctl_t *c, const char *cursor)
{
    wapctl_reply_t reply = {0};
    json_t *body = json_pack("{s:s}", "cursor", cursor);
    int rc;

    assert(c != NULL && cursor != NULL && cursor[0] != '\0');
    rc = wapctl_request(c, "POST", "/v1/admin/usage/ack", body, NULL, &reply);
    if (rc == WAPCTL_OK && reply.status >= 300)
        rc = wapctl_fail(&reply);
    wapctl_reply_free(&reply);
    json_decref(body);
    return rc;
}

/* Prints doc (taken) as indented JSON on stdout. */
static void
print_doc(json_t *doc)
{
    if (doc != NULL && json_dumpf(doc, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER) == 0)
        printf("\n");
    json_decref(doc);
}

/* Tells what the export did, per c->output. */
static void
export_report(const wapctl_t *c, const char *out, const export_mark_t *m, size_t total, bool acked)
{
    if (c->output == WAPCTL_OUT_JSON) {
        print_doc(json_pack("{s:s, s:I, s:s, s:b}", "file", out, "records", (json_int_t) total, "cursor",
                             m->cursor, "acknowledged", acked));
    } else {
        printf("%zu record%s appended to %s%s\n", total, total == 1 ? "" : "s", out,
               acked ? " (acknowledged)" : "");
    }
}

int
wapctl_usage_export(const wapctl_t *c, int argc, char **argv)
{
    char mark_path[4096];
    export_args_t a;
    export_mark_t m = {{0}, 0};
    size_t total = 0, count;
    int rc, fd = -1;

    assert(c != NULL && argc >= 0);
    if ((rc = args_parse("usage export", argc, argv, true, &a)) != WAPCTL_OK)
        return rc;
    if (snprintf(mark_path, sizeof(mark_path), "%s.cursor", a.out) >= (int) sizeof(mark_path) - 4) {
        fprintf(stderr, "wapctl: usage export: the path %s is too long\n", a.out);
        return WAPCTL_USAGE;
    }
    rc = WAPCTL_API;
    if ((fd = out_open(a.out, mark_path, &m)) < 0)
        goto cleanup;
    do {
        count = 0;
        rc = export_page(c, &a, fd, mark_path, &m, &count);
        total += count;
    } while (rc == WAPCTL_OK && count == (size_t) a.limit);
    if (rc == WAPCTL_OK && a.ack && m.cursor[0] != '\0')
        rc = export_ack(c, m.cursor);
    if (rc == WAPCTL_OK)
        export_report(c, a.out, &m, total, a.ack && m.cursor[0] != '\0');
cleanup:
    if (fd >= 0)
        close(fd);
    return rc;
}

/* True when the file at fd (read from its start) begins as every SQLite database does. */
static bool
is_sqlite(int fd)
{
    static const char magic[16] = "SQLite format 3";
    char head[16];

    return pread(fd, head, sizeof(head), 0) == (ssize_t) sizeof(head) &&
           memcmp(head, magic, sizeof(head)) == 0;
}

int
wapctl_backup(const wapctl_t *c, int argc, char **argv)
{
    char tmp[4096];
    export_args_t a;
    struct stat sb;
    FILE *f = NULL;
    int rc, fd = -1;

    assert(c != NULL && argc >= 0);
    if ((rc = args_parse("backup", argc, argv, false, &a)) != WAPCTL_OK)
        return rc;
    if (snprintf(tmp, sizeof(tmp), "%s.tmp", a.out) >= (int) sizeof(tmp)) {
        fprintf(stderr, "wapctl: backup: the path %s is too long\n", a.out);
        return WAPCTL_USAGE;
    }
    rc = WAPCTL_API;
    fd = open(tmp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0 || (f = fdopen(fd, "w+")) == NULL) {
        fprintf(stderr, "wapctl: backup: cannot create %s: %s\n", tmp, strerror(errno));
        goto cleanup;
    }
    if ((rc = wapctl_download(c, "/v1/admin/backup", f)) != WAPCTL_OK)
        goto cleanup;
    rc = WAPCTL_API;
    if (fflush(f) != 0 || fsync(fd) != 0 || fstat(fd, &sb) != 0) {
        fprintf(stderr, "wapctl: backup: cannot write %s: %s\n", tmp, strerror(errno));
    } else if (!is_sqlite(fd)) {
        fprintf(stderr, "wapctl: backup: the answer is not an SQLite database; %s is left as it was\n",
                a.out);
    } else if (rename(tmp, a.out) != 0 || dir_sync(a.out) != 0) {
        fprintf(stderr, "wapctl: backup: cannot rename %s to %s: %s\n", tmp, a.out, strerror(errno));
    } else {
        rc = WAPCTL_OK;
    }
cleanup:
    if (f != NULL)
        fclose(f);
    else if (fd >= 0)
        close(fd);
    if (rc != WAPCTL_OK) {
        unlink(tmp);
    } else if (c->output == WAPCTL_OUT_JSON) {
        print_doc(json_pack("{s:s, s:I}", "file", a.out, "bytes", (json_int_t) sb.st_size));
    } else {
        printf("backup of %lld bytes written to %s\n", (long long) sb.st_size, a.out);
    }
    return rc;
}
