/*
 * hooks_internal.h: what the two halves of the hooks module share (record.c and sender.c).
 *
 * The record side wakes the sender after a commit that queued deliveries; nothing else crosses.
 */
#ifndef WAPD_HOOKS_INTERNAL_H
#define WAPD_HOOKS_INTERNAL_H

/* Tells the sender that deliveries may be due (safe from any thread; a no-op while it is stopped). arg
 * is unused, so that it can serve as a commit hook and an events listener. */
void hooks__wake(void *arg);

#endif
