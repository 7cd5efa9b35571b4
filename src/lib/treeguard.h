/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A tree guard: a small child that kills a restored process tree if the
 * process that restored it (and waits for it, for LSF) dies first. Without
 * it, a restorer killed on its own (the OOM killer, a stray kill -9) would
 * leave the restored job running outside LSF's view, reparented to init.
 * The guard stays in the caller's process group, so LSF's own kill of the
 * job's group ends it too.
 */
#ifndef LC_TREEGUARD_H
#define LC_TREEGUARD_H

#include <sys/types.h>

/* Starts the guard; returns the fd to talk to it, or -1 (then there is no guard). */
int lc_tree_guard_start(void);
/* Tells the guard which tree to kill: the root's pid and start time (clock ticks). */
void lc_tree_guard_root(int fd, pid_t root, unsigned long long start);
/* The tree is ours to report on no more (it ended): the guard exits quietly. */
void lc_tree_guard_stop(int fd);

#endif
