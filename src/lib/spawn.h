/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Running programs by absolute path, without a shell; see spawn.c. */
#ifndef LC_SPAWN_H
#define LC_SPAWN_H

#include <stddef.h>
#include <sys/types.h>

/*
 * fork + exec argv[0] (an absolute path). cwd = workfd if >= 0; stdout and
 * stderr on out_fd if >= 0 (else inherited); the fds in keep stay open.
 */
pid_t lc_spawn(char *const argv[], int workfd, int out_fd, const int *keep, int nkeep);
#define LC_SPAWN_NEWPGRP 1 /* the child leads a new process group (killed as a whole) */

/* The same with the environment envp instead of ours, and flags. */
pid_t lc_spawn_env(char *const argv[], char *const envp[], int workfd, int out_fd, const int *keep,
		   int nkeep, int flags);
/* waitpid() retrying on EINTR; returns the raw status or a negative errno. */
int lc_wait_status(pid_t pid);
/*
 * Runs argv with stdout+stderr captured into out (NUL-terminated, truncated
 * to size), killing it after timeout seconds (-ETIMEDOUT).
 */
int lc_run_capture(char *const argv[], long timeout, char *out, size_t size, int *ret_status);
/* The same with the environment envp (NULL: ours). */
int lc_run_capture_env(char *const argv[], char *const envp[], long timeout, char *out, size_t size,
		       int *ret_status);

#endif
