/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The job's processes: finding its dump root and its tree. */
#ifndef LC_JOB_H
#define LC_JOB_H

#include <stdbool.h>
#include <sys/types.h>

#include "err.h"
#include "proc.h"

struct lc_job_procs {
	struct lc_proc *all; /* every process on the host, from lc_proc_list() */
	size_t n_all;
	struct lc_proc root;
	pid_t *tree; /* root and its descendants */
	size_t n_tree;
	pid_t ns_init;	/* host PID of the job's namespace init (lsf-criu-start), or 0 */
	pid_t dump_pid; /* the root as criu sees it: LC_NS_JOB_PID inside the namespace */
};

/*
 * Finds the dump root of the job whose process group is pgid: the process
 * lsf-criu-restore recorded for this job ID when the job was restarted,
 * otherwise the single child of the group leader (the job-file shell under
 * LSF's res). Refuses a root or tree member not owned by the caller and a
 * tree that contains criu. -ESRCH when the job has no process left.
 */
int lc_job_find(int dirfd, pid_t pgid, const char *jobid, struct lc_job_procs *ret,
		struct lc_err *err);
void lc_job_free(struct lc_job_procs *j);
/* SIGKILLs every process of the tree that is still the same process (pid and start time). */
void lc_job_kill_tree(const struct lc_job_procs *j);
/* True while any process of the tree (with its recorded start time) is alive. */
bool lc_job_tree_alive(const struct lc_job_procs *j);
/*
 * Waits up to grace seconds for the group (but its leader) to empty, then
 * SIGKILLs every live process of the caller's uid in it that is neither the
 * group leader nor one of our wrappers; returns how many were signalled.
 */
int lc_job_kill_group_rest(pid_t pgid, double grace);
/* True if a process of the tree holds a POSIX or flock lock (/proc/locks). */
bool lc_job_holds_locks(const struct lc_job_procs *j);

#endif
