/*
 * store.c: the store's neutral layer: the backends registered, opening and closing a store, each thread's
 * state, the fault wrapper, and transactions with their on-commit hooks (see store.h and backend.h).
 *
 * Invariants:
 * - A store is served by one backend, chosen when it opens by the location's scheme ("<scheme>://…"), or
 *   for a plain path by the backend that opens files.
 * - The transaction depth of a thread is counted here, never below 0; the backend is told the depth and
 *   maps it to its own statements. Commit is called only with a transaction open; a rollback with none
 *   open is a no-op (it follows a failed outermost commit, which leaves nothing open).
 * - On-commit hooks run once, after the outermost commit succeeded and the depth is back to 0; a
 *   rollback of the outermost transaction drops them.
 * - An outermost write transaction runs on the connection the backend names for it (tx_conn), and every
 *   call inside it too; when it ends, however it ends, the thread's calls use its own connection again.
 * - A write call with no transaction open gets an implicit one (store__write_open), committed or rolled
 *   back by store__write_done before the call returns; the fault wrapper counts the call once.
 * - The fault wrapper (store__call in core.h) asks fault_hit(FAULT_STORE) once per call and fails the
 *   chosen call with ERR_INTERNAL before it reaches the backend.
 * - A backup's temporary copy (store_backup_temp) lives beside a file store under a name starting with
 *   BACKUP_TEMP_PREFIX and is unlinked before the descriptor is handed out; one a killed process left
 *   behind is removed when the store next opens.
 */
#include <assert.h>
#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core.h"

#define BACKENDS_MAX 8

static const store_backend_t *backends[BACKENDS_MAX];
static size_t nbackends;

void
store__backend_register(const store_backend_t *be)
{
    assert(be != NULL && be->name != NULL && be->open != NULL && be->prepare != NULL &&
           be->close != NULL && be->conn_open != NULL && be->conn_close != NULL &&
           be->tx_conn != NULL && be->tx_begin != NULL && be->tx_commit != NULL &&
           be->tx_rollback != NULL && be->batches != NULL && be->rec_get_by != NULL &&
           be->rec_get_where != NULL && be->leader_try != NULL);
    assert(nbackends < BACKENDS_MAX);
    if (nbackends < BACKENDS_MAX)
        backends[nbackends++] = be;
}

store_db_t *
store__db(store_t *st)
{
    assert(st != NULL);
    return st->db;
}

const char *
store__backend_at(size_t i)
{
    return i < nbackends ? backends[i]->name : NULL;
}

/* The backend that opens location: by its scheme, or the one that opens file paths. */
static const store_backend_t *
backend_for(const char *location)
{
    const char *sep = strstr(location, "://");
    size_t i, n = sep ? (size_t) (sep - location) : 0;

    for (i = 0; i < nbackends; i++) {
        const char *scheme = backends[i]->scheme;
        if (sep == NULL ? scheme == NULL
                        : scheme != NULL && strlen(scheme) == n && strncmp(scheme, location, n) == 0)
            return backends[i];
    }
    return NULL;
}

store_thread_t *
store__thread_new(store_t *st, err_t *err)
{
    store_thread_t *t = calloc(1, sizeof(*t));

    if (t == NULL) {
        err_set(err, ERR_INTERNAL, NULL, "Out of memory.");
        return NULL;
    }
    t->own = t->conn = st->be->conn_open(st->db, err);
    if (t->own == NULL) {
        free(t);
        return NULL;
    }
    pthread_setspecific(st->key, t);
    pthread_mutex_lock(&st->lock);
    t->next = st->threads;
    st->threads = t;
    pthread_mutex_unlock(&st->lock);
    return t;
}

int
store__injected(err_t *err)
{
    return err_set(err, ERR_INTERNAL, NULL, "The database failed (injected fault).");
}

uint64_t
store__reads(store_t *st, const store_kind_t *kind)
{
    assert(st != NULL && kind != NULL);
    return __atomic_load_n(&st->reads[kind->index], __ATOMIC_RELAXED);
}

/* ---- open, close, checks ---- */

#define BACKUP_TEMP_PREFIX ".wapd-backup."

/* Removes the temporary copies a process killed during a backup left in the directory of the file store
 * at location (a backup's copy is unlinked before it is sent; one still named was never answered). */
static void
backup_leftovers_remove(const char *location)
{
    const char *slash = strrchr(location, '/');
    char dir[PATH_MAX], path[PATH_MAX];
    struct dirent *e;
    DIR *d;

    if (strstr(location, "://") != NULL)
        return;
    if (slash == NULL)
        snprintf(dir, sizeof(dir), ".");
    else if ((size_t) (slash - location) >= sizeof(dir))
        return;
    else
        snprintf(dir, sizeof(dir), "%.*s", slash == location ? 1 : (int) (slash - location), location);
    d = opendir(dir);
    if (d == NULL)
        return;
    while ((e = readdir(d)) != NULL)
        if (strncmp(e->d_name, BACKUP_TEMP_PREFIX, strlen(BACKUP_TEMP_PREFIX)) == 0 &&
            snprintf(path, sizeof(path), "%s/%s", dir, e->d_name) < (int) sizeof(path))
            unlink(path);
    closedir(d);
}

store_t *
store_open(const char *location, const store_options_t *opts, err_t *err)
{
    const store_backend_t *be;
    store_thread_t *t;
    store_t *st;

    assert(location != NULL);
    be = backend_for(location);
    if (be == NULL) {
        err_set(err, ERR_INTERNAL, NULL, "No store backend opens that location.");
        return NULL;
    }
    st = calloc(1, sizeof(*st));
    if (st == NULL) {
        err_set(err, ERR_INTERNAL, NULL, "Out of memory.");
        return NULL;
    }
    st->be = be;
    st->location = strdup(location);
    if (st->location == NULL) {
        free(st);
        err_set(err, ERR_INTERNAL, NULL, "Out of memory.");
        return NULL;
    }
    pthread_mutex_init(&st->lock, NULL);
    if (pthread_key_create(&st->key, NULL) != 0) {
        pthread_mutex_destroy(&st->lock);
        free(st->location);
        free(st);
        err_set(err, ERR_INTERNAL, NULL, "No thread key is left for the store.");
        return NULL;
    }
    backup_leftovers_remove(location);
    st->db = be->open(location, opts, err);
    if (st->db == NULL) {
        pthread_key_delete(st->key);
        pthread_mutex_destroy(&st->lock);
        free(st->location);
        free(st);
        return NULL;
    }
    t = store__thread(st, err);
    if (t == NULL || be->prepare(st->db, t->own, err)) {
        store_close(st);
        return NULL;
    }
    return st;
}

void
store_close(store_t *st)
{
    store_thread_t *t, *n;

    if (st == NULL)
        return;
    for (t = st->threads; t; t = n) {
        n = t->next;
        assert(t->tx_depth == 0 && t->conn == t->own);
        store__cache_free(t);
        st->be->conn_close(t->own);
        if (t->side != NULL)
            st->be->conn_close(t->side);
        free(t);
    }
    st->be->close(st->db);
    pthread_key_delete(st->key);
    pthread_mutex_destroy(&st->lock);
    free(st->location);
    free(st);
}

uint64_t
store_commits(store_t *st)
{
    assert(st != NULL);
    return __atomic_load_n(&st->commits, __ATOMIC_RELAXED);
}

uint64_t
store_batches(store_t *st)
{
    assert(st != NULL);
    return st->be->batches(st->db);
}

const char *
store_backend_name(store_t *st)
{
    assert(st != NULL);
    return st->be->name;
}

bool
store_shared(store_t *st)
{
    assert(st != NULL);
    return !st->be->single_process;
}

int
store_schema_version(store_t *st)
{
    assert(st != NULL);
    return st->be->schema_version(st->db);
}

int
store_ping(store_t *st, err_t *err)
{
    store_thread_t *t = store__thread(st, err);

    return t == NULL ? -1 : st->be->ping(t->conn, err);
}

static int tx_open(store_t *st, store_thread_t *t, store_tx_mode_t mode, err_t *err);

bool
store_storage_full(store_t *st)
{
    assert(st != NULL);
    return __atomic_load_n(&st->full, __ATOMIC_ACQUIRE) != 0;
}

int
store_write_probe(store_t *st, int64_t bytes, err_t *err)
{
    store_thread_t *t = store__thread(st, err);

    assert(bytes > 0);
    if (t != NULL && t->tx_depth > 0) /* it must commit on its own, or it proves nothing */
        return err_set(err, ERR_INTERNAL, NULL, "A write probe runs outside any transaction.");
    /* Alone: while the disk is full the probe's commit fails, and it must fail no client's write with it
     * (nor may a client's failed write be taken for the probe's). */
    if (t != NULL && tx_open(st, t, STORE_TX_ALONE, err) != 0)
        return -1;
    if (t != NULL)
        t->implicit = true;
    if (STORE_WRITE(st, t, st->be->write_probe(t->conn, bytes, err), err) < 0)
        return -1;
    __atomic_store_n(&st->full, 0, __ATOMIC_RELEASE); /* that much was written: there is room again */
    return 0;
}

/* A write, or the commit of one, failed: when for lack of space, the store is full until a write commits. */
static void
write_failed(store_t *st, const err_t *err)
{
    if (err != NULL && err->code == ERR_INSUFFICIENT_STORAGE)
        __atomic_store_n(&st->full, 1, __ATOMIC_RELEASE);
}

int
store_integrity_check(store_t *st, err_t *err)
{
    store_thread_t *t = store__thread(st, err);

    return t == NULL ? -1 : st->be->integrity_check(t->conn, err);
}

int
store_backup_to(store_t *st, const char *path, err_t *err)
{
    store_thread_t *t = store__thread(st, err);

    assert(path != NULL);
    return t == NULL ? -1 : st->be->backup_to(t->conn, path, err);
}

int
store_backup_temp(store_t *st, int64_t *size, err_t *err)
{
    const char *slash = strrchr(st->location, '/'), *tmp = getenv("TMPDIR");
    char path[PATH_MAX];
    struct stat sb;
    int fd, n;

    assert(st != NULL && size != NULL);
    if (strstr(st->location, "://") != NULL) /* not a file: the system's temporary directory */
        n = snprintf(path, sizeof(path), "%s/wapd-backup.XXXXXX", tmp && *tmp ? tmp : "/tmp");
    else if (slash != NULL)
        n = snprintf(path, sizeof(path), "%.*s/" BACKUP_TEMP_PREFIX "XXXXXX",
                     (int) (slash - st->location), st->location);
    else
        n = snprintf(path, sizeof(path), BACKUP_TEMP_PREFIX "XXXXXX");
    if (n < 0 || (size_t) n >= sizeof(path))
        return err_set(err, ERR_INTERNAL, NULL, "The backup's temporary path is too long.");
    fd = mkstemp(path); /* 0600 */
    if (fd < 0)
        return err_set(err, ERR_INTERNAL, NULL, "No temporary file could be made for the backup.");
    if (store_backup_to(st, path, err)) {
        unlink(path);
        close(fd);
        return -1;
    }
    unlink(path);
    if (fstat(fd, &sb) != 0 || lseek(fd, 0, SEEK_SET) != 0) {
        close(fd);
        return err_set(err, ERR_INTERNAL, NULL, "The backup's temporary file could not be read.");
    }
    *size = (int64_t) sb.st_size;
    return fd;
}

/* ---- transactions ---- */

/* Opens a transaction on thread t (past the fault wrapper). */
static int
tx_open(store_t *st, store_thread_t *t, store_tx_mode_t mode, err_t *err)
{
    store_conn_t *c = t->conn;

    assert(t->tx_depth >= 0);
    assert(t->tx_depth > 0 || t->conn == t->own);
    assert(t->tx_depth > 0 || (t->written == 0 && t->n_on_commit == 0));
    if (mode == STORE_TX_READ) {
        if (t->tx_depth > 0)
            return err_set(err, ERR_INTERNAL, NULL, "A read transaction cannot nest.");
        /* Read the counters before the snapshot exists (it is taken at the first read), so that every
         * record this transaction reads is at least as new as the counters say. */
        store__snapshot_gen(st, t);
    }
    if (t->tx_depth == 0)
        c = st->be->tx_conn(st->db, t->own, mode);
    if (st->be->tx_begin(c, t->tx_depth, mode, err))
        return -1;
    if (t->tx_depth == 0) {
        t->conn = c;
        t->tx_write = mode != STORE_TX_READ;
        t->written = 0;
        t->implicit = false;
    }
    t->tx_depth++;
    return 0;
}

static int
tx_begin(store_t *st, store_tx_mode_t mode, err_t *err)
{
    store_thread_t *t = store__call(st, err);

    return t == NULL ? -1 : tx_open(st, t, mode, err);
}

int
store_tx_begin(store_t *st, err_t *err)
{
    return tx_begin(st, STORE_TX_WRITE, err);
}

int
store_tx_begin_read(store_t *st, err_t *err)
{
    return tx_begin(st, STORE_TX_READ, err);
}

int
store_tx_begin_bulk(store_t *st, err_t *err)
{
    return tx_begin(st, STORE_TX_BULK, err);
}

/* Drops the hooks added at depth or deeper (their transaction rolled back): their args are released. */
static void
hooks_drop(store_thread_t *t, int depth)
{
    int i, kept = 0;

    for (i = 0; i < t->n_on_commit; i++) {
        if (t->on_commit[i].depth < depth)
            t->on_commit[kept++] = t->on_commit[i];
        else if (t->on_commit[i].drop != NULL)
            t->on_commit[i].drop(t->on_commit[i].arg);
    }
    t->n_on_commit = kept;
}

/* A nested transaction committed into the enclosing one: its hooks now belong there. */
static void
hooks_hand_up(store_thread_t *t)
{
    int i;

    for (i = 0; i < t->n_on_commit; i++)
        if (t->on_commit[i].depth == t->tx_depth)
            t->on_commit[i].depth = t->tx_depth - 1;
}

/* The outermost transaction is over (committed or not): nothing of it is left on the thread; the hooks
 * it still holds have run (commit) or are dropped here. */
static void
tx_end(store_thread_t *t)
{
    hooks_drop(t, 1);
    t->conn = t->own;
    t->implicit = false;
    t->tx_depth = 0;
    t->tx_write = false;
    t->written = 0;
    t->n_on_commit = 0;
}

int
store_tx_commit(store_t *st, err_t *err)
{
    store_thread_t *t = store__thread(st, err);
    on_commit_t hooks[ON_COMMIT_MAX];
    int n, i;

    if (t == NULL)
        return -1;
    assert(t->tx_depth > 0); /* commit only with a transaction open */
    if (t->tx_depth <= 0)
        return err_set(err, ERR_INTERNAL, NULL, "No transaction is open.");
    if (t->tx_depth == 1)
        store__commit_begin(st, t);
    if (st->be->tx_commit(t->conn, t->tx_depth, err)) {
        write_failed(st, err);
        if (t->tx_depth == 1) {
            store__commit_abandoned(st, t);
            tx_end(t); /* the backend has rolled it back */
        }
        return -1;
    }
    if (t->tx_depth > 1) {
        hooks_hand_up(t);
        t->tx_depth--;
        return 0;
    }
    if (t->tx_write)
        __atomic_add_fetch(&st->commits, 1, __ATOMIC_RELAXED);
    if (t->written) /* a record changed is on disk: there was room for it (a commit of nothing proves none) */
        __atomic_store_n(&st->full, 0, __ATOMIC_RELEASE);
    store__commit_written(st, t);
    n = t->n_on_commit;
    memcpy(hooks, t->on_commit, sizeof(hooks[0]) * (size_t) n);
    t->n_on_commit = 0; /* they run below, so tx_end drops none */
    tx_end(t);
    for (i = 0; i < n; i++)
        hooks[i].fn(hooks[i].arg);
    return 0;
}

void
store_tx_rollback(store_t *st)
{
    store_thread_t *t = store__thread(st, NULL);

    if (t == NULL)
        return;
    assert(t->tx_depth >= 0);
    if (t->tx_depth == 0)
        return; /* after a failed outermost commit nothing is open */
    st->be->tx_rollback(t->conn, t->tx_depth);
    if (t->tx_depth == 1) {
        tx_end(t);
    } else {
        hooks_drop(t, t->tx_depth);
        t->tx_depth--;
    }
}

store_thread_t *
store__write_open(store_t *st, store_thread_t *t, err_t *err)
{
    if (t == NULL || t->tx_depth > 0)
        return t;
    if (tx_open(st, t, STORE_TX_WRITE, err))
        return NULL;
    t->implicit = true;
    return t;
}

int64_t
store__write_done(store_t *st, store_thread_t *t, int64_t rc, err_t *err)
{
    assert(t != NULL && t->tx_depth > 0);
    if (rc < 0)
        write_failed(st, err);
    if (!t->implicit)
        return rc;
    assert(t->tx_depth == 1); /* the call left no transaction of its own open */
    if (rc < 0)
        store_tx_rollback(st);
    else if (store_tx_commit(st, err))
        return -1;
    return rc;
}

int
store_tx_on_commit_owned(store_t *st, void (*fn)(void *arg), void (*drop)(void *arg), void *arg,
                         err_t *err)
{
    store_thread_t *t = store__thread(st, err);
    on_commit_t *h;
    int i;

    assert(fn != NULL);
    if (t == NULL)
        return -1;
    if (t->tx_depth == 0) {
        fn(arg);
        return 0;
    }
    for (i = 0; i < t->n_on_commit; i++)
        if (t->on_commit[i].fn == fn && t->on_commit[i].arg == arg && drop == NULL)
            return 0; /* once per transaction is enough */
    if (t->n_on_commit == ON_COMMIT_MAX)
        return err_set(err, ERR_INTERNAL, NULL, "Too many commit hooks in one transaction.");
    h = &t->on_commit[t->n_on_commit++];
    h->fn = fn;
    h->drop = drop;
    h->arg = arg;
    h->depth = t->tx_depth;
    return 0;
}

int
store_tx_on_commit(store_t *st, void (*fn)(void *arg), void *arg, err_t *err)
{
    return store_tx_on_commit_owned(st, fn, NULL, arg, err);
}

int
store_leader_try(store_t *st, err_t *err)
{
    store_thread_t *t;
    int rc;

    assert(st != NULL);
    /* Leadership never waits behind a writer: no transaction is open on this thread. */
    t = pthread_getspecific(st->key);
    assert(t == NULL || t->tx_depth == 0);
    (void) t;
    rc = st->be->leader_try(st->db, err);
    __atomic_store_n(&st->leader, rc == 1, __ATOMIC_RELEASE);
    return rc;
}

bool
store_is_leader(store_t *st)
{
    assert(st != NULL);
    return st->be->single_process || __atomic_load_n(&st->leader, __ATOMIC_ACQUIRE);
}
