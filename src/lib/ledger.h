/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The ledger: one state file per chain of jobs (a job and its restarts), kept
 * in the job checkpoint directory as lsf-criu.ledger.json, so it follows the
 * directory when LSF renames it on brestart. Written atomically under a lock
 * (lsf-criu.ledger.lock) by the TERMINATE action, its watchdog, echkpnt.criu,
 * lsf-criu-restore and the post-exec. A missing, truncated, hostile or newer
 * file is an error the caller must turn into a safe decision.
 */
#ifndef LC_LEDGER_H
#define LC_LEDGER_H

#include <stdbool.h>
#include <sys/types.h>

#include "err.h"

#define LC_LEDGER_VERSION   2
#define LC_LEDGER_MAX_RUNS  64
#define LC_LEDGER_MAX_CKPTS 16
#define LC_LEDGER_FILE	    "lsf-criu.ledger.json"
#define LC_LEDGER_LOCK	    "lsf-criu.ledger.lock"

/*
 * The states of a chain. Only chain.c changes them, along the transitions
 * its table allows (see chain.h).
 */
enum lc_chain_state {
	LC_CHAIN_RUNNING,      /* a run is going on, nothing asked */
	LC_CHAIN_OVERRUN,      /* the run limit was hit; a checkpoint was requested */
	LC_CHAIN_CHECKPOINTED, /* the overrun checkpoint succeeded; the job was killed */
	LC_CHAIN_RESTARTING,   /* post-exec asked brestart for the next run */
	LC_CHAIN_ENDED,	       /* no further run will happen by itself */
	LC_CHAIN_HELD,	       /* checkpointed and killed on request (bchkpnt -k); a
				       brestart by hand continues the chain (version 2) */
	LC_CHAIN_STATE_COUNT
};

struct lc_run {
	char jobid[32];
	long long start; /* epoch seconds, 0 if unknown */
	long long end;	 /* epoch seconds, 0 while running */
	char end_reason[96];
	char host[64]; /* execution host, "" if unknown (version 2) */
};

/* One successful checkpoint, kept to plan the next one's duration (version 2). */
struct lc_ckpt_sample {
	char jobid[32];
	long long time;	     /* when it was committed, epoch seconds */
	long long bytes;     /* bytes written */
	long long mem_bytes; /* the job's memory estimated before the dump */
	double seconds;	     /* wall time of the dump */
};

struct lc_ledger {
	char chain_id[32]; /* the first job ID of the chain */
	uid_t uid;
	enum lc_chain_state state;
	long restart_limit; /* ORUN_RESTART_LIMIT when the chain first overran */
	long restarts;	    /* restarts actually made */
	char req_jobid[32]; /* the job whose overrun checkpoint was requested */
	long long req_time, req_deadline;
	char ckpt_jobid[32]; /* the newest successful checkpoint */
	char ckpt_imgset[64];
	long long ckpt_time;
	double ckpt_seconds;
	long long ckpt_bytes;
	char end_reason[128];
	long manual_restarts; /* restarts by hand (brestart) of a held or ended chain */
	int n_runs;
	struct lc_run runs[LC_LEDGER_MAX_RUNS];
	int n_ckpts; /* the newest last */
	struct lc_ckpt_sample ckpts[LC_LEDGER_MAX_CKPTS];
};

const char *lc_chain_state_name(enum lc_chain_state s);

/* Takes the ledger lock (waits up to timeout s); returns the lock fd to close. */
int lc_ledger_lock(int dirfd, int timeout, struct lc_err *err);
/* -ENOENT when there is no ledger yet; other errors for an unusable one. */
int lc_ledger_load(int dirfd, uid_t owner, struct lc_ledger *l, struct lc_err *err);
int lc_ledger_parse(const char *text, struct lc_ledger *l, struct lc_err *err);
/* Saves atomically, and publishes the restart count for the job (restarts.h). */
int lc_ledger_save(int dirfd, const struct lc_ledger *l);
/* Initialises a new ledger for the chain starting with jobid. */
void lc_ledger_init(struct lc_ledger *l, const char *jobid, uid_t uid);
/* The run of jobid, added (with start) if missing; NULL when the list is full. */
struct lc_run *lc_ledger_run(struct lc_ledger *l, const char *jobid, long long start);
/* The run of jobid, or NULL. */
struct lc_run *lc_ledger_find_run(struct lc_ledger *l, const char *jobid);

#endif
