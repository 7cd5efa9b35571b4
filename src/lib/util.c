/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Strict helpers; see util.h.
 *
 * Contract of the file helpers:
 * 1. They MUST NOT follow a symlink in the last path component (O_NOFOLLOW).
 * 2. They MUST open every fd O_CLOEXEC.
 * 3. They MUST check type and owner with fstat() on the opened fd, never on
 *    the path, before trusting the content.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cleanup.h"
#include "util.h"

int lc_parse_long(const char *s, long min, long max, long *ret)
{
	char *end;
	long v;

	const char *digits = s && *s == '-' ? s + 1 : s;

	if (!s || !*s || isspace((unsigned char)*s) || *s == '+' || (*s == '-' && min >= 0))
		return -EINVAL;
	if (!isdigit((unsigned char)*digits) || (*digits == '0' && digits[1] != '\0'))
		return -EINVAL; /* no blanks, no octal look-alikes */
	errno = 0;
	v = strtol(s, &end, 10);
	if (*end != '\0' || end == s)
		return -EINVAL;
	if (errno == ERANGE || v < min || v > max)
		return -ERANGE;
	*ret = v;
	return 0;
}

int lc_read_file_at(int dirfd, const char *name, size_t max, uid_t owner, char **ret,
		    size_t *ret_len)
{
	_cleanup_close_ int fd = -1;
	_cleanup_free_ char *buf = NULL;
	struct stat st;
	size_t len = 0;

	fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode))
		return -EINVAL;
	if (owner != (uid_t)-1 && st.st_uid != owner)
		return -EPERM;
	if ((size_t)st.st_size > max)
		return -EFBIG;
	buf = malloc(max + 1);
	if (!buf)
		return -ENOMEM;
	for (;;) {
		ssize_t n = read(fd, buf + len, max + 1 - len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			break;
		len += (size_t)n;
		if (len > max)
			return -EFBIG;
	}
	buf[len] = '\0';
	*ret = buf;
	buf = NULL;
	if (ret_len)
		*ret_len = len;
	return 0;
}

static int write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int lc_write_atomic_at(int dirfd, const char *name, const void *buf, size_t len, mode_t mode)
{
	return lc_write_file_at(dirfd, name, buf, len, mode, 0);
}

int lc_write_file_at(int dirfd, const char *name, const void *buf, size_t len, mode_t mode,
		     int flags)
{
	char tmp[NAME_MAX + 1];
	_cleanup_close_ int fd = -1;
	int r;

	r = snprintf(tmp, sizeof(tmp), ".%s.%d.tmp", name, (int)getpid());
	if (r < 0 || (size_t)r >= sizeof(tmp))
		return -ENAMETOOLONG;
	(void)unlinkat(dirfd, tmp, 0);
	fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
	if (fd < 0)
		return -errno;
	r = write_all(fd, buf, len);
	if (r < 0)
		goto fail;
	if ((!(flags & LC_WRITE_NOSYNC) && fsync(fd) < 0) ||
	    renameat(dirfd, tmp, dirfd, name) < 0) {
		r = -errno;
		goto fail;
	}
	if (!(flags & LC_WRITE_NOSYNC))
		(void)fsync(dirfd);
	return 0;
fail:
	(void)unlinkat(dirfd, tmp, 0);
	return r;
}

int lc_open_dir_verified(int atfd, const char *path, struct lc_err *err)
{
	_cleanup_close_ int fd = -1;
	struct stat st;

	fd = openat(atfd, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		if (errno == ELOOP || errno == ENOTDIR)
			return lc_err_set(err, errno, "'%s' is not a directory (or is a symlink)",
					  path);
		return lc_err_set(err, errno, "cannot open directory '%s'", path);
	}
	if (fstat(fd, &st) < 0)
		return lc_err_set(err, errno, "cannot stat '%s'", path);
	if (st.st_uid != getuid())
		return lc_err_set(err, EPERM, "directory '%s' belongs to uid %u, not to uid %u",
				  path, (unsigned)st.st_uid, (unsigned)getuid());
	if (st.st_mode & (S_IWGRP | S_IWOTH))
		return lc_err_set(err, EPERM,
				  "directory '%s' is writable by group or others (mode %04o)", path,
				  (unsigned)(st.st_mode & 07777));
	return TAKE_FD(fd);
}

char *lc_trim(char *s)
{
	char *e;

	while (*s == ' ' || *s == '\t')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
		*--e = '\0';
	return s;
}

char *lc_shell_quote(const char *s)
{
	size_t n = 3;
	char *out, *o;

	for (const char *p = s; *p; p++)
		n += (*p == '\'') ? 4 : 1;
	out = malloc(n);
	if (!out)
		return NULL;
	o = out;
	*o++ = '\'';
	for (const char *p = s; *p; p++) {
		if (*p == '\'') {
			memcpy(o, "'\\''", 4);
			o += 4;
		} else {
			*o++ = *p;
		}
	}
	*o++ = '\'';
	*o = '\0';
	return out;
}

void lc_fmt_time(long long t, char *buf, size_t size)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (t <= 0 || !localtime_r(&tt, &tm) || !strftime(buf, size, "%Y-%m-%d %H:%M:%S", &tm))
		snprintf(buf, size, "unknown");
}

void lc_fmt_duration(long long s, char *buf, size_t size)
{
	if (s < 0)
		snprintf(buf, size, "unknown");
	else
		snprintf(buf, size, "%lldh%02lldm%02llds", s / 3600, s / 60 % 60, s % 60);
}

double lc_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void lc_msleep(long ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

int lc_copy_fd_at(int in_fd, int dirfd, const char *name, mode_t mode, off_t max)
{
	_cleanup_close_ int out = -1;
	char buf[65536];
	off_t off = 0, total = 0;
	int r;

	out = openat(dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
	if (out < 0)
		return -errno;
	for (;;) {
		ssize_t n = pread(in_fd, buf, sizeof(buf), off);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			break;
		off += n;
		total += n;
		if (total > max)
			return -EFBIG;
		r = write_all(out, buf, (size_t)n);
		if (r < 0)
			return r;
	}
	if (fsync(out) < 0)
		return -errno;
	return 0;
}

long long lc_dir_bytes(int dirfd)
{
	_cleanup_closedir_ DIR *d = NULL;
	struct dirent *de;
	long long total = 0;
	int fd;

	fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return 0;
	}
	while ((de = readdir(d))) {
		struct stat st;

		if (fstatat(dirfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
		    S_ISREG(st.st_mode))
			total += st.st_size;
	}
	return total;
}

int lc_rmtree_at(int atfd, const char *name)
{
	_cleanup_closedir_ DIR *d = NULL;
	struct dirent *de;
	int fd;

	fd = openat(atfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return unlinkat(atfd, name, 0) < 0 ? -errno : 0;
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return -errno;
	}
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		struct stat st;
		bool is_dir = de->d_type == DT_DIR ||
			      (de->d_type == DT_UNKNOWN &&
			       fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
			       S_ISDIR(st.st_mode));

		if (is_dir)
			lc_rmtree_at(dirfd(d), de->d_name);
		else
			(void)unlinkat(dirfd(d), de->d_name, 0);
	}
	return unlinkat(atfd, name, AT_REMOVEDIR) < 0 ? -errno : 0;
}
