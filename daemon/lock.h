/*
 * lock.h: one wapd per state dir. The lock is flock(LOCK_EX) on DIR/wapd.lock, held by an open descriptor
 * for the life of the process, so the kernel lets it go when the process ends however it ends (kill -9
 * included) and a stale file never blocks a start. The file holds the holder's pid, for the message a
 * second daemon prints.
 */
#ifndef WAPD_LOCK_H
#define WAPD_LOCK_H

#include <stddef.h>

/* Takes the lock of state dir dir (which exists). Returns the descriptor that holds it (close it to let it
 * go), or -1 with a message in msg (of size n): another process holds it ("state dir DIR is in use by
 * another wapd (pid N)"), or the file could not be opened or written. */
int lock_state_dir(const char *dir, char *msg, size_t n);

#endif
