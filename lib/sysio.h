/*
 * sysio.h: the files and sockets of a process, written once for the daemon, the agent and the logs that
 * must survive a crash: a file replaced atomically and durably, a directory's entries made durable, and a
 * TCP listener.
 *
 * Nothing here keeps state; every function is safe to call from any thread and leaves errno set when it
 * fails.
 */
#ifndef WAPD_SYSIO_H
#define WAPD_SYSIO_H

#include <stddef.h>
#include <sys/types.h>

/* Replaces path with len bytes of data, with mode whatever the umask: path.tmp is written, fsynced and
 * renamed over path, and path's directory is fsynced, so that after a crash path holds either the old
 * text or the new. Returns 0, or -1 (path is untouched, path.tmp removed). */
int sysio_write_file(const char *path, const char *data, size_t len, mode_t mode);
/* Fsyncs directory dir (its entries: files made, renamed or removed). Returns 0 or -1. */
int sysio_fsync_dir(const char *dir);
/* Fsyncs the directory that holds path. Returns 0 or -1. */
int sysio_fsync_dir_of(const char *path);
/* A TCP socket bound to host (NULL or "": every address) and port (a number, "0" for any free one),
 * listening, non-blocking and close-on-exec; *bound_port is the port it got. Returns the socket, or -1 with
 * *why set to the reason (a resolver message, or strerror of the bind's errno, which errno keeps). */
int sysio_listen_tcp(const char *host, const char *port, int *bound_port, const char **why);

#endif
