/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The terminate sequence LSF uses when no TERMINATE action is configured
 * (JOB_TERMINATE_INTERVAL apart). Never calls bkill: from a TERMINATE action
 * that would re-enter the action.
 */
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "compat.h"
#include "killseq.h"
#include "log.h"
#include "proc.h"
#include "util.h"

bool lc_groups_alive(const pid_t *pgids, int n)
{
	struct lc_proc *all = NULL;
	size_t na = 0;
	bool alive = false;

	if (lc_proc_list(&all, &na) < 0)
		return true;
	for (size_t i = 0; i < na && !alive; i++)
		for (int k = 0; k < n; k++)
			if (all[i].pgid == pgids[k] && all[i].state != 'Z')
				alive = true;
	free(all);
	return alive;
}

bool lc_kill_sequence(const pid_t *pgids, int n, long interval)
{
	static const int sigs[] = { SIGINT, SIGTERM, SIGKILL };

	for (size_t s = 0; s < sizeof(sigs) / sizeof(sigs[0]); s++) {
		double end = lc_now() + (double)interval;

		if (!lc_groups_alive(pgids, n))
			return true;
		for (int k = 0; k < n; k++)
			if (kill(-pgids[k], sigs[s]) == 0)
				log_info("sent %s to process group %d", lc_signame(sigs[s]),
					 (int)pgids[k]);
		while (lc_now() < end) {
			lc_msleep(100);
			if (!lc_groups_alive(pgids, n))
				return true;
		}
	}
	return !lc_groups_alive(pgids, n);
}
