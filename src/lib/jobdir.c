/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Job checkpoint directory; see jobdir.h.
 *
 * Contract:
 * 1. The directory MUST be owned by the caller and not writable by others;
 *    files inside MUST be opened with openat(O_NOFOLLOW) and belong to the
 *    caller, so no other user can plant or redirect them.
 */
#include <errno.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cleanup.h"
#include "jobdir.h"
#include "log.h"
#include "util.h"

int lc_jobdir_open(const char *path, struct lc_err *err)
{
	_cleanup_close_ int fd = -1, parent = -1;
	struct stat st;

	if (!path || !*path)
		return lc_err_set(err, EINVAL,
				  "no checkpoint directory ($LSB_CHKPNT_DIR is unset)");
	fd = lc_open_dir_verified(AT_FDCWD, path, err);
	if (fd < 0)
		return fd;
	/*
	 * In a base directory others may write to without the sticky bit, they
	 * could rename this job's directory away and another one of the same
	 * owner into its place between two of our actions.
	 */
	parent = openat(fd, "..", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (parent < 0 || fstat(parent, &st) < 0)
		return lc_err_set(err, errno, "cannot check the directory above '%s'", path);
	if ((st.st_mode & (S_IWGRP | S_IWOTH)) && !(st.st_mode & S_ISVTX))
		return lc_err_set(err, EPERM,
				  "the checkpoint base directory above '%s' is writable "
				  "by group or others without the sticky bit (mode %04o); run "
				  "'chmod go-w' or 'chmod +t' on it",
				  path, (unsigned)(st.st_mode & 07777));
	return TAKE_FD(fd);
}

static int open_owned(int dirfd, const char *name, int flags, struct lc_err *err)
{
	_cleanup_close_ int fd = -1;
	struct stat st;

	fd = openat(dirfd, name, flags | O_CLOEXEC | O_NOFOLLOW | O_CREAT, 0600);
	if (fd < 0)
		return lc_err_set(err, errno, "cannot open '%s' in the checkpoint directory", name);
	if (fstat(fd, &st) < 0)
		return lc_err_set(err, errno, "cannot stat '%s'", name);
	if (!S_ISREG(st.st_mode) || st.st_uid != getuid())
		return lc_err_set(err, EPERM, "'%s' is not a regular file of uid %u", name,
				  (unsigned)getuid());
	return TAKE_FD(fd);
}

int lc_jobdir_attach_log(int dirfd, struct lc_err *err)
{
	int fd = open_owned(dirfd, LC_LOG_FILE, O_WRONLY | O_APPEND, err);

	if (fd < 0)
		return fd;
	lc_log_attach_fd(fd);
	return 0;
}

int lc_jobdir_lock(int dirfd, int timeout, struct lc_err *err)
{
	_cleanup_close_ int fd = -1;
	double end = lc_now() + timeout;

	fd = open_owned(dirfd, LC_LOCK_FILE, O_RDWR, err);
	if (fd < 0)
		return fd;
	while (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		if (errno != EWOULDBLOCK && errno != EINTR)
			return lc_err_set(err, errno, "cannot lock '%s'", LC_LOCK_FILE);
		if (lc_now() >= end)
			return lc_err_set(err, EBUSY, "another lsf-criu action holds '%s'",
					  LC_LOCK_FILE);
		lc_msleep(100);
	}
	return TAKE_FD(fd);
}
