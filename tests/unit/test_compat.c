/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Unit tests of src/lib/compat.c and of lc_spawn() on kernels older than the
 * one this runs on. Each case that needs an old kernel installs a seccomp
 * filter in its own process (tap.h runs every case in a child) that answers
 * the newer system calls the way an old kernel does:
 *
 *   linux-4.18    every system call newer than Linux 4.18 fails with ENOSYS
 *                 (on x86-64 those numbered after rseq, 334; on aarch64 after
 *                 293), and raising CAP_CHECKPOINT_RESTORE (40) into the
 *                 ambient set fails with EINVAL, as before Linux 5.9
 *   linux-5.10    close_range() exists but refuses CLOSE_RANGE_CLOEXEC (EINVAL)
 *   container     close_range() fails with EPERM (older container runtimes'
 *                 seccomp profiles)
 *
 * and then checks the outcome, not the path taken: which descriptors a
 * program really receives across exec (read from /proc by the child itself),
 * and that a child that cannot exec is reported with its errno, never as a
 * silent exit status 127.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "compat.h"
#include "spawn.h"
#include "tap.h"

#if defined(__x86_64__)
#define ARCH	     AUDIT_ARCH_X86_64
#define LAST_4_18_NR 334 /* rseq */
#elif defined(__aarch64__)
#define ARCH	     AUDIT_ARCH_AARCH64
#define LAST_4_18_NR 293 /* rseq */
#endif

#define NR_CLOSE_RANGE	    436
#define CLOSE_RANGE_CLOEXEC (1U << 2)

enum kernel { LINUX_4_18, LINUX_5_10, CONTAINER };

#define LD(off)	     BPF_STMT(BPF_LD | BPF_W | BPF_ABS, (off))
#define JEQ(k, t, f) BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (k), (t), (f))
#define RET(v)	     BPF_STMT(BPF_RET | BPF_K, (v))
#define ARG_LO(i)    (offsetof(struct seccomp_data, args) + 8 * (i)) /* little endian */

/* Installs the filter for kernel k in this process; 0, or TAP_SKIP where it cannot. */
static int old_kernel(enum kernel k)
{
#ifdef ARCH
	struct sock_filter f418[] = {
		LD(offsetof(struct seccomp_data, arch)),
		JEQ(ARCH, 1, 0),
		RET(SECCOMP_RET_ALLOW),
		LD(offsetof(struct seccomp_data, nr)),
		JEQ(__NR_prctl, 2, 0),
		/* x32 system calls (bit 30) are left alone: nr > last and < 1 << 30. */
		BPF_JUMP(BPF_JMP | BPF_JGT | BPF_K, LAST_4_18_NR, 0, 8),
		BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, 1U << 30, 7, 6),
		LD(ARG_LO(0)),
		JEQ(PR_CAP_AMBIENT, 0, 5),
		LD(ARG_LO(1)),
		JEQ(PR_CAP_AMBIENT_RAISE, 0, 3),
		LD(ARG_LO(2)),
		JEQ(40, 2, 1),
		RET(SECCOMP_RET_ERRNO | ENOSYS),
		RET(SECCOMP_RET_ALLOW),
		RET(SECCOMP_RET_ERRNO | EINVAL),
	};
	struct sock_filter f510[] = {
		LD(offsetof(struct seccomp_data, arch)),
		JEQ(ARCH, 1, 0),
		RET(SECCOMP_RET_ALLOW),
		LD(offsetof(struct seccomp_data, nr)),
		JEQ(NR_CLOSE_RANGE, 0, 2),
		LD(ARG_LO(2)),
		BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, CLOSE_RANGE_CLOEXEC, 1, 0),
		RET(SECCOMP_RET_ALLOW),
		RET(SECCOMP_RET_ERRNO | EINVAL),
	};
	struct sock_filter fcont[] = {
		LD(offsetof(struct seccomp_data, arch)),
		JEQ(ARCH, 1, 0),
		RET(SECCOMP_RET_ALLOW),
		LD(offsetof(struct seccomp_data, nr)),
		JEQ(NR_CLOSE_RANGE, 0, 1),
		RET(SECCOMP_RET_ERRNO | EPERM),
		RET(SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog;

	switch (k) {
	case LINUX_4_18: prog = (struct sock_fprog){ sizeof(f418) / sizeof(f418[0]), f418 }; break;
	case LINUX_5_10: prog = (struct sock_fprog){ sizeof(f510) / sizeof(f510[0]), f510 }; break;
	default: prog = (struct sock_fprog){ sizeof(fcont) / sizeof(fcont[0]), fcont }; break;
	}
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ||
	    prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) < 0) {
		tap_diag("cannot install a seccomp filter: %s", strerror(errno));
		return TAP_SKIP;
	}
	return 0;
#else
	(void)k;
	tap_diag("no seccomp filter for this architecture");
	return TAP_SKIP;
#endif
}

/* The filter really answers as the old kernel would. */
static int filter_works(void)
{
	int r = old_kernel(LINUX_4_18);

	if (r)
		return r;
	errno = 0;
	CHECK(syscall(NR_CLOSE_RANGE, 3U, ~0U, 0U) < 0 && errno == ENOSYS);
	CHECK(prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, 40, 0, 0) < 0 && errno == EINVAL);
	CHECK(getpid() > 0); /* older calls still work */
	return TAP_PASS;
}

/*
 * Runs /bin/sh through lc_spawn with fds 3 (kept on purpose) and a spare
 * fd open, and returns in *ret which of the two the program saw, as a bit
 * set: 1 for the kept fd, 2 for the spare one.
 */
static int spawn_and_look(int *ret)
{
	char script[256], out[64] = "";
	char *argv[] = { "/bin/sh", "-c", script, NULL };
	int pfd[2], spare, kept, st;
	ssize_t n;
	pid_t pid;

	kept = open("/dev/null", O_RDONLY | O_CLOEXEC);
	spare = open("/dev/null", O_RDONLY); /* deliberately without O_CLOEXEC */
	if (kept < 0 || spare < 0 || pipe2(pfd, O_CLOEXEC) < 0)
		return TAP_FAIL;
	snprintf(script, sizeof(script),
		 "k=0; [ -e /proc/self/fd/%d ] && k=1; [ -e /proc/$$/fd/%d ] && k=$((k+2)); "
		 "echo $k",
		 kept, spare);
	pid = lc_spawn(argv, -1, pfd[1], &kept, 1);
	close(pfd[1]);
	CHECK(pid > 0);
	n = read(pfd[0], out, sizeof(out) - 1);
	close(pfd[0]);
	st = lc_wait_status(pid);
	CHECK(n > 0);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	*ret = atoi(out);
	close(kept);
	close(spare);
	return TAP_PASS;
}

static int spawn_fds(enum kernel k)
{
	int r, seen = -1;

	if (k != (enum kernel) - 1 && (r = old_kernel(k)))
		return r;
	r = spawn_and_look(&seen);
	if (r)
		return r;
	CHECK_INT(seen, ==, 1); /* the kept fd only */
	return TAP_PASS;
}

static int spawn_fds_new_kernel(void)
{
	return spawn_fds((enum kernel) - 1);
}

static int spawn_fds_linux_4_18(void)
{
	return spawn_fds(LINUX_4_18);
}

static int spawn_fds_linux_5_10(void)
{
	return spawn_fds(LINUX_5_10);
}

static int spawn_fds_container(void)
{
	return spawn_fds(CONTAINER);
}

/* A program that cannot be run is an error with its errno, not a child exiting 127. */
static int spawn_missing_program(void)
{
	char *argv[] = { "/nonexistent/criu", "--version", NULL };
	int r = old_kernel(LINUX_4_18);
	pid_t pid;

	if (r)
		return r;
	errno = 0;
	pid = lc_spawn(argv, -1, -1, NULL, 0);
	CHECK_INT(pid, ==, -1);
	CHECK_INT(errno, ==, ENOENT);
	/* No child is left behind. */
	CHECK(waitpid(-1, NULL, WNOHANG) < 0 && errno == ECHILD);
	return TAP_PASS;
}

static int count_fds_from(int first)
{
	int n = 0;

	for (int fd = first; fd < 1024; fd++)
		n += fcntl(fd, F_GETFD) >= 0;
	return n;
}

static int close_from(enum kernel k)
{
	int r = old_kernel(k), fds[40];

	if (r)
		return r;
	for (int i = 0; i < 40; i++)
		fds[i] = open("/dev/null", O_RDONLY);
	/* A high fd, far from the others. */
	CHECK(dup2(fds[0], 700) == 700);
	CHECK(count_fds_from(20) >= 20);
	CHECK_INT(lc_close_from(20), ==, 0);
	CHECK_INT(count_fds_from(20), ==, 0);
	/* Those below are untouched. */
	CHECK(fcntl(fds[0], F_GETFD) >= 0);
	return TAP_PASS;
}

static int close_from_linux_4_18(void)
{
	return close_from(LINUX_4_18);
}

static int close_from_container(void)
{
	return close_from(CONTAINER);
}

static int cloexec_from(enum kernel k)
{
	int r = old_kernel(k), low, high;

	if (r)
		return r;
	low = open("/dev/null", O_RDONLY);
	high = dup2(low, 600);
	CHECK(low >= 3 && high == 600);
	CHECK_INT(lc_cloexec_from(low + 1), ==, 0);
	CHECK_INT(fcntl(low, F_GETFD) & FD_CLOEXEC, ==, 0);
	CHECK_INT(fcntl(high, F_GETFD) & FD_CLOEXEC, ==, FD_CLOEXEC);
	return TAP_PASS;
}

static int cloexec_from_linux_4_18(void)
{
	return cloexec_from(LINUX_4_18);
}

static int cloexec_from_linux_5_10(void)
{
	return cloexec_from(LINUX_5_10);
}

static int signame(void)
{
	CHECK_STR(lc_signame(SIGINT), "SIGINT");
	CHECK_STR(lc_signame(SIGTERM), "SIGTERM");
	CHECK_STR(lc_signame(SIGKILL), "SIGKILL");
	CHECK_STR(lc_signame(0), "SIG0");
	CHECK_STR(lc_signame(200), "SIG200");
	return TAP_PASS;
}

static int kernel_caps(void)
{
	CHECK(lc_kernel_has_cap(0));
	CHECK(!lc_kernel_has_cap(4000));
	return TAP_PASS;
}

TAP_MAIN(TAP_CASE(filter_works), TAP_CASE(spawn_fds_new_kernel), TAP_CASE(spawn_fds_linux_4_18),
	 TAP_CASE(spawn_fds_linux_5_10), TAP_CASE(spawn_fds_container),
	 TAP_CASE(spawn_missing_program), TAP_CASE(close_from_linux_4_18),
	 TAP_CASE(close_from_container), TAP_CASE(cloexec_from_linux_4_18),
	 TAP_CASE(cloexec_from_linux_5_10), TAP_CASE(signame), TAP_CASE(kernel_caps), )
