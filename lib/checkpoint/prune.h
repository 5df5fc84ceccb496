/*
 * prune.h: what slot.c needs of prune.c (checkpoints that go in bulk). Not for use outside
 * lib/checkpoint/.
 */
#ifndef WAPD_CHECKPOINT_PRUNE_H
#define WAPD_CHECKPOINT_PRUNE_H

/* Registers the checkpoint.prune job kind (checkpoint_jobs_register calls it). */
int checkpoint__prune_register(void);

#endif
