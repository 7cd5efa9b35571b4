/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Planning a checkpoint against its deadline; see plan.h. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "meta.h"
#include "plan.h"
#include "util.h"

/* The smallest image set whose rate says something about the disk (not the fixed costs). */
#define MIN_RATE_BYTES (64LL << 20)

int lc_plan_parse_rollup(const char *text, long long *ret_bytes)
{
	static const char *const keys[] = { "Pss_Anon:", "Pss_Shmem:", "SwapPss:" };
	long long total = 0;
	int found = 0;

	for (const char *line = text; line && *line;) {
		const char *nl = strchr(line, '\n');

		for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]); k++) {
			size_t kl = strlen(keys[k]);
			long long kb;

			if (strncmp(line, keys[k], kl))
				continue;
			if (sscanf(line + kl, " %lld kB", &kb) != 1 || kb < 0 || kb > (1LL << 40))
				return -EINVAL;
			total += kb * 1024;
			found++;
		}
		line = nl ? nl + 1 : NULL;
	}
	if (!found)
		return -EINVAL;
	*ret_bytes = total;
	return 0;
}

int lc_plan_tree_bytes(const pid_t *pids, size_t n, long long *ret_bytes)
{
	long long total = 0;

	for (size_t i = 0; i < n; i++) {
		_cleanup_free_ char *txt = NULL;
		char path[64];
		long long b;
		int r;

		snprintf(path, sizeof(path), "/proc/%d/smaps_rollup", (int)pids[i]);
		r = lc_read_file_at(AT_FDCWD, path, 1 << 16, (uid_t)-1, &txt, NULL);
		if (r == -ENOENT || r == -ESRCH)
			continue;
		if (r < 0)
			return r;
		/* A zombie or a kernel thread has an empty rollup. */
		if (!txt[0])
			continue;
		r = lc_plan_parse_rollup(txt, &b);
		if (r < 0)
			return r;
		total += b;
	}
	*ret_bytes = total;
	return 0;
}

int lc_plan_rate_of_current(int dirfd, uid_t owner, double *ret_rate, char *ret_name, size_t size)
{
	_cleanup_free_ struct lc_meta *m = calloc(1, sizeof(*m));
	_cleanup_close_ int imgfd = -1;
	struct lc_err err = { 0 };
	char name[64];
	long long bytes;

	if (!m)
		return -ENOMEM;
	if (lc_current_load(dirfd, owner, name, sizeof(name), &err) < 0)
		return -ENOENT;
	imgfd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	if (imgfd < 0 || lc_meta_load(imgfd, owner, m, &err) < 0)
		return -ENOENT;
	bytes = m->raw_bytes ? m->raw_bytes : m->image_bytes;
	if (bytes < MIN_RATE_BYTES || m->dump_seconds <= 0.01)
		return -ENOENT;
	*ret_rate = (double)bytes / m->dump_seconds;
	snprintf(ret_name, size, "%s", name);
	return 0;
}

void lc_plan_estimate(struct lc_plan *p, double rate, const char *rate_from)
{
	if (rate > 0) {
		p->rate = rate;
		snprintf(p->rate_from, sizeof(p->rate_from), "%s", rate_from);
	} else {
		p->rate = LC_PLAN_ASSUMED_RATE;
		snprintf(p->rate_from, sizeof(p->rate_from),
			 "assumed: no earlier checkpoint of this chain to measure");
	}
	p->seconds = LC_PLAN_FIXED_SECONDS + (double)p->bytes / p->rate;
}
