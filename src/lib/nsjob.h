/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Jobs in their own user, PID and mount namespaces (lsf-criu-start).
 *
 * The layout, measured to work for a non-root job with its real uid and no
 * file capabilities at all: a user namespace that maps the user's own uid
 * and gid (not root), a PID namespace and a mount namespace with its own
 * /proc, a small reaping init as PID 1, and the job as its child at PID
 * LC_NS_JOB_PID. criu runs inside those namespaces, entered from outside,
 * with CAP_CHECKPOINT_RESTORE in its ambient set; the job never holds a
 * capability.
 *
 * The processes, as the host sees them (first run and restore alike):
 *
 *   LSF's process group   sh <jobfile> ── lsf-criu-start (or lsf-criu-restore)
 *                                              │
 *   the job's namespaces                      init: PID 1, its own session
 *                                              ├── sentinel: PID 2, still in LSF's
 *                                              │   process group and session
 *                                              └── job: PID 1001, its own session
 *
 * The outer process (lsf-criu-start or lsf-criu-restore) copies the job's
 * output and exits like the job. The init dies with it, and the kernel then
 * kills everything in the namespace. LSF's signals reach the job through the
 * sentinel, which LSF stops, continues, signals and kills with its group.
 *
 * One module per concern, all declared here:
 *   nsjob.c    creating the namespaces, the record of the init, the signal set
 *   nsinit.c   the init and its sentinel (nsinit.h)
 *   nssuper.c  the outer process: starting the init, pumps, waiting (nssuper.h)
 *   nsenter.c  entering a job's namespaces to run criu there (nsenter.h)
 */
#ifndef LC_NSJOB_H
#define LC_NSJOB_H

#include <signal.h>
#include <stdbool.h>
#include <sys/types.h>

#include "err.h"

#define LC_NS_JOB_PID	1001
#define LC_STARTER_FILE "lsf-criu.starter"

struct lc_starter_rec {
	char jobid[32];
	pid_t init_pid;		       /* host PID of the namespace's init */
	unsigned long long init_start; /* its start time, to detect PID reuse */
};

int lc_starter_save(int dirfd, const struct lc_starter_rec *r);
int lc_starter_load(int dirfd, uid_t owner, struct lc_starter_rec *r, struct lc_err *err);

/*
 * unshare(USER|PID|NS) and map the caller's own uid and gid (not root).
 * -EAGAIN when the namespaces could not be created (nothing changed); any
 * other error leaves the caller in a half-made user namespace.
 */
int lc_ns_create(struct lc_err *err);
/*
 * The signals LSF may send that are relayed to the job: every standard
 * signal but SIGKILL, SIGSTOP (not catchable: the init mirrors them) and
 * SIGCHLD. Real-time signals are not relayed.
 */
void lc_ns_signal_set(sigset_t *ret);
/* Blocks SIGCHLD and the relayed signals; call before forking the init. */
void lc_ns_block_signals(void);
/* Writes text to an existing file (a /proc file); 0 or a negative errno. */
int lc_ns_write_file(const char *path, const char *text);

#include "nsenter.h"
#include "nsinit.h"
#include "nssuper.h"

#endif
