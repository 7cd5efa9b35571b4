/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Planning a checkpoint against its deadline; see plan.h. */
#include <errno.h>
#include <stdio.h>

#include "plan.h"

/* The smallest checkpoint whose rate says something about the disk (not the fixed costs). */
#define MIN_RATE_BYTES (64LL << 20)

int lc_plan_rate(const struct lc_ledger *l, double *ret_rate, char *ret_from, size_t size)
{
	for (int i = l->n_ckpts - 1; i >= 0; i--) {
		const struct lc_ckpt_sample *s = &l->ckpts[i];
		long long b = s->mem_bytes > 0 ? s->mem_bytes : s->bytes;

		if (b < MIN_RATE_BYTES || s->seconds <= 0.01)
			continue;
		*ret_rate = (double)b / s->seconds;
		snprintf(ret_from, size, "the rate of the checkpoint of job %s", s->jobid);
		return 0;
	}
	return -ENOENT;
}

void lc_plan_estimate(struct lc_plan *p, double rate, const char *rate_from)
{
	if (rate > 0) {
		p->rate = rate;
		snprintf(p->rate_from, sizeof(p->rate_from), "%s", rate_from);
	} else {
		p->rate = LC_PLAN_ASSUMED_RATE;
		snprintf(p->rate_from, sizeof(p->rate_from),
			 "assumed: no earlier checkpoint of this chain to measure");
	}
	p->seconds = LC_PLAN_FIXED_SECONDS + (double)p->bytes / p->rate;
}
