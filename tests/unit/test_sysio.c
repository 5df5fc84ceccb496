/* Unit tests of lib/sysio: a file replaced whole with its mode, a failed write leaving the old file, and a
 * TCP listener on any free port. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "../../lib/sysio.h"

static char *
slurp(const char *path)
{
    static char buf[256];
    FILE *f = fopen(path, "r");
    size_t n;

    assert_non_null(f);
    n = fread(buf, 1, sizeof(buf) - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

static void
file_is_replaced_whole_with_its_mode(void **state)
{
    char dir[] = "/tmp/wapd-sysio-XXXXXX", path[64], tmp[72];
    struct stat sb;
    mode_t old;

    (void) state;
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/f", dir);
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    old = umask(077);
    assert_int_equal(sysio_write_file(path, "first", 5, 0644), 0);
    umask(old);
    assert_string_equal(slurp(path), "first");
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0644); /* the mode asked for, whatever the umask */
    assert_int_equal(sysio_write_file(path, "second, longer", 14, 0600), 0);
    assert_string_equal(slurp(path), "second, longer");
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
    assert_int_not_equal(access(tmp, F_OK), 0);
    /* A directory where the file should be: the write fails and leaves nothing behind. */
    unlink(path);
    assert_int_equal(mkdir(path, 0700), 0);
    assert_int_equal(sysio_write_file(path, "x", 1, 0600), -1);
    assert_int_not_equal(access(tmp, F_OK), 0);
    assert_int_equal(sysio_fsync_dir(dir), 0);
    assert_int_equal(sysio_fsync_dir_of(path), 0);
    rmdir(path);
    rmdir(dir);
}

static void
listener_gets_a_free_port(void **state)
{
    const char *why = NULL;
    int port = 0, again = 0, fd, fd2;

    (void) state;
    fd = sysio_listen_tcp("127.0.0.1", "0", &port, &why);
    assert_true(fd >= 0);
    assert_true(port > 0 && port < 65536);
    /* The same port again is refused, with the reason. */
    {
        char p[16];

        snprintf(p, sizeof(p), "%d", port);
        fd2 = sysio_listen_tcp("127.0.0.1", p, &again, &why);
        assert_int_equal(fd2, -1);
        assert_non_null(why);
    }
    close(fd);
    why = NULL;
    assert_int_equal(sysio_listen_tcp("no such host.invalid", "0", &port, &why), -1);
    assert_non_null(why);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(file_is_replaced_whole_with_its_mode),
        cmocka_unit_test(listener_gets_a_free_port),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
