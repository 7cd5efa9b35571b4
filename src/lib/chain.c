/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The chain state machine; see chain.h.
 *
 * Contract:
 * 1. The state changes only through move(), which refuses every transition
 *    the table does not list; no other module writes l->state.
 * 2. A function that refuses an event changes nothing.
 * 3. Restarts are counted before brestart runs (a crash can never restart
 *    twice) and uncounted only when brestart failed.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "chain.h"
#include "cleanup.h"

#define R LC_CHAIN_RUNNING
#define O LC_CHAIN_OVERRUN
#define C LC_CHAIN_CHECKPOINTED
#define S LC_CHAIN_RESTARTING
#define E LC_CHAIN_ENDED
#define H LC_CHAIN_HELD

/* allowed[from][to] */
static const bool allowed[LC_CHAIN_STATE_COUNT][LC_CHAIN_STATE_COUNT] = {
	/* a job that was never seen checkpointed runs, is limited, checkpointed on request, ends */
	[R] = { [R] = true, [O] = true, [H] = true, [E] = true },
	/* the requested checkpoint commits, fails, times out, or the job is killed meanwhile */
	[O] = { [O] = true, [C] = true, [H] = true, [E] = true, [R] = true },
	/* post-exec restarts or ends it; a brestart by hand may come first */
	[C] = { [S] = true, [E] = true, [R] = true, [O] = true, [H] = true },
	/* the restored job runs, or never comes (ends) */
	[S] = { [R] = true, [E] = true, [O] = true, [H] = true },
	/* checkpointed on request: a brestart by hand continues, or the chain is ended */
	[H] = { [H] = true, [R] = true, [O] = true, [E] = true },
	/* a brestart by hand revives an ended chain */
	[E] = { [E] = true, [R] = true },
};

#undef R
#undef O
#undef C
#undef S
#undef E
#undef H

bool lc_chain_allowed(enum lc_chain_state from, enum lc_chain_state to)
{
	return from < LC_CHAIN_STATE_COUNT && to < LC_CHAIN_STATE_COUNT && allowed[from][to];
}

static int move(struct lc_ledger *l, enum lc_chain_state to)
{
	if (!lc_chain_allowed(l->state, to))
		return -EINVAL;
	l->state = to;
	return 0;
}

#define SET(buf, ...) snprintf((buf), sizeof(buf), __VA_ARGS__)

/* Ends the chain with a reason; the run of jobid gets run_reason unless it has one. */
static void end_chain(struct lc_ledger *l, const char *jobid, long long now, const char *reason,
		      const char *run_reason, bool overwrite)
{
	struct lc_run *run = jobid ? lc_ledger_run(l, jobid, 0) : NULL;

	(void)move(l, LC_CHAIN_ENDED); /* every state may end */
	SET(l->end_reason, "%s", reason);
	if (run) {
		if (run_reason && (overwrite || !run->end_reason[0]))
			SET(run->end_reason, "%s", run_reason);
		if (now > 0 && run->end == 0)
			run->end = now;
	}
}

static bool is_req(const struct lc_ledger *l, const char *jobid)
{
	return l->state == LC_CHAIN_OVERRUN && !strcmp(l->req_jobid, jobid);
}

int lc_chain_open(int dirfd, const char *jobid, bool create, int timeout, struct lc_ledger *l,
		  struct lc_err *err)
{
	_cleanup_close_ int lock = -1;
	int r;

	lock = lc_ledger_lock(dirfd, timeout, err);
	if (lock < 0)
		return lock;
	r = lc_ledger_load(dirfd, getuid(), l, err);
	if (r == -ENOENT && create) {
		lc_ledger_init(l, jobid, getuid());
		r = 0;
	}
	if (r < 0)
		return r;
	return TAKE_FD(lock);
}

int lc_chain_close(int dirfd, int *lockfd, const struct lc_ledger *l, struct lc_err *err)
{
	int r = lc_ledger_save(dirfd, l);

	if (*lockfd >= 0)
		close(*lockfd);
	*lockfd = -1;
	if (r < 0)
		return lc_err_set(err, -r, "cannot write the ledger '%s'", LC_LEDGER_FILE);
	return 0;
}

enum lc_overrun lc_chain_overrun(struct lc_ledger *l, const struct lc_overrun_req *q, char *why,
				 size_t size)
{
	struct lc_run *run;

	if (is_req(l, q->jobid))
		return q->now >= l->req_deadline ? LC_OVERRUN_OVERDUE : LC_OVERRUN_PENDING;
	if (l->state == LC_CHAIN_ENDED) {
		snprintf(why, size, "the chain has ended (%s)", l->end_reason);
		return LC_OVERRUN_KILL;
	}
	if (l->state == LC_CHAIN_CHECKPOINTED && !strcmp(l->ckpt_jobid, q->jobid)) {
		snprintf(why, size, "job %s was already checkpointed at its run limit", q->jobid);
		return LC_OVERRUN_KILL;
	}
	if (l->restart_limit < 0)
		l->restart_limit = q->restart_limit;
	run = lc_ledger_run(l, q->jobid, q->run_start);
	if (run && q->host && !run->host[0])
		SET(run->host, "%s", q->host);
	if (!(l->restarts < l->restart_limit || (l->restart_limit == 0 && l->restarts == 0))) {
		char reason[128];

		SET(reason, "restart budget used up (%ld of %ld)", l->restarts, l->restart_limit);
		snprintf(why, size, "%s", reason);
		end_chain(l, q->jobid, q->now, reason, "killed at the run limit", true);
		return LC_OVERRUN_KILL;
	}
	if (move(l, LC_CHAIN_OVERRUN) < 0) {
		snprintf(why, size, "the chain is %s", lc_chain_state_name(l->state));
		return LC_OVERRUN_KILL;
	}
	SET(l->req_jobid, "%s", q->jobid);
	l->req_time = q->now;
	l->req_deadline = q->now + q->timeout;
	return LC_OVERRUN_CHECKPOINT;
}

int lc_chain_checkpointed(struct lc_ledger *l, const struct lc_ckpt_done *c)
{
	struct lc_ckpt_sample *s;
	enum lc_chain_state to = l->state;

	if (c->killed && l->state != LC_CHAIN_ENDED)
		to = is_req(l, c->jobid) ? LC_CHAIN_CHECKPOINTED : LC_CHAIN_HELD;
	if (to != l->state && move(l, to) < 0)
		return -EINVAL;
	SET(l->ckpt_jobid, "%s", c->jobid);
	SET(l->ckpt_imgset, "%s", c->imgset);
	l->ckpt_time = c->time;
	l->ckpt_seconds = c->seconds;
	l->ckpt_bytes = c->bytes;
	if (l->n_ckpts == LC_LEDGER_MAX_CKPTS) {
		memmove(&l->ckpts[0], &l->ckpts[1],
			sizeof(l->ckpts[0]) * (LC_LEDGER_MAX_CKPTS - 1));
		l->n_ckpts--;
	}
	s = &l->ckpts[l->n_ckpts++];
	memset(s, 0, sizeof(*s));
	SET(s->jobid, "%s", c->jobid);
	s->time = c->time;
	s->seconds = c->seconds;
	s->bytes = c->bytes;
	s->mem_bytes = c->mem_bytes;
	if (to == LC_CHAIN_HELD) {
		struct lc_run *run = lc_ledger_run(l, c->jobid, 0);

		if (run)
			SET(run->end_reason, "checkpointed and killed on request");
	}
	return 0;
}

bool lc_chain_checkpoint_failed(struct lc_ledger *l, const char *jobid, const char *why)
{
	char reason[128];

	if (!is_req(l, jobid))
		return false;
	SET(reason, "the run-limit checkpoint failed (%.80s); killed", why);
	end_chain(l, jobid, 0, reason, "killed at the run limit: the checkpoint failed", true);
	return true;
}

bool lc_chain_timed_out(struct lc_ledger *l, const char *jobid)
{
	/* Running or restarting: the action died before it recorded its request. */
	if (!is_req(l, jobid) && l->state != LC_CHAIN_RUNNING && l->state != LC_CHAIN_RESTARTING)
		return false;
	end_chain(l, jobid, 0, "no checkpoint within ORUN_TIMEOUT_SECONDS; killed",
		  "killed: no checkpoint before the timeout", true);
	return true;
}

void lc_chain_terminated(struct lc_ledger *l, const char *jobid, const char *why)
{
	if (l->state == LC_CHAIN_ENDED) {
		struct lc_run *run = lc_ledger_run(l, jobid, 0);

		if (run && !run->end_reason[0])
			SET(run->end_reason, "%s", why);
		return;
	}
	end_chain(l, jobid, 0, why, why, false);
}

enum lc_job_end lc_chain_job_ended(struct lc_ledger *l, const struct lc_job_ended *e)
{
	struct lc_run *run = lc_ledger_find_run(l, e->jobid);
	const struct lc_run *latest = l->n_runs ? &l->runs[l->n_runs - 1] : NULL;
	char reason[128];

	if (l->state == LC_CHAIN_RESTARTING) {
		if (latest && strcmp(latest->jobid, e->jobid))
			return LC_END_STALE; /* the old job's post-exec again: the restart is on */
		SET(reason, "the restarted job %s %s before its restore completed", e->jobid,
		    e->how);
		end_chain(l, e->jobid, e->now, reason, e->how, false);
		return LC_END_ENDED;
	}
	if (run && latest && latest != run) {
		/* A newer run exists: only close this one. */
		if (!run->end)
			run->end = e->now;
		if (!run->end_reason[0])
			SET(run->end_reason, "%s", e->how);
		return LC_END_STALE;
	}
	run = lc_ledger_run(l, e->jobid, 0);
	if (run && !run->end)
		run->end = e->now;
	if (e->killed_by) {
		char rr[96];

		SET(reason,
		    "terminated by LSF on request or at a limit (LSB_JOBEXIT_INFO='%.48s'); "
		    "not restarted",
		    e->killed_by);
		SET(rr, "terminated (%.48s)", e->killed_by);
		end_chain(l, e->jobid, e->now, reason, rr, true);
		return LC_END_ENDED;
	}
	if (l->state == LC_CHAIN_CHECKPOINTED && !strcmp(l->ckpt_jobid, e->jobid) &&
	    !strcmp(l->req_jobid, e->jobid)) {
		const char *rr = "checkpointed at the run limit";

		if (!e->restart_enabled) {
			end_chain(l, e->jobid, e->now,
				  "checkpointed at the run limit; not restarted "
				  "because ENABLE_ORUN_RESTART is not Y",
				  rr, true);
			return LC_END_ENDED;
		}
		if (l->restarts >= l->restart_limit) {
			SET(reason,
			    "checkpointed at the run limit; restart budget used up (%ld of "
			    "%ld)",
			    l->restarts, l->restart_limit);
			end_chain(l, e->jobid, e->now, reason, rr, true);
			return LC_END_ENDED;
		}
		if (run)
			SET(run->end_reason, "%s", rr);
		return LC_END_RESTART;
	}
	if (l->state == LC_CHAIN_HELD && !strcmp(l->ckpt_jobid, e->jobid))
		return LC_END_HELD;
	if (l->state == LC_CHAIN_ENDED) {
		if (run && !run->end_reason[0])
			SET(run->end_reason, "%s", e->how);
		return LC_END_ENDED;
	}
	SET(reason, "the job %s", e->how);
	end_chain(l, e->jobid, e->now, reason, e->how, false);
	return LC_END_ENDED;
}

int lc_chain_restart_begin(struct lc_ledger *l, const char *jobid)
{
	if (l->state != LC_CHAIN_CHECKPOINTED || strcmp(l->ckpt_jobid, jobid))
		return -EINVAL;
	if (move(l, LC_CHAIN_RESTARTING) < 0)
		return -EINVAL;
	l->restarts++;
	return 0;
}

void lc_chain_restart_submitted(struct lc_ledger *l, const char *jobid, const char *newid)
{
	struct lc_run *run = lc_ledger_run(l, jobid, 0);

	if (run)
		SET(run->end_reason, "checkpointed at the run limit, restarted as job %s", newid);
	(void)lc_ledger_run(l, newid, 0);
}

void lc_chain_restart_failed(struct lc_ledger *l, const char *jobid, const char *why)
{
	char reason[128];

	if (l->state != LC_CHAIN_RESTARTING)
		return;
	l->restarts--;
	SET(reason, "brestart failed: %.100s", why);
	end_chain(l, jobid, 0, reason, "checkpointed at the run limit; brestart failed", true);
}

void lc_chain_run_started(struct lc_ledger *l, const char *jobid, long long now, const char *host)
{
	struct lc_run *run;

	if (l->state == LC_CHAIN_HELD || l->state == LC_CHAIN_ENDED) {
		l->manual_restarts++;
		l->end_reason[0] = '\0';
	}
	(void)move(l, LC_CHAIN_RUNNING); /* every state may run again */
	run = lc_ledger_run(l, jobid, now);
	if (!run)
		return;
	run->start = now;
	run->end = 0;
	run->end_reason[0] = '\0';
	if (host)
		SET(run->host, "%s", host);
}
