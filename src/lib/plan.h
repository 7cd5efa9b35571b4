/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Planning a checkpoint against its deadline: the job's memory (lc_mem_estimate),
 * the rate this chain's earlier checkpoints reached in its directory (the
 * ledger's samples), and so how long the dump will take. A run-limit checkpoint
 * that cannot finish within ORUN_TIMEOUT_SECONDS is said at once, with the
 * numbers, instead of being found out when the job is killed.
 */
#ifndef LC_PLAN_H
#define LC_PLAN_H

#include "ledger.h"

/* Rate assumed when no earlier checkpoint of the chain says better (bytes/s). */
#define LC_PLAN_ASSUMED_RATE (500.0 * 1048576.0)
/* criu's own start, freeze and the commit, whatever the size (seconds). */
#define LC_PLAN_FIXED_SECONDS 0.5

struct lc_plan {
	long long bytes;    /* memory the dump writes */
	double rate;	    /* bytes/s of the job's memory expected */
	char rate_from[96]; /* where the rate comes from, for messages */
	double seconds;	    /* expected duration */
};

/*
 * The rate (bytes of the job's memory per second of dump) of the newest
 * checkpoint of the chain large enough to say something about the disk
 * rather than the fixed costs; -ENOENT when there is none.
 */
int lc_plan_rate(const struct lc_ledger *l, double *ret_rate, char *ret_from, size_t size);
/* Fills p->seconds (and p->rate, p->rate_from; assumed when rate <= 0) from p->bytes. */
void lc_plan_estimate(struct lc_plan *p, double rate, const char *rate_from);

#endif
