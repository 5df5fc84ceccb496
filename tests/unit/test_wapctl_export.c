/*
 * Unit tests of wapctl's export.c (usage export, backup) against a fake admin API: the request functions of
 * wapctl.h are replaced here by a feed of numbered records held in memory. The file calls export.c makes
 * (write, fsync, rename, ftruncate) go through counters, so that a child process can be killed (_exit) at
 * the Nth of them, in the middle of a write too: whatever the kill point, the next run leaves every record in
 * the file exactly once, in the feed's order, and never acknowledges a cursor ahead of the file.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

/* ---- kill points: the Nth file call made by export.c ends the process (0: never) ---- */

static int fault_at, fault_calls;

static void
fault_point(void)
{
    if (fault_at > 0 && ++fault_calls == fault_at)
        _exit(9);
}

static ssize_t
t_write(int fd, const void *buf, size_t n)
{
    if (fault_at > 0 && fault_calls + 1 == fault_at && n > 1) {
        if (write(fd, buf, n / 2) < 0) /* a torn write, then the kill */
            _exit(10);
        _exit(9);
    }
    fault_point();
    return write(fd, buf, n);
}

static int
t_fsync(int fd)
{
    fault_point();
    return fsync(fd);
}

static int
t_rename(const char *from, const char *to)
{
    fault_point();
    return rename(from, to);
}

static int
t_ftruncate(int fd, off_t len)
{
    fault_point();
    return ftruncate(fd, len);
}

#define write t_write
#define fsync t_fsync
#define rename t_rename
#define ftruncate t_ftruncate
#include "../../daemon/wapctl/export.c"
#undef write
#undef fsync
#undef rename
#undef ftruncate

/* ---- the fake admin API ---- */

static int feed_len;          /* records 0 .. feed_len-1 exist */
static int acked = -1;        /* the last cursor acknowledged (a record count), -1 none */
static char ack_log[160];     /* each acknowledged cursor is appended here too (children report through it) */
static long fail_status;      /* when set, GET /usage answers this error status */
static const char *download;  /* what GET /v1/admin/backup answers (NULL: a 500) */
static size_t download_len;

int
wapctl_request(const wapctl_t *c, const char *method, const char *path, const json_t *body,
               const char *if_match, wapctl_reply_t *reply)
{
    const char *after, *lim;
    json_t *value;
    int from = 0, limit, i;
    char next[32];

    (void) c;
    (void) if_match;
    memset(reply, 0, sizeof(*reply));
    if (strcmp(method, "POST") == 0 && strcmp(path, "/v1/admin/usage/ack") == 0) {
        FILE *log;

        assert_int_equal(sscanf(json_string_value(json_object_get(body, "cursor")), "c%d", &acked), 1);
        assert_non_null(log = fopen(ack_log, "a"));
        fprintf(log, "%d\n", acked);
        fclose(log);
        reply->status = 204;
        return WAPCTL_OK;
    }
    assert_string_equal(method, "GET");
    assert_true(strncmp(path, "/v1/admin/usage?", 16) == 0);
    if (fail_status) {
        reply->status = fail_status;
        reply->body = json_pack("{s:{s:s, s:s}}", "error", "code", "InternalError", "message", "Broken.");
        return WAPCTL_OK;
    }
    assert_non_null(lim = strstr(path, "limit="));
    limit = atoi(lim + 6);
    if ((after = strstr(path, "after=c")) != NULL) {
        assert_null(strpbrk(after + 6, "+/=")); /* the cursor is escaped in the query */
        from = atoi(after + 7);
    }
    value = json_array();
    for (i = from; i < feed_len && i < from + limit; i++)
        json_array_append_new(value, json_pack("{s:s, s:s, s:f, s:i, s:{s:s}}", "id", "rec", "meter",
                                               "compute.hours", "quantity", 0.5, "n", i, "properties",
                                               "size", "Small"));
    snprintf(next, sizeof(next), "c%d+/=", i); /* characters a query string must escape */
    reply->status = 200;
    reply->body = json_pack("{s:o, s:s}", "value", value, "nextCursor", next);
    return WAPCTL_OK;
}

void
wapctl_reply_free(wapctl_reply_t *reply)
{
    json_decref(reply->body);
    free(reply->etag);
    free(reply->location);
    memset(reply, 0, sizeof(*reply));
}

int
wapctl_fail(const wapctl_reply_t *reply)
{
    assert_true(reply->status >= 400);
    return WAPCTL_API;
}

int
wapctl_download(const wapctl_t *c, const char *path, FILE *out)
{
    (void) c;
    assert_string_equal(path, "/v1/admin/backup");
    if (download == NULL)
        return WAPCTL_API;
    assert_int_equal(fwrite(download, 1, download_len, out), download_len);
    return WAPCTL_OK;
}

/* ---- helpers ---- */

typedef struct {
    char dir[64];
    char out[128];
    char mark[160];
} world_t;

static int
setup(void **state)
{
    world_t *w = calloc(1, sizeof(*w));

    snprintf(w->dir, sizeof(w->dir), "/tmp/wapctl-export-XXXXXX");
    assert_non_null(mkdtemp(w->dir));
    snprintf(w->out, sizeof(w->out), "%s/usage.jsonl", w->dir);
    snprintf(w->mark, sizeof(w->mark), "%s.cursor", w->out);
    snprintf(ack_log, sizeof(ack_log), "%s/acks", w->dir);
    feed_len = 0;
    acked = -1;
    fail_status = 0;
    fault_at = fault_calls = 0;
    *state = w;
    return 0;
}

static int
teardown(void **state)
{
    world_t *w = *state;
    char cmd[128];

    snprintf(cmd, sizeof(cmd), "rm -rf %s", w->dir);
    assert_int_equal(system(cmd), 0);
    free(w);
    return 0;
}

static const wapctl_t quiet = {NULL, NULL, NULL, WAPCTL_OUT_TABLE, false};

/* Runs `usage export --out FILE` with extra arguments (NULL-terminated). */
static int
run_export(const world_t *w, ...)
{
    char *argv[8] = {"--out", (char *) w->out};
    int argc = 2, rc;
    va_list ap;
    FILE *saved = stdout;

    va_start(ap, w);
    while ((argv[argc] = va_arg(ap, char *)) != NULL)
        argc++;
    va_end(ap);
    stdout = fopen("/dev/null", "w");
    rc = wapctl_usage_export(&quiet, argc, argv);
    fclose(stdout);
    stdout = saved;
    return rc;
}

/* Asserts that FILE holds records 0 .. n-1, each once and in order. */
static void
assert_records(const world_t *w, int n)
{
    char line[512];
    FILE *f = fopen(w->out, "r");
    json_t *rec;
    int i = 0;

    assert_non_null(f);
    while (fgets(line, sizeof(line), f)) {
        rec = json_loads(line, 0, NULL);
        assert_non_null(rec);
        assert_int_equal(json_integer_value(json_object_get(rec, "n")), i);
        assert_string_equal(json_string_value(json_object_get(rec, "id")), "rec");
        json_decref(rec);
        i++;
    }
    fclose(f);
    assert_int_equal(i, n);
}

/* The record count of the cursor saved in FILE.cursor (0 before the first). */
static int
saved_cursor(const world_t *w)
{
    json_t *doc = json_load_file(w->mark, 0, NULL);
    const char *cursor = json_string_value(json_object_get(doc, "cursor"));
    int n = 0;

    if (cursor != NULL && cursor[0] != '\0')
        assert_int_equal(sscanf(cursor, "c%d", &n), 1);
    json_decref(doc);
    return n;
}

/* The last cursor acknowledged according to the log at path, or -1. */
static int
last_ack(const char *path)
{
    FILE *f = fopen(path, "r");
    int n = -1, v;

    while (f != NULL && fscanf(f, "%d", &v) == 1)
        n = v;
    if (f != NULL)
        fclose(f);
    return n;
}

/* ---- tests ---- */

static void
appends_only_newer_records(void **state)
{
    world_t *w = *state;

    feed_len = 7;
    assert_int_equal(run_export(w, "--limit", "3", NULL), WAPCTL_OK);
    assert_records(w, 7);
    feed_len = 12;
    assert_int_equal(run_export(w, NULL), WAPCTL_OK);
    assert_records(w, 12);
    assert_int_equal(run_export(w, NULL), WAPCTL_OK); /* nothing new: nothing appended */
    assert_records(w, 12);
    assert_int_equal(acked, -1); /* acknowledged only when asked */
}

static void
kill_at_any_point_keeps_every_record_once(void **state)
{
    world_t *w = *state;
    int n, status, survivors = 0;
    pid_t pid;

    for (n = 1; survivors < 2; n++) {
        feed_len += 7; /* more periods closed since the last run: three pages of 3 */
        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            fault_at = n;
            _exit(run_export(w, "--limit", "3", "--ack", NULL));
        }
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFEXITED(status));
        if (WEXITSTATUS(status) == 0)
            survivors++; /* n is past the last file call: the run ended on its own */
        else
            assert_int_equal(WEXITSTATUS(status), 9);
        /* The acknowledged cursor never runs ahead of the saved one. */
        assert_true(last_ack(ack_log) <= saved_cursor(w));
        assert_int_equal(run_export(w, "--limit", "3", NULL), WAPCTL_OK);
        assert_records(w, feed_len);
    }
    assert_true(n > 20); /* the loop went through every write, fsync, rename and truncate of a run */
}

static void
ack_sends_the_saved_cursor(void **state)
{
    world_t *w = *state;

    feed_len = 5;
    assert_int_equal(run_export(w, "--ack", "--limit", "2", NULL), WAPCTL_OK);
    assert_int_equal(acked, 5);
    assert_records(w, 5);
}

static void
lines_already_there_are_kept(void **state)
{
    world_t *w = *state;
    FILE *f = fopen(w->out, "w");
    struct stat sb;

    assert_non_null(f);
    fputs("{\"kept\": true}\n", f);
    fclose(f);
    feed_len = 2;
    assert_int_equal(run_export(w, NULL), WAPCTL_OK);
    assert_int_equal(stat(w->out, &sb), 0);
    f = fopen(w->out, "r");
    assert_non_null(f);
    {
        char line[256];

        assert_non_null(fgets(line, sizeof(line), f));
        assert_string_equal(line, "{\"kept\": true}\n");
        assert_non_null(fgets(line, sizeof(line), f));
        assert_non_null(strstr(line, "\"n\":0"));
    }
    fclose(f);
}

static void
a_file_cut_short_outside_stops_the_export(void **state)
{
    world_t *w = *state;

    feed_len = 4;
    assert_int_equal(run_export(w, NULL), WAPCTL_OK);
    assert_int_equal(truncate(w->out, 10), 0);
    feed_len = 6;
    assert_int_equal(run_export(w, NULL), WAPCTL_API);
    assert_int_equal(unlink(w->mark), 0);
    assert_int_equal(run_export(w, NULL), WAPCTL_OK); /* without a cursor: a new export, from the start */
}

static void
an_error_answer_changes_nothing(void **state)
{
    world_t *w = *state;
    char before[256], after[256];
    FILE *f;

    feed_len = 3;
    assert_int_equal(run_export(w, NULL), WAPCTL_OK);
    f = fopen(w->mark, "r");
    assert_non_null(fgets(before, sizeof(before), f));
    fclose(f);
    feed_len = 5;
    fail_status = 500;
    assert_int_equal(run_export(w, "--ack", NULL), WAPCTL_API);
    f = fopen(w->mark, "r");
    assert_non_null(fgets(after, sizeof(after), f));
    fclose(f);
    assert_string_equal(before, after);
    assert_records(w, 3);
    assert_int_equal(acked, -1);
}

static void
bad_arguments_are_usage_errors(void **state)
{
    world_t *w = *state;
    char *none[] = {NULL};
    char *unknown[] = {"--out", w->out, "--bogus"};
    char *no_value[] = {"--out"};
    char *ack_on_backup[] = {"--out", w->out, "--ack"};

    assert_int_equal(wapctl_usage_export(&quiet, 0, none), WAPCTL_USAGE);
    assert_int_equal(wapctl_usage_export(&quiet, 3, unknown), WAPCTL_USAGE);
    assert_int_equal(wapctl_usage_export(&quiet, 1, no_value), WAPCTL_USAGE);
    assert_int_equal(run_export(w, "--limit", "0", NULL), WAPCTL_USAGE);
    assert_int_equal(run_export(w, "--limit", "1001", NULL), WAPCTL_USAGE);
    assert_int_equal(run_export(w, "--limit=x", NULL), WAPCTL_USAGE);
    assert_int_equal(wapctl_backup(&quiet, 0, none), WAPCTL_USAGE);
    assert_int_equal(wapctl_backup(&quiet, 3, ack_on_backup), WAPCTL_USAGE);
    assert_int_equal(access(w->out, F_OK), -1); /* nothing was created */
}

static int
run_backup(const world_t *w)
{
    char *argv[] = {"--out", (char *) w->out};
    FILE *saved = stdout;
    int rc;

    stdout = fopen("/dev/null", "w");
    rc = wapctl_backup(&quiet, 2, argv);
    fclose(stdout);
    stdout = saved;
    return rc;
}

static void
backup_replaces_the_file_only_with_a_database(void **state)
{
    world_t *w = *state;
    static const char db[32] = "SQLite format 3\0database pages";
    char tmp[160], head[16];
    FILE *f;

    snprintf(tmp, sizeof(tmp), "%s.tmp", w->out);
    download = db;
    download_len = sizeof(db);
    assert_int_equal(run_backup(w), WAPCTL_OK);
    f = fopen(w->out, "r");
    assert_non_null(f);
    assert_int_equal(fread(head, 1, sizeof(head), f), sizeof(head));
    fclose(f);
    assert_memory_equal(head, db, sizeof(head));
    assert_int_equal(access(tmp, F_OK), -1);

    download = "<html>not a database</html>";
    download_len = strlen(download);
    assert_int_equal(run_backup(w), WAPCTL_API);
    download = NULL; /* an error answer */
    assert_int_equal(run_backup(w), WAPCTL_API);
    f = fopen(w->out, "r"); /* the earlier backup is still there, whole */
    assert_non_null(f);
    assert_int_equal(fread(head, 1, sizeof(head), f), sizeof(head));
    fclose(f);
    assert_memory_equal(head, db, sizeof(head));
    assert_int_equal(access(tmp, F_OK), -1);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(appends_only_newer_records, setup, teardown),
        cmocka_unit_test_setup_teardown(kill_at_any_point_keeps_every_record_once, setup, teardown),
        cmocka_unit_test_setup_teardown(ack_sends_the_saved_cursor, setup, teardown),
        cmocka_unit_test_setup_teardown(lines_already_there_are_kept, setup, teardown),
        cmocka_unit_test_setup_teardown(a_file_cut_short_outside_stops_the_export, setup, teardown),
        cmocka_unit_test_setup_teardown(an_error_answer_changes_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(bad_arguments_are_usage_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(backup_replaces_the_file_only_with_a_database, setup, teardown),
    };

    return cmocka_run_group_tests_name("wapctl_export", tests, NULL, NULL);
}
