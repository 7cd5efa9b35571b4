/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Jobs in their own namespaces; see nsjob.h.
 *
 * Contract:
 * 1. The job MUST keep its real uid and gid and MUST NOT hold any capability:
 *    the user namespace maps only the caller's own ids, and the job execs as
 *    a non-zero uid of that namespace, which clears its capabilities.
 * 2. The init MUST hold no fd that leads outside the namespace once the job
 *    runs, except the status pipe to its parent; it never allocates or logs
 *    in its loop.
 * 3. criu MUST get CAP_CHECKPOINT_RESTORE only, through the ambient set,
 *    and only inside the job's user namespace.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/mount.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cleanup.h"
#include "compat.h"
#include "json.h"
#include "nsjob.h"
#include "util.h"

static const int forwarded[] = { SIGTERM, SIGINT,  SIGHUP,  SIGQUIT, SIGUSR1, SIGUSR2,
				 SIGCONT, SIGWINCH, SIGALRM, SIGTSTP, SIGTTIN, SIGTTOU,
				 SIGXCPU, SIGXFSZ,  SIGVTALRM, SIGPROF, SIGPWR, SIGPIPE };

void lc_ns_block_signals(void)
{
	sigset_t set;

	sigemptyset(&set);
	for (size_t i = 0; i < sizeof(forwarded) / sizeof(forwarded[0]); i++)
		sigaddset(&set, forwarded[i]);
	sigaddset(&set, SIGCHLD);
	sigprocmask(SIG_BLOCK, &set, NULL);
}

int lc_starter_save(int dirfd, const struct lc_starter_rec *r)
{
	return lc_json_save(dirfd, LC_STARTER_FILE,
			    json_pack("{s:i,s:s,s:i,s:I}", "version", 1, "jobid", r->jobid,
				      "init_pid", (int)r->init_pid, "init_start",
				      (json_int_t)r->init_start));
}

int lc_starter_load(int dirfd, uid_t owner, struct lc_starter_rec *r, struct lc_err *err)
{
	_cleanup_free_ char *txt = NULL;
	long long x;
	json_t *o;
	int ret = -EINVAL;

	memset(r, 0, sizeof(*r));
	ret = lc_read_file_at(dirfd, LC_STARTER_FILE, 65536, owner, &txt, NULL);
	if (ret < 0)
		return lc_err_set(err, -ret, "cannot read '%s'", LC_STARTER_FILE);
	o = lc_json_parse(txt, err);
	if (!o)
		return -err->code;
	ret = -EINVAL;
	if (lc_json_check_version(o, 1, err) < 0 ||
	    lc_json_str(o, "jobid", r->jobid, sizeof(r->jobid), err) < 0 ||
	    lc_json_int(o, "init_pid", 2, 1 << 22, &x, err) < 0)
		goto out;
	r->init_pid = (pid_t)x;
	if (lc_json_int(o, "init_start", 0, 1LL << 62, &x, err) < 0)
		goto out;
	r->init_start = (unsigned long long)x;
	ret = 0;
out:
	json_decref(o);
	if (ret < 0)
		lc_err_wrap(err, "'%s'", LC_STARTER_FILE);
	return ret;
}

static int write_text(const char *path, const char *text)
{
	_cleanup_close_ int fd = open(path, O_WRONLY | O_CLOEXEC);
	size_t n = strlen(text);

	if (fd < 0)
		return -errno;
	if (write(fd, text, n) != (ssize_t)n)
		return -errno;
	return 0;
}

int lc_ns_create(struct lc_err *err)
{
	char map[64];
	uid_t uid = getuid();
	gid_t gid = getgid();
	int r;

	/* criu could not be given the capability to dump the job inside them. */
	if (!lc_kernel_has_cap(CAP_CHECKPOINT_RESTORE)) {
		lc_err_msg(err, ENOTSUP, "this kernel has no CAP_CHECKPOINT_RESTORE (Linux 5.9 or "
			   "newer needed for jobs in their own namespaces)");
		return -EAGAIN; /* nothing changed: the caller may go on without them */
	}
	if (unshare(CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNS) < 0) {
		lc_err_set(err, errno, "cannot create user, PID and mount namespaces");
		return -EAGAIN; /* nothing changed: the caller may go on without them */
	}
	r = write_text("/proc/self/setgroups", "deny");
	if (r < 0)
		return lc_err_set(err, -r, "cannot write /proc/self/setgroups");
	snprintf(map, sizeof(map), "%u %u 1\n", (unsigned)uid, (unsigned)uid);
	r = write_text("/proc/self/uid_map", map);
	if (r < 0)
		return lc_err_set(err, -r, "cannot write /proc/self/uid_map");
	snprintf(map, sizeof(map), "%u %u 1\n", (unsigned)gid, (unsigned)gid);
	r = write_text("/proc/self/gid_map", map);
	if (r < 0)
		return lc_err_set(err, -r, "cannot write /proc/self/gid_map");
	return 0;
}

/* Re-opens fd by its path inside the current mount namespace (files only). */
static void reopen_here(int fd)
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

/*
 * True while a process that entered the namespace from outside (criu, run by
 * echkpnt.criu: its parent is outside, so it shows parent 0 here) is alive.
 * The init must outlive it: when PID 1 exits, the kernel kills everything in
 * the namespace, and a checkpoint that has just killed the job would die
 * with it before writing its last image.
 */
static bool has_visitors(void)
{
	DIR *d = opendir("/proc");
	struct dirent *de;
	bool found = false;

	if (!d)
		return false;
	while (!found && (de = readdir(d))) {
		char path[64], buf[512], *rparen;
		int fd;
		ssize_t n;
		long ppid;

		if (de->d_name[0] < '1' || de->d_name[0] > '9' || !strcmp(de->d_name, "1"))
			continue;
		snprintf(path, sizeof(path), "/proc/%s/stat", de->d_name);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		n = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		if (n <= 0)
			continue;
		buf[n] = '\0';
		rparen = strrchr(buf, ')');
		if (rparen && sscanf(rparen + 1, " %*c %ld", &ppid) == 1 && ppid == 0)
			found = true;
	}
	closedir(d);
	return found;
}

static void wait_for_visitors(void)
{
	for (int i = 0; i < 6000 && has_visitors(); i++) {
		while (waitpid(-1, NULL, WNOHANG) > 0)
			;
		usleep(10000);
	}
}

void lc_ns_init(char **argv, int ready_fd, int status_fd)
{
	sigset_t all;
	pid_t job = -1;
	int st = -1;

	sigfillset(&all);
	sigprocmask(SIG_SETMASK, &all, NULL);
	(void)setsid(); /* out of LSF's process group: signals come through the outer process */
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
	    mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
		_exit(125);
	/* fds opened in the host's mount namespace cannot be dumped: re-open them here. */
	for (int fd = 0; fd < 3; fd++)
		reopen_here(fd);
	(void)!write(ready_fd, "r", 1);
	close(ready_fd);
	if (argv) {
		if (write_text("/proc/sys/kernel/ns_last_pid", "1000") < 0)
			_exit(125);
		job = fork();
		if (job < 0)
			_exit(125);
		if (job == 0) {
			close(status_fd);
			sigset_t none;

			for (int s = 1; s < NSIG; s++)
				signal(s, SIG_DFL);
			sigemptyset(&none);
			sigprocmask(SIG_SETMASK, &none, NULL);
			(void)setsid();
			(void)lc_close_from(3);
			execvp(argv[0], argv);
			_exit(errno == ENOENT ? 127 : 126);
		}
	}
	for (;;) {
		siginfo_t si;
		int sig = sigwaitinfo(&all, &si);

		if (sig < 0)
			continue;
		if (sig != SIGCHLD) {
			if (kill(-LC_NS_JOB_PID, sig) < 0)
				(void)kill(LC_NS_JOB_PID, sig);
			continue;
		}
		for (;;) {
			int s;
			pid_t p = waitpid(-1, &s, WNOHANG);

			if (p <= 0)
				break;
			if (p == LC_NS_JOB_PID) {
				st = s;
				wait_for_visitors();
				(void)!write(status_fd, &st, sizeof(st));
				_exit(0);
			}
		}
	}
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
	int st = -1, ist, sfd, open_pumps = npumps;

	sigemptyset(&set);
	for (size_t i = 0; i < sizeof(forwarded) / sizeof(forwarded[0]); i++)
		sigaddset(&set, forwarded[i]);
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

			if (pumps[i].from < 0 || !(pfd[1 + i].revents & (POLLIN | POLLHUP | POLLERR)))
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

			if (read(sfd, &si, sizeof(si)) != sizeof(si))
				continue;
			if (si.ssi_signo != SIGCHLD)
				(void)kill(init, (int)si.ssi_signo);
			else if (!init_done && waitpid(init, &ist, WNOHANG) == init)
				init_done = true;
		}
	}
	close(sfd);
	if (read(status_fd, &st, sizeof(st)) != sizeof(st))
		return -1;
	return st;
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

pid_t lc_ns_spawn(pid_t init, bool setns_user_mnt, char *const argv[], const int *keep, int nkeep,
		  int out_fd, struct lc_err *err)
{
	_cleanup_close_ int user = -1, mnt = -1, pidns = -1;
	int pfd[2];
	pid_t pid;
	int e = 0;

	if (setns_user_mnt) {
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
	if (pid < 0)
		return lc_err_set(err, errno, "fork");
	if (pid == 0) {
		pid_t child;

		close(pfd[0]);
		if (setns_user_mnt) {
			if (setns(user, CLONE_NEWUSER) < 0 || setns(mnt, CLONE_NEWNS) < 0 ||
			    setns(pidns, CLONE_NEWPID) < 0) {
				e = errno;
				goto fail;
			}
		}
		/* Only a child enters the PID namespace. */
		child = setns_user_mnt ? fork() : 0;
		if (child < 0) {
			e = errno;
			goto fail;
		}
		if (child > 0) {
			int st;

			close(pfd[1]);
			while (waitpid(child, &st, 0) < 0 && errno == EINTR)
				;
			_exit(WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
		}
		for (int s = 1; s < NSIG; s++)
			signal(s, SIG_DFL);
		{
			sigset_t none;

			sigemptyset(&none);
			sigprocmask(SIG_SETMASK, &none, NULL);
		}
		if (out_fd >= 0 && (dup2(out_fd, 1) < 0 || dup2(out_fd, 2) < 0)) {
			e = errno;
			goto fail;
		}
		e = -lc_cloexec_from(3);
		if (e)
			goto fail;
		for (int i = 0; i < nkeep; i++) {
			reopen_here(keep[i]);
			if (fcntl(keep[i], F_SETFD, 0) < 0) {
				e = errno;
				goto fail;
			}
		}
		(void)fcntl(pfd[1], F_SETFD, FD_CLOEXEC);
		if (raise_ambient_checkpoint_restore() < 0) {
			e = errno ? errno : EPERM;
			goto fail;
		}
		if (chdir("/") < 0) {
			e = errno;
			goto fail;
		}
		execv(argv[0], argv);
		e = errno;
fail:
		(void)!write(pfd[1], &e, sizeof(e));
		_exit(127);
	}
	close(pfd[1]);
	if (read(pfd[0], &e, sizeof(e)) == sizeof(e)) {
		close(pfd[0]);
		waitpid(pid, NULL, 0);
		if (e == ENOTSUP)
			return lc_err_msg(err, e, "cannot run '%s' inside the job's namespaces: the "
					  "kernel cannot give it CAP_CHECKPOINT_RESTORE (Linux 5.9 "
					  "or newer needed)", argv[0]);
		return lc_err_set(err, e, "cannot run '%s' inside the job's namespaces", argv[0]);
	}
	close(pfd[0]);
	return pid;
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
