/* Unit tests of the store's backups: a copy serves as a store of its own with every record, a copy made
 * inside a read transaction is that transaction's snapshot (a write committed meanwhile by another
 * thread is not in it), the temporary copy is an unlinked 0600 file that leaves nothing behind, and one a
 * killed process left is removed when the store opens again. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <dirent.h>
#include <pthread.h>
#include <sys/stat.h>

#include "fixture.h"

#include "../../lib/util.h"

static void
put_cloud(store_t *st, const char *name)
{
    char id[UTIL_UUID_LEN + 1], now[UTIL_TIME_LEN + 1];
    err_t err = {0};
    json_t *rec;

    util_uuid(id);
    util_time_format(util_now_ms(), now);
    rec = json_pack("{s:s, s:s, s:n, s:s, s:s}", "id", id, "name", name, "description", "createdAt",
                    now, "updatedAt", now);
    assert_non_null(rec);
    assert_int_equal(store_rec_insert(st, &store_kind_cloud, rec, &err), 0);
    json_decref(rec);
}

static int64_t
count_clouds(store_t *st)
{
    err_t err = {0};
    int64_t n = store_rec_count(st, &store_kind_cloud, NULL, 0, &err);

    assert_true(n >= 0);
    return n;
}

/* Opens the copy at path as a store and answers how many clouds it holds. */
static int64_t
clouds_in_copy(const char *path)
{
    err_t err = {0};
    store_t *copy = store_open(path, NULL, &err);
    int64_t n;

    assert_non_null(copy);
    assert_int_equal(store_integrity_check(copy, &err), 0);
    n = count_clouds(copy);
    store_close(copy);
    return n;
}

static void
copy_serves_every_record(void **state)
{
    fixture_t *f = *state;
    char path[160];
    err_t err = {0};
    int i;

    for (i = 0; i < 25; i++)
        put_cloud(f->st, "c");
    snprintf(path, sizeof(path), "%s/copy.db", f->dir);
    assert_int_equal(store_backup_to(f->st, path, &err), 0);
    assert_int_equal(clouds_in_copy(path), 25);
}

static void *
writer(void *arg)
{
    put_cloud(arg, "late");
    return NULL;
}

static void
copy_in_a_read_transaction_is_its_snapshot(void **state)
{
    fixture_t *f = *state;
    char path[160];
    err_t err = {0};
    pthread_t t;

    put_cloud(f->st, "early");
    assert_int_equal(store_tx_begin_read(f->st, &err), 0);
    assert_int_equal(count_clouds(f->st), 1); /* the snapshot is taken */
    assert_int_equal(pthread_create(&t, NULL, writer, f->st), 0);
    assert_int_equal(pthread_join(t, NULL), 0);
    snprintf(path, sizeof(path), "%s/snap.db", f->dir);
    assert_int_equal(store_backup_to(f->st, path, &err), 0);
    assert_int_equal(store_tx_commit(f->st, &err), 0);
    assert_int_equal(clouds_in_copy(path), 1);
    assert_int_equal(count_clouds(f->st), 2);
}

/* How many entries of dir have names containing part. */
static int
entries_named(const char *dir, const char *part)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int n = 0;

    assert_non_null(d);
    while ((e = readdir(d)) != NULL)
        if (strstr(e->d_name, part) != NULL)
            n++;
    closedir(d);
    return n;
}

static void
temp_copy_is_unlinked_and_private(void **state)
{
    fixture_t *f = *state;
    char path[160], head[16];
    struct stat sb;
    err_t err = {0};
    int64_t size = -1;
    FILE *out;
    char *buf;
    int fd;

    put_cloud(f->st, "one");
    fd = store_backup_temp(f->st, &size, &err);
    assert_true(fd >= 0);
    assert_int_equal(fstat(fd, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
    assert_int_equal(sb.st_nlink, 0); /* unlinked: gone once closed */
    assert_int_equal((int64_t) sb.st_size, size);
    assert_int_equal(entries_named(f->dir, "backup"), 0);
    assert_int_equal(read(fd, head, sizeof(head)), (ssize_t) sizeof(head));
    assert_memory_equal(head, "SQLite format 3", 16);
    /* The bytes, written out, are a store with the record. */
    buf = malloc((size_t) size);
    assert_non_null(buf);
    assert_int_equal(pread(fd, buf, (size_t) size, 0), (ssize_t) size);
    close(fd);
    snprintf(path, sizeof(path), "%s/temp.db", f->dir);
    out = fopen(path, "wb");
    assert_non_null(out);
    assert_int_equal(fwrite(buf, 1, (size_t) size, out), (size_t) size);
    fclose(out);
    free(buf);
    assert_int_equal(clouds_in_copy(path), 1);
}

static void
leftover_copy_is_removed_at_open(void **state)
{
    fixture_t *f = *state;
    char path[160];
    err_t err = {0};
    FILE *left;

    snprintf(path, sizeof(path), "%s/.wapd-backup.AbC123", f->dir);
    left = fopen(path, "w");
    assert_non_null(left);
    fclose(left);
    snprintf(path, sizeof(path), "%s/wapd-backup-kept.db", f->dir); /* not the prefix: kept */
    left = fopen(path, "w");
    assert_non_null(left);
    fclose(left);
    store_close(f->st);
    f->st = store_open(f->path, NULL, &err);
    assert_non_null(f->st);
    assert_int_equal(entries_named(f->dir, ".wapd-backup."), 0);
    assert_int_equal(entries_named(f->dir, "wapd-backup-kept.db"), 1);
}

static void
copy_to_a_bad_path_fails(void **state)
{
    fixture_t *f = *state;
    char path[160];
    err_t err = {0};

    snprintf(path, sizeof(path), "%s/no/such/dir/copy.db", f->dir);
    assert_int_equal(store_backup_to(f->st, path, &err), -1);
    assert_int_equal(err.code, ERR_INTERNAL);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(copy_serves_every_record, setup, teardown),
        cmocka_unit_test_setup_teardown(copy_in_a_read_transaction_is_its_snapshot, setup, teardown),
        cmocka_unit_test_setup_teardown(temp_copy_is_unlinked_and_private, setup, teardown),
        cmocka_unit_test_setup_teardown(leftover_copy_is_removed_at_open, setup, teardown),
        cmocka_unit_test_setup_teardown(copy_to_a_bad_path_fails, setup, teardown),
    };

    (void) id_of; /* the fixture's, unused here */
    return cmocka_run_group_tests(tests, NULL, NULL);
}
