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
 * Runs criu (argv[0], an absolute path) with CAP_CHECKPOINT_RESTORE raised
 * into its ambient set, criu's fixed environment (lc_criu_envp), stdout and
 * stderr on out_fd (if >= 0), cwd "/", and only the fds in keep open besides
 * (their files re-opened inside the mount namespace when they are regular
 * files), in a process group of its own.
 *
 * With enter, first enters the namespaces of init (user, mnt, pid) in an
 * intermediate process; without, the caller is the one that created them
 * and criu is simply its child.
 *
 * Returns criu's host PID, which in both cases is a child of the caller's
 * own and leads its process group: waitpid() it, and kill() it or its group
 * to end criu itself (no intermediate stands in between). Negative errno with
 * err set on failure.
 */
pid_t lc_ns_spawn(pid_t init, bool enter, char *const argv[], const int *keep, int nkeep,
		  int out_fd, struct lc_err *err);
/* Re-opens fd by its path inside the current mount namespace (regular files only). */
void lc_ns_reopen_here(int fd);

#endif
