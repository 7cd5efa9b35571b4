/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Unit tests of the namespaced-job modules (src/lib/ns*.c): the init record,
 * the relayed signal set, lc_exit_like, and, in real namespaces, that criu
 * started inside them is the caller's own child (the checkpoint deadline
 * kills criu itself) and that a job dies with the process that started it.
 *
 * The namespace cases do their work in a grandchild that ends with _exit():
 * LeakSanitizer cannot run inside a user namespace.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "nsjob.h"
#include "tap.h"

static int starter_round_trip(void)
{
	struct lc_starter_rec r = { .init_pid = 4242, .init_start = 987654321 }, back;
	struct lc_err err = { 0 };

	snprintf(r.jobid, sizeof(r.jobid), "1234[5]");
	CHECK_INT(lc_starter_save(tap_dirfd, &r), ==, 0);
	CHECK_INT(lc_starter_load(tap_dirfd, getuid(), &back, &err), ==, 0);
	CHECK_STR(back.jobid, "1234[5]");
	CHECK_INT(back.init_pid, ==, 4242);
	CHECK(back.init_start == 987654321ULL);
	return TAP_PASS;
}

static int starter_load_text(const char *text)
{
	struct lc_starter_rec r;
	struct lc_err err = { 0 };
	int ret;

	if (tap_write_file(LC_STARTER_FILE, text, strlen(text), 0600) < 0)
		return -EIO;
	ret = lc_starter_load(tap_dirfd, getuid(), &r, &err);
	if (ret < 0 && (err.code <= 0 || !err.msg[0])) {
		tap_diag("error %d without an error object", ret);
		return -EIO;
	}
	return ret;
}

static int starter_hostile(void)
{
	static const char *const bad[] = {
		"",
		"not json",
		"[]",
		"{\"version\": 2, \"jobid\": \"1\", \"init_pid\": 10, \"init_start\": 1}",
		"{\"jobid\": \"1\", \"init_pid\": 10, \"init_start\": 1}",
		"{\"version\": 1, \"init_pid\": 10, \"init_start\": 1}",
		"{\"version\": 1, \"jobid\": \"1\", \"init_pid\": 1, \"init_start\": 1}",
		"{\"version\": 1, \"jobid\": \"1\", \"init_pid\": 0, \"init_start\": 1}",
		"{\"version\": 1, \"jobid\": \"1\", \"init_pid\": -5, \"init_start\": 1}",
		"{\"version\": 1, \"jobid\": \"1\", \"init_pid\": 99999999, \"init_start\": 1}",
		"{\"version\": 1, \"jobid\": \"1\", \"init_pid\": \"10\", \"init_start\": 1}",
		"{\"version\": 1, \"jobid\": \"1\", \"init_pid\": 10, \"init_start\": -1}",
		"{\"version\": 1, \"jobid\": \"1\", \"init_pid\": 10}",
		"{\"version\": 1, \"jobid\": 7, \"init_pid\": 10, \"init_start\": 1}",
		"{\"version\": 1, \"jobid\": \"0123456789012345678901234567890123456789\","
		" \"init_pid\": 10, \"init_start\": 1}",
	};
	struct lc_starter_rec r;
	struct lc_err err = { 0 };

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int ret = starter_load_text(bad[i]);

		if (ret >= 0) {
			tap_diag("accepted: %s", bad[i]);
			return TAP_FAIL;
		}
	}
	CHECK_INT(starter_load_text("{\"version\": 1, \"jobid\": \"1\", \"init_pid\": 10,"
				    " \"init_start\": 1}"),
		  ==, 0);
	/* Someone else's record, a symbolic link, a directory: refused. */
	if (getuid() == 0)
		CHECK(lc_starter_load(tap_dirfd, 12345, &r, &err) < 0);
	CHECK(unlinkat(tap_dirfd, LC_STARTER_FILE, 0) == 0);
	CHECK(symlinkat("/etc/passwd", tap_dirfd, LC_STARTER_FILE) == 0);
	CHECK(lc_starter_load(tap_dirfd, getuid(), &r, &err) < 0);
	CHECK(unlinkat(tap_dirfd, LC_STARTER_FILE, 0) == 0);
	CHECK(mkdirat(tap_dirfd, LC_STARTER_FILE, 0700) == 0);
	CHECK(lc_starter_load(tap_dirfd, getuid(), &r, &err) < 0);
	return TAP_PASS;
}

static int signal_set(void)
{
	static const int in[] = { SIGTERM, SIGINT,  SIGHUP,   SIGQUIT, SIGUSR1, SIGUSR2,
				  SIGCONT, SIGTSTP, SIGTTIN,  SIGTTOU, SIGPIPE, SIGXCPU,
				  SIGXFSZ, SIGALRM, SIGWINCH, SIGABRT };
	static const int out[] = { SIGKILL, SIGSTOP, SIGCHLD };
	sigset_t set;

	lc_ns_signal_set(&set);
	for (size_t i = 0; i < sizeof(in) / sizeof(in[0]); i++)
		CHECK(sigismember(&set, in[i]) == 1);
	for (size_t i = 0; i < sizeof(out) / sizeof(out[0]); i++)
		CHECK(sigismember(&set, out[i]) == 0);
	for (int s = SIGRTMIN; s <= SIGRTMAX; s++)
		CHECK(sigismember(&set, s) == 0);
	return TAP_PASS;
}

static int exit_like(void)
{
	sigset_t set;
	pid_t c;
	int st;

	CHECK_INT(lc_exit_like(7 << 8), ==, 7);
	CHECK_INT(lc_exit_like(0), ==, 0);
	/* Death by the job's signal, even with that signal blocked or ignored here. */
	c = fork();
	CHECK(c >= 0);
	if (c == 0) {
		sigemptyset(&set);
		sigaddset(&set, SIGUSR1);
		sigprocmask(SIG_BLOCK, &set, NULL);
		signal(SIGUSR1, SIG_IGN);
		lc_exit_like(SIGUSR1);
		_exit(3);
	}
	CHECK(waitpid(c, &st, 0) == c);
	CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGUSR1);
	return TAP_PASS;
}

/* Reads field 4 (ppid) and 5 (pgrp) of <procfd>/pid/stat. */
static int stat_of(int procfd, pid_t pid, pid_t *ppid, pid_t *pgrp)
{
	char path[64], buf[1024], *p;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "%d/stat", (int)pid);
	fd = openat(procfd, path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -EIO;
	buf[n] = '\0';
	p = strrchr(buf, ')');
	if (!p || sscanf(p + 1, " %*c %d %d", ppid, pgrp) != 2)
		return -EIO;
	return 0;
}

static int pid_ns_of(int procfd, pid_t pid, char *buf, size_t size)
{
	char path[64];
	ssize_t n;

	snprintf(path, sizeof(path), "%d/ns/pid", (int)pid);
	n = readlinkat(procfd, path, buf, size - 1);
	if (n <= 0)
		return -errno;
	buf[n] = '\0';
	return 0;
}

/* The outer process: starts a job in namespaces, reports its init, then waits. */
static int outer_in_child(int report)
{
	char *job[] = { "/bin/sleep", "1000", NULL };
	struct lc_err err = { 0 };
	int status_fd;
	pid_t init;

	if (lc_ns_create(&err) < 0)
		return 77;
	init = lc_ns_start_init(job, &status_fd, &err);
	if (init < 0)
		return 1;
	if (write(report, &init, sizeof(init)) != sizeof(init))
		return 1;
	for (;;)
		pause();
}

/* Forks the outer process; returns the init's host PID, 0 to skip, -1 on failure. */
static pid_t start_outer(pid_t *ret_outer)
{
	int pfd[2], st;
	pid_t outer, init = 0;

	if (pipe(pfd) < 0)
		return -1;
	outer = fork();
	if (outer < 0)
		return -1;
	if (outer == 0) {
		close(pfd[0]);
		_exit(outer_in_child(pfd[1]));
	}
	close(pfd[1]);
	if (read(pfd[0], &init, sizeof(init)) != sizeof(init)) {
		close(pfd[0]);
		waitpid(outer, &st, 0);
		return WIFEXITED(st) && WEXITSTATUS(st) == 77 ? 0 : -1;
	}
	close(pfd[0]);
	*ret_outer = outer;
	return init;
}

/* Runs a criu stand-in inside the namespaces of init and checks where it lands. */
static int check_spawn(int procfd, pid_t init)
{
	char *prog[] = { "/bin/sleep", "1001", NULL };
	char ns_init[64], ns_prog[64];
	struct lc_err err = { 0 };
	pid_t pid, ppid = 0, pgrp = 0;
	int st;

	pid = lc_ns_spawn(init, true, prog, NULL, 0, -1, &err);
	if (pid < 0)
		return fprintf(stderr, "# %s\n", err.msg), 1;
	/* criu's stand-in is our child, leads its own group, lives in the job's namespace. */
	if (stat_of(procfd, pid, &ppid, &pgrp) < 0 || ppid != getpid() || pgrp != pid)
		fprintf(stderr, "# spawned %d: parent %d, group %d\n", (int)pid, (int)ppid,
			(int)pgrp);
	else if (pid_ns_of(procfd, init, ns_init, sizeof(ns_init)) < 0 ||
		 pid_ns_of(procfd, pid, ns_prog, sizeof(ns_prog)) < 0 || strcmp(ns_init, ns_prog))
		fprintf(stderr, "# not in the job's PID namespace\n");
	else if (waitpid(pid, &st, WNOHANG) != 0)
		fprintf(stderr, "# not running\n");
	/* What a deadline does: kill it (its group), reap it. */
	else if (kill(-pid, SIGKILL) < 0 || waitpid(pid, &st, 0) != pid || !WIFSIGNALED(st) ||
		 WTERMSIG(st) != SIGKILL)
		fprintf(stderr, "# the kill did not reach it\n");
	else
		return 0;
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	return 1;
}

/* In a child, outside the job's namespaces as echkpnt.criu is: 0 pass, 1 fail, 77 skip. */
static int spawn_in_child(void)
{
	pid_t outer = -1, init;
	int procfd, r;

	procfd = open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	init = start_outer(&outer);
	if (init <= 0)
		return init == 0 ? 77 : 1;
	r = check_spawn(procfd, init);
	kill(outer, SIGKILL);
	waitpid(outer, NULL, 0);
	return r;
}

static int run_in_child(int (*fn)(void))
{
	pid_t c = fork();
	int st;

	if (c < 0)
		return TAP_FAIL;
	if (c == 0)
		_exit(fn());
	if (waitpid(c, &st, 0) != c || !WIFEXITED(st))
		return TAP_FAIL;
	if (WEXITSTATUS(st) == 77)
		return TAP_SKIP;
	return WEXITSTATUS(st) == 0 ? TAP_PASS : TAP_FAIL;
}

static int spawn_returns_criu_itself(void)
{
	return run_in_child(spawn_in_child);
}

static bool ns_populated(const char *ns)
{
	DIR *d = opendir("/proc");
	struct dirent *de;
	bool found = false;

	if (!d)
		return false;
	while (!found && (de = readdir(d))) {
		char path[300], buf[64];
		ssize_t n;

		if (de->d_name[0] < '1' || de->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%s/ns/pid", de->d_name);
		n = readlink(path, buf, sizeof(buf) - 1);
		if (n <= 0)
			continue;
		buf[n] = '\0';
		found = !strcmp(buf, ns);
	}
	closedir(d);
	return found;
}

static int job_dies_with_outer_process(void)
{
	char ns[64] = "";
	int st, procfd, r = -1;
	bool was_populated;
	pid_t outer = -1, init;

	init = start_outer(&outer);
	if (init == 0)
		return TAP_SKIP;
	CHECK(init > 0);
	procfd = open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (procfd >= 0)
		r = pid_ns_of(procfd, init, ns, sizeof(ns));
	close(procfd);
	was_populated = r == 0 && ns_populated(ns);
	/* kill -9 of lsf-criu-start alone: its init and the job must go with it. */
	CHECK(kill(outer, SIGKILL) == 0);
	CHECK(waitpid(outer, &st, 0) == outer);
	CHECK_INT(r, ==, 0);
	CHECK(was_populated);
	for (int i = 0; i < 500 && ns_populated(ns); i++) {
		struct timespec t = { 0, 10 * 1000 * 1000 };

		nanosleep(&t, NULL);
	}
	CHECK(!ns_populated(ns));
	return TAP_PASS;
}

TAP_MAIN(TAP_CASE(starter_round_trip), TAP_CASE(starter_hostile), TAP_CASE(signal_set),
	 TAP_CASE(exit_like), TAP_CASE(spawn_returns_criu_itself),
	 TAP_CASE(job_dies_with_outer_process), )
