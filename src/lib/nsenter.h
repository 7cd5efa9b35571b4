/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Running a program (criu) inside a job's namespaces; see nsenter.c.
 * Included through nsjob.h.
 */
#ifndef LC_NSENTER_H
#define LC_NSENTER_H

#include <stdbool.h>
#include <sys/types.h>

#include "err.h"

/*
 * Runs argv (an absolute path) with CAP_CHECKPOINT_RESTORE raised into its
 * ambient set, stdout and stderr on out_fd (if >= 0), cwd "/", and only the
 * fds in keep open besides (their files re-opened inside the mount namespace
 * when they are regular files).
 *
 * With enter, first enters the namespaces of init (user, mnt, pid) in an
 * intermediate process; without, the caller is the one that created them
 * and the program is simply its child, in a process group of its own (out
 * of LSF's, whose signals are for the job).
 *
 * Returns the program's host PID, which in both cases is a child of the
 * caller's own: waitpid() it, and kill() it to end the program itself (no
 * intermediate stands in between). Negative errno with err set on failure.
 */
pid_t lc_ns_spawn(pid_t init, bool enter, char *const argv[], const int *keep, int nkeep,
		  int out_fd, struct lc_err *err);
/* Re-opens fd by its path inside the current mount namespace (regular files only). */
void lc_ns_reopen_here(int fd);

#endif
