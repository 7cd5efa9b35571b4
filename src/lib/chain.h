/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The chain state machine: every change of a chain's state (the ledger's
 * "state" field) goes through the functions below, and only along the
 * transitions of one table (lc_chain_allowed). The programs decide nothing
 * about states themselves: they report what happened (the run limit was
 * hit, a checkpoint was committed, the job ended, a restore started ...)
 * and act on the answer.
 *
 *   running --run limit--> overrun-checkpoint-requested --committed, killed--> checkpointed
 *      ^  \                     |  failed / timeout / bkill                        |
 *      |   \--bchkpnt -k--> checkpointed-on-request (held)                         | post-exec:
 *      |         |  brestart by hand                                             restarting
 *      +---------+<------------------- the restored job runs ----------------------+
 *   any state --job ended, killed, budget used up--> ended --brestart by hand--> running
 *
 * Each function works on a loaded ledger under its lock (lc_chain_open /
 * lc_chain_close) and returns a negative errno only when the ledger is in a
 * state the event cannot come from in a correct run (then nothing changed).
 */
#ifndef LC_CHAIN_H
#define LC_CHAIN_H

#include <stdbool.h>
#include <stddef.h>

#include "err.h"
#include "ledger.h"

/* True when the table allows moving from one state to the other. */
bool lc_chain_allowed(enum lc_chain_state from, enum lc_chain_state to);

/*
 * Takes the ledger lock (waiting up to timeout s) and loads the ledger.
 * With create, a missing ledger becomes a new chain whose first job is
 * jobid; without, a missing ledger is -ENOENT. Returns the lock fd, to be
 * passed to lc_chain_close() (or simply closed to abandon the change).
 */
int lc_chain_open(int dirfd, const char *jobid, bool create, int timeout, struct lc_ledger *l,
		  struct lc_err *err);
/* Saves the ledger and releases the lock (*lockfd becomes -1). */
int lc_chain_close(int dirfd, int *lockfd, const struct lc_ledger *l, struct lc_err *err);

/* What the TERMINATE action does at the run limit. */
enum lc_overrun {
	LC_OVERRUN_CHECKPOINT, /* request recorded: ask for the checkpoint */
	LC_OVERRUN_PENDING,    /* already requested for this job, deadline not passed */
	LC_OVERRUN_OVERDUE,    /* already requested and its deadline passed: kill */
	LC_OVERRUN_KILL,       /* no checkpoint (chain ended, budget used up): kill */
};

struct lc_overrun_req {
	const char *jobid;
	long long now;	     /* epoch seconds */
	long timeout;	     /* seconds the checkpoint may take */
	long restart_limit;  /* fixed in the ledger at the chain's first overrun */
	long long run_start; /* start of this run if known, else 0 */
	const char *host;    /* execution host, or NULL */
};

/* The run limit of req->jobid was reached. why gets the reason of a KILL. */
enum lc_overrun lc_chain_overrun(struct lc_ledger *l, const struct lc_overrun_req *req, char *why,
				 size_t size);

struct lc_ckpt_done {
	const char *jobid;
	const char *imgset;
	bool killed; /* the job is killed now that the set is committed */
	long long time;
	double seconds;
	long long bytes;
	long long mem_bytes;
};

/*
 * A checkpoint of jobid was verified and made durable. Records it (and a
 * throughput sample). A checkpoint that kills the job answers a run-limit
 * request of the same job (-> checkpointed); any other killing checkpoint
 * holds the chain until a brestart by hand (-> checkpointed-on-request).
 * An ended chain stays ended.
 */
int lc_chain_checkpointed(struct lc_ledger *l, const struct lc_ckpt_done *c);

/*
 * A checkpoint of jobid failed (or was refused). Returns true when it
 * answered a run-limit request: the chain ends and the caller must end the
 * job as LSF would.
 */
bool lc_chain_checkpoint_failed(struct lc_ledger *l, const char *jobid, const char *why);

/* The watchdog's deadline passed without a checkpoint; true if it must kill. */
bool lc_chain_timed_out(struct lc_ledger *l, const char *jobid);

/* The job is terminated without a checkpoint (bkill, another limit): the chain ends. */
void lc_chain_terminated(struct lc_ledger *l, const char *jobid, const char *why);

/* What the post-exec does when a job of the chain has ended. */
enum lc_job_end {
	LC_END_RESTART, /* checkpointed at the run limit: restart it */
	LC_END_ENDED,	/* the chain ended now (write the summary) */
	LC_END_HELD,	/* checkpointed on request: waits for a brestart by hand */
	LC_END_STALE,	/* an older job of the chain; a newer run exists */
};

struct lc_job_ended {
	const char *jobid;
	long long now;
	const char *how;       /* "exited with status 0", ... */
	const char *killed_by; /* non-NULL: LSF ended it on request (LSB_JOBEXIT_INFO) */
	bool restart_enabled;  /* ENABLE_ORUN_RESTART */
};

enum lc_job_end lc_chain_job_ended(struct lc_ledger *l, const struct lc_job_ended *e);

/* The post-exec is about to run brestart for jobid: counts the restart first. */
int lc_chain_restart_begin(struct lc_ledger *l, const char *jobid);
/* brestart answered with the new job ID. */
void lc_chain_restart_submitted(struct lc_ledger *l, const char *jobid, const char *newid);
/* brestart failed: the restart is not counted and the chain ends. */
void lc_chain_restart_failed(struct lc_ledger *l, const char *jobid, const char *why);

/*
 * The restored job jobid runs (lsf-criu-restore). After a restart by hand of
 * a held or ended chain, counts a manual restart. The chain runs again.
 */
void lc_chain_run_started(struct lc_ledger *l, const char *jobid, long long now, const char *host);

#endif
