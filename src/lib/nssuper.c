/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The process outside a job's namespaces: starting the init, the output
 * pumps, waiting for the job; see nssuper.h.
 *
 * Contract:
 * 1. The write ends of the job's output pipes MUST be held only inside the
 *    namespace, or the pumps never see them close.
 * 2. This process MUST NOT forward LSF's signals: the sentinel does, and a
 *    second copy would reach the job twice.
 * 3. It MUST outlive the job it reports on: LSF's catchable signals stay
 *    blocked; only SIGKILL ends it early, and then the init dies with it.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "nsjob.h"

/* Takes the relayed signals already pending here, to hand them to the init. */
static void take_pending(sigset_t *ret)
{
	const struct timespec zero = { 0, 0 };
	sigset_t set;
	int sig;

	sigemptyset(ret);
	lc_ns_signal_set(&set);
	while ((sig = sigtimedwait(&set, NULL, &zero)) > 0)
		sigaddset(ret, sig);
}

pid_t lc_ns_start_init(char **argv, int *ret_status_fd, struct lc_err *err)
{
	int ready[2], status[2];
	sigset_t early;
	char byte;
	pid_t init;

	if (pipe2(ready, O_CLOEXEC) < 0)
		return lc_err_set(err, errno, "pipe");
	if (pipe2(status, O_CLOEXEC) < 0) {
		int e = errno;

		close(ready[0]);
		close(ready[1]);
		return lc_err_set(err, e, "pipe");
	}
	/* Before the fork: a job that ends at once must not leave SIGCHLD unseen. */
	lc_ns_block_signals();
	/*
	 * What LSF sent so far reached this process only. What it sends from now
	 * on reaches the init too until it leaves LSF's group, then the sentinel.
	 */
	take_pending(&early);
	init = fork();
	if (init < 0) {
		int e = errno;

		close(ready[0]);
		close(ready[1]);
		close(status[0]);
		close(status[1]);
		return lc_err_set(err, e, "fork");
	}
	if (init == 0) {
		lc_log_attach_fd(-1);
		lc_ns_init(argv, ready[1], status[1]);
	}
	close(ready[1]);
	close(status[1]);
	if (read(ready[0], &byte, 1) != 1) {
		close(ready[0]);
		close(status[0]);
		(void)waitpid(init, NULL, 0);
		return lc_err_set(err, EIO, "the namespace's init failed to start");
	}
	close(ready[0]);
	for (int sig = 1; sig < NSIG; sig++)
		if (sigismember(&early, sig) == 1)
			(void)kill(init, sig);
	*ret_status_fd = status[0];
	return init;
}

int lc_ns_make_pumps(struct lc_pump *pumps, struct lc_err *err)
{
	struct stat st1, st2;
	int n = 0, pfd[2];
	bool same;

	if (fstat(1, &st1) < 0 || fstat(2, &st2) < 0)
		return lc_err_set(err, errno, "stdout or stderr is closed");
	same = st1.st_dev == st2.st_dev && st1.st_ino == st2.st_ino;
	for (int fd = 1; fd <= 2; fd++) {
		struct stat *st = fd == 1 ? &st1 : &st2;

		if (S_ISFIFO(st->st_mode) || (fd == 2 && same))
			continue;
		if (pipe2(pfd, O_CLOEXEC) < 0)
			return lc_err_set(err, errno, "pipe");
		pumps[n].from = pfd[0];
		pumps[n].fd = fd;
		pumps[n].both = fd == 1 && same;
		pumps[n].to = fcntl(fd, F_DUPFD_CLOEXEC, 3);
		if (pumps[n].to < 0 || dup2(pfd[1], fd) < 0)
			return lc_err_set(err, errno, "dup");
		if (fd == 1 && same && dup2(pfd[1], 2) < 0)
			return lc_err_set(err, errno, "dup");
		close(pfd[1]);
		n++;
	}
	return n;
}

void lc_ns_unpump_self(const struct lc_pump *pumps, int npumps)
{
	for (int i = 0; i < npumps; i++) {
		(void)dup2(pumps[i].to, pumps[i].fd);
		if (pumps[i].both)
			(void)dup2(pumps[i].to, 2);
	}
}

static void write_all_fd(int fd, const char *buf, ssize_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, buf, (size_t)n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return; /* nowhere to write: drop, but keep draining */
		buf += w;
		n -= w;
	}
}

int lc_ns_supervise(pid_t init, int status_fd, struct lc_pump *pumps, int npumps)
{
	struct pollfd pfd[1 + 4];
	bool init_done = false;
	char buf[65536];
	sigset_t set;
	int st = -1, ist = 0, sfd, open_pumps = npumps;

	lc_ns_signal_set(&set);
	sigaddset(&set, SIGCHLD);
	sigprocmask(SIG_BLOCK, &set, NULL);
	sfd = signalfd(-1, &set, SFD_CLOEXEC);
	if (sfd < 0)
		return -1;
	while (!init_done || open_pumps > 0) {
		int n = 0;

		pfd[n++] = (struct pollfd){ .fd = sfd, .events = POLLIN };
		for (int i = 0; i < npumps && i < 4; i++)
			pfd[n++] = (struct pollfd){ .fd = pumps[i].from, .events = POLLIN };
		if (poll(pfd, (nfds_t)n, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		for (int i = 0; i < npumps && i < 4; i++) {
			ssize_t r;

			if (pumps[i].from < 0 ||
			    !(pfd[1 + i].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			r = read(pumps[i].from, buf, sizeof(buf));
			if (r > 0) {
				write_all_fd(pumps[i].to, buf, r);
			} else if (r == 0 || errno != EINTR) {
				close(pumps[i].from);
				pumps[i].from = -1; /* poll ignores negative fds */
				open_pumps--;
			}
		}
		if (pfd[0].revents & POLLIN) {
			struct signalfd_siginfo si;

			/* Contract 2: only SIGCHLD matters here; the others are dropped. */
			if (read(sfd, &si, sizeof(si)) != sizeof(si))
				continue;
			if (si.ssi_signo == SIGCHLD && !init_done &&
			    waitpid(init, &ist, WNOHANG) == init)
				init_done = true;
		}
	}
	close(sfd);
	if (read(status_fd, &st, sizeof(st)) == sizeof(st))
		return st;
	if (init_done && WIFSIGNALED(ist))
		return WTERMSIG(ist); /* the wait status of a death by that signal */
	return -1;
}

int lc_exit_like(int st)
{
	if (WIFEXITED(st))
		return WEXITSTATUS(st);
	if (WIFSIGNALED(st)) {
		int sig = WTERMSIG(st);
		struct rlimit no_core = { 0, 0 };
		sigset_t set;

		(void)setrlimit(RLIMIT_CORE, &no_core);
		signal(sig, SIG_DFL);
		sigemptyset(&set);
		sigaddset(&set, sig);
		sigprocmask(SIG_UNBLOCK, &set, NULL);
		raise(sig);
		return 128 + sig;
	}
	return 1;
}
