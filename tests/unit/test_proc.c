/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Unit tests of src/lib/proc.c. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "proc.h"
#include "tap.h"

/* Fields 4 to 52 of a real /proc/<pid>/stat line (tpgid is -1, starttime 228180). */
#define STAT_TAIL                                                                                  \
	"9883 9883 7972 0 -1 4194304 102 0 0 0 0 0 0 0 20 0 1 0 228180 3133440 388 "               \
	"18446744073709551615 94564108181504 94564108201385 140724859935488 0 0 0 0 0 0 "          \
	"0 0 0 17 0 0 0 0 0 0 94564108217392 94564108219008 94564331532288 "                       \
	"140724859939460 140724859939480 140724859939480 140724859940843 0\n"

static int parse_stat_real(void)
{
	struct lc_proc p;

	memset(&p, 0xa5, sizeof(p));
	CHECK_INT(lc_proc_parse_stat("9887 (cat) R " STAT_TAIL, &p), ==, 0);
	CHECK_INT(p.pid, ==, 9887);
	CHECK_STR(p.comm, "cat");
	CHECK_INT(p.state, ==, 'R');
	CHECK_INT(p.ppid, ==, 9883);
	CHECK_INT(p.pgid, ==, 9883);
	CHECK_INT(p.sid, ==, 7972);
	CHECK_INT(p.start_time, ==, 228180);
	/* Without the trailing newline, and with only fields 1 to 22. */
	CHECK_INT(lc_proc_parse_stat("1 (init) S 0 1 1 0 -1 4194560 0 0 0 0 0 0 0 0 20 0 1 0 7",
				     &p),
		  ==, 0);
	CHECK_INT(p.pid, ==, 1);
	CHECK_INT(p.ppid, ==, 0);
	CHECK_INT(p.start_time, ==, 7);
	return TAP_PASS;
}

static int parse_stat_hostile_comm(void)
{
	struct lc_proc p;

	/* A comm of "a) (b c": the last ')' ends it. */
	CHECK_INT(lc_proc_parse_stat("42 (a) (b c) S " STAT_TAIL, &p), ==, 0);
	CHECK_INT(p.pid, ==, 42);
	CHECK_STR(p.comm, "a) (b c");
	CHECK_INT(p.state, ==, 'S');
	CHECK_INT(p.ppid, ==, 9883);
	CHECK_INT(p.start_time, ==, 228180);
	/* A comm that imitates the rest of the line. */
	CHECK_INT(lc_proc_parse_stat(
			  "42 () Z 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 99) S " STAT_TAIL, &p),
		  ==, 0);
	CHECK(!strncmp(p.comm, ") Z 1 1 1 0 -1", 14));
	CHECK_INT(p.state, ==, 'S');
	CHECK_INT(p.start_time, ==, 228180);
	/* Blanks, an empty comm, and a comm longer than the buffer (truncated). */
	CHECK_INT(lc_proc_parse_stat("42 (  ) S " STAT_TAIL, &p), ==, 0);
	CHECK_STR(p.comm, "  ");
	CHECK_INT(lc_proc_parse_stat("42 () S " STAT_TAIL, &p), ==, 0);
	CHECK_STR(p.comm, "");
	CHECK_INT(lc_proc_parse_stat("42 (kworker/u16:3-events_unbound_long_name_x) I " STAT_TAIL,
				     &p),
		  ==, 0);
	CHECK_INT(strlen(p.comm), ==, sizeof(p.comm) - 1);
	CHECK_STR(p.comm, "kworker/u16:3-events_unbound_lo");
	CHECK_INT(p.state, ==, 'I');
	/* A newline inside the comm. */
	CHECK_INT(lc_proc_parse_stat("42 (a\nb) S " STAT_TAIL, &p), ==, 0);
	CHECK_STR(p.comm, "a\nb");
	return TAP_PASS;
}

static int parse_stat_truncated(void)
{
	static const char line[] = "9887 (x) y) R " STAT_TAIL;
	size_t full = strlen(line), need;
	struct lc_proc p;
	char buf[sizeof(line)];
	const char *q = strstr(line, ") R ") + 4;

	/* need: the length up to the first digit of field 22 (starttime). */
	for (int i = 0; i < 18; i++)
		q = strchr(q, ' ') + 1;
	need = (size_t)(q - line);
	for (size_t n = 0; n < full; n++) {
		int r;

		memcpy(buf, line, n);
		buf[n] = '\0';
		r = lc_proc_parse_stat(buf, &p);
		if (n <= need && r != -EINVAL) {
			tap_diag("prefix of %zu bytes (\"%s\") gave %d", n, buf, r);
			return TAP_FAIL;
		}
	}
	return TAP_PASS;
}

static int parse_stat_garbage(void)
{
	static const char *const bad[] = {
		"",
		"\n",
		"garbage",
		"(",
		")",
		")(",
		"1 (a)",
		"1 (a) ",
		"1 (a) S",
		"1 (a) S ",
		"1 a) S " STAT_TAIL,
		"1 (a S " STAT_TAIL,
		"1 (a)S " STAT_TAIL,
		"1 (a)  S " STAT_TAIL,
		"1 (a) 5 " STAT_TAIL,
		"1 (a) SS " STAT_TAIL,
		"1 (a) S  " STAT_TAIL,
		"1 (a) S\t" STAT_TAIL,
		"0 (a) S " STAT_TAIL,
		"-1 (a) S " STAT_TAIL,
		"x (a) S " STAT_TAIL,
		" (a) S " STAT_TAIL,
		"99999999999999999999 (a) S " STAT_TAIL,
		"1 (a) S 1x 2 3 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 5",
		"1 (a) S 1 2 3 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 5x",
		"1 (a) S 1 2 3 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 +5",
		"1 (a) S 1 2 3 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 -",
		"1 (a) S 1 2 3 0 - 1 0 0 0 0 0 0 0 0 20 0 1 0 5",
		"1 (a) S 1 2 3 0 --1 0 0 0 0 0 0 0 0 0 20 0 1 0 5",
		"1 (a) S 1 2 3 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 99999999999999999999",
		"1 (a) S 1 2 3 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 0x10",
		"1 (a) S 1 2 3 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 5.5",
		"1 (a) S 1,2 3 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 5",
	};
	struct lc_proc p;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int r = lc_proc_parse_stat(bad[i], &p);

		if (r != -EINVAL) {
			tap_diag("case %zu (\"%.40s...\") gave %d", i, bad[i], r);
			return TAP_FAIL;
		}
	}
	return TAP_PASS;
}

static int parse_stat_negative(void)
{
	struct lc_proc p;

	/* tpgid is -1 for a process without a controlling terminal. */
	CHECK_INT(lc_proc_parse_stat("7 (a) S 1 7 7 0 -1 0 0 0 0 0 0 0 0 0 20 -5 1 0 5", &p), ==,
		  0);
	CHECK_INT(p.ppid, ==, 1);
	CHECK_INT(p.start_time, ==, 5);
	return TAP_PASS;
}

/* Known bug: text between the pid and " (" is ignored. */
static int parse_stat_junk_after_pid(void)
{
	struct lc_proc p;

	CHECK(lc_proc_parse_stat("12junk (a) S " STAT_TAIL, &p) < 0);
	return TAP_PASS;
}

/* Known bug: a pid beyond the range of pid_t wraps instead of failing. */
static int parse_stat_pid_overflow(void)
{
	struct lc_proc p;

	CHECK(lc_proc_parse_stat("4294967297 (a) S " STAT_TAIL, &p) < 0);
	return TAP_PASS;
}

/* Known bug: a negative starttime becomes a huge unsigned start time. */
static int parse_stat_negative_start_time(void)
{
	struct lc_proc p;

	CHECK(lc_proc_parse_stat("7 (a) S 1 7 7 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 -5", &p) < 0);
	return TAP_PASS;
}

static int read_self(void)
{
	struct lc_proc p;

	CHECK_INT(lc_proc_read(getpid(), &p), ==, 0);
	CHECK_INT(p.pid, ==, getpid());
	CHECK_INT(p.ppid, ==, getppid());
	CHECK_INT(p.pgid, ==, getpgrp());
	CHECK_INT(p.sid, ==, getsid(0));
	CHECK_INT(p.state, ==, 'R');
	CHECK(p.start_time > 0);
	CHECK_INT(p.uid[0], ==, getuid());
	CHECK_INT(p.uid[1], ==, geteuid());
	CHECK_INT(p.uid[3], ==, geteuid());
	CHECK(!strncmp(p.comm, "test_proc", 9));
	CHECK(lc_proc_owned_by(&p, getuid()) == (getuid() == geteuid()));
	CHECK(!lc_proc_owned_by(&p, getuid() + 1));
	return TAP_PASS;
}

static int read_parent(void)
{
	struct lc_proc self, parent;

	CHECK_INT(lc_proc_read(getpid(), &self), ==, 0);
	CHECK_INT(lc_proc_read(getppid(), &parent), ==, 0);
	CHECK_INT(parent.pid, ==, getppid());
	/* A parent starts no later than its child. */
	CHECK(parent.start_time <= self.start_time);
	return TAP_PASS;
}

static int read_missing(void)
{
	struct lc_proc p;
	pid_t pid;

	fflush(stdout);
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0)
		_exit(0);
	CHECK(waitpid(pid, NULL, 0) == pid);
	CHECK_INT(lc_proc_read(pid, &p), ==, -ENOENT);
	CHECK_INT(lc_proc_read(0, &p), <, 0);
	CHECK_INT(lc_proc_read(-1, &p), <, 0);
	return TAP_PASS;
}

static int alive_self(void)
{
	struct lc_proc p;

	CHECK(lc_proc_alive(getpid(), 0));
	CHECK_INT(lc_proc_read(getpid(), &p), ==, 0);
	CHECK(lc_proc_alive(getpid(), p.start_time));
	CHECK(!lc_proc_alive(getpid(), p.start_time + 1));
	CHECK(!lc_proc_alive(getpid(), p.start_time - 1));
	return TAP_PASS;
}

static int alive_reaped_child(void)
{
	pid_t pid;

	fflush(stdout);
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0)
		_exit(0);
	CHECK(waitpid(pid, NULL, 0) == pid);
	CHECK(!lc_proc_alive(pid, 0));
	return TAP_PASS;
}

static int alive_zombie_child(void)
{
	struct lc_proc p;
	siginfo_t si;
	pid_t pid;
	bool zombie = false;

	fflush(stdout);
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0)
		_exit(3);
	/* Wait for the exit but leave the child a zombie. */
	memset(&si, 0, sizeof(si));
	CHECK(waitid(P_PID, (id_t)pid, &si, WEXITED | WNOWAIT) == 0);
	CHECK_INT(si.si_pid, ==, pid);
	/* It is a zombie once waitid() returns; poll a little in case /proc lags. */
	for (int i = 0; i < 200 && !zombie; i++) {
		if (lc_proc_read(pid, &p) == 0 && p.state == 'Z')
			zombie = true;
		else
			usleep(5000);
	}
	CHECK(zombie);
	CHECK_INT(p.ppid, ==, getpid());
	CHECK(!lc_proc_alive(pid, 0));
	CHECK(!lc_proc_alive(pid, p.start_time));
	CHECK(waitpid(pid, NULL, 0) == pid);
	CHECK(!lc_proc_alive(pid, 0));
	return TAP_PASS;
}

static int alive_running_child(void)
{
	struct lc_proc p;
	int pfd[2];
	pid_t pid;
	char c;

	CHECK(pipe2(pfd, O_CLOEXEC) == 0);
	fflush(stdout);
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		close(pfd[1]);
		(void)!read(pfd[0], &c, 1); /* until the parent closes the pipe */
		_exit(0);
	}
	close(pfd[0]);
	CHECK_INT(lc_proc_read(pid, &p), ==, 0);
	CHECK_INT(p.ppid, ==, getpid());
	CHECK(lc_proc_alive(pid, 0));
	CHECK(lc_proc_alive(pid, p.start_time));
	CHECK(!lc_proc_alive(pid, p.start_time + 100));
	close(pfd[1]);
	CHECK(waitpid(pid, NULL, 0) == pid);
	CHECK(!lc_proc_alive(pid, p.start_time));
	return TAP_PASS;
}

static int list_has_self(void)
{
	struct lc_proc *list = NULL;
	size_t n = 0;
	bool self = false, parent = false;

	CHECK_INT(lc_proc_list(&list, &n), ==, 0);
	CHECK(n >= 2);
	for (size_t i = 0; i < n; i++) {
		CHECK(list[i].pid > 0);
		if (list[i].pid == getpid()) {
			/* Listing reads no uids; asking reads them for that very process. */
			self = list[i].ppid == getppid() && !list[i].uid_known &&
			       lc_proc_owned_by(&list[i], getuid()) == (getuid() == geteuid()) &&
			       !lc_proc_owned_by(&list[i], getuid() + 1);
			/* Another process under the same pid is not the one listed. */
			list[i].start_time++;
			self = self && !lc_proc_owned_by(&list[i], getuid());
		}
		if (list[i].pid == getppid())
			parent = true;
	}
	free(list);
	CHECK(self);
	CHECK(parent);
	return TAP_PASS;
}

static int fd_helpers(void)
{
	char buf[4096], path[PATH_MAX + 8];
	long long pos = -1;
	int fd, flags = 0;

	CHECK(tap_write_str("f", "0123456789") == 0);
	fd = openat(tap_dirfd, "f", O_RDWR | O_APPEND | O_CLOEXEC);
	CHECK(fd >= 0);
	CHECK(lseek(fd, 4, SEEK_SET) == 4);
	CHECK_INT(lc_proc_fd_target(getpid(), fd, buf, sizeof(buf)), ==, 0);
	snprintf(path, sizeof(path), "%s/f", tap_dir);
	CHECK_STR(buf, path);
	CHECK_INT(lc_proc_fd_target(getpid(), fd, buf, 4), ==, -ENAMETOOLONG);
	CHECK_INT(lc_proc_fdinfo(getpid(), fd, &pos, &flags), ==, 0);
	CHECK_INT(pos, ==, 4);
	CHECK_INT(flags & O_ACCMODE, ==, O_RDWR);
	CHECK(flags & O_APPEND);
	close(fd);
	CHECK_INT(lc_proc_fd_target(getpid(), fd, buf, sizeof(buf)), ==, -ENOENT);
	CHECK_INT(lc_proc_fdinfo(getpid(), fd, &pos, &flags), ==, -ENOENT);
	CHECK_INT(lc_proc_exe(getpid(), buf, sizeof(buf)), ==, 0);
	CHECK_STR(buf, "test_proc");
	return TAP_PASS;
}

TAP_MAIN(TAP_CASE(parse_stat_real), TAP_CASE(parse_stat_hostile_comm),
	 TAP_CASE(parse_stat_truncated), TAP_CASE(parse_stat_garbage),
	 TAP_CASE(parse_stat_negative), TAP_CASE(parse_stat_junk_after_pid),
	 TAP_CASE(parse_stat_pid_overflow), TAP_CASE(parse_stat_negative_start_time),
	 TAP_CASE(read_self), TAP_CASE(read_parent), TAP_CASE(read_missing), TAP_CASE(alive_self),
	 TAP_CASE(alive_reaped_child), TAP_CASE(alive_zombie_child), TAP_CASE(alive_running_child),
	 TAP_CASE(list_has_self), TAP_CASE(fd_helpers), )
