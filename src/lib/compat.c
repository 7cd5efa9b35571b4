/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Fallbacks for C library functions and system calls newer than the floor
 * lsf-criu supports (glibc 2.28, Linux 4.18); see compat.h.
 *
 * Contract:
 * 1. lc_cloexec_from() and lc_close_from() MUST be async-signal-safe: they
 *    run in a child between fork() and exec(), so they allocate nothing and
 *    use system calls only (no opendir: it allocates).
 * 2. A fallback MUST reach the same result as the newer call, or fail with
 *    an errno: a child must never exec with an fd it should not hold, and
 *    must never die silently because the kernel is older.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "compat.h"

/* Older kernel headers lack both (close_range is 436 on every architecture lsf-criu builds for). */
#ifndef __NR_close_range
#define __NR_close_range 436
#endif
#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

/* struct linux_dirent64; glibc < 2.30 has no getdents64() wrapper. */
struct dirent64_raw {
	unsigned long long d_ino;
	long long d_off;
	unsigned short d_reclen;
	unsigned char d_type;
	char d_name[];
};

enum fd_op { FD_OP_CLOEXEC, FD_OP_CLOSE };

static int apply(int fd, enum fd_op op)
{
	int fl;

	if (op == FD_OP_CLOSE)
		return close(fd) < 0 && errno != EBADF && errno != EINTR ? -errno : 0;
	fl = fcntl(fd, F_GETFD);
	if (fl < 0)
		return errno == EBADF ? 0 : -errno;
	if (!(fl & FD_CLOEXEC) && fcntl(fd, F_SETFD, fl | FD_CLOEXEC) < 0)
		return -errno;
	return 0;
}

/* Parses a decimal fd name; -1 for anything else ("." and ".."). */
static int fd_name(const char *s)
{
	int v = 0;

	if (!*s)
		return -1;
	for (; *s; s++) {
		if (*s < '0' || *s > '9' || v > (1 << 26))
			return -1;
		v = v * 10 + (*s - '0');
	}
	return v;
}

/*
 * Each fd >= first in /proc/self/fd, through getdents64 on a stack buffer.
 * Closing while listing is safe: the kernel lists the table as it is at
 * each read, and a second pass catches what a first pass could have missed.
 */
static int via_proc(int first, enum fd_op op)
{
	char buf[4096] __attribute__((aligned(8)));
	int dfd, r = 0;

	dfd = open("/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return -errno;
	for (int pass = 0; pass < 2 && r == 0; pass++) {
		if (lseek(dfd, 0, SEEK_SET) < 0) {
			r = -errno;
			break;
		}
		for (;;) {
			long n = syscall(SYS_getdents64, dfd, buf, sizeof(buf));

			if (n < 0) {
				r = -errno;
				break;
			}
			if (n == 0)
				break;
			for (long off = 0; off < n;) {
				struct dirent64_raw *d = (struct dirent64_raw *)(buf + off);
				int fd = fd_name(d->d_name);

				off += d->d_reclen;
				if (fd >= first && fd != dfd && r == 0)
					r = apply(fd, op);
			}
		}
	}
	close(dfd);
	return r;
}

/* Without /proc: every possible fd up to the soft limit. */
static int via_rlimit(int first, enum fd_op op)
{
	struct rlimit rl;
	long max = 65536;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
		max = (long)rl.rlim_cur;
	for (long fd = first; fd < max; fd++) {
		int r = apply((int)fd, op);

		if (r < 0)
			return r;
	}
	return 0;
}

static int fds_from(int first, enum fd_op op)
{
	unsigned int flags = op == FD_OP_CLOEXEC ? CLOSE_RANGE_CLOEXEC : 0;
	int r;

	if (first < 0)
		return -EINVAL;
#ifdef LC_COMPAT_FORCE_FALLBACK
	/* A test build: behave as on a kernel without close_range(). */
	(void)flags;
	errno = ENOSYS;
#else
	/* ENOSYS: before Linux 5.9; EINVAL: CLOSE_RANGE_CLOEXEC before 5.11; EPERM: seccomp. */
	if (syscall(__NR_close_range, (unsigned int)first, ~0U, flags) == 0)
		return 0;
	if (errno != ENOSYS && errno != EINVAL && errno != EPERM)
		return -errno;
#endif
	r = via_proc(first, op);
	if (r == -ENOENT || r == -EACCES || r == -ENOTDIR)
		r = via_rlimit(first, op);
	return r;
}

int lc_cloexec_from(int first)
{
	return fds_from(first, FD_OP_CLOEXEC);
}

int lc_close_from(int first)
{
	return fds_from(first, FD_OP_CLOSE);
}

int lc_close_range(unsigned int lo, unsigned int hi)
{
	struct rlimit rl;
	unsigned long max = 65536;

	if (lo > hi)
		return -EINVAL;
#ifndef LC_COMPAT_FORCE_FALLBACK
	if (syscall(__NR_close_range, lo, hi, 0U) == 0)
		return 0;
	if (errno != ENOSYS && errno != EPERM)
		return -errno;
#endif
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
		max = (unsigned long)rl.rlim_cur;
	for (unsigned long fd = lo; fd <= hi && fd < max; fd++)
		(void)close((int)fd);
	return 0;
}

const char *lc_signame(int sig)
{
	static const struct {
		int sig;
		const char *name;
	} names[] = {
		{ SIGHUP, "SIGHUP" },	    { SIGINT, "SIGINT" },   { SIGQUIT, "SIGQUIT" },
		{ SIGILL, "SIGILL" },	    { SIGTRAP, "SIGTRAP" }, { SIGABRT, "SIGABRT" },
		{ SIGBUS, "SIGBUS" },	    { SIGFPE, "SIGFPE" },   { SIGKILL, "SIGKILL" },
		{ SIGUSR1, "SIGUSR1" },	    { SIGSEGV, "SIGSEGV" }, { SIGUSR2, "SIGUSR2" },
		{ SIGPIPE, "SIGPIPE" },	    { SIGALRM, "SIGALRM" }, { SIGTERM, "SIGTERM" },
		{ SIGCHLD, "SIGCHLD" },	    { SIGCONT, "SIGCONT" }, { SIGSTOP, "SIGSTOP" },
		{ SIGTSTP, "SIGTSTP" },	    { SIGTTIN, "SIGTTIN" }, { SIGTTOU, "SIGTTOU" },
		{ SIGURG, "SIGURG" },	    { SIGXCPU, "SIGXCPU" }, { SIGXFSZ, "SIGXFSZ" },
		{ SIGVTALRM, "SIGVTALRM" }, { SIGPROF, "SIGPROF" }, { SIGWINCH, "SIGWINCH" },
		{ SIGIO, "SIGIO" },	    { SIGPWR, "SIGPWR" },   { SIGSYS, "SIGSYS" },
	};
	static char other[24];

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (names[i].sig == sig)
			return names[i].name;
	snprintf(other, sizeof(other), "SIG%d", sig);
	return other;
}

bool lc_kernel_has_cap(int cap)
{
	char buf[32];
	ssize_t n;
	int fd, last = 0;

#ifdef LC_COMPAT_FORCE_FALLBACK
	/* A test build: behave as on Linux 4.18, whose last capability is 37 (CAP_AUDIT_READ). */
	if (cap > 37)
		return false;
#endif
	fd = open("/proc/sys/kernel/cap_last_cap", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return true;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return true;
	buf[n] = '\0';
	if (sscanf(buf, "%d", &last) != 1)
		return true;
	return cap <= last;
}
