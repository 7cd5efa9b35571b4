/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Unit tests of src/lib/plan.c. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plan.h"
#include "tap.h"

static int rate_from_samples(void)
{
	struct lc_ledger *l = calloc(1, sizeof(*l));
	struct lc_plan p = { .bytes = 10LL << 30 };
	char from[96];
	double rate = 0;

	CHECK(l != NULL);
	CHECK_INT(lc_plan_rate(l, &rate, from, sizeof(from)), ==, -ENOENT);
	/* Oldest: 2 GiB of memory in 2 s; newest: 1 MiB (fixed costs only, not used). */
	l->n_ckpts = 2;
	snprintf(l->ckpts[0].jobid, sizeof(l->ckpts[0].jobid), "17");
	l->ckpts[0].mem_bytes = 2048LL << 20;
	l->ckpts[0].bytes = 300LL << 20;
	l->ckpts[0].seconds = 2.0;
	snprintf(l->ckpts[1].jobid, sizeof(l->ckpts[1].jobid), "18");
	l->ckpts[1].mem_bytes = 1 << 20;
	l->ckpts[1].seconds = 0.1;
	CHECK_INT(lc_plan_rate(l, &rate, from, sizeof(from)), ==, 0);
	CHECK(rate == 1024.0 * 1048576.0);
	CHECK(strstr(from, "job 17"));
	lc_plan_estimate(&p, rate, from);
	CHECK(p.seconds > 10.0 && p.seconds < 11.0);
	/* A ledger of version 1 has no memory estimate: the bytes written stand in. */
	l->ckpts[0].mem_bytes = 0;
	CHECK_INT(lc_plan_rate(l, &rate, from, sizeof(from)), ==, 0);
	CHECK(rate == 150.0 * 1048576.0);
	lc_plan_estimate(&p, 0, NULL);
	CHECK(p.rate == LC_PLAN_ASSUMED_RATE);
	CHECK(strstr(p.rate_from, "assumed"));
	free(l);
	return TAP_PASS;
}

TAP_MAIN(TAP_CASE(rate_from_samples), )
