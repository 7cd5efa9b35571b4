/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Room for a checkpoint; see space.h.
 *
 * The quota is read with quotactl_fd() (Linux 5.14) on the directory
 * itself, else with quotactl() on the mount's source device found through
 * libmount. Filesystems whose quota cannot be read that way (btrfs qgroups,
 * most network filesystems) report no quota: the dump then meets EDQUOT,
 * which the checkpoint survives (the job is resumed).
 */
#include <errno.h>
#include <fcntl.h>
#include <libmount.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/quota.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "cleanup.h"
#include "space.h"
#include "util.h"

#ifndef SYS_quotactl_fd
#define SYS_quotactl_fd 443 /* the same number on every architecture */
#endif

/* Sums the "<key>: N kB" lines of text. */
static long long sum_kb(const char *text, const char *const *keys)
{
	long long total = 0;

	for (const char *line = text; line && *line; line = strchr(line, '\n'), line += !!line) {
		for (const char *const *k = keys; *k; k++) {
			size_t n = strlen(*k);
			long long v;

			if (!strncmp(line, *k, n) && line[n] == ':' &&
			    sscanf(line + n + 1, " %lld kB", &v) == 1 && v >= 0 && v < (1LL << 40))
				total += v * 1024;
		}
	}
	return total;
}

long long lc_mem_estimate(const pid_t *pids, size_t n)
{
	static const char *const rollup[] = { "Anonymous", "Swap", NULL };
	static const char *const status[] = { "VmRSS", "VmSwap", NULL };
	long long total = 0;

	for (size_t i = 0; i < n; i++) {
		_cleanup_free_ char *txt = NULL;
		char path[64];

		snprintf(path, sizeof(path), "/proc/%d/smaps_rollup", (int)pids[i]);
		if (lc_read_file_at(AT_FDCWD, path, 1 << 16, (uid_t)-1, &txt, NULL) == 0) {
			total += sum_kb(txt, rollup);
			continue;
		}
		snprintf(path, sizeof(path), "/proc/%d/status", (int)pids[i]);
		if (lc_read_file_at(AT_FDCWD, path, 1 << 16, (uid_t)-1, &txt, NULL) == 0)
			total += sum_kb(txt, status);
	}
	return total;
}

/* The source device of the mount holding dev, for quotactl(); NULL if unknown. */
static char *mount_source(dev_t dev, char *fstype, size_t size)
{
	struct libmnt_table *tb = mnt_new_table();
	struct libmnt_fs *fs;
	char *src = NULL;

	if (!tb)
		return NULL;
	if (mnt_table_parse_file(tb, "/proc/self/mountinfo") == 0) {
		fs = mnt_table_find_devno(tb, dev, MNT_ITER_BACKWARD);
		if (fs) {
			if (mnt_fs_get_source(fs))
				src = strdup(mnt_fs_get_source(fs));
			if (mnt_fs_get_fstype(fs))
				snprintf(fstype, size, "%s", mnt_fs_get_fstype(fs));
		}
	}
	mnt_unref_table(tb);
	return src;
}

static long long left_of(const struct dqblk *q)
{
	unsigned long long limit = q->dqb_bhardlimit ? q->dqb_bhardlimit : q->dqb_bsoftlimit;

	if (!(q->dqb_valid & QIF_BLIMITS) || limit == 0)
		return -1;
	limit *= 1024; /* quota blocks are 1 KiB */
	return q->dqb_curspace >= limit ? 0 : (long long)(limit - q->dqb_curspace);
}

static long long quota_left(int dirfd, dev_t dev, uid_t uid, gid_t gid, char *fstype, size_t size)
{
	_cleanup_free_ char *src = mount_source(dev, fstype, size);
	long long best = -1;

	for (int type = USRQUOTA; type <= GRPQUOTA; type++) {
		struct dqblk q = { 0 };
		int id = type == USRQUOTA ? (int)uid : (int)gid;
		long long left;

		if (syscall(SYS_quotactl_fd, dirfd, QCMD(Q_GETQUOTA, type), id, &q) < 0 &&
		    (!src || src[0] != '/' ||
		     quotactl(QCMD(Q_GETQUOTA, type), src, id, (void *)&q) < 0))
			continue;
		left = left_of(&q);
		if (left >= 0 && (best < 0 || left < best))
			best = left;
	}
	return best;
}

int lc_space_query(int dirfd, uid_t uid, struct lc_space *ret, struct lc_err *err)
{
	struct statvfs vfs;
	struct stat st;

	memset(ret, 0, sizeof(*ret));
	if (fstatvfs(dirfd, &vfs) < 0 || fstat(dirfd, &st) < 0)
		return lc_err_set(err, errno,
				  "cannot read the free space of the checkpoint directory");
	ret->free = (long long)vfs.f_bavail * (long long)vfs.f_frsize;
	ret->quota_left =
		quota_left(dirfd, st.st_dev, uid, getgid(), ret->fstype, sizeof(ret->fstype));
	return 0;
}

long long lc_space_room(const struct lc_space *s)
{
	return s->quota_left >= 0 && s->quota_left < s->free ? s->quota_left : s->free;
}
