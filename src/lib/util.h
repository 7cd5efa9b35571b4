/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Small, strict helpers: integer parsing, bounded reads, atomic writes,
 * verified directories, shell quoting.
 */
#ifndef LC_UTIL_H
#define LC_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "err.h"

/*
 * Parses all of s as a base-10 integer in [min, max]: no sign surprises, no
 * blanks, no trailing text. Returns 0 or -EINVAL / -ERANGE.
 */
int lc_parse_long(const char *s, long min, long max, long *ret);

/*
 * Reads at most max bytes of the regular file name (relative to dirfd, never
 * following a final symlink) into a NUL-terminated heap buffer. A file larger
 * than max is an error (-EFBIG). If owner is not (uid_t)-1, the file must
 * belong to it (-EPERM).
 */
int lc_read_file_at(int dirfd, const char *name, size_t max, uid_t owner, char **ret,
		    size_t *ret_len);

/* Writes name atomically: temporary file, fsync, rename, fsync of the directory. */
int lc_write_atomic_at(int dirfd, const char *name, const void *buf, size_t len, mode_t mode);
/*
 * The same; with LC_WRITE_NOSYNC, without the two fsyncs, for a file made
 * durable later with the rest of its directory, or that need not survive a
 * crash.
 */
#define LC_WRITE_NOSYNC 1
int lc_write_file_at(int dirfd, const char *name, const void *buf, size_t len, mode_t mode,
		     int flags);

/*
 * Opens a directory the caller may trust: no symlink as the last component,
 * owned by the caller's real uid, not writable by group or others.
 */
int lc_open_dir_verified(int atfd, const char *path, struct lc_err *err);

/* Strips blanks, tabs (and a trailing CR) around s in place; returns the new start. */
char *lc_trim(char *s);

/* Returns a heap string with s in single quotes for /bin/sh, or NULL. */
char *lc_shell_quote(const char *s);

/* "YYYY-MM-DD HH:MM:SS" in local time, or "unknown" for t <= 0. */
void lc_fmt_time(long long t, char *buf, size_t size);
/* "1h02m03s", or "unknown" for a negative duration. */
void lc_fmt_duration(long long s, char *buf, size_t size);

/* Monotonic clock in seconds. */
double lc_now(void);
/* Sleeps for the given number of milliseconds. */
void lc_msleep(long ms);

/* Copies the open file in_fd (from its start) to a new file name at dirfd. */
int lc_copy_fd_at(int in_fd, int dirfd, const char *name, mode_t mode, off_t max);

/* Sum of the sizes of the regular files in a directory. */
long long lc_dir_bytes(int dirfd);
/* Removes a directory tree below dirfd (no symlinks followed). */
int lc_rmtree_at(int dirfd, const char *name);

#endif
