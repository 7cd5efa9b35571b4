/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The tree guard; see treeguard.h.
 *
 * Contract:
 * 1. The guard kills only the tree under the root it was told, checked by
 *    pid and start time, and only processes of its own uid.
 * 2. It never writes to the job's files and never logs: it is part of the
 *    job's process group, not of its output.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proc.h"
#include "treeguard.h"

struct msg {
	char kind; /* 'R' root, 'D' done */
	pid_t pid;
	unsigned long long start;
};

/* SIGKILLs root (if it is still the one we were told) and everything below it. */
static void kill_tree(pid_t root, unsigned long long start)
{
	struct lc_proc *all = NULL;
	size_t n = 0;
	bool *in = NULL, grew = true;

	if (lc_proc_list(&all, &n) < 0 || !(in = calloc(n ? n : 1, sizeof(bool)))) {
		free(all);
		if (lc_proc_alive(root, start))
			(void)kill(root, SIGKILL);
		return;
	}
	for (size_t i = 0; i < n; i++)
		in[i] = all[i].pid == root && all[i].start_time == start;
	while (grew) {
		grew = false;
		for (size_t i = 0; i < n; i++)
			for (size_t j = 0; j < n && !in[i]; j++)
				if (in[j] && all[i].ppid == all[j].pid)
					in[i] = grew = true;
	}
	for (size_t i = 0; i < n; i++)
		if (in[i] && all[i].state != 'Z' && lc_proc_owned_by(&all[i], getuid()))
			(void)kill(all[i].pid, SIGKILL);
	free(in);
	free(all);
}

static void guard(int rfd)
{
	struct msg m, root = { 0 };

	for (int s = 1; s < NSIG; s++)
		if (s != SIGKILL && s != SIGSTOP)
			signal(s, s == SIGCHLD ? SIG_DFL : SIG_IGN);
	/* LSF's SIGKILL to the group still ends us; INT and TERM are the job's business. */
	for (;;) {
		ssize_t r = read(rfd, &m, sizeof(m));

		if (r < 0 && errno == EINTR)
			continue;
		if (r != (ssize_t)sizeof(m))
			break;
		if (m.kind == 'D')
			_exit(0);
		if (m.kind == 'R')
			root = m;
	}
	if (root.pid > 0)
		kill_tree(root.pid, root.start);
	_exit(0);
}

int lc_tree_guard_start(void)
{
	int pfd[2];
	pid_t pid;

	if (pipe2(pfd, O_CLOEXEC) < 0)
		return -1;
	pid = fork();
	if (pid < 0) {
		close(pfd[0]);
		close(pfd[1]);
		return -1;
	}
	if (pid == 0) {
		int null = open("/dev/null", O_RDWR | O_CLOEXEC);

		close(pfd[1]);
		/* Not the job's output: a reader of LSF's pipe must not wait for us. */
		for (int fd = 0; fd < 3 && null >= 0; fd++)
			(void)dup2(null, fd);
		guard(pfd[0]);
	}
	close(pfd[0]);
	return pfd[1];
}

static void say(int fd, char kind, pid_t pid, unsigned long long start)
{
	struct msg m = { .kind = kind, .pid = pid, .start = start };

	if (fd >= 0)
		(void)!write(fd, &m, sizeof(m));
}

void lc_tree_guard_root(int fd, pid_t root, unsigned long long start)
{
	say(fd, 'R', root, start);
}

void lc_tree_guard_stop(int fd)
{
	say(fd, 'D', 0, 0);
	if (fd >= 0)
		close(fd);
}
