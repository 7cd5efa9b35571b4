/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Running criu inside a job's namespaces; see nsenter.h.
 *
 * setns(CLONE_NEWPID) moves only the caller's future children into the PID
 * namespace, so entering takes an intermediate process: it enters user, mnt
 * and pid, then forks criu with CLONE_PARENT, which makes criu the caller's
 * child rather than its own, reports criu's host PID and exits. The caller
 * then waits for criu and kills criu at a deadline directly, by a PID that
 * cannot be reused before the caller reaps it: no pidfd is needed, so this
 * works on every kernel lsf-criu supports.
 *
 * Contract:
 * 1. criu MUST get CAP_CHECKPOINT_RESTORE only, through the ambient set,
 *    and only inside the job's user namespace.
 * 2. The PID returned MUST be criu's own (a child of the caller), never the
 *    intermediate's, so that the caller's deadline kills criu.
 * 3. criu MUST start with default signal dispositions, an empty mask, only
 *    the fds passed on purpose, criu's fixed environment (lc_criu_envp: no
 *    HOME, no CRIU_CONFIG_FILE of the user's) and a process group of its own.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "cleanup.h"
#include "criu.h"
#include "compat.h"
#include "nsjob.h"
#include "spawn.h"

void lc_ns_reopen_here(int fd)
{
	char link[64], path[4096];
	ssize_t n;
	int fl, nfd;

	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	n = readlink(link, path, sizeof(path) - 1);
	if (n <= 0 || path[0] != '/')
		return; /* a pipe, a socket: no mount to fix */
	path[n] = '\0';
	fl = fcntl(fd, F_GETFL);
	if (fl < 0)
		return;
	nfd = open(path, (fl & (O_ACCMODE | O_APPEND)) | O_NOCTTY);
	if (nfd < 0)
		return;
	if (!(fl & O_APPEND))
		(void)lseek(nfd, lseek(fd, 0, SEEK_CUR), SEEK_SET);
	if (nfd != fd) {
		dup2(nfd, fd);
		close(nfd);
	}
}

static int raise_ambient_checkpoint_restore(void)
{
	struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct d[2];

	if (syscall(SYS_capget, &h, d) < 0)
		return -errno;
	d[CAP_CHECKPOINT_RESTORE / 32].inheritable |= 1U << (CAP_CHECKPOINT_RESTORE % 32);
	if (syscall(SYS_capset, &h, d) < 0)
		return -errno;
	/* EINVAL: a kernel older than 5.9 does not know the capability. */
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, CAP_CHECKPOINT_RESTORE, 0, 0) < 0)
		return errno == EINVAL ? -ENOTSUP : -errno;
	return 0;
}

static int open_ns(pid_t pid, const char *ns)
{
	char path[64];

	snprintf(path, sizeof(path), "/proc/%d/ns/%s", (int)pid, ns);
	return open(path, O_RDONLY | O_CLOEXEC);
}

/* What the children tell the caller: criu's host PID, or why they failed. */
struct spawn_msg {
	pid_t pid;
	int err;
};

static void report(int fd, pid_t pid, int err)
{
	struct spawn_msg m = { .pid = pid, .err = err };

	(void)!write(fd, &m, sizeof(m));
}

/*
 * fork(), but the child becomes our parent's child (CLONE_PARENT). A raw
 * clone skips glibc's fork handlers and leaves its cached thread id stale,
 * so the child only execs or _exits (as criu's own restore-sibling does).
 */
static pid_t fork_sibling(void)
{
#if defined(__s390__) || defined(__s390x__)
	return (pid_t)syscall(SYS_clone, 0UL, (unsigned long)(CLONE_PARENT | SIGCHLD));
#else
	return (pid_t)syscall(SYS_clone, (unsigned long)(CLONE_PARENT | SIGCHLD), 0UL, 0UL, 0UL,
			      0UL);
#endif
}

static void __attribute__((noreturn))
exec_inside(char *const argv[], const int *keep, int nkeep, int out_fd, int msg_fd)
{
	sigset_t none;
	int e;

	/*
	 * A process group of its own: out of LSF's, whose signals are for the job
	 * (restore), and so that the caller can kill criu and its children as a
	 * group (dump).
	 */
	(void)setpgid(0, 0);
	for (int s = 1; s < NSIG; s++)
		signal(s, SIG_DFL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	if (out_fd >= 0 && (dup2(out_fd, 1) < 0 || dup2(out_fd, 2) < 0))
		goto fail;
	if (lc_cloexec_from(3) < 0)
		goto fail;
	for (int i = 0; i < nkeep; i++) {
		lc_ns_reopen_here(keep[i]);
		if (fcntl(keep[i], F_SETFD, 0) < 0)
			goto fail;
	}
	(void)fcntl(msg_fd, F_SETFD, FD_CLOEXEC);
	e = raise_ambient_checkpoint_restore();
	if (e < 0) {
		errno = -e;
		goto fail;
	}
	if (chdir("/") < 0)
		goto fail;
	execve(argv[0], argv, lc_criu_envp());
fail:
	e = errno ? errno : EPERM;
	report(msg_fd, 0, e);
	_exit(127);
}

pid_t lc_ns_spawn(pid_t init, bool enter, char *const argv[], const int *keep, int nkeep,
		  int out_fd, struct lc_err *err)
{
	_cleanup_close_ int user = -1, mnt = -1, pidns = -1;
	struct spawn_msg m;
	pid_t pid, target = -1;
	int pfd[2], e = 0;
	ssize_t n;

	if (enter) {
		user = open_ns(init, "user");
		mnt = open_ns(init, "mnt");
		pidns = open_ns(init, "pid");
		if (user < 0 || mnt < 0 || pidns < 0)
			return lc_err_set(err, errno, "cannot open the namespaces of process %d",
					  (int)init);
	}
	if (pipe2(pfd, O_CLOEXEC) < 0)
		return lc_err_set(err, errno, "pipe");
	pid = fork();
	if (pid < 0) {
		e = errno;
		close(pfd[0]);
		close(pfd[1]);
		return lc_err_set(err, e, "fork");
	}
	if (pid == 0) {
		pid_t child;

		close(pfd[0]);
		if (!enter)
			exec_inside(argv, keep, nkeep, out_fd, pfd[1]);
		if (setns(user, CLONE_NEWUSER) < 0 || setns(mnt, CLONE_NEWNS) < 0 ||
		    setns(pidns, CLONE_NEWPID) < 0) {
			report(pfd[1], 0, errno);
			_exit(127);
		}
		/* Only a child enters the PID namespace; contract 2: make it the caller's. */
		child = fork_sibling();
		if (child == 0)
			exec_inside(argv, keep, nkeep, out_fd, pfd[1]);
		report(pfd[1], child > 0 ? child : 0, child > 0 ? 0 : errno);
		_exit(child > 0 ? 0 : 127);
	}
	close(pfd[1]);
	/* Until every writer is gone: the intermediate exited, criu exec'd or failed. */
	while ((n = read(pfd[0], &m, sizeof(m))) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n != sizeof(m))
			break;
		if (m.pid > 0)
			target = m.pid;
		if (m.err)
			e = m.err;
	}
	close(pfd[0]);
	if (enter)
		(void)lc_wait_status(pid); /* the intermediate, gone already */
	else
		target = pid;
	if (e || target <= 0) {
		if (target > 0)
			(void)lc_wait_status(target);
		if (e == ENOTSUP)
			return lc_err_msg(err, e,
					  "cannot run '%s' inside the job's namespaces: the "
					  "kernel cannot give it CAP_CHECKPOINT_RESTORE (Linux 5.9 "
					  "or newer needed)",
					  argv[0]);
		return lc_err_set(err, e ? e : ECHILD,
				  "cannot run '%s' inside the job's namespaces", argv[0]);
	}
	return target;
}
