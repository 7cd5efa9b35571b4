/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Scope-bound cleanup helpers (GNU C cleanup attribute). */
#ifndef LC_CLEANUP_H
#define LC_CLEANUP_H

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static inline void lc_freep(void *p)
{
	free(*(void **)p);
}
static inline void lc_closep(int *fd)
{
	int saved = errno;

	if (*fd >= 0)
		close(*fd);
	errno = saved;
}
static inline void lc_fclosep(FILE **f)
{
	if (*f)
		fclose(*f);
}
static inline void lc_closedirp(DIR **d)
{
	if (*d)
		closedir(*d);
}

#define _cleanup_free_	   __attribute__((cleanup(lc_freep)))
#define _cleanup_close_	   __attribute__((cleanup(lc_closep)))
#define _cleanup_fclose_   __attribute__((cleanup(lc_fclosep)))
#define _cleanup_closedir_ __attribute__((cleanup(lc_closedirp)))

static inline int lc_take_fd(int *fd)
{
	int r = *fd;

	*fd = -1;
	return r;
}
#define TAKE_FD(fd) lc_take_fd(&(fd))

#endif
