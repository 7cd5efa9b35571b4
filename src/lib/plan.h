/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Planning a checkpoint against its deadline: how much memory a dump of the
 * job writes, how fast this chain's earlier checkpoints wrote on this
 * filesystem, and so how long the dump will take. A run-limit checkpoint that
 * cannot finish within ORUN_TIMEOUT_SECONDS is said at once, with the numbers,
 * instead of being found out when the job is killed.
 */
#ifndef LC_PLAN_H
#define LC_PLAN_H

#include <stdbool.h>
#include <sys/types.h>

#include "err.h"

/* Rate assumed when no earlier checkpoint of the chain says better (bytes/s). */
#define LC_PLAN_ASSUMED_RATE (500.0 * 1048576.0)
/* criu's own start, freeze and the commit, whatever the size (seconds). */
#define LC_PLAN_FIXED_SECONDS 0.5

struct lc_plan {
	long long bytes;	/* memory the dump writes */
	double rate;		/* bytes/s expected */
	char rate_from[96];	/* where the rate comes from, for messages */
	double seconds;		/* expected duration */
};

/*
 * Memory a dump of these processes writes, from /proc/<pid>/smaps_rollup:
 * anonymous memory and shared memory by proportional share (a page shared
 * by processes of the tree counts once in the sum) and swapped-out pages.
 * Processes that vanished are skipped. Returns 0 or a negative errno.
 */
int lc_plan_tree_bytes(const pid_t *pids, size_t n, long long *ret_bytes);
/* Parses the text of one smaps_rollup (exposed for tests); -EINVAL if it has none of the fields. */
int lc_plan_parse_rollup(const char *text, long long *ret_bytes);
/*
 * The rate of the newest image set of the checkpoint directory dirfd (its
 * raw image bytes over its dump time), if it is large enough to tell;
 * -ENOENT otherwise.
 */
int lc_plan_rate_of_current(int dirfd, uid_t owner, double *ret_rate, char *ret_name, size_t size);
/* Fills p->seconds (and p->rate, p->rate_from when rate <= 0) from p->bytes. */
void lc_plan_estimate(struct lc_plan *p, double rate, const char *rate_from);

#endif
