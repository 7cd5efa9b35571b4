/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Image sets; see imgset.h.
 *
 * Contract:
 * 1. Only names of the form ckpt.<N> and ckpt.<N>.failed are ever removed;
 *    LSF's own files in the directory never match.
 * 2. Nothing is followed: entries are opened with O_NOFOLLOW relative to
 *    the directory fd, and lc_rmtree_at() follows no symlink.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cleanup.h"
#include "imgset.h"
#include "log.h"
#include "util.h"

#define MAX_N 999999999L

long lc_imgset_number(const char *name)
{
	char num[16];
	size_t len;
	long v;

	if (strncmp(name, "ckpt.", 5))
		return -1;
	len = strcspn(name + 5, ".");
	if (len == 0 || len >= sizeof(num) || (name[5 + len] && strcmp(name + 5 + len, ".failed")))
		return -1;
	memcpy(num, name + 5, len);
	num[len] = '\0';
	if (lc_parse_long(num, 1, MAX_N, &v) < 0)
		return -1;
	return v;
}

static bool is_failed(const char *name)
{
	size_t n = strlen(name);

	return n > 7 && !strcmp(name + n - 7, ".failed");
}

static DIR *open_dir(int dirfd)
{
	int fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d;

	if (fd < 0)
		return NULL;
	d = fdopendir(fd);
	if (!d)
		close(fd);
	return d;
}

int lc_imgset_next(int dirfd, char *name, size_t size)
{
	_cleanup_closedir_ DIR *d = open_dir(dirfd);
	struct dirent *de;
	long max = 0, v;

	if (!d)
		return -errno;
	while ((de = readdir(d)))
		if ((v = lc_imgset_number(de->d_name)) > max)
			max = v;
	if (max >= MAX_N)
		return -EOVERFLOW;
	snprintf(name, size, "ckpt.%ld", max + 1);
	return 0;
}

int lc_imgset_prune(int dirfd, const char *keep)
{
	_cleanup_closedir_ DIR *d = open_dir(dirfd);
	long limit = keep ? lc_imgset_number(keep) : -1;
	struct dirent *de;
	int removed = 0;

	if (!d)
		return -errno;
	while ((de = readdir(d))) {
		long v = lc_imgset_number(de->d_name);

		if (v < 0 || (keep && !strcmp(de->d_name, keep)))
			continue;
		if (!is_failed(de->d_name) && !(limit > 0 && v < limit))
			continue;
		if (lc_rmtree_at(dirfd, de->d_name) == 0) {
			log_info("removed the %s image set '%s'",
				 is_failed(de->d_name) ? "failed" : "older", de->d_name);
			removed++;
		}
	}
	return removed;
}

static bool is_record(const char *name)
{
	size_t n = strlen(name);

	return (n > 4 && !strcmp(name + n - 4, ".log")) ||
	       (n > 4 && !strcmp(name + n - 4, ".out")) ||
	       (n > 5 && !strcmp(name + n - 5, ".json"));
}

int lc_imgset_quarantine(int dirfd, const char *name, char *ret_name, size_t size)
{
	_cleanup_close_ int fd = -1;
	_cleanup_closedir_ DIR *d = NULL;
	struct dirent *de;

	if ((size_t)snprintf(ret_name, size, "%s.failed", name) >= size)
		return -ENAMETOOLONG;
	/*
	 * The images first, in place: on a full filesystem or quota even the
	 * rename below needs room (btrfs wants metadata space for it).
	 */
	fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0 || !(d = open_dir(fd)))
		return -errno;
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..") || is_record(de->d_name))
			continue;
		(void)lc_rmtree_at(fd, de->d_name);
	}
	(void)syncfs(fd);
	(void)lc_rmtree_at(dirfd, ret_name); /* an older attempt of the same number */
	if (renameat(dirfd, name, dirfd, ret_name) < 0)
		return -errno;
	return 0;
}

int lc_imgset_sync(int imgfd)
{
	_cleanup_closedir_ DIR *d = open_dir(imgfd);
	struct dirent *de;

	if (!d)
		return -errno;
	while ((de = readdir(d))) {
		_cleanup_close_ int fd = -1;
		struct stat st;
		size_t n = strlen(de->d_name);

		/* criu's logs are for people, not for the restore. */
		if ((n > 4 && !strcmp(de->d_name + n - 4, ".log")) ||
		    (n > 4 && !strcmp(de->d_name + n - 4, ".out")))
			continue;
		if (fstatat(imgfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
		    !S_ISREG(st.st_mode))
			continue;
		fd = openat(imgfd, de->d_name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
		if (fd < 0 || fsync(fd) < 0)
			return -errno;
	}
	return fsync(imgfd) < 0 ? -errno : 0;
}
