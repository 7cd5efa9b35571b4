/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Unit tests of the chain state machine (src/lib/chain.c) and of the ledger it keeps. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "chain.h"
#include "ledger.h"
#include "log.h"
#include "tap.h"

#define T0 1700000000LL

static struct lc_ledger *new_chain(const char *jobid)
{
	struct lc_ledger *l = calloc(1, sizeof(*l));

	if (l)
		lc_ledger_init(l, jobid, getuid());
	lc_log_stderr_level(LC_LOG_ERROR);
	return l;
}

static enum lc_overrun overrun_at(struct lc_ledger *l, const char *jobid, long long now, long limit)
{
	char why[160];
	struct lc_overrun_req q = { .jobid = jobid,
				    .now = now,
				    .timeout = 180,
				    .restart_limit = limit,
				    .run_start = now - 60,
				    .host = "hostA" };

	return lc_chain_overrun(l, &q, why, sizeof(why));
}

static int checkpointed(struct lc_ledger *l, const char *jobid, bool killed, long long now)
{
	struct lc_ckpt_done c = { .jobid = jobid,
				  .imgset = "ckpt.1",
				  .killed = killed,
				  .time = now,
				  .seconds = 2.5,
				  .bytes = 100 << 20,
				  .mem_bytes = 99 << 20 };

	return lc_chain_checkpointed(l, &c);
}

static enum lc_job_end ended(struct lc_ledger *l, const char *jobid, const char *killed_by,
			     bool restart)
{
	struct lc_job_ended e = { .jobid = jobid,
				  .now = T0 + 500,
				  .how = "exited with status 0",
				  .killed_by = killed_by,
				  .restart_enabled = restart };

	return lc_chain_job_ended(l, &e);
}

/* The table: what may follow what. */
static int table(void)
{
	static const struct {
		enum lc_chain_state from, to;
		bool ok;
	} cases[] = {
		{ LC_CHAIN_RUNNING, LC_CHAIN_OVERRUN, true },
		{ LC_CHAIN_RUNNING, LC_CHAIN_HELD, true },
		{ LC_CHAIN_RUNNING, LC_CHAIN_CHECKPOINTED, false },
		{ LC_CHAIN_RUNNING, LC_CHAIN_RESTARTING, false },
		{ LC_CHAIN_OVERRUN, LC_CHAIN_CHECKPOINTED, true },
		{ LC_CHAIN_OVERRUN, LC_CHAIN_RESTARTING, false },
		{ LC_CHAIN_CHECKPOINTED, LC_CHAIN_RESTARTING, true },
		{ LC_CHAIN_RESTARTING, LC_CHAIN_RUNNING, true },
		{ LC_CHAIN_RESTARTING, LC_CHAIN_CHECKPOINTED, false },
		{ LC_CHAIN_HELD, LC_CHAIN_RUNNING, true },
		{ LC_CHAIN_HELD, LC_CHAIN_RESTARTING, false },
		{ LC_CHAIN_HELD, LC_CHAIN_CHECKPOINTED, false },
		{ LC_CHAIN_ENDED, LC_CHAIN_RUNNING, true },
		{ LC_CHAIN_ENDED, LC_CHAIN_OVERRUN, false },
		{ LC_CHAIN_ENDED, LC_CHAIN_CHECKPOINTED, false },
		{ LC_CHAIN_ENDED, LC_CHAIN_RESTARTING, false },
		{ LC_CHAIN_ENDED, LC_CHAIN_HELD, false },
		{ LC_CHAIN_STATE_COUNT, LC_CHAIN_RUNNING, false },
		{ LC_CHAIN_RUNNING, LC_CHAIN_STATE_COUNT, false },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (lc_chain_allowed(cases[i].from, cases[i].to) != cases[i].ok) {
			tap_diag("%s -> %s should be %s", lc_chain_state_name(cases[i].from),
				 lc_chain_state_name(cases[i].to),
				 cases[i].ok ? "allowed" : "refused");
			return TAP_FAIL;
		}
	}
	/* Every state can end, and every state can run again (a restore by hand). */
	for (int s = 0; s < LC_CHAIN_STATE_COUNT; s++) {
		CHECK(lc_chain_allowed((enum lc_chain_state)s, LC_CHAIN_ENDED));
		CHECK(lc_chain_allowed((enum lc_chain_state)s, LC_CHAIN_RUNNING));
	}
	return TAP_PASS;
}

static int overrun_first(void)
{
	struct lc_ledger *l = new_chain("100");

	CHECK(l);
	CHECK_INT(overrun_at(l, "100", T0, 2), ==, LC_OVERRUN_CHECKPOINT);
	CHECK_INT(l->state, ==, LC_CHAIN_OVERRUN);
	CHECK_STR(l->req_jobid, "100");
	CHECK_INT(l->req_time, ==, T0);
	CHECK_INT(l->req_deadline, ==, T0 + 180);
	CHECK_INT(l->restart_limit, ==, 2);
	CHECK_INT(l->n_runs, ==, 1);
	CHECK_STR(l->runs[0].jobid, "100");
	CHECK_INT(l->runs[0].start, ==, T0 - 60);
	CHECK_STR(l->runs[0].host, "hostA");
	/* The limit is fixed at the first overrun: a later job's value does not change it. */
	CHECK_INT(overrun_at(l, "100", T0 + 1, 9), ==, LC_OVERRUN_PENDING);
	CHECK_INT(l->restart_limit, ==, 2);
	free(l);
	return TAP_PASS;
}

static int overrun_pending_then_overdue(void)
{
	struct lc_ledger *l = new_chain("100");

	CHECK(l);
	CHECK_INT(overrun_at(l, "100", T0, 2), ==, LC_OVERRUN_CHECKPOINT);
	CHECK_INT(overrun_at(l, "100", T0 + 179, 2), ==, LC_OVERRUN_PENDING);
	CHECK_INT(l->state, ==, LC_CHAIN_OVERRUN);
	CHECK_INT(overrun_at(l, "100", T0 + 180, 2), ==, LC_OVERRUN_OVERDUE);
	CHECK_INT(l->state, ==, LC_CHAIN_OVERRUN); /* the caller ends it (timed_out) */
	CHECK(lc_chain_timed_out(l, "100"));
	CHECK_INT(l->state, ==, LC_CHAIN_ENDED);
	CHECK(strstr(l->end_reason, "ORUN_TIMEOUT_SECONDS"));
	free(l);
	return TAP_PASS;
}

static int overrun_budget(void)
{
	struct lc_ledger *l = new_chain("100");
	char why[160];
	struct lc_overrun_req q = { .jobid = "102", .now = T0, .timeout = 10, .restart_limit = 2 };

	CHECK(l);
	l->restart_limit = 2;
	l->restarts = 2;
	CHECK_INT(lc_chain_overrun(l, &q, why, sizeof(why)), ==, LC_OVERRUN_KILL);
	CHECK(strstr(why, "budget used up (2 of 2)"));
	CHECK_INT(l->state, ==, LC_CHAIN_ENDED);
	CHECK(strstr(l->end_reason, "budget used up"));
	CHECK_STR(lc_ledger_find_run(l, "102")->end_reason, "killed at the run limit");
	/* The chain has ended: later limits kill too. */
	CHECK_INT(lc_chain_overrun(l, &q, why, sizeof(why)), ==, LC_OVERRUN_KILL);
	/* ORUN_RESTART_LIMIT=0: one checkpoint, never a restart. */
	free(l);
	l = new_chain("200");
	CHECK(l);
	CHECK_INT(overrun_at(l, "200", T0, 0), ==, LC_OVERRUN_CHECKPOINT);
	CHECK_INT(checkpointed(l, "200", true, T0 + 5), ==, 0);
	CHECK_INT(ended(l, "200", NULL, true), ==, LC_END_ENDED);
	CHECK(strstr(l->end_reason, "budget used up (0 of 0)"));
	free(l);
	return TAP_PASS;
}

static int checkpoint_answers_the_request(void)
{
	struct lc_ledger *l = new_chain("100");

	CHECK(l);
	CHECK_INT(overrun_at(l, "100", T0, 2), ==, LC_OVERRUN_CHECKPOINT);
	/* A checkpoint that leaves the job running does not answer it. */
	CHECK_INT(checkpointed(l, "100", false, T0 + 1), ==, 0);
	CHECK_INT(l->state, ==, LC_CHAIN_OVERRUN);
	CHECK_INT(checkpointed(l, "100", true, T0 + 5), ==, 0);
	CHECK_INT(l->state, ==, LC_CHAIN_CHECKPOINTED);
	CHECK_STR(l->ckpt_jobid, "100");
	CHECK_STR(l->ckpt_imgset, "ckpt.1");
	CHECK_INT(l->ckpt_time, ==, T0 + 5);
	CHECK_INT(l->ckpt_bytes, ==, 100 << 20);
	CHECK_INT(l->n_ckpts, ==, 2);
	CHECK_INT(l->ckpts[1].mem_bytes, ==, 99 << 20);
	free(l);
	return TAP_PASS;
}

/* Problem 6 of issue 8: bchkpnt -k + brestart by hand, then the run limit. */
static int manual_checkpoint_continues_the_chain(void)
{
	struct lc_ledger *l = new_chain("100");

	CHECK(l);
	CHECK_INT(checkpointed(l, "100", true, T0), ==, 0);
	CHECK_INT(l->state, ==, LC_CHAIN_HELD);
	CHECK_INT(ended(l, "100", NULL, true), ==, LC_END_HELD);
	CHECK_INT(l->state, ==, LC_CHAIN_HELD);
	lc_chain_run_started(l, "101", T0 + 100, "hostB");
	CHECK_INT(l->state, ==, LC_CHAIN_RUNNING);
	CHECK_INT(l->manual_restarts, ==, 1);
	CHECK_INT(l->restarts, ==, 0);
	CHECK_STR(lc_ledger_find_run(l, "101")->host, "hostB");
	/* Its run limit is handled like any other. */
	CHECK_INT(overrun_at(l, "101", T0 + 200, 2), ==, LC_OVERRUN_CHECKPOINT);
	CHECK_INT(checkpointed(l, "101", true, T0 + 205), ==, 0);
	CHECK_INT(l->state, ==, LC_CHAIN_CHECKPOINTED);
	CHECK_INT(ended(l, "101", NULL, true), ==, LC_END_RESTART);
	free(l);
	return TAP_PASS;
}

static int checkpoint_after_the_chain_ended(void)
{
	struct lc_ledger *l = new_chain("100");

	CHECK(l);
	CHECK_INT(overrun_at(l, "100", T0, 2), ==, LC_OVERRUN_CHECKPOINT);
	lc_chain_terminated(l, "100", "not a run-limit overrun");
	CHECK_INT(l->state, ==, LC_CHAIN_ENDED);
	/* The bkill won: a checkpoint that commits later is recorded, the chain stays ended. */
	CHECK_INT(checkpointed(l, "100", true, T0 + 5), ==, 0);
	CHECK_INT(l->state, ==, LC_CHAIN_ENDED);
	CHECK_STR(l->ckpt_jobid, "100");
	free(l);
	return TAP_PASS;
}

static int history_is_bounded(void)
{
	struct lc_ledger *l = new_chain("100");
	char id[16];

	CHECK(l);
	for (int i = 0; i < LC_LEDGER_MAX_CKPTS + 5; i++) {
		snprintf(id, sizeof(id), "%d", 100 + i);
		CHECK_INT(checkpointed(l, id, false, T0 + i), ==, 0);
	}
	CHECK_INT(l->n_ckpts, ==, LC_LEDGER_MAX_CKPTS);
	CHECK_STR(l->ckpts[0].jobid, "105");
	CHECK_STR(l->ckpts[LC_LEDGER_MAX_CKPTS - 1].jobid, "120");
	free(l);
	return TAP_PASS;
}

static int checkpoint_failed(void)
{
	struct lc_ledger *l = new_chain("100");

	CHECK(l);
	/* Not a run-limit checkpoint: nothing to end. */
	CHECK(!lc_chain_checkpoint_failed(l, "100", "criu failed"));
	CHECK_INT(l->state, ==, LC_CHAIN_RUNNING);
	CHECK_INT(overrun_at(l, "100", T0, 2), ==, LC_OVERRUN_CHECKPOINT);
	CHECK(!lc_chain_checkpoint_failed(l, "999", "criu failed"));
	CHECK(lc_chain_checkpoint_failed(l, "100", "criu failed"));
	CHECK_INT(l->state, ==, LC_CHAIN_ENDED);
	CHECK(strstr(l->end_reason, "criu failed"));
	CHECK(strstr(lc_ledger_find_run(l, "100")->end_reason, "checkpoint failed"));
	free(l);
	return TAP_PASS;
}

static int timed_out(void)
{
	struct lc_ledger *l = new_chain("100");

	CHECK(l);
	/* The action died before it recorded its request: still killed. */
	CHECK(lc_chain_timed_out(l, "100"));
	CHECK_INT(l->state, ==, LC_CHAIN_ENDED);
	free(l);
	l = new_chain("100");
	CHECK(l);
	CHECK_INT(overrun_at(l, "100", T0, 2), ==, LC_OVERRUN_CHECKPOINT);
	CHECK_INT(checkpointed(l, "100", true, T0 + 5), ==, 0);
	/* Committed in time: the watchdog has nothing to do. */
	CHECK(!lc_chain_timed_out(l, "100"));
	CHECK_INT(l->state, ==, LC_CHAIN_CHECKPOINTED);
	free(l);
	return TAP_PASS;
}

static int restart_cycle(void)
{
	struct lc_ledger *l = new_chain("100");

	CHECK(l);
	CHECK_INT(overrun_at(l, "100", T0, 2), ==, LC_OVERRUN_CHECKPOINT);
	CHECK_INT(checkpointed(l, "100", true, T0 + 5), ==, 0);
	CHECK_INT(ended(l, "100", NULL, true), ==, LC_END_RESTART);
	CHECK_STR(lc_ledger_find_run(l, "100")->end_reason, "checkpointed at the run limit");
	CHECK_INT(lc_chain_restart_begin(l, "100"), ==, 0);
	CHECK_INT(l->state, ==, LC_CHAIN_RESTARTING);
	CHECK_INT(l->restarts, ==, 1);
	/* Only once. */
	CHECK_INT(lc_chain_restart_begin(l, "100"), <, 0);
	CHECK_INT(l->restarts, ==, 1);
	/* The old job's post-exec again: stale. */
	lc_chain_restart_submitted(l, "100", "101");
	CHECK_INT(ended(l, "100", NULL, true), ==, LC_END_STALE);
	CHECK_INT(l->state, ==, LC_CHAIN_RESTARTING);
	CHECK(strstr(lc_ledger_find_run(l, "100")->end_reason, "restarted as job 101"));
	lc_chain_run_started(l, "101", T0 + 30, NULL);
	CHECK_INT(l->state, ==, LC_CHAIN_RUNNING);
	CHECK_INT(l->manual_restarts, ==, 0);
	CHECK_INT(lc_ledger_find_run(l, "101")->start, ==, T0 + 30);
	free(l);
	return TAP_PASS;
}

/* The restored job may start before the post-exec records its ID. */
static int restore_before_submitted(void)
{
	struct lc_ledger *l = new_chain("100");

	CHECK(l);
	CHECK_INT(overrun_at(l, "100", T0, 2), ==, LC_OVERRUN_CHECKPOINT);
	CHECK_INT(checkpointed(l, "100", true, T0 + 5), ==, 0);
	CHECK_INT(ended(l, "100", NULL, true), ==, LC_END_RESTART);
	CHECK_INT(lc_chain_restart_begin(l, "100"), ==, 0);
	lc_chain_run_started(l, "101", T0 + 30, NULL);
	lc_chain_restart_submitted(l, "100", "101");
	CHECK_INT(l->state, ==, LC_CHAIN_RUNNING);
	CHECK_INT(l->n_runs, ==, 2);
	CHECK_INT(lc_ledger_find_run(l, "101")->start, ==, T0 + 30);
	free(l);
	return TAP_PASS;
}

static int restarted_job_never_restored(void)
{
	struct lc_ledger *l = new_chain("100");

	CHECK(l);
	CHECK_INT(overrun_at(l, "100", T0, 2), ==, LC_OVERRUN_CHECKPOINT);
	CHECK_INT(checkpointed(l, "100", true, T0 + 5), ==, 0);
	CHECK_INT(ended(l, "100", NULL, true), ==, LC_END_RESTART);
	CHECK_INT(lc_chain_restart_begin(l, "100"), ==, 0);
	lc_chain_restart_submitted(l, "100", "101");
	CHECK_INT(ended(l, "101", NULL, true), ==, LC_END_ENDED);
	CHECK(strstr(l->end_reason, "before its restore completed"));
	free(l);
	return TAP_PASS;
}

static int job_end_reasons(void)
{
	struct lc_ledger *l;

	/* Restart not enabled. */
	l = new_chain("100");
	CHECK(l);
	CHECK_INT(overrun_at(l, "100", T0, 2), ==, LC_OVERRUN_CHECKPOINT);
	CHECK_INT(checkpointed(l, "100", true, T0 + 5), ==, 0);
	CHECK_INT(ended(l, "100", NULL, false), ==, LC_END_ENDED);
	CHECK(strstr(l->end_reason, "ENABLE_ORUN_RESTART"));
	free(l);
	/* Killed on request while checkpointed: never restarted. */
	l = new_chain("100");
	CHECK(l);
	CHECK_INT(overrun_at(l, "100", T0, 2), ==, LC_OVERRUN_CHECKPOINT);
	CHECK_INT(checkpointed(l, "100", true, T0 + 5), ==, 0);
	CHECK_INT(ended(l, "100", "SIGNAL -14 SIG_TERM_USER", true), ==, LC_END_ENDED);
	CHECK(strstr(l->end_reason, "SIG_TERM_USER"));
	free(l);
	/* A job that simply finished. */
	l = new_chain("100");
	CHECK(l);
	CHECK_INT(ended(l, "100", NULL, true), ==, LC_END_ENDED);
	CHECK_STR(l->end_reason, "the job exited with status 0");
	CHECK_INT(lc_ledger_find_run(l, "100")->end, ==, T0 + 500);
	free(l);
	return TAP_PASS;
}

static int restart_failed(void)
{
	struct lc_ledger *l = new_chain("100");

	CHECK(l);
	CHECK_INT(overrun_at(l, "100", T0, 2), ==, LC_OVERRUN_CHECKPOINT);
	CHECK_INT(checkpointed(l, "100", true, T0 + 5), ==, 0);
	CHECK_INT(ended(l, "100", NULL, true), ==, LC_END_RESTART);
	CHECK_INT(lc_chain_restart_begin(l, "100"), ==, 0);
	lc_chain_restart_failed(l, "100", "brestart said no");
	CHECK_INT(l->state, ==, LC_CHAIN_ENDED);
	CHECK_INT(l->restarts, ==, 0);
	CHECK(strstr(l->end_reason, "brestart said no"));
	free(l);
	return TAP_PASS;
}

static int ended_chain_revived_by_hand(void)
{
	struct lc_ledger *l = new_chain("100");

	CHECK(l);
	lc_chain_terminated(l, "100", "killed");
	CHECK_INT(l->state, ==, LC_CHAIN_ENDED);
	lc_chain_run_started(l, "150", T0, NULL);
	CHECK_INT(l->state, ==, LC_CHAIN_RUNNING);
	CHECK_INT(l->manual_restarts, ==, 1);
	CHECK_STR(l->end_reason, "");
	free(l);
	return TAP_PASS;
}

/* Saving and loading keep every field, version 2 and its new ones included. */
static int ledger_round_trip(void)
{
	struct lc_ledger *l = new_chain("100"), *m = calloc(1, sizeof(*m));
	struct lc_err err = { 0 };

	CHECK(l && m);
	CHECK_INT(checkpointed(l, "100", true, T0), ==, 0);
	lc_chain_run_started(l, "101", T0 + 10, "host\xe9-b"); /* not UTF-8: kept as '?' */
	CHECK_INT(checkpointed(l, "101", true, T0 + 20), ==, 0);
	CHECK_INT(l->state, ==, LC_CHAIN_HELD);
	CHECK_INT(lc_ledger_save(tap_dirfd, l), ==, 0);
	CHECK_INT(lc_ledger_load(tap_dirfd, getuid(), m, &err), ==, 0);
	CHECK_INT(m->state, ==, LC_CHAIN_HELD);
	CHECK_INT(m->manual_restarts, ==, 1);
	CHECK_INT(m->n_runs, ==, 2);
	CHECK_STR(m->runs[1].host, "host?-b");
	CHECK_INT(m->n_ckpts, ==, 2);
	CHECK_STR(m->ckpts[1].jobid, "101");
	CHECK_INT(m->ckpts[1].bytes, ==, 100 << 20);
	free(l);
	free(m);
	return TAP_PASS;
}

/* A version 1 ledger loads with the documented defaults; a newer one is refused. */
static int ledger_versions(void)
{
	static const char v1[] =
		"{\"version\":1,\"chain_id\":\"7\",\"uid\":%u,\"state\":\"%s\","
		"\"restart_limit\":2,\"restarts\":1,\"request_jobid\":\"\",\"request_time\":0,"
		"\"request_deadline\":0,\"checkpoint_jobid\":\"7\",\"checkpoint_imgset\":"
		"\"ckpt.1\",\"checkpoint_time\":5,\"checkpoint_seconds\":1.5,"
		"\"checkpoint_bytes\":10,\"end_reason\":\"\",\"runs\":[{\"jobid\":\"7\","
		"\"start\":1,\"end\":0,\"end_reason\":\"\"}]}";
	struct lc_ledger *l = calloc(1, sizeof(*l));
	struct lc_err err = { 0 };
	char text[1024];

	CHECK(l);
	snprintf(text, sizeof(text), v1, (unsigned)getuid(), "restarting");
	CHECK_INT(lc_ledger_parse(text, l, &err), ==, 0);
	CHECK_INT(l->state, ==, LC_CHAIN_RESTARTING);
	CHECK_INT(l->manual_restarts, ==, 0);
	CHECK_INT(l->n_ckpts, ==, 0);
	CHECK_STR(l->runs[0].host, "");
	/* The held state did not exist in version 1. */
	snprintf(text, sizeof(text), v1, (unsigned)getuid(), "checkpointed-on-request");
	CHECK_INT(lc_ledger_parse(text, l, &err), <, 0);
	snprintf(text, sizeof(text), v1, (unsigned)getuid(), "running");
	memcpy(strstr(text, "\"version\":1"), "\"version\":3", 11);
	CHECK_INT(lc_ledger_parse(text, l, &err), <, 0);
	CHECK(strstr(err.msg, "newer"));
	free(l);
	return TAP_PASS;
}

TAP_MAIN(TAP_CASE(table), TAP_CASE(overrun_first), TAP_CASE(overrun_pending_then_overdue),
	 TAP_CASE(overrun_budget), TAP_CASE(checkpoint_answers_the_request),
	 TAP_CASE(manual_checkpoint_continues_the_chain),
	 TAP_CASE(checkpoint_after_the_chain_ended), TAP_CASE(history_is_bounded),
	 TAP_CASE(checkpoint_failed), TAP_CASE(timed_out), TAP_CASE(restart_cycle),
	 TAP_CASE(restore_before_submitted), TAP_CASE(restarted_job_never_restored),
	 TAP_CASE(job_end_reasons), TAP_CASE(restart_failed), TAP_CASE(ended_chain_revived_by_hand),
	 TAP_CASE(ledger_round_trip), TAP_CASE(ledger_versions), )
