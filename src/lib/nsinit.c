/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The init of a job's PID namespace and its sentinel; see nsinit.h.
 *
 * Why a sentinel: LSF signals, stops and kills the job's process group, but
 * neither the job nor the init can be in it. The job leads a session of its
 * own (criu's dump root must be a session leader). The init leaves LSF's
 * group (setsid): LSF's SIGSTOP would stop it (SIGSTOP from outside reaches
 * even a namespace's init), and a stopped init can neither stop, continue
 * nor reap the job. The sentinel is forked before the init calls setsid, so
 * it stays in LSF's group although it lives in the job's PID namespace:
 * - LSF's SIGSTOP stops it; the init, its parent, sees the stop (WUNTRACED)
 *   and stops every process group of the job;
 * - a catchable signal of LSF's (SIGTERM, SIGUSR1, SIGCONT, ...) is taken by
 *   the sentinel and reported to the init (kill(1, sig)), which relays it;
 * - LSF's SIGKILL kills it; the init sees it die and kills the job.
 * The job leads its own session, so its process group is orphaned and the
 * kernel discards SIGTSTP, SIGTTIN and SIGTTOU sent to it: the init relays
 * those as SIGSTOP.
 *
 * Contract:
 * 1. The init MUST die with the process that forked it (PR_SET_PDEATHSIG,
 *    checked against a parent that died before it was set). When PID 1 dies
 *    the kernel kills the whole namespace, so no process of the job outlives
 *    a SIGKILL of LSF's process group or of lsf-criu-start alone.
 * 2. The init MUST relay only signals that come from outside the namespace
 *    (the sentinel's reports, or sent to the init itself from outside), never
 *    one sent by a process of the job, and each of them once.
 * 3. The init MUST hold no fd but the status pipe to its parent once the job
 *    runs; it never allocates or logs in its loop. The sentinel holds no fd.
 * 4. The init MUST outlive every process that entered the namespace from
 *    outside (criu), or the kernel kills it with the namespace.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "compat.h"
#include "nsjob.h"
#include "proc.h"

#define MAX_GROUPS 512

/* Closes lo..hi (compat.c: the system call where the kernel has it, else a loop). */
static void close_range_compat(unsigned int lo, unsigned int hi)
{
	(void)lc_close_range(lo, hi);
}

/* Closes every fd but the ones in keep. */
static void close_all_but(const int *keep, int nkeep)
{
	int lo = 0;

	for (;;) {
		int next = INT_MAX;

		for (int i = 0; i < nkeep; i++)
			if (keep[i] >= lo && keep[i] < next)
				next = keep[i];
		if (next == INT_MAX) {
			close_range_compat((unsigned int)lo, ~0U);
			return;
		}
		if (next > lo)
			close_range_compat((unsigned int)lo, (unsigned int)next - 1);
		lo = next + 1;
	}
}

struct dirent64_raw {
	uint64_t d_ino;
	int64_t d_off;
	unsigned short d_reclen;
	unsigned char d_type;
	char d_name[];
};

/*
 * Calls fn for every process of this PID namespace (through the init's own
 * /proc) until it returns false. No allocation: the init runs it in its loop.
 */
static void for_each_proc(bool (*fn)(const struct lc_proc *p, void *arg), void *arg)
{
	static char dents[16384] __attribute__((aligned(8)));
	int dfd = open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	long n;

	if (dfd < 0)
		return;
	while ((n = syscall(SYS_getdents64, dfd, dents, sizeof(dents))) > 0) {
		for (long off = 0; off < n;) {
			const struct dirent64_raw *d = (const void *)(dents + off);
			char path[64], buf[1024];
			struct lc_proc p;
			ssize_t len;
			int fd;

			off += d->d_reclen;
			if (d->d_name[0] < '1' || d->d_name[0] > '9')
				continue;
			snprintf(path, sizeof(path), "%.20s/stat", d->d_name);
			fd = openat(dfd, path, O_RDONLY | O_CLOEXEC);
			if (fd < 0)
				continue;
			len = read(fd, buf, sizeof(buf) - 1);
			close(fd);
			if (len <= 0)
				continue;
			buf[len] = '\0';
			if (lc_proc_parse_stat(buf, &p) < 0)
				continue;
			if (!fn(&p, arg))
				goto out;
		}
	}
out:
	close(dfd);
}

/*
 * A process that entered the namespace from outside (criu, run by
 * echkpnt.criu or lsf-criu-restore): its parent is outside, so it shows
 * parent 0 here.
 */
static bool find_visitor(const struct lc_proc *p, void *arg)
{
	if (p->pid != 1 && p->ppid == 0) {
		*(bool *)arg = true;
		return false;
	}
	return true;
}

/*
 * The init must outlive every visitor: when PID 1 exits, the kernel kills
 * everything in the namespace, and a checkpoint that has just killed the job
 * would die with it before writing its last image.
 */
static void wait_for_visitors(void)
{
	for (int i = 0; i < 6000; i++) {
		bool found = false;

		for_each_proc(find_visitor, &found);
		if (!found)
			return;
		while (waitpid(-1, NULL, WNOHANG) > 0)
			;
		usleep(10000);
	}
}

struct relay {
	int sig;
	int n;
	pid_t done[MAX_GROUPS];
};

/*
 * The job's processes are those whose session is inside the namespace: not
 * the init, not the sentinel and not a visitor (their sessions are outside,
 * shown as 0 here). Each process group of theirs gets the signal once, as a
 * group, so that a process forked meanwhile gets it too.
 */
static bool signal_group(const struct lc_proc *p, void *arg)
{
	struct relay *r = arg;

	if (p->pid == 1 || p->sid == 0 || p->state == 'Z')
		return true;
	if (p->pgid == 1) {
		/* forked by the init, not yet in its own session */
		(void)kill(p->pid, r->sig);
		return true;
	}
	for (int i = 0; i < r->n; i++)
		if (r->done[i] == p->pgid)
			return true;
	(void)kill(-p->pgid, r->sig);
	if (r->n < MAX_GROUPS)
		r->done[r->n++] = p->pgid;
	return true;
}

static void signal_job(int sig)
{
	static struct relay r;

	r.sig = sig;
	r.n = 0;
	for_each_proc(signal_group, &r);
}

static void relay(int sig)
{
	/* The job's process group is orphaned: the kernel would discard these. */
	if (sig == SIGTSTP || sig == SIGTTIN || sig == SIGTTOU)
		sig = SIGSTOP;
	signal_job(sig);
}

/*
 * PID 2, in LSF's process group and session. Stops when LSF's group is
 * stopped (its parent, the init, sees that), dies when it is killed, and
 * reports every other signal LSF sends the group to the init.
 */
static void __attribute__((noreturn)) sentinel(void)
{
	sigset_t set;

	(void)prctl(PR_SET_NAME, "lsf-criu-sentry");
	close_all_but(NULL, 0);
	lc_ns_signal_set(&set);
	for (;;) {
		siginfo_t si;
		int sig = sigwaitinfo(&set, &si);

		if (sig < 0)
			continue;
		/* From a process of this namespace (a job's kill(-1, ...)): not LSF's. */
		if (si.si_pid != 0)
			continue;
		(void)kill(1, sig);
	}
}

/* False when the reading end of the pipe fd is closed: its reader is gone. */
static bool reader_alive(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLOUT };

	return poll(&p, 1, 0) >= 0 && !(p.revents & POLLERR);
}

static void __attribute__((noreturn)) exec_job(char **argv)
{
	sigset_t none;

	for (int s = 1; s < NSIG; s++)
		signal(s, SIG_DFL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	(void)setsid();
	close_range_compat(3, ~0U);
	execvp(argv[0], argv);
	_exit(errno == ENOENT ? 127 : 126);
}

static bool is_stop_signal(int sig)
{
	return sig == SIGTSTP || sig == SIGTTIN || sig == SIGTTOU;
}

/* True once a restore has handed the job over: criu is gone, the job is our child. */
static bool job_adopted(void)
{
	char buf[1024];
	struct lc_proc p;
	ssize_t n;
	int fd = open("/proc/1001/stat", O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return false;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return false;
	buf[n] = '\0';
	return lc_proc_parse_stat(buf, &p) == 0 && p.pid == LC_NS_JOB_PID && p.ppid == 1;
}

/*
 * The init's loop. Before a restore has handed the job over (have_job
 * false), what LSF sends is kept: catchable signals are relayed and a stop
 * of LSF's group is mirrored once the job is there, checked every 20 ms.
 */
static void __attribute__((noreturn)) serve(pid_t sentinel_pid, int status_fd, bool have_job)
{
	static const struct timespec tick = { 0, 20 * 1000 * 1000 };
	bool stopped = false; /* LSF's process group is stopped */
	sigset_t all, deferred;

	sigfillset(&all);
	sigemptyset(&deferred);
	for (;;) {
		siginfo_t si;
		int sig;

		if (!have_job && job_adopted()) {
			have_job = true;
			/*
			 * criu's own processes took low PIDs here: keep the job's new
			 * ones above 1000 as in a first run, clear of them at its
			 * next restore.
			 */
			(void)lc_ns_write_file("/proc/sys/kernel/ns_last_pid", "1000");
			for (int d = 1; d < NSIG; d++)
				if (sigismember(&deferred, d) == 1)
					relay(d);
			if (stopped)
				signal_job(SIGSTOP);
		}
		sig = have_job ? sigwaitinfo(&all, &si) : sigtimedwait(&all, &si, &tick);
		if (sig < 0)
			continue;
		if (sig != SIGCHLD) {
			/* Contract 2: the sentinel's reports, or sent from outside. */
			if (si.si_pid != 0 && si.si_pid != sentinel_pid)
				continue;
			if (sig == SIGCONT || is_stop_signal(sig))
				stopped = sig != SIGCONT;
			if (have_job)
				relay(sig);
			else if (sig != SIGCONT && !is_stop_signal(sig))
				sigaddset(&deferred, sig);
			continue;
		}
		for (;;) {
			int s;
			pid_t p = sentinel_pid > 0 ? waitpid(sentinel_pid, &s, WNOHANG | WUNTRACED)
						   : 0;

			if (p == sentinel_pid && WIFSTOPPED(s)) {
				/* LSF's process group was stopped */
				stopped = true;
				if (have_job)
					signal_job(SIGSTOP);
				continue;
			}
			if (p <= 0)
				p = waitpid(-1, &s, WNOHANG);
			if (p <= 0)
				break;
			if (p == sentinel_pid) {
				/* LSF's process group was killed: so is everything in here. */
				sentinel_pid = -1;
				(void)kill(-1, SIGKILL);
			} else if (p == LC_NS_JOB_PID) {
				wait_for_visitors();
				(void)!write(status_fd, &s, sizeof(s));
				_exit(0);
			}
		}
	}
}

void lc_ns_init(char **argv, int ready_fd, int status_fd)
{
	int keep[5] = { 0, 1, 2, ready_fd, status_fd };
	pid_t sentinel_pid, job = -1;
	sigset_t all;

	sigfillset(&all);
	sigprocmask(SIG_SETMASK, &all, NULL);
	(void)prctl(PR_SET_NAME, "lsf-criu-init");
	close_all_but(keep, 5);
	/* Contract 1: our parent may have died before the prctl. */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || !reader_alive(status_fd))
		_exit(125);
	sentinel_pid = fork();
	if (sentinel_pid < 0)
		_exit(125);
	if (sentinel_pid == 0)
		sentinel();
	(void)setsid(); /* out of LSF's process group, whose SIGSTOP would stop us */
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
	    mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
		_exit(125);
	/* fds opened in the host's mount namespace cannot be dumped: re-open them here. */
	for (int fd = 0; fd < 3; fd++)
		lc_ns_reopen_here(fd);
	(void)!write(ready_fd, "r", 1);
	close(ready_fd);
	if (argv) {
		if (lc_ns_write_file("/proc/sys/kernel/ns_last_pid", "1000") < 0)
			_exit(125);
		job = fork();
		if (job < 0)
			_exit(125);
		if (job == 0)
			exec_job(argv);
		if (job != LC_NS_JOB_PID) {
			(void)kill(job, SIGKILL);
			_exit(125);
		}
	}
	keep[0] = status_fd;
	close_all_but(keep, 1);
	serve(sentinel_pid, status_fd, argv != NULL);
}
