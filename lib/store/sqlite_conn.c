/*
 * sqlite_conn.c: the SQLite backend's connections: opening the database, one connection per thread with
 * its cache of prepared statements, errors mapped to the store's, and the database checks.
 *
 * Invariants:
 * - WAL journal, synchronous=FULL, foreign keys on: a COMMIT that returned is on disk, so an answer sent
 *   after it survives kill -9 and power loss.
 * - A connection is used by one thread at a time (the neutral layer keeps one per thread for reads; the
 *   store's one writer connection is used only by the holder of the write gate), so it is opened without
 *   SQLite's own mutexes.
 * - Page caches: READER_CACHE_KIB per thread's connection, WRITER_CACHE_KIB for the writer, which every
 *   write transaction shares; temporary tables and indices stay in memory.
 * - Statements are cached by their SQL text, reset after every use, and finalized only when their
 *   connection closes.
 * - The database file is the owner's alone (0600, made so before SQLite first opens it), and so are its
 *   WAL and shared-memory files, which SQLite creates with the database file's permissions.
 */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backend_util.h"
#include "sqlite.h"

bool
sqlite__full(sqlite3 *db, int rc)
{
    int ext = db ? sqlite3_extended_errcode(db) : rc;
    int sys = db ? sqlite3_system_errno(db) : 0;

    if ((rc & 0xff) == SQLITE_FULL || (ext & 0xff) == SQLITE_FULL)
        return true;
    /* A write or fsync of the WAL, or the growth of its index, that failed for lack of space. The system
     * errno is the last failed OS call's, so it is trusted only for the I/O errors that writing makes. */
    if (ext != SQLITE_IOERR_WRITE && ext != SQLITE_IOERR_FSYNC && ext != SQLITE_IOERR_TRUNCATE &&
        ext != SQLITE_IOERR_SHMSIZE && ext != SQLITE_IOERR_DIR_FSYNC)
        return false;
    return sys == ENOSPC || sys == EDQUOT;
}

int
sqlite__db_err(sqlite3 *db, int rc, const char *doing, err_t *err)
{
    int ext = db ? sqlite3_extended_errcode(db) : rc;

    if (sqlite__full(db, rc)) {
        fprintf(stderr,
                "{\"level\":\"error\",\"msg\":\"the database's disk is full\",\"doing\":\"%s\","
                "\"code\":%d}\n",
                doing, ext);
        return err_set(err, ERR_INSUFFICIENT_STORAGE, NULL,
                       "The database has no space left to record the change; retry the request later.");
    }
    if (ext == SQLITE_CONSTRAINT_UNIQUE || ext == SQLITE_CONSTRAINT_PRIMARYKEY)
        return err_set(err, ERR_CONFLICT, NULL, "A record with the same unique value already exists.");
    if (ext == SQLITE_CONSTRAINT_FOREIGNKEY)
        return err_set(err, ERR_CONFLICT, NULL,
                       "The change conflicts with records that refer to, or are referred by, it.");
    if ((rc & 0xff) == SQLITE_BUSY || (rc & 0xff) == SQLITE_LOCKED)
        return err_set(err, ERR_UNAVAILABLE, NULL, "The database is busy; retry the request.");
    fprintf(stderr,
            "{\"level\":\"error\",\"msg\":\"database error\",\"doing\":\"%s\",\"code\":%d,"
            "\"detail\":\"%s\"}\n",
            doing, ext, db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
    return err_set(err, ERR_INTERNAL, NULL, "The database failed while %s.", doing);
}

int
sqlite__exec(store_conn_t *c, const char *sql, err_t *err)
{
    int rc = sqlite3_exec(c->db, sql, NULL, NULL, NULL);

    if (rc != SQLITE_OK)
        return sqlite__db_err(c->db, rc, "running a statement", err);
    return 0;
}

int
sqlite__run(store_conn_t *c, const char *sql, err_t *err)
{
    sqlite3_stmt *s = sqlite__stmt(c, sql, err);
    int rc;

    if (s == NULL)
        return -1;
    rc = sqlite3_step(s);
    sqlite__stmt_done(s);
    if (rc != SQLITE_DONE && rc != SQLITE_ROW)
        return sqlite__db_err(c->db, rc, "running a statement", err);
    return 0;
}

sqlite3_stmt *
sqlite__stmt(store_conn_t *c, const char *sql, err_t *err)
{
    unsigned b = store__sql_hash(sql) % STMT_BUCKETS;
    stmt_entry_t *e;
    sqlite3_stmt *s = NULL;
    int rc;

    for (e = c->buckets[b]; e; e = e->next)
        if (strcmp(e->sql, sql) == 0)
            return e->stmt;
    rc = sqlite3_prepare_v3(c->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &s, NULL);
    if (rc != SQLITE_OK) {
        sqlite__db_err(c->db, rc, "preparing a statement", err);
        return NULL;
    }
    e = malloc(sizeof(*e));
    if (e == NULL || (e->sql = strdup(sql)) == NULL) {
        free(e);
        sqlite3_finalize(s);
        err_set(err, ERR_INTERNAL, NULL, "Out of memory.");
        return NULL;
    }
    e->stmt = s;
    e->next = c->buckets[b];
    c->buckets[b] = e;
    return s;
}

void
sqlite__stmt_done(sqlite3_stmt *s)
{
    if (s) {
        sqlite3_reset(s);
        sqlite3_clear_bindings(s);
    }
}

int
sqlite__stmt_run(store_conn_t *c, sqlite3_stmt *s, const char *doing, err_t *err)
{
    int rc = sqlite3_step(s);

    if (rc != SQLITE_DONE) {
        sqlite__db_err(c->db, rc, doing, err);
        sqlite__stmt_done(s);
        return -1;
    }
    sqlite__stmt_done(s);
    return sqlite3_changes(c->db);
}

/* ---- connections ---- */

/* Page caches, in KiB. A reader's cache holds the hot interior pages of the tables it reads (SQLite's
 * default of 2 MB let list pages pread() what they had just read); the writer, shared by every write, gets
 * more. With ~10 threads that is well under the daemon's memory budget. */
#define READER_CACHE_KIB 4096
#define WRITER_CACHE_KIB 16384

/* Group commit (sqlite_group.c): a batch of this many write transactions, or this old (a few fsyncs'
 * time), commits instead of waiting for more. */
#define BATCH_MEMBERS_MAX 64
#define BATCH_AGE_US 4000

store_conn_t *
sqlite__conn_open(store_db_t *db, int cache_kib, err_t *err)
{
    store_conn_t *c = calloc(1, sizeof(*c));
    char sql[48];
    int rc;

    if (c == NULL) {
        err_set(err, ERR_INTERNAL, NULL, "Out of memory.");
        return NULL;
    }
    c->owner = db;
    c->cache_kib = cache_kib;
    snprintf(sql, sizeof(sql), "PRAGMA cache_size=-%d;", cache_kib);
    rc = sqlite3_open_v2(db->path, &c->db,
                         SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        err_set(err, ERR_INTERNAL, NULL, "The database could not be opened: %s.",
                c->db ? sqlite3_errmsg(c->db) : sqlite3_errstr(rc));
        sqlite3_close(c->db);
        free(c);
        return NULL;
    }
    sqlite3_busy_timeout(c->db, db->busy_timeout_ms);
    sqlite3_extended_result_codes(c->db, 1);
    if (sqlite__exec(c, "PRAGMA journal_mode=WAL;", err) ||
        sqlite__exec(c, "PRAGMA synchronous=FULL;", err) ||
        sqlite__exec(c, "PRAGMA foreign_keys=ON;", err) ||
        sqlite__exec(c, "PRAGMA temp_store=MEMORY;", err) || sqlite__exec(c, sql, err)) {
        sqlite3_close(c->db);
        free(c);
        return NULL;
    }
    return c;
}

store_conn_t *
sqlite_conn_open(store_db_t *db, err_t *err)
{
    return sqlite__conn_open(db, READER_CACHE_KIB, err);
}

void
sqlite_conn_close(store_conn_t *c)
{
    stmt_entry_t *e, *n;
    int i;

    if (c == NULL)
        return;
    assert(!c->tx_gate); /* no thread is inside a transaction when the store closes */
    for (i = 0; i < STMT_BUCKETS; i++) {
        for (e = c->buckets[i]; e; e = n) {
            n = e->next;
            sqlite3_finalize(e->stmt);
            free(e->sql);
            free(e);
        }
    }
    sqlite3_close(c->db);
    free(c);
}

/* ---- open, close, checks ---- */

static pthread_once_t sqlite_once = PTHREAD_ONCE_INIT;

static void
sqlite_configure(void)
{
    /* SQLite's memory statistics serialize every allocation of every connection on one global mutex;
     * connections here are per thread (SQLITE_OPEN_NOMUTEX), so they need no shared lock at all. */
    sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
    sqlite3_config(SQLITE_CONFIG_MULTITHREAD);
    sqlite3_initialize();
}

/* Makes the database file at path (created when missing) and its WAL and shared-memory files, where they
 * exist, readable by their owner alone. Returns 0, or -1 with err set. */
static int
owner_only(const char *path, err_t *err)
{
    static const char *const suffixes[] = {"", "-wal", "-shm"};
    char name[4096];
    struct stat sb;
    size_t i;
    int fd;

    if (strcmp(path, ":memory:") == 0 || strncmp(path, "file:", 5) == 0)
        return 0;
    fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0)
        return err_set(err, ERR_INTERNAL, NULL, "The database %s could not be opened: %s.", path,
                       strerror(errno));
    close(fd);
    for (i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
        snprintf(name, sizeof(name), "%s%s", path, suffixes[i]);
        if (stat(name, &sb) == 0 && (sb.st_mode & 077) != 0 && chmod(name, sb.st_mode & 0700) != 0)
            return err_set(err, ERR_INTERNAL, NULL, "The permissions of %s could not be narrowed: %s.",
                           name, strerror(errno));
    }
    return 0;
}

store_db_t *
sqlite_open(const char *location, const store_options_t *opts, err_t *err)
{
    store_db_t *db;

    pthread_once(&sqlite_once, sqlite_configure);
    if (owner_only(location, err))
        return NULL;
    db = calloc(1, sizeof(*db));
    if (db == NULL || (db->path = strdup(location)) == NULL) {
        free(db);
        err_set(err, ERR_INTERNAL, NULL, "Out of memory.");
        return NULL;
    }
    db->busy_timeout_ms = opts && opts->busy_timeout_ms > 0 ? opts->busy_timeout_ms : 5000;
    db->migrate_to = opts ? opts->migrate_to : 0;
    db->batch_members_max = BATCH_MEMBERS_MAX;
    db->batch_age_us = BATCH_AGE_US;
    pthread_mutex_init(&db->gate_lock, NULL);
    return db;
}

void
sqlite_close(store_db_t *db)
{
    assert(!db->gate_held && db->gate_head == NULL && db->batch == NULL);
    sqlite_conn_close(db->writer);
    pthread_mutex_destroy(&db->gate_lock);
    free(db->path);
    free(db);
}

/* Runs a PRAGMA check whose answer is "ok" when all is well. */
static int
check(store_conn_t *c, const char *pragma, err_t *err)
{
    sqlite3_stmt *s = NULL;
    int rc, ok = 0;

    rc = sqlite3_prepare_v2(c->db, pragma, -1, &s, NULL);
    if (rc != SQLITE_OK)
        return sqlite__db_err(c->db, rc, "checking the database", err);
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        const unsigned char *t = sqlite3_column_text(s, 0);
        ok = t && strcmp((const char *) t, "ok") == 0;
        if (!ok)
            err_set(err, ERR_INTERNAL, NULL, "The database check failed: %s.",
                    t ? (const char *) t : "no answer");
    } else {
        sqlite__db_err(c->db, rc, "checking the database", err);
    }
    sqlite3_finalize(s);
    return ok ? 0 : -1;
}

int
sqlite_prepare(store_db_t *db, store_conn_t *c, err_t *err)
{
    assert(db->writer == NULL);
    if (check(c, "PRAGMA quick_check;", err) || sqlite__migrate(db, c, err))
        return -1;
    /* Opened after the migrations, so that it prepares its statements against the latest schema. */
    db->writer = sqlite__conn_open(db, WRITER_CACHE_KIB, err);
    return db->writer == NULL ? -1 : 0;
}

int
sqlite_schema_version(store_db_t *db)
{
    return db->schema_version;
}

int
sqlite_ping(store_conn_t *c, err_t *err)
{
    sqlite3_stmt *s = sqlite__stmt(c, "SELECT 1;", err);
    int rc;

    if (s == NULL)
        return -1;
    rc = sqlite3_step(s);
    sqlite__stmt_done(s);
    if (rc != SQLITE_ROW)
        return sqlite__db_err(c->db, rc, "answering a ping", err);
    return 0;
}

/* Writes a row of bytes and drops it again, in the caller's write transaction: its commit needs room for
 * that many bytes in the log, and leaves nothing behind but free pages for the next probe. */
int
sqlite_write_probe(store_conn_t *c, int64_t bytes, err_t *err)
{
    sqlite3_stmt *s = sqlite__stmt(c, "INSERT OR REPLACE INTO meta(key, value) VALUES ('writeProbe', zeroblob(?));",
                                   err);

    if (s == NULL)
        return -1;
    sqlite3_bind_int64(s, 1, bytes);
    if (sqlite__stmt_run(c, s, "probing for room", err) < 0)
        return -1;
    s = sqlite__stmt(c, "DELETE FROM meta WHERE key = 'writeProbe';", err);
    if (s == NULL)
        return -1;
    return sqlite__stmt_run(c, s, "probing for room", err) < 0 ? -1 : 0;
}

int
sqlite_integrity_check(store_conn_t *c, err_t *err)
{
    return check(c, "PRAGMA integrity_check;", err);
}

/* SQLite's online backup in one step: the whole source is read inside one read transaction (c's own
 * when one is open), so the copy is one consistent snapshot while other connections go on writing in
 * the WAL. The copy is then switched to a rollback journal, so that it is one self-contained file. */
int
sqlite_backup_to(store_conn_t *c, const char *path, err_t *err)
{
    sqlite3 *dest = NULL;
    sqlite3_backup *b;
    int rc, ret = -1;

    assert(c != NULL && path != NULL);
    rc = sqlite3_open_v2(path, &dest, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
    if (rc != SQLITE_OK) {
        sqlite__db_err(dest, rc, "opening the backup file", err);
        goto cleanup;
    }
    b = sqlite3_backup_init(dest, "main", c->db, "main");
    if (b == NULL) {
        sqlite__db_err(dest, sqlite3_errcode(dest), "starting the backup", err);
        goto cleanup;
    }
    rc = sqlite3_backup_step(b, -1);
    sqlite3_backup_finish(b);
    if (rc != SQLITE_DONE) {
        sqlite__db_err(dest, rc, "copying the database", err);
        goto cleanup;
    }
    rc = sqlite3_exec(dest, "PRAGMA journal_mode=DELETE;", NULL, NULL, NULL);
    if (rc != SQLITE_OK) {
        sqlite__db_err(dest, rc, "finishing the backup", err);
        goto cleanup;
    }
    ret = 0;
cleanup:
    rc = sqlite3_close(dest);
    if (rc != SQLITE_OK && ret == 0)
        ret = sqlite__db_err(NULL, rc, "closing the backup", err);
    return ret;
}
