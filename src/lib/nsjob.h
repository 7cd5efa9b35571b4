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
 */
#ifndef LC_NSJOB_H
#define LC_NSJOB_H

#include <stdbool.h>
#include <sys/types.h>

#include "err.h"

#define LC_NS_JOB_PID	   1001
#define LC_STARTER_FILE	   "lsf-criu.starter"

struct lc_starter_rec {
	char jobid[32];
	pid_t init_pid;			/* host PID of the namespace's init */
	unsigned long long init_start;	/* its start time, to detect PID reuse */
};

int lc_starter_save(int dirfd, const struct lc_starter_rec *r);
int lc_starter_load(int dirfd, uid_t owner, struct lc_starter_rec *r, struct lc_err *err);

/*
 * unshare(USER|PID|NS) and map the caller's own uid and gid (not root).
 * -EAGAIN when the namespaces could not be created (nothing changed); any
 * other error leaves the caller in a half-made user namespace.
 */
int lc_ns_create(struct lc_err *err);
/* Blocks SIGCHLD and the forwarded signals; call before forking the init. */
void lc_ns_block_signals(void);
/*
 * The init of the namespace (PID 1). With argv, starts the job as
 * LC_NS_JOB_PID (setsid, exec); without, adopts LC_NS_JOB_PID once a restore
 * reparents it. Forwards signals to the job's process group, reaps every
 * child, writes the job's raw wait status to status_fd and exits. ready_fd
 * gets one byte once /proc is mounted. Never returns.
 */
void lc_ns_init(char **argv, int ready_fd, int status_fd) __attribute__((noreturn));
/* Output copied from a pipe the job writes to, to a file of ours. */
struct lc_pump {
	int from;	/* read end of the job's stdout or stderr pipe */
	int to;		/* a copy of our own fd 1 or 2 */
	int fd;		/* which: 1 or 2 */
	bool both;	/* stdout and stderr were one file: the pipe serves both */
};

/*
 * Outside the namespace: forwards the usual signals to the init, copies the
 * job's output from the pumps until they close, waits for the init, and
 * returns the job's raw wait status read from status_fd (or -1).
 *
 * Why pipes: an fd of a file opened in the host's mount namespace cannot be
 * dumped, and re-opening LSF's output file inside the namespace would give the
 * job its own file offset, so its output and LSF's job-file shell would
 * overwrite each other. A pipe has no mount, and this process keeps writing
 * through LSF's own file description.
 */
int lc_ns_supervise(pid_t init, int status_fd, struct lc_pump *pumps, int npumps);
/*
 * Replaces fds 1 and 2 (when they are not pipes already) with pipes; fills
 * pumps with their read ends and our original fds; returns how many.
 */
int lc_ns_make_pumps(struct lc_pump *pumps, struct lc_err *err);
/* Puts our original fds 1 and 2 back (after the init, which keeps the pipes, is forked). */
void lc_ns_unpump_self(const struct lc_pump *pumps, int npumps);
/*
 * Enters the namespaces of the init (user, mnt, pid), forks, raises
 * CAP_CHECKPOINT_RESTORE into the ambient set and execs argv (absolute
 * path). The fds in keep stay open (their files re-opened inside the mount
 * namespace when they are regular files). Returns the child's pid.
 */
pid_t lc_ns_spawn(pid_t init, bool setns_user_mnt, char *const argv[], const int *keep, int nkeep,
		  int out_fd, struct lc_err *err);
/* Dies of the same signal as st, or returns its exit code. */
int lc_exit_like(int st);

#endif
