/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Finding the job's processes; see job.h.
 *
 * Contract:
 * 1. Never choose a process the caller does not own, LSF's res, a wrapper or
 *    criu as the dump root.
 * 2. Identify processes by pid AND start time, so a recycled pid is never
 *    taken for the job.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cleanup.h"
#include "job.h"
#include "log.h"
#include "meta.h"
#include "nsjob.h"
#include "util.h"

#define RESTORER_NAME "lsf-criu-restore"
#define STARTER_NAME  "lsf-criu-start"

/* The effective uid of p, for messages (lc_proc_list reads no uids). */
static unsigned euid_of(const struct lc_proc *p)
{
	struct lc_proc full;

	if (p->uid_known)
		return (unsigned)p->uid[1];
	return lc_proc_read(p->pid, &full) == 0 ? (unsigned)full.uid[1] : (unsigned)-1;
}

static const struct lc_proc *find_pid(const struct lc_job_procs *j, pid_t pid)
{
	for (size_t i = 0; i < j->n_all; i++)
		if (j->all[i].pid == pid)
			return &j->all[i];
	return NULL;
}

static int collect_tree(struct lc_job_procs *j, struct lc_err *err)
{
	size_t cap = 64;

	j->tree = malloc(cap * sizeof(pid_t));
	if (!j->tree)
		return lc_err_set(err, ENOMEM, "tree");
	j->tree[0] = j->root.pid;
	j->n_tree = 1;
	for (size_t k = 0; k < j->n_tree; k++) {
		for (size_t i = 0; i < j->n_all; i++) {
			if (j->all[i].ppid != j->tree[k])
				continue;
			if (j->n_tree == cap) {
				pid_t *nt = realloc(j->tree, 2 * cap * sizeof(pid_t));

				if (!nt)
					return lc_err_set(err, ENOMEM, "tree");
				j->tree = nt;
				cap *= 2;
			}
			j->tree[j->n_tree++] = j->all[i].pid;
		}
	}
	return 0;
}

int lc_job_find(int dirfd, pid_t pgid, const char *jobid, struct lc_job_procs *j,
		struct lc_err *err)
{
	struct lc_root_rec rec;
	struct lc_starter_rec srec;
	struct lc_err rerr;
	const struct lc_proc *leader, *root = NULL;
	size_t in_group = 0, children = 0;
	uid_t uid = getuid();
	int r;

	memset(j, 0, sizeof(*j));
	r = lc_proc_list(&j->all, &j->n_all);
	if (r < 0)
		return lc_err_set(err, -r, "cannot list processes");
	for (size_t i = 0; i < j->n_all; i++)
		if (j->all[i].pgid == pgid && j->all[i].state != 'Z')
			in_group++;
	if (in_group == 0)
		return lc_err_set(err, ESRCH, "the job has no process left in group %d", (int)pgid);

	r = lc_starter_load(dirfd, uid, &srec, &rerr);
	if (r == 0 && !strcmp(srec.jobid, jobid)) {
		const struct lc_proc *init = find_pid(j, srec.init_pid), *outer;

		if (!init || init->start_time != srec.init_start || init->state == 'Z')
			return lc_err_set(err, ESRCH, "the namespace init %d of job %s is gone",
					  (int)srec.init_pid, jobid);
		outer = find_pid(j, init->ppid);
		if (!outer || outer->pgid != pgid)
			return lc_err_set(err, EPERM,
					  "the namespace init %d is not started from the "
					  "job's group %d",
					  (int)srec.init_pid, (int)pgid);
		/* The job leads its own session; the init's other child, its sentinel, does not. */
		for (size_t i = 0; i < j->n_all && !root; i++)
			if (j->all[i].ppid == init->pid && j->all[i].sid == j->all[i].pid &&
			    j->all[i].state != 'Z')
				root = &j->all[i];
		if (!root)
			return lc_err_set(err, ESRCH, "the job in the namespace of init %d is gone",
					  (int)srec.init_pid);
		if (!lc_proc_owned_by(init, uid))
			return lc_err_set(err, EPERM, "namespace init %d runs as uid %u",
					  (int)init->pid, euid_of(init));
		j->ns_init = init->pid;
		log_info("dump root: process %d (PID %d in the job's namespaces of init %d)",
			 (int)root->pid, LC_NS_JOB_PID, (int)init->pid);
	} else if ((r = lc_root_load(dirfd, uid, &rec, &rerr)) == 0 && !strcmp(rec.jobid, jobid)) {
		root = find_pid(j, rec.pid);
		if (!root || root->start_time != rec.start_time || root->state == 'Z')
			return lc_err_set(err, ESRCH,
					  "the restored job root %d recorded for job %s "
					  "is gone",
					  (int)rec.pid, jobid);
		if (root->pgid != pgid)
			return lc_err_set(err, EPERM,
					  "the restored job root %d is in group %d, not "
					  "in the job's group %d",
					  (int)rec.pid, (int)root->pgid, (int)pgid);
		log_info("dump root: process %d, restored by lsf-criu-restore for job %s",
			 (int)root->pid, jobid);
	} else {
		if (r == 0)
			log_info("'lsf-criu.root' belongs to job %s, not %s, ignoring", rec.jobid,
				 jobid);
		else if (rerr.code != ENOENT)
			log_warn("%s, ignoring", rerr.msg);
		leader = find_pid(j, pgid);
		if (!leader)
			return lc_err_set(err, ESRCH, "the job's process group leader %d is gone",
					  (int)pgid);
		for (size_t i = 0; i < j->n_all; i++) {
			const struct lc_proc *p = &j->all[i];

			if (p->ppid == pgid && p->pgid == pgid && p->state != 'Z') {
				root = p;
				children++;
			}
		}
		if (children == 0)
			return lc_err_set(err, ESRCH, "the job's group leader %d has no child left",
					  (int)pgid);
		if (children > 1)
			return lc_err_set(err, EINVAL,
					  "the job's group leader %d has %zu children; "
					  "cannot tell which one is the job",
					  (int)pgid, children);
		log_info("dump root: process %d (%s), the child of group leader %d (%s)",
			 (int)root->pid, root->comm, (int)pgid, leader->comm);
	}
	j->root = *root;
	j->dump_pid = j->ns_init ? LC_NS_JOB_PID : root->pid;
	r = collect_tree(j, err);
	if (r < 0)
		return r;
	for (size_t k = 0; k < j->n_tree; k++) {
		const struct lc_proc *p = find_pid(j, j->tree[k]);
		char exe[256] = "";

		if (!p)
			continue;
		/* A process that ended since the listing (a short-lived child) is no longer ours to check. */
		if (!lc_proc_owned_by(p, uid) && lc_proc_alive(p->pid, p->start_time))
			return lc_err_set(err, EPERM,
					  "process %d (%s) of the job runs as uid %u, "
					  "not as the caller's uid %u",
					  (int)p->pid, p->comm, euid_of(p), (unsigned)uid);
		(void)lc_proc_exe(p->pid, exe, sizeof(exe));
		if (p->state != 'Z' && (!strcmp(exe, "criu") || !strcmp(p->comm, "criu")))
			return lc_err_set(err, EBUSY,
					  "criu (process %d) runs inside the job's tree",
					  (int)p->pid);
	}
	const struct lc_proc *ns_init = j->ns_init ? find_pid(j, j->ns_init) : NULL;

	for (size_t i = 0; i < j->n_all; i++) {
		const struct lc_proc *p = &j->all[i];
		bool in_tree = false;

		if (p->pgid != pgid || p->pid == pgid || p->state == 'Z')
			continue;
		/* lsf-criu-start (or -restore) and the init's sentinel: recreated at restore */
		if (ns_init && (p->pid == ns_init->ppid || p->ppid == ns_init->pid))
			continue;
		for (size_t k = 0; k < j->n_tree; k++)
			in_tree |= j->tree[k] == p->pid;
		if (!in_tree && p->ppid != pgid)
			log_warn("process %d (%s) is in the job's group but outside the dumped "
				 "tree; it will not be restored",
				 (int)p->pid, p->comm);
	}
	return 0;
}

void lc_job_free(struct lc_job_procs *j)
{
	free(j->all);
	free(j->tree);
	j->all = NULL;
	j->tree = NULL;
}

bool lc_job_tree_alive(const struct lc_job_procs *j)
{
	for (size_t k = 0; k < j->n_tree; k++) {
		const struct lc_proc *p = find_pid(j, j->tree[k]);

		if (p && lc_proc_alive(p->pid, p->start_time))
			return true;
	}
	return false;
}

void lc_job_kill_tree(const struct lc_job_procs *j)
{
	for (size_t k = 0; k < j->n_tree; k++) {
		const struct lc_proc *p = find_pid(j, j->tree[k]);

		if (p && lc_proc_alive(p->pid, p->start_time))
			(void)kill(p->pid, SIGKILL);
	}
}

/* Processes of the group that are the job's: not the leader, not a zombie, ours. */
static bool is_rest(const struct lc_proc *p, pid_t pgid)
{
	return p->pgid == pgid && p->pid != pgid && p->state != 'Z' &&
	       lc_proc_owned_by(p, getuid()) && p->pid != getpid();
}

int lc_job_kill_group_rest(pid_t pgid, double grace)
{
	struct lc_proc *all = NULL;
	size_t n = 0;
	int killed = 0;
	double end = lc_now() + grace;

	/* The job-file shell and our own wrappers end by themselves once the job is gone. */
	for (;;) {
		bool any = false;

		if (lc_proc_list(&all, &n) < 0)
			return 0;
		for (size_t i = 0; i < n && !any; i++)
			any = is_rest(&all[i], pgid);
		if (!any || lc_now() >= end)
			break;
		free(all);
		all = NULL;
		lc_msleep(50);
	}
	for (size_t i = 0; i < n; i++) {
		struct lc_proc *p = &all[i];
		char exe[256] = "";

		if (!is_rest(p, pgid))
			continue;
		(void)lc_proc_exe(p->pid, exe, sizeof(exe));
		if (!strcmp(exe, RESTORER_NAME) || !strcmp(exe, STARTER_NAME))
			continue;
		if (kill(p->pid, SIGKILL) == 0) {
			log_warn("killed surviving job process %d (%s)", (int)p->pid, p->comm);
			killed++;
		}
	}
	free(all);
	return killed;
}

bool lc_job_holds_locks(const struct lc_job_procs *j)
{
	_cleanup_free_ char *txt = NULL;
	char *line, *save = NULL;

	if (lc_read_file_at(AT_FDCWD, "/proc/locks", 8 << 20, (uid_t)-1, &txt, NULL) < 0)
		return false;
	for (line = strtok_r(txt, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *tok[8], *s2 = NULL;
		int n = 0, idx;
		long pid;

		for (char *t = strtok_r(line, " ", &s2); t && n < 8; t = strtok_r(NULL, " ", &s2))
			tok[n++] = t;
		idx = (n > 1 && !strcmp(tok[1], "->")) ? 5 : 4;
		if (idx >= n || lc_parse_long(tok[idx], 1, 1 << 30, &pid) < 0)
			continue;
		for (size_t k = 0; k < j->n_tree; k++)
			if (j->tree[k] == (pid_t)pid)
				return true;
	}
	return false;
}
