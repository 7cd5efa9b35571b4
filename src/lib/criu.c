/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Running criu; see criu.h.
 *
 * Contract:
 * 1. criu MUST be run by absolute path with an argv we built; no shell.
 * 2. The child MUST start with default signal dispositions, an empty signal
 *    mask, stdin on /dev/null and no fds but the ones passed on purpose.
 * 3. Success MUST be judged by the exit status, never by the log's text.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cleanup.h"
#include "criu.h"
#include "log.h"
#include "nsjob.h"
#include "spawn.h"
#include "util.h"

void lc_argv_format(char *const argv[], char *buf, size_t size)
{
	size_t len = 0;

	buf[0] = '\0';
	for (int i = 0; argv[i] && len + 1 < size; i++) {
		_cleanup_free_ char *q = NULL;
		bool plain = argv[i][0] != '\0';

		for (const char *p = argv[i]; *p; p++)
			if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
				    "0123456789-_./=:,+@%",
				    *p))
				plain = false;
		q = plain ? NULL : lc_shell_quote(argv[i]);
		len += (size_t)snprintf(buf + len, size - len, "%s%s", i ? " " : "",
					q ? q : argv[i]);
		if (len >= size)
			len = size - 1;
	}
}

char *const *lc_criu_envp(void)
{
	static char *const env[] = { "PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL=C", NULL };

	return env;
}

/* How criu is started: directly, inside a job's namespaces, or as a child in ours. */
struct how {
	pid_t ns_init;
	bool ns_here;
	/*
	 * A dump's criu leads its own process group, so that a deadline kills it
	 * with every helper it forked. A restore's stays in ours: with
	 * --shell-job the restored job joins criu's group, which must be the
	 * new job's.
	 */
	bool own_group;
};

/* Runs criu with its output in imgdir/outname; kills it at the deadline. */
static int run_logged(char *const argv[], int workfd, const char *imgdir, const char *outname,
		      const int *keep, int nkeep, struct how how, long long deadline,
		      void (*started)(pid_t, void *), void *arg, double *seconds,
		      struct lc_err *err)
{
	_cleanup_close_ int imgfd = -1, out = -1;
	char line[8192];
	double t0;
	pid_t pid;
	int st;

	imgfd = openat(workfd, imgdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	if (imgfd < 0)
		return lc_err_set(err, errno, "cannot open image directory '%s'", imgdir);
	out = openat(imgfd, outname, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (out < 0)
		return lc_err_set(err, errno, "cannot create '%s/%s'", imgdir, outname);
	lc_argv_format(argv, line, sizeof(line));
	log_info("running: %s", line);
	t0 = lc_now();
	if (how.ns_init > 0 || how.ns_here) {
		pid = lc_ns_spawn(how.ns_init, !how.ns_here, argv, keep, nkeep, out, err);
		if (pid < 0)
			return pid;
	} else {
		pid = lc_spawn_env(argv, lc_criu_envp(), workfd, out, keep, nkeep,
				   how.own_group ? LC_SPAWN_NEWPGRP : 0);
		if (pid < 0)
			return lc_err_set(err, errno, "cannot run criu");
	}
	if (started)
		started(pid, arg);
	if (deadline > 0) {
		for (;;) {
			pid_t w = waitpid(pid, &st, WNOHANG);

			if (w == pid)
				break;
			if (w < 0 && errno != EINTR) {
				st = -errno;
				break;
			}
			if ((long long)time(NULL) >= deadline) {
				if (!how.own_group || kill(-pid, SIGKILL) < 0)
					kill(pid, SIGKILL);
				(void)lc_wait_status(pid);
				*seconds = lc_now() - t0;
				return lc_err_msg(err, ETIMEDOUT,
						  "criu did not finish by the deadline "
						  "(%.1f s); killed it",
						  *seconds);
			}
			lc_msleep(20);
		}
	} else {
		st = lc_wait_status(pid);
	}
	*seconds = lc_now() - t0;
	if (st < 0)
		return lc_err_set(err, -st, "waiting for criu");
	if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
		return 0;
	if (WIFEXITED(st))
		return lc_err_msg(err, EPROTO, "criu exited with status %d after %.2f s",
				  WEXITSTATUS(st), *seconds);
	return lc_err_msg(err, EPROTO, "criu was killed by signal %d after %.2f s", WTERMSIG(st),
			  *seconds);
}

/*
 * criu stops before writing its log when it lacks the capability to dump or
 * restore ("CRIU needs to have the CAP_SYS_ADMIN or the CAP_CHECKPOINT_RESTORE
 * capability", on its output): say what the host needs instead.
 */
static void explain_caps(int workfd, const char *imgdir, struct lc_err *err)
{
	_cleanup_free_ char *out = NULL;
	_cleanup_close_ int imgfd = openat(workfd, imgdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	char was[sizeof(err->msg)];

	if (imgfd < 0 || lc_read_file_at(imgfd, "criu.out", 1 << 20, (uid_t)-1, &out, NULL) < 0 ||
	    !strstr(out, "CAP_CHECKPOINT_RESTORE capability"))
		return;
	snprintf(was, sizeof(was), "%s", err->msg);
	lc_err_msg(err, err->code,
		   "%s: criu has no CAP_CHECKPOINT_RESTORE; it needs the file "
		   "capabilities cap_checkpoint_restore,cap_setpcap (see lsf-criu check), or the "
		   "job must run under lsf-criu-start (a starter-only host)",
		   was);
}

/*
 * With --stream, criu connects to "<images dir>/streamer-*.sock". A socket
 * path has at most 107 bytes; a longer images dir (only absolute ones, in the
 * job's namespaces) is given to criu as /proc/self/fd/<fd>, an fd criu
 * inherits (re-opened inside the job's mount namespace).
 */
static const char *stream_dir(const char *imgdir, int dirfd, const char *sock, char *buf,
			      size_t size, int *keep, int *nkeep)
{
	if (strlen(imgdir) + 1 + strlen(sock) < sizeof(((struct sockaddr_un *)0)->sun_path))
		return imgdir;
	snprintf(buf, size, "/proc/self/fd/%d", dirfd);
	keep[(*nkeep)++] = dirfd;
	return buf;
}

/* After criu failed: the streamer's own error, if it has one at once (a full disk). */
static void streamer_cause(struct lc_streamer *sm)
{
	struct pollfd pfd = { .fd = sm->res_fd, .events = POLLIN };
	struct lc_stream_stats st;
	struct lc_err serr = { 0 };

	/* It ends at once once criu's socket closed; still waiting: criu never connected. */
	if (poll(&pfd, 1, 300) == 1 && lc_streamer_finish(sm, 0, &st, &serr) < 0 && st.err_code)
		log_warn("the image streamer reported: %s", serr.msg);
	lc_streamer_stop(sm);
}

int lc_criu_dump(struct lc_dump_opts *o, struct lc_err *err)
{
	struct lc_streamer sm = { .pid = -1, .res_fd = -1 };
	_cleanup_close_ int sfd = -1;
	char pid[32], procdir[64];
	char *argv[24];
	int keep[1], nkeep = 0, n = 0, dir_arg, r;
	double t0 = lc_now();

	snprintf(pid, sizeof(pid), "%d", (int)o->root);
	argv[n++] = (char *)o->criu;
	argv[n++] = "dump";
	argv[n++] = "--no-default-config";
	argv[n++] = "--unprivileged";
	argv[n++] = "--tree";
	argv[n++] = pid;
	argv[n++] = "--images-dir";
	dir_arg = n;
	argv[n++] = (char *)o->imgdir;
	argv[n++] = "--log-file";
	argv[n++] = "dump.log";
	argv[n++] = "-v4";
	argv[n++] = "--display-stats";
	if (o->shell_job && !o->ns_init)
		argv[n++] = "--shell-job";
	if (o->leave_running)
		argv[n++] = "--leave-running";
	else if (o->leave_stopped)
		argv[n++] = "--leave-stopped";
	if (o->file_locks)
		argv[n++] = "--file-locks";
	if (o->stream) {
		sfd = openat(o->workfd, o->imgdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
		if (sfd < 0)
			return lc_err_set(err, errno, "cannot open image directory '%s'",
					  o->imgdir);
		argv[dir_arg] = (char *)stream_dir(o->imgdir, sfd, LC_STREAM_CAPTURE_SOCK, procdir,
						   sizeof(procdir), keep, &nkeep);
		argv[n++] = "--stream";
		r = lc_streamer_start(&sm, false, sfd, &o->sopts, err);
		if (r < 0)
			return r;
	}
	argv[n] = NULL;
	r = run_logged(argv, o->workfd, o->imgdir, "criu.out", keep, nkeep,
		       (struct how){ .ns_init = o->ns_init, .own_group = true }, o->deadline,
		       o->started, o->started_arg, &o->seconds, err);
	if (o->stream) {
		if (r == 0)
			r = lc_streamer_finish(&sm, o->deadline, &o->sstats, err);
		else
			streamer_cause(&sm);
		o->seconds = lc_now() - t0;
	}
	if (r < 0 && err->code == EPROTO) {
		_cleanup_close_ int imgfd =
			openat(o->workfd, o->imgdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (imgfd >= 0)
			lc_log_excerpt(imgfd, "dump.log", "criu dump log");
		explain_caps(o->workfd, o->imgdir, err);
	}
	return r;
}

/* The text of criu's log (NULL if unreadable); the caller frees it. */
static char *read_log(int workfd, const char *imgdir, const char *logname)
{
	_cleanup_close_ int imgfd = -1;
	char *txt = NULL;

	imgfd = openat(workfd, imgdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (imgfd < 0 || lc_read_file_at(imgfd, logname, 64 << 20, (uid_t)-1, &txt, NULL) < 0)
		return NULL;
	return txt;
}

/*
 * criu refuses to restore a regular file whose size changed since the dump
 * ("File <path> has bad size N (expect M)"), and no option skips that check.
 * lsf-criu's policy is to fail the restore and name the file: silently
 * restoring a job against data that changed under it would be worse.
 */
static void explain_bad_size(const char *log, struct lc_err *err)
{
	const char *p = log ? strstr(log, " has bad size ") : NULL;
	const char *file;
	char path[1024];
	long now, was;

	if (!p)
		return;
	for (file = p; file > log && file[-1] != '\n'; file--)
		;
	file = strstr(file, "File ");
	if (!file || file > p || sscanf(p, " has bad size %ld (expect %ld)", &now, &was) != 2)
		return;
	file += 5;
	snprintf(path, sizeof(path), "/%.*s", (int)(p - file), file);
	lc_err_msg(err, ESTALE,
		   "the job's open file '%s' changed size since the checkpoint (%ld "
		   "bytes now, %ld then); lsf-criu does not restore a job whose files changed",
		   path, now, was);
}

int lc_criu_restore(struct lc_restore_opts *o, struct lc_err *err)
{
	char keys[LC_MAX_INHERIT][4200], procdir[64];
	char *argv[32 + 2 * LC_MAX_INHERIT];
	int keep[LC_MAX_INHERIT + 1], nkeep;
	struct lc_streamer sm = { .pid = -1, .res_fd = -1 };
	struct lc_stream_opts sopts = { 0 };
	_cleanup_free_ char *pidtxt = NULL;
	_cleanup_close_ int imgfd = -1, sfd = -1;
	int n = 0, dir_arg, r;
	long pid;

	argv[n++] = (char *)o->criu;
	argv[n++] = "restore";
	argv[n++] = "--no-default-config";
	argv[n++] = "--unprivileged";
	argv[n++] = "--images-dir";
	dir_arg = n;
	argv[n++] = (char *)o->imgdir;
	argv[n++] = "--log-file";
	argv[n++] = (char *)o->logname;
	argv[n++] = "-v4";
	argv[n++] = "--restore-detached";
	if (!o->ns_here) {
		argv[n++] = "--restore-sibling";
		argv[n++] = "--pidfile";
		argv[n++] = (char *)o->pidfile;
	}
	if (o->shell_job && !o->ns_here)
		argv[n++] = "--shell-job";
	if (o->file_locks)
		argv[n++] = "--file-locks";
	for (int i = 0; i < o->n_inherit; i++) {
		snprintf(keys[i], sizeof(keys[i]), "fd[%d]:%s", o->inherit[i].fd,
			 o->inherit[i].key);
		argv[n++] = "--inherit-fd";
		argv[n++] = keys[i];
		keep[i] = o->inherit[i].fd;
	}
	nkeep = o->n_inherit;
	sfd = openat(o->workfd, o->imgdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	o->streamed = sfd >= 0 && lc_stream_is_streamed(sfd);
	if (o->streamed) {
		argv[dir_arg] = (char *)stream_dir(o->imgdir, sfd, LC_STREAM_SERVE_SOCK, procdir,
						   sizeof(procdir), keep, &nkeep);
		argv[n++] = "--stream";
		r = lc_streamer_start(&sm, true, sfd, &sopts, err);
		if (r < 0)
			return r;
	}
	argv[n] = NULL;
	r = run_logged(argv, o->workfd, o->imgdir, "criu.out", keep, nkeep,
		       (struct how){ .ns_here = o->ns_here }, 0, NULL, NULL, &o->seconds, err);
	if (o->streamed && r == 0) {
		struct lc_err serr = { 0 };

		/* criu has what it needs: a late streamer error is only worth a line. */
		if (lc_streamer_finish(&sm, (long long)time(NULL) + 30, &o->sstats, &serr) < 0)
			log_warn("image streamer after the restore: %s, ignoring", serr.msg);
	} else if (o->streamed) {
		streamer_cause(&sm);
	}
	if (r < 0) {
		if (err->code == EPROTO) {
			_cleanup_free_ char *log = read_log(o->workfd, o->imgdir, o->logname);

			imgfd = openat(o->workfd, o->imgdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
			if (imgfd >= 0)
				lc_log_excerpt(imgfd, o->logname, "criu restore log");
			if (log && strstr(log, "File exists")) {
				const char *f = strstr(log, "Can't fork for ");
				int busy;

				o->busy_pid = f && sscanf(f, "Can't fork for %d", &busy) == 1 ? busy
											      : 0;
				return -EEXIST;
			}
			explain_bad_size(log, err);
		}
		return r;
	}
	if (o->ns_here)
		return 0;
	imgfd = openat(o->workfd, o->imgdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (imgfd < 0)
		return lc_err_set(err, errno, "cannot open '%s'", o->imgdir);
	r = lc_read_file_at(imgfd, o->pidfile, 64, (uid_t)-1, &pidtxt, NULL);
	if (r < 0)
		return lc_err_set(err, -r, "criu wrote no pidfile '%s'", o->pidfile);
	pidtxt[strcspn(pidtxt, "\n")] = '\0';
	if (lc_parse_long(pidtxt, 2, 1 << 30, &pid) < 0)
		return lc_err_set(err, EPROTO, "criu's pidfile holds '%s'", pidtxt);
	return (int)pid;
}
