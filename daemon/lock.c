/*
 * lock.c: the state-dir lock (see lock.h).
 *
 * Invariants: the lock is taken without waiting (LOCK_NB), before anything in the state dir is read or
 * written, so that a second daemon changes nothing (ports.json, admin.token, the store) and exits at once;
 * the pid is written only once the lock is held; the descriptor is close-on-exec, so no child inherits
 * the lock.
 */
#include "lock.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

/* The pid written in the lock file of a holder, or 0 when it cannot be read (it may not be written yet). */
static long
holder_pid(int fd)
{
    char buf[32];
    ssize_t got = pread(fd, buf, sizeof(buf) - 1, 0);

    if (got <= 0)
        return 0;
    buf[got] = '\0';
    return strtol(buf, NULL, 10);
}

int
lock_state_dir(const char *dir, char *msg, size_t n)
{
    char path[4096], pid[32];
    long holder;
    int fd, len;

    assert(dir != NULL && msg != NULL && n > 0);
    snprintf(path, sizeof(path), "%s/wapd.lock", dir);
    fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
        snprintf(msg, n, "cannot open %s: %s", path, strerror(errno));
        return -1;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        if (errno == EWOULDBLOCK) {
            holder = holder_pid(fd);
            if (holder > 0)
                snprintf(msg, n, "state dir %s is in use by another wapd (pid %ld)", dir, holder);
            else
                snprintf(msg, n, "state dir %s is in use by another wapd", dir);
        } else {
            snprintf(msg, n, "cannot lock %s: %s", path, strerror(errno));
        }
        close(fd);
        return -1;
    }
    len = snprintf(pid, sizeof(pid), "%ld\n", (long) getpid());
    if (ftruncate(fd, 0) != 0 || pwrite(fd, pid, (size_t) len, 0) != len) {
        snprintf(msg, n, "cannot write %s: %s", path, strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}
