/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Room for a checkpoint: how much memory the job's images will need, and
 * how much the checkpoint filesystem (and the user's disk quota on it) can
 * still take. Used before a dump, so a checkpoint that cannot fit is refused
 * early instead of failing half-way.
 */
#ifndef LC_SPACE_H
#define LC_SPACE_H

#include <stddef.h>
#include <sys/types.h>

#include "err.h"

/*
 * Bytes of memory criu will write for these processes: the anonymous
 * memory (resident and swapped out) of each, from /proc/<pid>/smaps_rollup,
 * falling back to VmRSS of /proc/<pid>/status. Processes that are gone
 * count 0. Never fails.
 */
long long lc_mem_estimate(const pid_t *pids, size_t n);

struct lc_space {
	long long free;	      /* bytes the caller may still write on the filesystem */
	long long quota_left; /* bytes left under the caller's disk quota, -1 if none known */
	char fstype[32];      /* the filesystem's type, "" if unknown */
};

/* Free space and quota of the filesystem of dirfd, for uid. */
int lc_space_query(int dirfd, uid_t uid, struct lc_space *ret, struct lc_err *err);

/* The smallest of free space and quota left. */
long long lc_space_room(const struct lc_space *s);

#endif
