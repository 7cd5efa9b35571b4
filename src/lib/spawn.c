/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Running programs without a shell.
 *
 * Contract:
 * 1. Programs MUST be run by absolute path with an argv we built; no shell.
 * 2. The child MUST start with default signal dispositions, an empty signal
 *    mask, stdin on /dev/null and no fds but the ones passed on purpose.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "compat.h"
#include "spawn.h"
#include "util.h"

pid_t lc_spawn(char *const argv[], int workfd, int out_fd, const int *keep, int nkeep)
{
	return lc_spawn_env(argv, environ, workfd, out_fd, keep, nkeep, 0);
}

/*
 * fork + exec with the contract above; out_fd receives stdout and stderr.
 * A failure in the child before or at exec is reported through a pipe that
 * exec closes, so the caller gets -1 with the child's errno instead of a
 * child that silently exits 127.
 */
pid_t lc_spawn_env(char *const argv[], char *const envp[], int workfd, int out_fd, const int *keep,
		   int nkeep, int flags)
{
	sigset_t all, old;
	int epipe[2], e = 0;
	ssize_t n;
	pid_t pid;

	if (pipe2(epipe, O_CLOEXEC) < 0)
		return -1;
	sigfillset(&all);
	sigprocmask(SIG_SETMASK, &all, &old);
	pid = fork();
	if (pid == 0) {
		int null = open("/dev/null", O_RDONLY);

		close(epipe[0]);
		for (int s = 1; s < NSIG; s++)
			signal(s, SIG_DFL);
		if ((flags & LC_SPAWN_NEWPGRP) && setpgid(0, 0) < 0)
			goto fail;
		if (null < 0 || dup2(null, 0) < 0)
			goto fail;
		if (out_fd >= 0 && (dup2(out_fd, 1) < 0 || dup2(out_fd, 2) < 0))
			goto fail;
		/* Everything we did not mean to pass is closed on exec (the error pipe too). */
		e = -lc_cloexec_from(3);
		if (e)
			goto fail_e;
		for (int i = 0; i < nkeep; i++) {
			int fl = fcntl(keep[i], F_GETFD);

			if (fl < 0 || fcntl(keep[i], F_SETFD, fl & ~FD_CLOEXEC) < 0)
				goto fail;
		}
		if (workfd >= 0 && fchdir(workfd) < 0)
			goto fail;
		sigemptyset(&all);
		sigprocmask(SIG_SETMASK, &all, NULL);
		execve(argv[0], argv, envp);
fail:
		e = errno;
fail_e:
		(void)!write(epipe[1], &e, sizeof(e));
		_exit(127);
	}
	e = errno;
	sigprocmask(SIG_SETMASK, &old, NULL);
	close(epipe[1]);
	if (pid < 0) {
		close(epipe[0]);
		errno = e;
		return -1;
	}
	do
		n = read(epipe[0], &e, sizeof(e));
	while (n < 0 && errno == EINTR);
	close(epipe[0]);
	if (n == sizeof(e)) {
		(void)lc_wait_status(pid);
		errno = e > 0 ? e : EIO;
		return -1;
	}
	return pid;
}

int lc_wait_status(pid_t pid)
{
	int st;

	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return -errno;
	return st;
}

int lc_run_capture(char *const argv[], long timeout, char *out, size_t size, int *ret_status)
{
	return lc_run_capture_env(argv, NULL, timeout, out, size, ret_status);
}

int lc_run_capture_env(char *const argv[], char *const envp[], long timeout, char *out, size_t size,
		       int *ret_status)
{
	int pfd[2], st;
	size_t len = 0;
	double end = lc_now() + (double)timeout;
	pid_t pid;

	if (pipe2(pfd, O_CLOEXEC) < 0)
		return -errno;
	pid = envp ? lc_spawn_env(argv, envp, -1, pfd[1], NULL, 0, 0)
		   : lc_spawn(argv, -1, pfd[1], NULL, 0);
	close(pfd[1]);
	if (pid < 0) {
		close(pfd[0]);
		return -errno;
	}
	(void)fcntl(pfd[0], F_SETFL, O_NONBLOCK);
	for (;;) {
		char sink[4096];
		ssize_t n = size > len + 1 ? read(pfd[0], out + len, size - 1 - len)
					   : read(pfd[0], sink, sizeof(sink)); /* keep draining */
		pid_t w;

		if (n > 0) {
			if (size > len + 1)
				len += (size_t)n;
			continue;
		}
		w = waitpid(pid, &st, WNOHANG);
		if (w == pid)
			break;
		if (lc_now() >= end) {
			kill(pid, SIGKILL);
			(void)lc_wait_status(pid);
			close(pfd[0]);
			out[len] = '\0';
			return -ETIMEDOUT;
		}
		lc_msleep(20);
	}
	for (ssize_t n; size > len + 1 && (n = read(pfd[0], out + len, size - 1 - len)) > 0;)
		len += (size_t)n;
	close(pfd[0]);
	out[len] = '\0';
	*ret_status = st;
	return 0;
}
