/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The terminate sequence LSF uses when no TERMINATE action is configured
 * (JOB_TERMINATE_INTERVAL apart). Never calls bkill: from a TERMINATE action
 * that would re-enter the action.
 *
 * Contract:
 * 1. Processes are identified by pid and start time, so a recycled pid is
 *    never signalled.
 * 2. Only processes of the caller's uid are signalled one by one (the groups
 *    are LSF's word for what belongs to the job), and never the caller.
 */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "killseq.h"
#include "log.h"
#include "proc.h"
#include "util.h"

struct victim {
	pid_t pid;
	unsigned long long start;
};

static bool in_groups(const struct lc_proc *p, const pid_t *pgids, int n)
{
	for (int k = 0; k < n; k++)
		if (p->pgid == pgids[k])
			return true;
	return false;
}

bool lc_groups_alive(const pid_t *pgids, int n)
{
	struct lc_proc *all = NULL;
	size_t na = 0;
	bool alive = false;

	if (lc_proc_list(&all, &na) < 0)
		return true;
	for (size_t i = 0; i < na && !alive; i++)
		alive = all[i].state != 'Z' && in_groups(&all[i], pgids, n);
	free(all);
	return alive;
}

static int cmp_idx(const void *a, const void *b)
{
	pid_t x = (*(const struct lc_proc *const *)a)->pid;
	pid_t y = (*(const struct lc_proc *const *)b)->pid;

	return (x > y) - (x < y);
}

static int cmp_key(const void *key, const void *elem)
{
	pid_t x = *(const pid_t *)key, y = (*(const struct lc_proc *const *)elem)->pid;

	return (x > y) - (x < y);
}

/*
 * The job's processes outside its groups: ours, descending from a member of
 * the groups (a PID namespace's processes under lsf-criu-start included).
 */
static struct victim *escapees(const pid_t *pgids, int n, size_t *ret_n)
{
	struct lc_proc *all = NULL;
	const struct lc_proc **sorted = NULL;
	struct victim *v = NULL;
	char *mark = NULL; /* 0 unknown, 1 the job's, 2 not */
	size_t na = 0, nv = 0;
	uid_t uid = getuid();

	*ret_n = 0;
	if (lc_proc_list(&all, &na) < 0 || na == 0)
		goto out;
	mark = calloc(na, 1);
	v = calloc(na, sizeof(*v));
	sorted = calloc(na, sizeof(*sorted));
	if (!mark || !v || !sorted)
		goto out;
	for (size_t i = 0; i < na; i++) {
		sorted[i] = &all[i];
		if (in_groups(&all[i], pgids, n))
			mark[i] = 1;
	}
	qsort(sorted, na, sizeof(*sorted), cmp_idx);
	for (size_t i = 0; i < na; i++) {
		size_t j = i, depth = 0;
		char verdict;

		/* Walk up until a process whose verdict is known, or the top. */
		while (!mark[j] && depth++ < na) {
			const struct lc_proc *const *parent =
				bsearch(&all[j].ppid, sorted, na, sizeof(*sorted), cmp_key);

			if (!parent || all[j].ppid <= 1) {
				mark[j] = 2;
				break;
			}
			j = (size_t)(*parent - all);
		}
		verdict = mark[j] ? mark[j] : 2;
		/* Everything on the way gets the same verdict. */
		for (j = i, depth = 0; !mark[j] && depth++ < na;) {
			const struct lc_proc *const *parent =
				bsearch(&all[j].ppid, sorted, na, sizeof(*sorted), cmp_key);

			mark[j] = verdict;
			if (!parent)
				break;
			j = (size_t)(*parent - all);
		}
	}
	for (size_t i = 0; i < na; i++)
		if (mark[i] == 1 && !in_groups(&all[i], pgids, n) && all[i].state != 'Z' &&
		    all[i].pid != getpid() && lc_proc_owned_by(&all[i], uid))
			v[nv++] = (struct victim){ all[i].pid, all[i].start_time };
out:
	free(all);
	free(mark);
	free(sorted);
	if (nv == 0) {
		free(v);
		return NULL;
	}
	*ret_n = nv;
	return v;
}

static bool any_alive(const pid_t *pgids, int n, const struct victim *v, size_t nv)
{
	if (lc_groups_alive(pgids, n))
		return true;
	for (size_t i = 0; i < nv; i++)
		if (lc_proc_alive(v[i].pid, v[i].start))
			return true;
	return false;
}

static const char *sig_name(int sig)
{
	return sig == SIGINT ? "SIGINT" : sig == SIGTERM ? "SIGTERM" : "SIGKILL";
}

bool lc_kill_sequence(const pid_t *pgids, int n, long interval)
{
	static const int sigs[] = { SIGINT, SIGTERM, SIGKILL };
	size_t nv = 0;
	struct victim *v = escapees(pgids, n, &nv);
	bool gone = false;

	if (nv > 0)
		log_info("%zu process(es) of the job left its process groups; they are signalled "
			 "one by one",
			 nv);
	for (size_t s = 0; s < sizeof(sigs) / sizeof(sigs[0]) && !gone; s++) {
		double end = lc_now() + (double)interval;
		int sent = 0;

		if (!any_alive(pgids, n, v, nv)) {
			gone = true;
			break;
		}
		for (int k = 0; k < n; k++)
			sent += kill(-pgids[k], sigs[s]) == 0;
		for (size_t i = 0; i < nv; i++)
			if (lc_proc_alive(v[i].pid, v[i].start))
				(void)kill(v[i].pid, sigs[s]);
		if (sent > 0)
			log_info("sent %s to %d of %d process group(s)", sig_name(sigs[s]), sent,
				 n);
		while (lc_now() < end) {
			lc_msleep(100);
			if (!any_alive(pgids, n, v, nv)) {
				gone = true;
				break;
			}
		}
	}
	if (!gone)
		gone = !any_alive(pgids, n, v, nv);
	free(v);
	return gone;
}
