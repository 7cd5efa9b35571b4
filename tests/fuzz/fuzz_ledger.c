/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Fuzz target: the chain ledger (lsf-criu.ledger.json) as lc_ledger_parse()
 * reads it. The file sits in a directory the job's owner can write, so any
 * bytes may appear. An accepted ledger must hold values in their documented
 * ranges, NUL-terminated strings and at most LC_LEDGER_MAX_RUNS runs; a refused
 * one must come with an error object.
 */
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "fuzz.h"
#include "ledger.h"

#define T_MAX (1LL << 40)

#define STR_OK(a) (strnlen((a), sizeof(a)) < sizeof(a))
#define NEW_JOB	  "4294967295[99999]"

static void check_ledger(struct lc_ledger *l)
{
	struct lc_run *run;
	bool known = false;
	int n;

	FUZZ_CHECK(STR_OK(l->chain_id) && STR_OK(l->req_jobid) && STR_OK(l->ckpt_jobid) &&
		   STR_OK(l->ckpt_imgset) && STR_OK(l->end_reason));
	FUZZ_CHECK(l->uid != (uid_t)-1);
	FUZZ_CHECK((unsigned)l->state < LC_CHAIN_STATE_COUNT);
	FUZZ_CHECK(strcmp(lc_chain_state_name(l->state), "?"));
	FUZZ_CHECK(l->restart_limit >= -1 && l->restart_limit <= 1000000);
	FUZZ_CHECK(l->restarts >= 0 && l->restarts <= 1000000);
	FUZZ_CHECK(l->req_time >= 0 && l->req_time <= T_MAX);
	FUZZ_CHECK(l->req_deadline >= 0 && l->req_deadline <= T_MAX);
	FUZZ_CHECK(l->ckpt_time >= 0 && l->ckpt_time <= T_MAX);
	FUZZ_CHECK(l->ckpt_bytes >= 0 && l->ckpt_bytes <= 1LL << 50);
	FUZZ_CHECK(l->ckpt_seconds >= 0 && l->ckpt_seconds <= 1e7);
	FUZZ_CHECK(l->n_runs >= 0 && l->n_runs <= LC_LEDGER_MAX_RUNS);
	for (int i = 0; i < l->n_runs; i++) {
		FUZZ_CHECK(STR_OK(l->runs[i].jobid) && STR_OK(l->runs[i].end_reason));
		FUZZ_CHECK(l->runs[i].start >= 0 && l->runs[i].start <= T_MAX);
		FUZZ_CHECK(l->runs[i].end >= 0 && l->runs[i].end <= T_MAX);
	}
	/* What the programs do next with a loaded ledger: find or add the current run. */
	n = l->n_runs;
	for (int i = 0; i < n && !known; i++)
		known = !strcmp(l->runs[i].jobid, NEW_JOB);
	run = lc_ledger_run(l, NEW_JOB, 1);
	FUZZ_CHECK((run == NULL) == (!known && n == LC_LEDGER_MAX_RUNS));
	FUZZ_CHECK(l->n_runs == n + (run && !known));
	if (n > 0)
		FUZZ_CHECK(lc_ledger_run(l, l->runs[0].jobid, 2) == &l->runs[0]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct lc_ledger *l = fuzz_alloc(sizeof(*l));
	struct lc_err err = { 0 };
	char *text = fuzz_cstr(data, size);
	int r;

	r = lc_ledger_parse(text, l, &err);
	if (r == 0) {
		check_ledger(l);
	} else {
		FUZZ_CHECK(r < 0 && err.code > 0);
		FUZZ_CHECK(STR_OK(err.msg) && err.msg[0]);
	}
	free(text);
	free(l);
	return 0;
}
