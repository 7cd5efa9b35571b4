/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The process outside a job's namespaces (lsf-criu-start, lsf-criu-restore):
 * starting the init, copying the job's output, waiting, exiting like the job;
 * see nssuper.c. Included through nsjob.h.
 */
#ifndef LC_NSSUPER_H
#define LC_NSSUPER_H

#include <stdbool.h>
#include <sys/types.h>

#include "err.h"

/*
 * Forks the namespace's init (lc_ns_init with argv, or NULL to adopt a
 * restored job) right after lc_ns_create, with SIGCHLD and the relayed
 * signals blocked in the caller from then on, and waits until the init has
 * mounted its /proc. Signals LSF sent before the init could take them over
 * are handed to it once. Returns the init's host PID and the read end of its
 * status pipe in *ret_status_fd, or a negative errno with err set (the init
 * is then reaped).
 */
pid_t lc_ns_start_init(char **argv, int *ret_status_fd, struct lc_err *err);

/* Output copied from a pipe the job writes to, to a file of ours. */
struct lc_pump {
	int from;  /* read end of the job's stdout or stderr pipe */
	int to;	   /* a copy of our own fd 1 or 2 */
	int fd;	   /* which: 1 or 2 */
	bool both; /* stdout and stderr were one file: the pipe serves both */
};

/*
 * Outside the namespace: copies the job's output from the pumps until they
 * close, waits for the init, and returns the job's raw wait status read from
 * status_fd. If the init was killed before it could write one (SIGKILL from
 * outside, its cgroup killed), the kernel killed the job with it: returns a
 * status of death by that signal. Returns -1 if the init ended otherwise.
 *
 * Signals are not forwarded from here: the sentinel in LSF's process group
 * takes them (see nsinit.c), so each reaches the job once. They stay blocked
 * here, so this process outlives the job it reports on.
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
/* Dies of the same signal as st, or returns its exit code. */
int lc_exit_like(int st);

#endif
